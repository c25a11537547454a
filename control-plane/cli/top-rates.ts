/**
 * `shardctl top`: counters read from nodes and proxies, and the rates between two reads. Pure:
 * no I/O, no clock (the caller passes the elapsed milliseconds).
 */

/** Monotonic counters of one storage node, from its STATS reply. */
export interface NodeCounters {
  /** Client requests served (every op but the internal ones: see `INTERNAL_OPS`). */
  ops: number;
  hits: number;
  misses: number;
  /** Entries evicted for memory or a namespace quota. */
  evictions: number;
}

/** Rates of one node over an interval; null where there is no previous read or nothing to divide. */
export interface NodeRates {
  opsPerSec: number | null;
  /** hits / (hits + misses) over the interval, 0..1; null without lookups in it. */
  hitRatio: number | null;
  evictionsPerSec: number | null;
}

/** Monotonic counters of one proxy, from its /metrics. */
export interface ProxyCounters {
  requests: number;
  /** Requests answered with an error code (anything but `ok`). */
  errors: number;
}

export interface ProxyRates {
  requestsPerSec: number | null;
  /** errors / requests over the interval, 0..1; null without requests in it. */
  errorRate: number | null;
}

/**
 * Ops a node counts that are not client requests: health checks, STATS (top itself asks once a
 * refresh), the handshake, replication, migration and subscription traffic.
 */
export const INTERNAL_OPS: ReadonlySet<string> = new Set(['ping', 'stats', 'hello', 'auth', 'slot_stats', 'subscribe_invalidations', 'unsubscribe_invalidations', 'invalidation']);
const INTERNAL_PREFIXES = ['repl_', 'migrate_'];

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** The counters of a node's STATS document (`ops` by lower-case op name, `hits`, `misses`, `evictedMemory`, `evictedQuota`). */
export function nodeCounters(stats: Record<string, unknown>): NodeCounters {
  let ops = 0;
  const byOp = stats.ops;
  if (byOp !== null && typeof byOp === 'object') {
    for (const [name, count] of Object.entries(byOp as Record<string, unknown>)) {
      if (INTERNAL_OPS.has(name) || INTERNAL_PREFIXES.some((p) => name.startsWith(p))) continue;
      ops += num(count);
    }
  }
  return { ops, hits: num(stats.hits), misses: num(stats.misses), evictions: num(stats.evictedMemory) + num(stats.evictedQuota) };
}

/** `cur - prev` of a monotonic counter; a counter that went down was reset (the process restarted), so all of `cur` is new. */
export function counterDelta(prev: number, cur: number): number {
  return cur >= prev ? cur - prev : cur;
}

const perSecond = (delta: number, elapsedMs: number): number => (delta * 1000) / elapsedMs;

/** Rates of a node from its previous and current counters, `elapsedMs` apart. */
export function nodeRates(prev: NodeCounters | undefined, cur: NodeCounters, elapsedMs: number): NodeRates {
  if (prev === undefined || !(elapsedMs > 0)) return { opsPerSec: null, hitRatio: null, evictionsPerSec: null };
  const hits = counterDelta(prev.hits, cur.hits);
  const lookups = hits + counterDelta(prev.misses, cur.misses);
  return {
    opsPerSec: perSecond(counterDelta(prev.ops, cur.ops), elapsedMs),
    hitRatio: lookups === 0 ? null : hits / lookups,
    evictionsPerSec: perSecond(counterDelta(prev.evictions, cur.evictions), elapsedMs),
  };
}

/** Rates of a proxy from its previous and current counters, `elapsedMs` apart. */
export function proxyRates(prev: ProxyCounters | undefined, cur: ProxyCounters, elapsedMs: number): ProxyRates {
  if (prev === undefined || !(elapsedMs > 0)) return { requestsPerSec: null, errorRate: null };
  const requests = counterDelta(prev.requests, cur.requests);
  // A reset of one counter and not the other would give more errors than requests: bound it.
  const errors = Math.min(requests, counterDelta(prev.errors, cur.errors));
  return { requestsPerSec: perSecond(requests, elapsedMs), errorRate: requests === 0 ? null : errors / requests };
}

const REQUESTS_LINE = /^shardcache_proxy_requests_total\{([^}]*)\}\s+(\S+)/;
const CODE_LABEL = /(?:^|,)code="((?:[^"\\]|\\.)*)"/;

/** A proxy's request counters from its Prometheus text: the sum of `shardcache_proxy_requests_total`, and of those whose `code` is not `ok`. */
export function proxyCounters(metricsText: string): ProxyCounters {
  let requests = 0;
  let errors = 0;
  for (const line of metricsText.split('\n')) {
    const m = REQUESTS_LINE.exec(line);
    if (!m) continue;
    const value = Number(m[2]);
    if (!Number.isFinite(value)) continue;
    requests += value;
    if (CODE_LABEL.exec(m[1])?.[1] !== 'ok') errors += value;
  }
  return { requests, errors };
}
