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
 *   admit(ns) ─► bucket.take() ─► 0: go on │ wait > 0: RATE_LIMITED { namespace, limit, retryAfterSeconds }
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

  /** Throws RATE_LIMITED when `ns` is over this proxy's share of its limit. */
  admit(ns: string, snapshot: TopologySnapshot | undefined): void {
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
    const waitMs = bucket.take();
    if (waitMs === 0) return;
    this.#limited?.inc({ namespace: ns });
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new ProxyError(ProxyErrorCode.RATE_LIMITED, `namespace ${ns} is over its limit of ${limit} requests per second`, { namespace: ns, limit, retryAfterSeconds });
  }
}
