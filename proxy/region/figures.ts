import client, { type Registry } from 'prom-client';

/** A sender heard from within this long counts toward "behind" (senders heartbeat with empty batches). */
export const SENDER_RECENT_MS = 30_000;
/** Senders not heard from this long are forgotten. */
const SENDER_FORGET_MS = 10 * 60_000;
/** Senders remembered per origin region (node ids; a bound, not a limit anyone should meet). */
const MAX_SENDERS = 1024;
/** Lag samples kept per origin for the JSON view's p50/p99: the most recent ones. */
export const LAG_RESERVOIR = 1024;
/** Lag histogram buckets, seconds: 1 ms to 60 s. */
export const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What this proxy received from one peer region, as `GET /v1/admin/regions` shows it. */
export interface RegionReceived {
  from: string;
  applied: number;
  kept: number;
  wholesale: number;
  /** Lag (applied here − written there) over the last LAG_RESERVOIR items; null before any. */
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  /** now − the oldest `upTo` of the senders heard from in the last 30 s; null before any batch. */
  behindMs: number | null;
  /** Senders (nodes of the peer region) heard from in the last 30 s. */
  senders: number;
}

interface SenderState {
  upTo: number;
  heardAt: number;
}

class Origin {
  applied = 0;
  kept = 0;
  wholesale = 0;
  readonly lags = new Float64Array(LAG_RESERVOIR);
  lagCount = 0;
  lagNext = 0;
  readonly senders = new Map<string, SenderState>();
  /** The newest `upTo` ever heard from any sender of the region (for a region gone silent). */
  newestUpTo = -1;

  lag(ms: number): void {
    this.lags[this.lagNext] = ms;
    this.lagNext = (this.lagNext + 1) % LAG_RESERVOIR;
    if (this.lagCount < LAG_RESERVOIR) this.lagCount++;
  }

  heard(sender: string, upTo: number, now: number): void {
    const state = this.senders.get(sender);
    if (state !== undefined) {
      state.upTo = Math.max(state.upTo, upTo);
      state.heardAt = now;
    } else {
      if (this.senders.size >= MAX_SENDERS) this.forget(now, true);
      this.senders.set(sender, { upTo, heardAt: now });
    }
    if (upTo > this.newestUpTo) this.newestUpTo = upTo;
  }

  /** Drops senders silent for SENDER_FORGET_MS (all but the recent ones when `hard`). */
  forget(now: number, hard = false): void {
    const horizon = hard ? SENDER_RECENT_MS : SENDER_FORGET_MS;
    for (const [id, s] of this.senders) if (now - s.heardAt > horizon) this.senders.delete(id);
  }

  /**
   * now − the oldest `upTo` among the senders heard in the last SENDER_RECENT_MS; with none
   * heard that recently, now − the newest `upTo` ever heard (it grows while the region is
   * silent: a cut link shows). Null before any batch.
   */
  behindMs(now: number): number | null {
    let oldest = Infinity;
    let recent = 0;
    for (const s of this.senders.values()) {
      if (now - s.heardAt > SENDER_RECENT_MS) continue;
      recent++;
      if (s.upTo < oldest) oldest = s.upTo;
    }
    if (recent > 0) return Math.max(0, now - oldest);
    return this.newestUpTo < 0 ? null : Math.max(0, now - this.newestUpTo);
  }

  recentSenders(now: number): number {
    let n = 0;
    for (const s of this.senders.values()) if (now - s.heardAt <= SENDER_RECENT_MS) n++;
    return n;
  }

  percentiles(): { p50: number | null; p99: number | null } {
    if (this.lagCount === 0) return { p50: null, p99: null };
    const sorted = Array.from(this.lags.subarray(0, this.lagCount)).sort((a, b) => a - b);
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  }
}

/** The `q` quantile of ascending `sorted` (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}

/** One batch applied, as the figures take it. */
export interface BatchApplied {
  from: string;
  sender: string;
  upTo: number;
  /** Each item's `at` (when it was written in the sending region). */
  ats: readonly number[];
  applied: number;
  kept: number;
  wholesale: number;
}

