import { Counter, type Registry } from 'prom-client';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { ProxyError, ProxyErrorCode } from '../errors';
import { TokenBucket } from './token-bucket';

export interface NamespaceLimiterOptions {
  /** Proxies sharing each namespace's `qpsLimit`: this proxy admits limit / proxyCount per second. */
  proxyCount: number;
  /** Monotonic ms. */
  now?: () => number;
  registry?: Registry;
}

/**
 * Per-namespace QPS limits (noisy neighbours): one token bucket per namespace whose policy has a
 * `qpsLimit`, holding this proxy's share (`qpsLimit / proxyCount` per second, burst of one
 * second's share, at least 1). The share follows policy changes on the next request; a namespace
 * whose limit is removed loses its bucket. O(1) per request, no timers.
 *
 * A request costs one token per key it names (an MGET of 50 keys costs 50), taken whole or not
 * at all: a refused batch takes nothing. A batch larger than the burst can never pass and says so.
 *
 *   admit(ns, keys) ─► bucket.take(keys) ─► 0: go on
 *                                         │ wait > 0: RATE_LIMITED { namespace, limit, retryAfterSeconds }
 *                                         │ never:    RATE_LIMITED { namespace, limit, keys, maxKeys }
 */
export class NamespaceLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #proxyCount: number;
  readonly #now: () => number;
  readonly #limited: Counter<'namespace'> | undefined;

  constructor(o: NamespaceLimiterOptions) {
    if (!Number.isInteger(o.proxyCount) || o.proxyCount < 1) throw new Error('proxyCount must be a whole number of at least 1');
    this.#proxyCount = o.proxyCount;
    this.#now = o.now ?? (() => performance.now());
    this.#limited = o.registry
      ? new Counter({ name: 'shardcache_proxy_rate_limited_total', help: 'Requests refused with RATE_LIMITED, by namespace', labelNames: ['namespace'], registers: [o.registry] })
      : undefined;
  }

  /**
   * Charges `keys` tokens (at least 1) to `ns`, all or none; throws RATE_LIMITED when `ns` has
   * fewer left of this proxy's share of its limit.
   */
  admit(ns: string, snapshot: TopologySnapshot | undefined, keys = 1): void {
    const limit = snapshot?.namespaces.get(ns)?.qpsLimit;
    if (limit === undefined) {
      if (this.#buckets.size > 0) this.#buckets.delete(ns);
      return;
    }
    const share = limit / this.#proxyCount;
    const burst = Math.max(1, share);
    let bucket = this.#buckets.get(ns);
    if (bucket === undefined) this.#buckets.set(ns, (bucket = new TokenBucket(share, burst, this.#now)));
    else if (bucket.rate !== share) bucket.configure(share, burst);
    const cost = Math.max(1, keys);
    const waitMs = bucket.take(cost);
    if (waitMs === 0) return;
    this.#limited?.inc({ namespace: ns });
    if (waitMs === Infinity) throw tooBig(ns, limit, cost, Math.floor(bucket.burst));
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    const detail = cost > 1 ? { namespace: ns, limit, retryAfterSeconds, keys: cost } : { namespace: ns, limit, retryAfterSeconds };
    throw new ProxyError(ProxyErrorCode.RATE_LIMITED, `namespace ${ns} is over its limit of ${limit} requests per second`, detail);
  }
}

/** The refusal of a batch that costs more tokens than the bucket ever holds: no Retry-After would help. */
function tooBig(ns: string, limit: number, keys: number, maxKeys: number): ProxyError {
  const message = `this batch names more keys than one request may under the namespace's limit of ${limit} requests per second (one per key; at most ${maxKeys} through this proxy); split it`;
  return new ProxyError(ProxyErrorCode.RATE_LIMITED, message, { namespace: ns, limit, keys, maxKeys });
}
