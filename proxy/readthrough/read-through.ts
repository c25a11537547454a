import type { NamespacePolicy } from '../../shared/topology/schema';
import type { GetResult, Hit, StaleReason } from '../backend';
import { ProxyError, ProxyErrorCode } from '../errors';
import { jitter } from '../policy';
import type { SingleFlight } from '../routing/coalesce';
import { shouldRefreshEarly } from './early-refresh';
import { fillFlags, isFilled, isNegative, loadMsOf, softExpiresAt } from './entry-flags';
import type { LeaseReply } from './fill-messages';
import type { ReadThroughMetrics } from './metrics';
import { originKeyRefusal, type OriginLoader, type OriginResult } from './origin';

/** The owning node's side of read-through, as this core needs it (the data plane implements it over the router). */
export interface FillStore {
  /** A GET at the shard's primary. */
  read(ns: string, key: string): Promise<GetResult>;
  lease(ns: string, key: string, leaseTtlMs: number, seenVersion: number): Promise<LeaseReply>;
  /** Undefined when the lease was lost (lapsed or released) before the fill. */
  fill(ns: string, key: string, token: number, value: Buffer, ttlMs: number, flags: number): Promise<{ version: number; expiresAt: number } | undefined>;
  release(ns: string, key: string, token: number): Promise<unknown>;
}

/** Policy defaults of read-through namespaces (documented in docs/operations.md). */
export const READ_THROUGH_DEFAULTS = {
  ttlSeconds: 300,
  staleWhileRevalidateSeconds: 0,
  negativeTtlSeconds: 10,
  fillLeaseMs: 5000,
  fillWaitMs: 5000,
  originTimeoutMs: 2000,
  earlyRefreshBeta: 0,
  maxItemBytes: 1024 * 1024,
} as const;

export interface ReadThroughOptions {
  store: FillStore;
  origin: OriginLoader;
  /** The data plane's GET flights: one loader per key in this proxy, forgotten on writes. */
  flights: SingleFlight<GetResult>;
  flightKey(ns: string, key: string): string;
  metrics?: ReadThroughMetrics;
  /** Wall clock, epoch ms (entries' expiries are epoch ms). */
  now?: () => number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called when a background refresh fails (logs). */
  onRefreshError?: (ns: string, key: string, err: unknown) => void;
}

/** After a failed background refresh, the next one for the key waits this long. */
const REFRESH_BACKOFF_MS = 1000;
/** Keys remembered with a failed refresh; past it the memory starts over. */
const MAX_FAILED = 10_000;
/** Waiting for another loader's fill: first poll after this, doubling up to POLL_MAX_MS. */
const POLL_MIN_MS = 20;
const POLL_MAX_MS = 50;

/**
 * Read-through GET of a namespace with an origin:
 *
 *   flight (one per key per proxy) ─► GET at the primary
 *     hit, fresh ────────────────────► value (XFetch may start an early background refresh)
 *     hit, stale (soft TTL passed) ──► stale value now + one background refresh
 *     negative (origin 404) ─────────► miss
 *     miss ─► FILL_LEASE ─► granted: load origin ─► FILL (value or negative) ─► value / miss
 *                     │                    └ failed: FILL_RELEASE ─► ORIGIN_ERROR / ORIGIN_TIMEOUT
 *                     ├ changed: someone filled meanwhile ─► their value
 *                     └ held: poll FILL_LEASE every 20-50 ms ─► the filler's value (≤ fillWaitMs)
 *
 * One load per key per expiry across all proxies: the lease at the owning node admits one loader,
 * and FILL_LEASE with the version this proxy saw hands later comers the new entry instead of a
 * second lease. Background refreshes go through the same lease. guards: the failed-refresh memory.
 */
export class ReadThrough {
  readonly #o: ReadThroughOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  /** Refreshes in flight in this proxy, by flight key. */
  readonly #refreshing = new Set<string>();
  /** Keys whose last refresh failed: when the next may start (epoch ms). */
  readonly #failed = new Map<string, number>();

