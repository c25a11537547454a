import { EvictionPool } from './eviction-pool';
import { type Keyspace, Removal, type RemovalKind } from './keyspace';
import { lfuDecay, lfuMinutes } from './lfu';
import type { Namespace } from './namespace';
import { walk } from './sweep';

/** Random ids tried per wanted sample before global sampling gives up on the id space. */
const ATTEMPTS_PER_SAMPLE = 16;
const TWO_POW_32 = 4_294_967_296;
/** Members of a namespace with a pending invalidation visited per eviction before sampling. */
const WALK_STEPS = 64;

/**
 * Approximate LRU/LFU eviction by sampling, after Redis's `performEvictions`: no list is touched
 * on a hit; each round samples `evictionSamples` entries, offers them to a pool of the best 16
 * candidates, and evicts the pool's best one that is still as it was scored. Dead entries go
 * first, as they cost nobody a hit: an expired or invalidated entry met while sampling is
 * reclaimed at once, and before sampling live entries a round looks at a few entries of the TTL
 * set and advances a pending invalidation walk.
 *
 * Scores (higher = evict first): LRU = idle ticks of the logical access clock; LFU = (255 -
 * decayed counter) * 2^32 + idle ticks, so ties go to the least recently used. Scope:
 *
 *   quota pressure   sample the namespace's own members, its own pool
 *   memory pressure  namespaces over quota first (as above), then random ids of the whole
 *                    table; one pool per policy, and the policy of the first sampled entry
 *                    decides which pool evicts, so mixed namespaces share pressure by size.
 *
 * Guards: never evicts the entry `protect` (the one being written).
 */
export class Evictor {
  private readonly lru = new EvictionPool();
  private readonly lfu = new EvictionPool();

  constructor(private readonly ks: Keyspace) {}

  /** Frees one entry of `ns`; false when nothing but `protect` is left to free. */
  evictFrom(ns: Namespace, protect: number, kind: RemovalKind): boolean {
    const ks = this.ks;
    if (ns.reclaimCursor >= 0 && this.reclaimWalk(ns)) return true;
    const pool = (ns.pool ??= new EvictionPool());
    const now = ks.options.now();
    const samples = ks.options.evictionSamples;
    for (let i = 0; i < samples && ns.members.count > 0; i++) {
      const id = ns.members.pick(ks.options.random());
      if (id === protect) continue;
      if (ks.reclaimIfDead(id, ns, now)) return true;
      this.offer(pool, id, ns, now);
    }
    return this.evictBest(pool, protect, kind);
  }

  /**
   * Frees one entry anywhere: a dead one if cheaply found, else from a namespace over quota,
   * else by global sampling; false when nothing but `protect` is left.
   */
  evictAny(protect: number): boolean {
    const now = this.ks.options.now();
    if (this.reclaimDead(protect, now)) return true;
    if (this.ks.overQuota.size !== 0 && this.evictOverQuota(protect)) return true;
    const sampled = this.sampleTable(protect, now);
    if (sampled === true) return true;
    const first = sampled ?? this.lru;
    const second = first === this.lru ? this.lfu : this.lru;
    return (
      this.evictBest(first, protect, Removal.EVICTED_MEMORY) ||
      this.evictBest(second, protect, Removal.EVICTED_MEMORY) ||
      this.evictFromAnyNamespace(protect)
    );
  }

  /** Drops scored candidates (after a namespace changed its policy). */
  reset(): void {
    this.lru.clear();
    this.lfu.clear();
  }

  private evictOverQuota(protect: number): boolean {
    for (const ns of this.ks.overQuota) {
      if (this.evictFrom(ns, protect, Removal.EVICTED_QUOTA)) return true;
    }
    return false;
  }

  /**
   * Looks for a dead entry before evicting a live one: samples of the expiry set (an expired
   * entry is reclaimed) and a few steps of a pending invalidation walk. True when it freed one.
   */
  private reclaimDead(protect: number, now: number): boolean {
    const { ttl, options } = this.ks;
    for (let i = 0; i < options.evictionSamples && ttl.count > 0; i++) {
      const at = ttl.pick(options.random());
      const id = ttl.idAt(at);
      if (id === protect || ttl.timeAt(at) > now) continue;
      this.ks.remove(id, Removal.EXPIRED);
      return true;
    }
    const pending = this.ks.pendingReclaim.values().next();
    return pending.done === true ? false : this.reclaimWalk(pending.value);
  }

  /** Advances the invalidation walk of `ns` by a few steps; true when it reclaimed an entry. */
  private reclaimWalk(ns: Namespace): boolean {
    const reclaimed = walk(this.ks, ns, WALK_STEPS);
    if (ns.reclaimCursor < 0) this.ks.finishReclaim(ns);
    return reclaimed > 0;
  }

  /**
   * Samples random ids of the table into the per-policy pools. Returns true when it reclaimed a
   * dead entry, else the pool of the first live sample (undefined when none was found).
   */
  private sampleTable(protect: number, now: number): EvictionPool | true | undefined {
    const ks = this.ks;
    const { table, namespaces } = ks;
    const { evictionSamples, random } = ks.options;
    let first: EvictionPool | undefined;
    let found = 0;
    for (let tries = evictionSamples * ATTEMPTS_PER_SAMPLE; tries > 0; tries--) {
      const id = (random() * table.highWater) | 0;
      if (id === protect || !table.isLive(id)) continue;
      const ns = namespaces[table.ns[id]];
      if (ks.reclaimIfDead(id, ns, now)) return true;
      const pool = ns.lfu ? this.lfu : this.lru;
      this.offer(pool, id, ns, now);
      first ??= pool;
      if (++found === evictionSamples) break;
    }
    return first;
  }

  /** Last resort when random ids kept hitting freed slots: evict within some namespace. */
  private evictFromAnyNamespace(protect: number): boolean {
    for (const ns of this.ks.namespaces) {
      if (ns.members.count === 0) continue;
      if (this.evictFrom(ns, protect, Removal.EVICTED_MEMORY)) return true;
    }
    return false;
  }

  private offer(pool: EvictionPool, id: number, ns: Namespace, now: number): void {
    const { table, accessClock, options } = this.ks;
    const tick = table.tick(id);
    const idle = (accessClock - tick) >>> 0;
    let score = idle;
    if (ns.lfu) {
      const minute = lfuMinutes(now);
      const counter = lfuDecay(table.lfu(id), table.lfuTime(id), minute, options.lfuDecayMinutes);
      score = (255 - counter) * TWO_POW_32 + idle;
    }
    pool.offer(id, score, table.version(id), tick);
  }

  /** Evicts the pool's best candidate that is unchanged since it was scored. */
  private evictBest(pool: EvictionPool, protect: number, kind: RemovalKind): boolean {
    const table = this.ks.table;
    for (let id = pool.pop(); id >= 0; id = pool.pop()) {
      if (id === protect || !table.isLive(id)) continue;
      if (table.version(id) !== pool.poppedVersion || table.tick(id) !== pool.poppedTick) continue;
      if (this.ks.isPinned(id)) continue; // a write-behind key the store has not got yet
      this.ks.remove(id, kind);
      return true;
    }
    return false;
  }
}
