import type { PeerAccess } from '../../shared/peer-auth';
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/log';
import { KEEP_TTL, SetCond } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import type { GetResult, ReadPreference, WriteResult } from '../backend';
import { deleteMessage, parseFlag, parseSet, setMessage, type SetFields } from '../routing/messages';
import type { Intent } from '../routing/picker';
import { InvalidationFeed } from './invalidation-feed';
import { HotKeyMetrics } from './metrics';
import { NearCache } from './near-cache';
import { activeRule, copyPlaces, hotId, nearTtlMs, type CopyPlace, type SnapshotRule } from './rules';
import { WindowedTopK } from './topk';

/** What the hot-key paths need from the data plane (owned here; the data plane implements it). */
export interface HotRouting {
  /** A GET of `storageKey` on `shardId` for `intent` (redirects followed, as any request). */
  read(shardId: number, intent: Intent, ns: string, storageKey: string): Promise<GetResult>;
  /** A write to the primary of `shardId`; `build` gets the primary's epoch; `slot` (of the stored key) lets a MOVED reply reroute it. */
  write<T>(shardId: number, build: (epoch: number) => unknown[], parse: (reply: unknown[], nodeId: string) => T, slot?: number): Promise<T>;
  /** Whether a request of `intent` to `shardId` would find a node whose breaker is closed. */
  healthy(snapshot: TopologySnapshot, shardId: number, intent: Intent): boolean;
  /** The owner shard of a key. */
  shardOf(ns: string, key: string): number;
}

export interface HotKeysOptions {
  registry: Registry;
  log: Logger;
  routing: HotRouting;
  current(): TopologySnapshot | undefined;
  random: () => number;
  /** Monotonic clock, ms. */
  now: () => number;
  /** Wall clock, ms (rule expiry is wall-clock). */
  wallNow?: () => number;
  /** Length of the detection window (default 5000 ms) and its buckets (default 5). */
  windowMs?: number;
  buckets?: number;
  /** Keys each bucket of the sketch monitors (default 256). */
  capacity?: number;
  nearMaxEntries?: number;
  nearMaxBytes?: number;
  /** The cluster secret and node-link TLS of the subscription connections (absent: plain TCP, no secret). */
  access?: PeerAccess;
}

/** One key of the top-K report. */
export interface HotKeyReport {
  namespace: string;
  key: string;
  /**
   * Estimated GETs/s over the window (an upper bound), and the guaranteed part of it (a lower
   * bound); past 16,384 GETs in one bucket (a second with the defaults: windowMs / buckets) the
   * sketch samples them (WindowedTopK), and both become estimates (one standard deviation ~3/√n
   * for a key seen n times).
   */
  qps: number;
  qpsLowerBound: number;
  mode: SnapshotRule['mode'] | 'none';
}

/** Longest TTL a copy other than the owner's gets: bounds how long a copy can lag the owner (ms). */
export const COPY_MAX_TTL_MS = 60_000;

/**
 * Hot keys in the proxy: detection, rules, and the read and write paths of the three modes.
 *
 *   GET ─► observe (sketch.observe: counted, or sampled past 16,384 GETs a bucket) ─► rule? ── none ─► normal path
 *                                                         ├ near-cache ─► NearCache ─miss─► primary (+ subscribe to its pushes)
 *                                                         ├ replica-spread ─► any healthy node of the shard
 *                                                         └ copies ─► a random healthy copy ─miss─► owner, copy refilled
 *   write done ─► written(): near cache dropped at once; copies: SET (or DELETE) fanned out to every copy
 *   node push ─► InvalidationFeed ─► near cache dropped
 *
 * guards: sketch, near cache, subscriptions.
 */
export class HotKeys {
  readonly #o: HotKeysOptions;
  readonly #sketch: WindowedTopK;
  readonly #near: NearCache;
  readonly #feed: InvalidationFeed;
  readonly #metrics: HotKeyMetrics;
  readonly #log: Logger;
  readonly #windowMs: number;
  readonly #bucketMs: number;
  readonly #rotator: NodeJS.Timeout;
  readonly #wallNow: () => number;
  /** Keys subscribed for pushes (ids), to unsubscribe when their rule goes. */
  readonly #subscribed = new Set<string>();
  #rotatedAt: number;
  #rotations = 0;

