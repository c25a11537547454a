/**
 * Counters read from nodes and proxies, and the rates between two reads: what `shardctl top` and
 * the control plane's dashboard show. Pure: no I/O, no clock (the caller passes the elapsed
 * milliseconds).
 */

/** Monotonic counters of one storage node, from its STATS reply. */
export interface NodeCounters {
  /** Client requests served (every op but the internal ones: see `INTERNAL_OPS`). */
  ops: number;
  hits: number;
  misses: number;
  /** Entries evicted for memory or a namespace quota. */
  evictions: number;
  /** Entries removed because their TTL passed (the primary's sweep and lazy reclaim). */
  expirations: number;
}

/** Rates of one node over an interval; null where there is no previous read or nothing to divide. */
export interface NodeRates {
  opsPerSec: number | null;
  /** hits / (hits + misses) over the interval, 0..1; null without lookups in it. */
  hitRatio: number | null;
  /** GET lookups (hits + misses) per second: the weight of `hitRatio` when ratios are combined. */
  lookupsPerSec: number | null;
  evictionsPerSec: number | null;
  expirationsPerSec: number | null;
}

/** One bucket of a cumulative latency histogram: requests that took at most `le` seconds. */
export type LatencyBucket = readonly [le: number, count: number];

/** Monotonic counters of one proxy, from its /metrics. */
export interface ProxyCounters {
  requests: number;
  /** Requests answered with an error code (anything but `ok`). */
  errors: number;
  /**
   * The fronts' request latency histogram summed over fronts and ops, cumulative by upper bound
   * (ascending, `Infinity` last); empty when the proxy exports none.
   */
  latency: LatencyBucket[];
}

/** A breaker as the proxy's `shardcache_proxy_breaker_state` gauge says. */
export type BreakerState = 'closed' | 'half-open' | 'open';

export interface ProxyRates {
  requestsPerSec: number | null;
  /** errors / requests over the interval, 0..1; null without requests in it. */
  errorRate: number | null;
  errorsPerSec: number | null;
  /** 99th percentile of the fronts' latency over the interval, in ms; null without requests in it. */
  p99Ms: number | null;
}

/**
 * Ops a node counts that are not client requests: health checks, STATS (top itself asks once a
 * refresh), the handshake, replication, migration and subscription traffic.
 */
export const INTERNAL_OPS: ReadonlySet<string> = new Set(['ping', 'stats', 'hello', 'auth', 'slot_stats', 'subscribe_invalidations', 'unsubscribe_invalidations', 'invalidation']);
const INTERNAL_PREFIXES = ['repl_', 'migrate_'];

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The counters of a node's STATS document (`ops` by lower-case op name, `hits`, `misses`, `evictedMemory`, `evictedQuota`, `expired`). */
export function nodeCounters(stats: Record<string, unknown>): NodeCounters {
  let ops = 0;
  const byOp = stats.ops;
  if (byOp !== null && typeof byOp === 'object') {
    for (const [name, count] of Object.entries(byOp as Record<string, unknown>)) {
      if (INTERNAL_OPS.has(name) || INTERNAL_PREFIXES.some((p) => name.startsWith(p))) continue;
      ops += num(count);
    }
  }
  return { ops, hits: num(stats.hits), misses: num(stats.misses), evictions: num(stats.evictedMemory) + num(stats.evictedQuota), expirations: num(stats.expired) };
}

/** `cur - prev` of a monotonic counter; a counter that went down was reset (the process restarted), so all of `cur` is new. */
export function counterDelta(prev: number, cur: number): number {
  return cur >= prev ? cur - prev : cur;
}

const perSecond = (delta: number, elapsedMs: number): number => (delta * 1000) / elapsedMs;

/** Rates of a node from its previous and current counters, `elapsedMs` apart. */
export function nodeRates(prev: NodeCounters | undefined, cur: NodeCounters, elapsedMs: number): NodeRates {
  if (prev === undefined || !(elapsedMs > 0)) return { opsPerSec: null, hitRatio: null, lookupsPerSec: null, evictionsPerSec: null, expirationsPerSec: null };
  const hits = counterDelta(prev.hits, cur.hits);
  const lookups = hits + counterDelta(prev.misses, cur.misses);
  return {
    opsPerSec: perSecond(counterDelta(prev.ops, cur.ops), elapsedMs),
    hitRatio: lookups === 0 ? null : hits / lookups,
    lookupsPerSec: perSecond(lookups, elapsedMs),
    evictionsPerSec: perSecond(counterDelta(prev.evictions, cur.evictions), elapsedMs),
    expirationsPerSec: perSecond(counterDelta(prev.expirations, cur.expirations), elapsedMs),
  };
}

