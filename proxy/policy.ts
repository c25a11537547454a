import { KEEP_TTL, Limits, NAMESPACE_PATTERN } from '../shared/protocol';
import type { NamespacePolicy } from '../shared/topology/schema';
import type { TopologySnapshot } from '../shared/topology/snapshot';
import type { ReadPreference } from './backend';
import { ProxyError, ProxyErrorCode } from './errors';

/**
 * Namespace policy as the data plane applies it, before anything is sent. Pure: no sockets,
 * no clocks; randomness is injected. Every check throws a `ProxyError` with a stable code.
 *
 *   validate ns/key ─► readPreferenceFor ─► resolveTtlMs (default + jitter) ─► checkItemSize
 */

/** The namespace's policy in `snapshot`, or undefined when it has none. */
export function policyOf(snapshot: TopologySnapshot | undefined, ns: string): NamespacePolicy | undefined {
  return snapshot?.namespaces.get(ns);
}

/**
 * The read preference a request gets: the caller's when it asked for one, else the namespace's
 * `readPreference`, else 'primary'. Fronts call this and pass the result to `get`/`mget`.
 */
export function readPreferenceFor(snapshot: TopologySnapshot | undefined, ns: string, requested?: ReadPreference): ReadPreference {
  return requested ?? policyOf(snapshot, ns)?.readPreference ?? 'primary';
}

/** Throws BAD_REQUEST unless `ns` is a valid namespace name (NAMESPACE_PATTERN). */
export function validateNamespace(ns: unknown): asserts ns is string {
  if (typeof ns === 'string' && ns === lastValidNamespace) return;
  if (typeof ns !== 'string' || !NAMESPACE_PATTERN.test(ns)) {
    throw new ProxyError(ProxyErrorCode.BAD_REQUEST, 'namespace must be 1-64 characters of letters, digits, "_", "-" or "."', { field: 'namespace' });
  }
  lastValidNamespace = ns;
}

/** The namespace that passed last: requests come in runs of one namespace, and a compare is cheaper than the pattern. */
let lastValidNamespace: string | null = null;

/** Throws BAD_REQUEST unless `key` is a string of 1..MAX_KEY_LENGTH characters. */
export function validateKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > Limits.MAX_KEY_LENGTH) {
    throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `key must be a non-empty string of at most ${Limits.MAX_KEY_LENGTH} characters`, { field: 'key' });
  }
}

/** Validates a namespace and a key (the common prologue of single-key operations). */
export function validateTarget(ns: unknown, key: unknown): void {
  validateNamespace(ns);
  validateKey(key);
}

/** Validates a batch: 1..MAX_BATCH_KEYS keys, each valid. */
export function validateKeys(keys: readonly unknown[]): void {
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > Limits.MAX_BATCH_KEYS) {
    throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `keys must be a list of 1 to ${Limits.MAX_BATCH_KEYS} keys`, { field: 'keys' });
  }
  for (const key of keys) validateKey(key);
}

/**
 * The TTL (ms) to send with a write. An explicit `ttlMs` is used as given (0 = no expiry,
 * KEEP_TTL keeps the current expiry). Undefined takes the namespace's `defaultTtlSeconds`
 * (none or 0 = no expiry) with its `ttlJitterPct` applied: `ttl × (1 ± pct/100 × r)`, r in
 * [0, 1) from `random`, rounded, never below 1 ms. Jitter only spreads defaults: a caller that
 * names a TTL gets exactly that TTL.
 */
export function resolveTtlMs(policy: NamespacePolicy | undefined, ttlMs: number | undefined, random: () => number): number {
  if (ttlMs !== undefined) {
    if (ttlMs === KEEP_TTL) return ttlMs;
    if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
      throw new ProxyError(ProxyErrorCode.BAD_REQUEST, 'ttlMs must be a whole number of milliseconds, 0 or more', { field: 'ttlMs' });
    }
    return ttlMs;
  }
  const base = (policy?.defaultTtlSeconds ?? 0) * 1000;
  return base > 0 ? jitter(base, policy?.ttlJitterPct ?? 0, random) : 0;
}

/** `ttl × (1 ± pct/100 × r)`, rounded, at least 1. Pure. */
export function jitter(ttlMs: number, pct: number, random: () => number): number {
  if (pct <= 0) return ttlMs;
  const spread = (pct / 100) * (2 * random() - 1);
  return Math.max(1, Math.round(ttlMs * (1 + spread)));
}

/**
 * Throws TOO_LARGE when key bytes (UTF-8) + value bytes exceed the namespace's `maxItemBytes`
 * (the node's own accounting: key + value), so an oversized item never crosses the wire.
 */
export function checkItemSize(policy: NamespacePolicy | undefined, key: string, value: Uint8Array): void {
  const limit = policy?.maxItemBytes;
  if (limit === undefined) return;
  if (key.length * 3 + value.byteLength <= limit) return; // UTF-8 takes at most 3 bytes per UTF-16 unit
  const size = Buffer.byteLength(key, 'utf8') + value.byteLength;
  if (size > limit) {
    throw new ProxyError(ProxyErrorCode.TOO_LARGE, `item of ${size} bytes exceeds the namespace limit of ${limit} bytes`, { size, limit });
  }
}