/**
 * The receiver side's figures, per origin region (`from`): items applied and kept, wholesale
 * invalidations, the lag from a write there to its invalidation applied here (a histogram for
 * Prometheus, the most recent LAG_RESERVOIR samples for the JSON view's p50/p99), and how far
 * behind each peer region this one is (from the senders' `upTo`, heartbeats included).
 * The lag compares two regions' wall clocks: their skew is in it (negative lags count as 0).
 * guards: origins (region names, behind the region secret), senders per origin (MAX_SENDERS).
 */
export class RegionFigures {
  readonly #origins = new Map<string, Origin>();
  readonly #now: () => number;
  readonly #items: client.Counter<'from' | 'result'> | undefined;
  readonly #lag: client.Histogram<'from'> | undefined;
  readonly #wholesale: client.Counter<'from'> | undefined;
  readonly #batches: client.Counter<'from' | 'result'> | undefined;

  /** `now`: wall clock, ms (the senders' `at` and `upTo` are wall-clock times). */
  constructor(options: { registry?: Registry; now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    const registers = options.registry === undefined ? undefined : [options.registry];
    if (registers === undefined) return;
    this.#items = new client.Counter({
      name: 'shardcache_region_invalidations_total', help: 'invalidations received from peer regions, by origin region and result (applied: removed or namespace/tag-wide; kept: the local value was newer or absent)',
      labelNames: ['from', 'result'], registers,
    });
    this.#lag = new client.Histogram({
      name: 'shardcache_region_invalidation_lag_seconds', help: 'from a write in the origin region to its invalidation applied here (wall clocks of two regions: their skew is included)',
      labelNames: ['from'], buckets: LAG_BUCKETS, registers,
    });
    this.#wholesale = new client.Counter({
      name: 'shardcache_region_wholesale_total', help: 'wholesale (namespace-wide) invalidations received from a peer region: its spool overflowed, or a FLUSHDB there',
      labelNames: ['from'], registers,
    });
    this.#batches = new client.Counter({
      name: 'shardcache_region_batches_total', help: 'invalidation batches received from peer regions, by result (ok, failed: answered 503, the sender retries)',
      labelNames: ['from', 'result'], registers,
    });
    const origins = this.#origins;
    const now = this.#now;
    new client.Gauge({
      name: 'shardcache_region_behind_seconds', help: 'now minus the oldest upTo among the peer region\'s senders heard from in the last 30 s (how stale this region may be for that peer\'s writes)',
      labelNames: ['from'], registers,
      collect() {
        this.reset();
        const t = now();
        for (const [from, o] of origins) {
          const behind = o.behindMs(t);
          if (behind !== null) this.set({ from }, behind / 1000);
        }
      },
    });
  }

  #origin(from: string): Origin {
    let o = this.#origins.get(from);
    if (o === undefined) this.#origins.set(from, (o = new Origin()));
    return o;
  }

  /** A batch applied whole (heartbeats included). */
  applied(b: BatchApplied): void {
    const now = this.#now();
    const o = this.#origin(b.from);
    o.applied += b.applied;
    o.kept += b.kept;
    o.wholesale += b.wholesale;
    o.heard(b.sender, b.upTo, now);
    if (b.applied > 0) this.#items?.inc({ from: b.from, result: 'applied' }, b.applied);
    if (b.kept > 0) this.#items?.inc({ from: b.from, result: 'kept' }, b.kept);
    if (b.wholesale > 0) this.#wholesale?.inc({ from: b.from }, b.wholesale);
    this.#batches?.inc({ from: b.from, result: 'ok' });
    const lag = this.#lag?.labels({ from: b.from });
    for (const at of b.ats) {
      const ms = Math.max(0, now - at);
      o.lag(ms);
      lag?.observe(ms / 1000);
    }
    if (o.senders.size > 64) o.forget(now);
  }

  /** A batch that failed (answered 503; the sender retries it). */
  failed(from: string): void {
    this.#batches?.inc({ from, result: 'failed' });
  }

  /** Every origin heard from, by name. */
  received(): RegionReceived[] {
    const now = this.#now();
    return [...this.#origins.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([from, o]) => {
        const { p50, p99 } = o.percentiles();
        return { from, applied: o.applied, kept: o.kept, wholesale: o.wholesale, lagP50Ms: p50, lagP99Ms: p99, behindMs: o.behindMs(now), senders: o.recentSenders(now) };
      });
  }
}