  constructor(options: ReadThroughOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * The GET of a key in a namespace whose policy names an origin. A key that cannot stay inside
   * its path segment at the origin (`.`, `..`, or what decodes to them) is refused with
   * BAD_REQUEST before the cache, the lease or the origin is asked.
   */
  get(ns: string, key: string, policy: NamespacePolicy): Promise<GetResult> {
    const refused = originKeyRefusal(key);
    if (refused !== undefined) return Promise.reject(refused);
    return this.#o.flights.do(this.#o.flightKey(ns, key), async () => {
      const found = await this.#o.store.read(ns, key);
      if (found.hit) return this.#onHit(ns, key, policy, found);
      return this.#load(ns, key, policy, 0);
    });
  }

  #onHit(ns: string, key: string, policy: NamespacePolicy, hit: Hit): GetResult {
    if (!isFilled(hit.flags)) return hit; // written by an app: fresh until it expires
    const now = this.#now();
    const soft = softExpiresAt(hit.expiresAt, hit.flags);
    const stale = soft !== 0 && now >= soft;
    if (stale) this.#refreshInBackground(ns, key, policy, hit, 'stale');
    else if (shouldRefreshEarly(now, soft, loadMsOf(hit.flags), policy.earlyRefreshBeta ?? READ_THROUGH_DEFAULTS.earlyRefreshBeta, this.#random)) {
      this.#refreshInBackground(ns, key, policy, hit, 'early');
    }
    if (isNegative(hit.flags)) return { hit: false };
    return stale ? this.#stale(ns, key, hit) : hit;
  }

  /** A stale copy of `hit`, marked with why it is served. */
  #stale(ns: string, key: string, hit: Hit, reason?: StaleReason): Hit {
    const why = reason ?? (this.#failed.has(this.#o.flightKey(ns, key)) ? 'origin-error' : 'revalidating');
    this.#o.metrics?.stale(ns, why);
    return { ...hit, stale: why };
  }

  /** A miss: take the lease and load, or wait for the loader that holds it. */
  async #load(ns: string, key: string, policy: NamespacePolicy, seenVersion: number): Promise<GetResult> {
    const d = READ_THROUGH_DEFAULTS;
    const waitMs = policy.fillWaitMs ?? d.fillWaitMs;
    const deadline = this.#now() + waitMs;
    let pause = POLL_MIN_MS;
    let waited = false;
    for (;;) {
      const lease = await this.#o.store.lease(ns, key, policy.fillLeaseMs ?? d.fillLeaseMs, seenVersion);
      if (lease.kind === 'granted') return this.#loadAndFill(ns, key, policy, lease.token, undefined);
      if (lease.kind === 'changed') return isNegative(lease.entry.flags) ? { hit: false } : lease.entry;
      if (!waited) this.#o.metrics?.waited(ns);
      waited = true;
      const left = deadline - this.#now();
      if (left <= 0) {
        throw new ProxyError(ProxyErrorCode.ORIGIN_TIMEOUT, `waited ${waitMs} ms for another loader to fill ${ns}/${key}`, { namespace: ns, waitedMs: waitMs });
      }
      await this.#sleep(Math.min(pause, left, Math.max(1, lease.heldMs)));
      pause = Math.min(POLL_MAX_MS, pause * 2);
    }
  }

  /**
   * Loads from the origin under `token` and fills. With `stale` (a refresh), an origin failure
   * answers the stale value instead of an error. A failed load always releases the lease.
   */
  async #loadAndFill(ns: string, key: string, policy: NamespacePolicy, token: number, stale: Hit | undefined): Promise<GetResult> {
    const d = READ_THROUGH_DEFAULTS;
    const started = performance.now();
    let result: OriginResult;
    try {
      result = await this.#o.origin.load(policy.origin!, key, policy.originTimeoutMs ?? d.originTimeoutMs, policy.maxItemBytes ?? d.maxItemBytes);
    } catch (err) {
      result = { kind: 'error', reason: (err as Error).message };
    }
    const loadMs = performance.now() - started;
    this.#o.metrics?.load(ns, result.kind === 'not-found' ? 'not_found' : result.kind);
    if (result.kind === 'value') return this.#fill(ns, key, policy, token, result.value, result.json, loadMs);
    if (result.kind === 'not-found') {
      const negativeTtl = (policy.negativeTtlSeconds ?? d.negativeTtlSeconds) * 1000;
      if (negativeTtl > 0) await this.#fillNegative(ns, key, token, negativeTtl, loadMs);
      else await this.#release(ns, key, token);
      return { hit: false };
    }
    await this.#release(ns, key, token);
    if (stale !== undefined) return this.#stale(ns, key, stale, 'origin-error');
    if (result.kind === 'timeout') {
      throw new ProxyError(ProxyErrorCode.ORIGIN_TIMEOUT, `origin of ${ns} did not answer within ${policy.originTimeoutMs ?? d.originTimeoutMs} ms`, { namespace: ns });
    }
    throw new ProxyError(ProxyErrorCode.ORIGIN_ERROR, `loading ${ns}/${key} failed: ${result.reason}`, { namespace: ns });
  }

  async #fill(ns: string, key: string, policy: NamespacePolicy, token: number, value: Buffer, json: boolean, loadMs: number): Promise<Hit> {
    const d = READ_THROUGH_DEFAULTS;
    const base = (policy.defaultTtlSeconds ?? d.ttlSeconds) * 1000;
    const staleSeconds = base > 0 ? (policy.staleWhileRevalidateSeconds ?? d.staleWhileRevalidateSeconds) : 0;
    const ttl = base > 0 ? jitter(base, policy.ttlJitterPct ?? 0, this.#random) + staleSeconds * 1000 : 0;
    const flags = fillFlags({ json, negative: false, loadMs, staleSeconds });
    const written = await this.#o.store.fill(ns, key, token, value, ttl, flags).catch(async (err: unknown) => {
      await this.#release(ns, key, token);
      throw err;
    });
    // A lost lease still answers the loaded value; the cache keeps whatever the new holder fills.
    return { hit: true, value, version: written?.version ?? 0, expiresAt: written?.expiresAt ?? (ttl > 0 ? this.#now() + ttl : 0), flags };
  }

  async #fillNegative(ns: string, key: string, token: number, ttlMs: number, loadMs: number): Promise<void> {
    const flags = fillFlags({ json: false, negative: true, loadMs, staleSeconds: 0 });
    await this.#o.store.fill(ns, key, token, Buffer.alloc(0), ttlMs, flags).catch(() => this.#release(ns, key, token));
  }

  /** Gives the lease up; a failure here only means the lease lapses by itself. */
  async #release(ns: string, key: string, token: number): Promise<void> {
    await this.#o.store.release(ns, key, token).catch(() => undefined);
  }

  /** Starts one background refresh of the key in this proxy (the lease makes it one in the cluster). */
  #refreshInBackground(ns: string, key: string, policy: NamespacePolicy, hit: Hit, trigger: 'stale' | 'early'): void {
    const id = this.#o.flightKey(ns, key);
    if (this.#refreshing.has(id)) return;
    const retryAt = this.#failed.get(id);
    if (retryAt !== undefined && this.#now() < retryAt) return;
    this.#refreshing.add(id);
    this.#o.metrics?.refresh(ns, trigger);
    void this.#refresh(ns, key, policy, hit)
      .then(
        (result) => {
          if (result !== undefined && 'stale' in result && result.stale === 'origin-error') this.#remember(id);
          else this.#failed.delete(id);
        },
        (err: unknown) => {
          this.#remember(id);
          this.#o.onRefreshError?.(ns, key, err);
        },
      )
      .finally(() => this.#refreshing.delete(id));
  }

  async #refresh(ns: string, key: string, policy: NamespacePolicy, hit: Hit): Promise<GetResult | undefined> {
    const lease = await this.#o.store.lease(ns, key, policy.fillLeaseMs ?? READ_THROUGH_DEFAULTS.fillLeaseMs, hit.version);
    if (lease.kind !== 'granted') return undefined; // refreshed meanwhile, or another loader is at it
    return this.#loadAndFill(ns, key, policy, lease.token, hit);
  }

  #remember(id: string): void {
    if (this.#failed.size >= MAX_FAILED) this.#failed.clear();
    this.#failed.set(id, this.#now() + REFRESH_BACKOFF_MS);
  }
}