  constructor(o: HotKeysOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: 'proxy:hotkeys' });
    this.#windowMs = o.windowMs ?? 5000;
    const buckets = o.buckets ?? 5;
    this.#bucketMs = this.#windowMs / buckets;
    this.#wallNow = o.wallNow ?? Date.now;
    this.#sketch = new WindowedTopK(o.capacity ?? 256, buckets, { random: o.random });
    this.#near = new NearCache({ maxEntries: o.nearMaxEntries ?? 10_000, maxBytes: o.nearMaxBytes ?? 64 * 1024 * 1024, now: o.now });
    this.#feed = new InvalidationFeed({ log: this.#log, onInvalidation: (ns, key) => this.#onPush(ns, key), access: o.access });
    this.#metrics = new HotKeyMetrics(o.registry, {
      top: () => this.top(10),
      near: () => ({ hits: this.#near.hits, misses: this.#near.misses, entries: this.#near.size, bytes: this.#near.bytes, pushes: this.#feed.pushes }),
    });
    this.#rotatedAt = o.now();
    this.#rotator = setInterval(() => {
      this.rotate();
      const snapshot = o.current();
      if (snapshot !== undefined && this.#subscribed.size > 0) this.sync(snapshot); // rules that reached their expiresAt
    }, this.#bucketMs);
    this.#rotator.unref();
  }

  get metrics(): HotKeyMetrics {
    return this.#metrics;
  }

  /** Starts a new bucket of the sketch (the timer calls it; tests may too). */
  rotate(): void {
    this.#sketch.rotate();
    this.#rotatedAt = this.#o.now();
    this.#rotations++;
  }

  /** Counts one GET of the key of `id` (hotId) and returns its active rule, if any. The per-GET cost of hot keys. */
  observe(id: string, snapshot: TopologySnapshot): SnapshotRule | undefined {
    this.#sketch.observe(id);
    if (snapshot.hotkeys.size === 0) return undefined;
    const rule = snapshot.hotkeys.get(id);
    if (rule === undefined) return undefined;
    return rule.expiresAt !== undefined && rule.expiresAt <= this.#wallNow() ? undefined : rule;
  }

  /** The active rule of `ns/key` in the current snapshot, without counting a GET. */
  ruleOf(ns: string, key: string): SnapshotRule | undefined {
    const snapshot = this.#o.current();
    if (snapshot === undefined || snapshot.hotkeys.size === 0) return undefined;
    return activeRule(snapshot, hotId(ns, key), this.#wallNow());
  }

  /** A GET of a key under `rule`. */
  get(rule: SnapshotRule, ns: string, key: string, pref: ReadPreference, shardId: number, snapshot: TopologySnapshot): Promise<GetResult> {
    const mode = rule.mode;
    const tag = (result: GetResult): GetResult => ({ ...result, hot: mode }); // results may be shared (near cache, flights): copied
    if (mode === 'near-cache') return this.#nearGet(rule, ns, key, pref, shardId, snapshot).then(tag);
    if (mode === 'replica-spread') return this.#spreadGet(shardId, ns, key).then(tag);
    return this.#copyGet(rule, ns, key, shardId, snapshot).then(tag);
  }

  /**
   * A read from any healthy node of the shard (primary or replica). A miss, or a node that
   * fails before its breaker opens, is asked again of the primary: a replica may not have the
   * value yet (replication lag, a new replica), and a hot key that misses would send every caller
   * to its origin.
   */
  async #spreadGet(shardId: number, ns: string, key: string): Promise<GetResult> {
    let result: GetResult;
    try {
      result = await this.#o.routing.read(shardId, 'spread', ns, key);
    } catch {
      return this.#o.routing.read(shardId, 'primary', ns, key);
    }
    return result.hit ? result : this.#o.routing.read(shardId, 'primary', ns, key);
  }

  /**
   * After a write to `ns/key` went through this proxy: its near-cache entry is dropped at once,
   * and under a copies rule the write is fanned out to every other copy (a SET's value, anything
   * else deletes them: they refill from the owner on the next read). Resolves with `result`
   * once the fan-out is done; copy failures are counted and logged, never thrown.
   */
  written<T>(ns: string, key: string, result: T, set?: { fields: SetFields; result: WriteResult | undefined }): T | Promise<T> {
    const rule = this.ruleOf(ns, key);
    if (rule === undefined) return result;
    if (rule.mode === 'near-cache') this.#near.invalidate(hotId(ns, key));
    if (rule.mode !== 'copies') return result;
    if (set !== undefined && set.result === undefined) return result; // NX/XX not met: nothing changed
    return this.#fanOut(rule, ns, key, set).then(() => result);
  }

  /**
   * A namespace- or tag-wide invalidation went through this proxy: near entries of the namespace
   * go, and the copies of its keys under a copies rule are deleted (a copy refilled from the
   * owner carries no tags, so the node's tag invalidation would miss it; deleted copies refill
   * from the owner, which now misses or holds the newer value).
   */
  async invalidated(ns: string): Promise<void> {
    this.#near.invalidatePrefix(`${ns}\n`);
    const snapshot = this.#o.current();
    if (snapshot === undefined || snapshot.hotkeys.size === 0) return;
    const now = this.#wallNow();
    const copied = [...snapshot.hotkeys.values()].filter((r) => r.namespace === ns && r.mode === 'copies' && (r.expiresAt === undefined || r.expiresAt > now));
    await Promise.all(copied.map((r) => this.#fanOut(r, ns, r.key, undefined)));
  }

  /** The `n` hottest keys of the window, with their rule's mode. */
  top(n: number): HotKeyReport[] {
    const seconds = Math.max(this.#coveredMs(), 1) / 1000;
    const snapshot = this.#o.current();
    return this.#sketch.top(n).map((h) => {
      const cut = h.key.indexOf('\n');
      const rule = snapshot === undefined ? undefined : activeRule(snapshot, h.key, this.#wallNow());
      return {
        namespace: h.key.slice(0, cut), key: h.key.slice(cut + 1), qps: round(h.count / seconds), qpsLowerBound: round((h.count - h.error) / seconds),
        mode: rule?.mode ?? 'none',
      };
    });
  }

  /** `/v1/admin/hotkeys`: the top keys, the active rules and the near cache. */
  report(n = 20): Record<string, unknown> {
    const snapshot = this.#o.current();
    const now = this.#wallNow();
    const rules = [...(snapshot?.hotkeys.values() ?? [])].filter((r) => r.expiresAt === undefined || r.expiresAt > now);
    return {
      windowMs: this.#windowMs,
      top: this.top(n),
      rules: rules.map(({ namespace, key, mode, copies, ttlMs, expiresAt, source }) => ({ namespace, key, mode, copies, ttlMs, expiresAt, source })),
      nearCache: { entries: this.#near.size, bytes: this.#near.bytes, hits: this.#near.hits, misses: this.#near.misses, pushes: this.#feed.pushes, subscribed: this.#subscribed.size },
    };
  }

  /**
   * A new snapshot: keys that lost their near-cache rule leave the near cache and stop their
   * pushes; connections to nodes that left the topology are closed.
   */
  sync(snapshot: TopologySnapshot): void {
    this.#feed.retain((nodeId, addr) => snapshot.nodes.get(nodeId)?.addr === addr);
    const now = this.#wallNow();
    for (const id of [...this.#subscribed]) {
      const rule = activeRule(snapshot, id, now);
      if (rule?.mode === 'near-cache') continue;
      this.#subscribed.delete(id);
      this.#near.invalidate(id);
      const cut = id.indexOf('\n');
      this.#feed.unsubscribe(id.slice(0, cut), id.slice(cut + 1));
    }
  }

  close(): void {
    clearInterval(this.#rotator);
    this.#feed.close();
  }

  async #nearGet(rule: SnapshotRule, ns: string, key: string, pref: ReadPreference, shardId: number, snapshot: TopologySnapshot): Promise<GetResult> {
    const id = hotId(ns, key);
    const cached = this.#near.get(id);
    if (cached !== undefined) return cached;
    const primary = snapshot.shards.get(shardId)?.primary;
    if (primary !== undefined) {
      this.#feed.subscribe(primary.nodeId, primary.addr, ns, key);
      this.#subscribed.add(id);
    }
    const token = this.#near.begin(id);
    const result = await this.#o.routing.read(shardId, pref, ns, key);
    this.#near.put(id, result, nearTtlMs(rule), token);
    return result;
  }

  /**
   * A read of one copy, picked at random among copies whose shard has a healthy node, from any
   * node of that shard (as replica-spread: copies are weakly consistent anyway). A miss there is
   * asked of the copy shard's primary, and a copy missing there too is read from the owner and
   * written back to the copy (a new rule, an evicted or lapsed copy). A copy that fails is
   * counted and skipped for the owner.
   */
  async #copyGet(rule: SnapshotRule, ns: string, key: string, shardId: number, snapshot: TopologySnapshot): Promise<GetResult> {
    const places = copyPlaces(snapshot, shardId, key, rule.copies ?? 1, rule.createRevision);
    const place = this.#pickCopy(places, snapshot);
    if (place.index === 0) return this.#spreadGet(shardId, ns, key);
    let result: GetResult;
    try {
      result = await this.#spreadGet(place.shardId, ns, place.storageKey);
    } catch (err) {
      this.#copyFailed('read', ns, key, place, err);
      return this.#o.routing.read(shardId, 'primary', ns, key);
    }
    if (result.hit) return result;
    const owner = await this.#o.routing.read(shardId, 'primary', ns, key);
    if (owner.hit) void this.#refill(ns, key, place, owner);
    return owner;
  }

  /** A random copy whose shard has a healthy node; the owner when none has. */
  #pickCopy(places: CopyPlace[], snapshot: TopologySnapshot): CopyPlace {
    const start = Math.floor(this.#o.random() * places.length);
    for (let i = 0; i < places.length; i++) {
      const place = places[(start + i) % places.length];
      if (this.#o.routing.healthy(snapshot, place.shardId, 'spread')) return place;
    }
    return places[0];
  }

  /** Writes the owner's value to a copy that missed (a new rule, an evicted or lapsed copy). */
  async #refill(ns: string, key: string, place: CopyPlace, owner: GetResult & { hit: true }): Promise<void> {
    const fields: SetFields = { value: owner.value, ttlMs: copyTtl(owner.expiresAt, this.#wallNow()), flags: owner.flags, cond: SetCond.NX, ifVersion: 0, tags: null };
    if (fields.ttlMs < 0) return;
    try {
      await this.#o.routing.write(place.shardId, (epoch) => setMessage(epoch, ns, place.storageKey, fields), parseSet, slotOf(ns, place.storageKey));
    } catch (err) {
      this.#copyFailed('refill', ns, key, place, err);
    }
  }

  async #fanOut(rule: SnapshotRule, ns: string, key: string, set: { fields: SetFields; result: WriteResult | undefined } | undefined): Promise<void> {
    const snapshot = this.#o.current();
    let owner: number;
    try {
      owner = this.#o.routing.shardOf(ns, key);
    } catch (err) {
      this.#log.warn({ event: 'copy-failed', namespace: ns, err: (err as Error).message }, 'hot-key copies not written: no shard owns the key now');
      return;
    }
    if (snapshot === undefined) return;
    const places = copyPlaces(snapshot, owner, key, rule.copies ?? 1, rule.createRevision).slice(1);
    const written = set?.result;
    await Promise.all(places.map(async (place) => {
      try {
        if (set === undefined || written === undefined) {
          await this.#o.routing.write(place.shardId, (epoch) => deleteMessage(epoch, ns, place.storageKey), parseFlag, slotOf(ns, place.storageKey));
          return;
        }
        const ttlMs = set.fields.ttlMs === KEEP_TTL || set.fields.ttlMs === 0 || set.fields.ttlMs > COPY_MAX_TTL_MS
          ? copyTtl(written.expiresAt, this.#wallNow()) : set.fields.ttlMs;
        const fields: SetFields = { ...set.fields, ttlMs: Math.max(ttlMs, 1), cond: SetCond.ALWAYS, ifVersion: 0 };
        await this.#o.routing.write(place.shardId, (epoch) => setMessage(epoch, ns, place.storageKey, fields), parseSet, slotOf(ns, place.storageKey));
      } catch (err) {
        this.#copyFailed(set === undefined ? 'delete' : 'set', ns, key, place, err);
      }
    }));
  }

  #copyFailed(op: string, ns: string, key: string, place: CopyPlace, err: unknown): void {
    this.#metrics.copyFailures.inc({ op });
    this.#log.warn({ event: 'copy-failed', op, namespace: ns, key: key.slice(0, 128), copy: place.index, shardId: place.shardId, err: (err as Error).message }, 'hot-key copy operation failed');
  }

  #onPush(ns: string, key: string | null): void {
    if (key === null) this.#near.invalidatePrefix(`${ns}\n`);
    else this.#near.invalidate(hotId(ns, key));
  }

  /** Milliseconds of traffic the window holds: full buckets plus the current one. */
  #coveredMs(): number {
    const full = Math.min(this.#rotations, Math.round(this.#windowMs / this.#bucketMs) - 1);
    return full * this.#bucketMs + (this.#o.now() - this.#rotatedAt);
  }
}

/** TTL of a copy of an entry expiring at `expiresAt` (0 = never): at most COPY_MAX_TTL_MS; -1 when already expired. */
function copyTtl(expiresAt: number, wallNow: number): number {
  if (expiresAt === 0) return COPY_MAX_TTL_MS;
  const left = expiresAt - wallNow;
  return left <= 0 ? -1 : Math.min(left, COPY_MAX_TTL_MS);
}

const round = (n: number): number => Math.round(n * 10) / 10;