/** Rates of a proxy from its previous and current counters, `elapsedMs` apart. */
export function proxyRates(prev: ProxyCounters | undefined, cur: ProxyCounters, elapsedMs: number): ProxyRates {
  if (prev === undefined || !(elapsedMs > 0)) return { requestsPerSec: null, errorRate: null, errorsPerSec: null, p99Ms: null };
  const requests = counterDelta(prev.requests, cur.requests);
  // A reset of one counter and not the other would give more errors than requests: bound it.
  const errors = Math.min(requests, counterDelta(prev.errors, cur.errors));
  const p99 = histogramQuantile(0.99, latencyDelta(prev.latency, cur.latency));
  return {
    requestsPerSec: perSecond(requests, elapsedMs),
    errorRate: requests === 0 ? null : errors / requests,
    errorsPerSec: perSecond(errors, elapsedMs),
    p99Ms: p99 === null ? null : p99 * 1000,
  };
}

/**
 * The requests of each bucket between two reads of a cumulative histogram (same bounds; a bound
 * missing before counts from zero; a histogram that went down was reset, so all of `cur` is new).
 */
export function latencyDelta(prev: readonly LatencyBucket[], cur: readonly LatencyBucket[]): LatencyBucket[] {
  const before = new Map(prev);
  const reset = cur.some(([le, count]) => count < (before.get(le) ?? 0));
  return cur.map(([le, count]) => [le, reset ? count : count - (before.get(le) ?? 0)]);
}

/**
 * The `q` quantile of a cumulative histogram, as Prometheus's `histogram_quantile` estimates it:
 * linear within the bucket the rank falls in (from 0 for the first); a rank in the `+Inf` bucket
 * is the highest finite bound. Null when the histogram counted nothing.
 */
export function histogramQuantile(q: number, buckets: readonly LatencyBucket[]): number | null {
  const total = buckets.length === 0 ? 0 : buckets[buckets.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lowerBound;
      if (count === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (count - lowerCount);
    }
    if (le !== Infinity) lowerBound = le;
    lowerCount = count;
  }
  return lowerBound;
}

/** The proxy metrics the sampler (the live dashboard, `shardctl top`) reads: checked against a live proxy by test/integration/prometheus.test.ts. */
export const PROXY_METRICS_READ = ['shardcache_proxy_requests_total', 'shardcache_proxy_request_duration_seconds_bucket', 'shardcache_proxy_breaker_state'] as const;
const lineOf = (name: string): RegExp => new RegExp(`^${name}\\{([^}]*)\\}\\s+(\\S+)`);
const [REQUESTS_LINE, LATENCY_LINE, BREAKER_LINE] = PROXY_METRICS_READ.map(lineOf);
const LABELS = {
  code: /(?:^|,)code="((?:[^"\\]|\\.)*)"/,
  le: /(?:^|,)le="((?:[^"\\]|\\.)*)"/,
  node: /(?:^|,)node="((?:[^"\\]|\\.)*)"/,
} as const;
const label = (labels: string, name: keyof typeof LABELS): string | undefined => LABELS[name].exec(labels)?.[1];

/**
 * A proxy's counters from its Prometheus text: the sum of `shardcache_proxy_requests_total`, of
 * those whose `code` is not `ok`, and the buckets of `shardcache_proxy_request_duration_seconds`
 * summed over fronts and ops.
 */
export function proxyCounters(metricsText: string): ProxyCounters {
  let requests = 0;
  let errors = 0;
  const latency = new Map<number, number>();
  for (const line of metricsText.split('\n')) {
    const m = REQUESTS_LINE.exec(line);
    if (m) {
      const value = Number(m[2]);
      if (!Number.isFinite(value)) continue;
      requests += value;
      if (label(m[1], 'code') !== 'ok') errors += value;
      continue;
    }
    const b = LATENCY_LINE.exec(line);
    if (b) {
      const le = label(b[1], 'le');
      const bound = le === '+Inf' ? Infinity : Number(le);
      const value = Number(b[2]);
      if (le === undefined || Number.isNaN(bound) || !Number.isFinite(value)) continue;
      latency.set(bound, (latency.get(bound) ?? 0) + value);
    }
  }
  return { requests, errors, latency: [...latency.entries()].sort((a, b) => a[0] - b[0]) };
}

/** Breaker states by node id from a proxy's Prometheus text (`shardcache_proxy_breaker_state`: 0 closed, 1 half-open, 2 open). */
export function breakerStates(metricsText: string): Record<string, BreakerState> {
  const out: Record<string, BreakerState> = {};
  for (const line of metricsText.split('\n')) {
    const m = BREAKER_LINE.exec(line);
    const node = m ? label(m[1], 'node') : undefined;
    if (!m || node === undefined) continue;
    const value = Number(m[2]);
    out[node] = value === 2 ? 'open' : value === 1 ? 'half-open' : 'closed';
  }
  return out;
}
