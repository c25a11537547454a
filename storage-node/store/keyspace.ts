import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import { EntryTable } from './entry-table';
import { ExpirySet } from './expiry-set';
import { hashKey } from './key-index';
import { slotOf } from '../../shared/slot';
import { SlotIndex } from './slot-index';
import { LFU_INIT_VAL, lfuDecay, lfuIncrement, lfuMinutes } from './lfu';
import { Namespace, type ResolvedPolicy } from './namespace';
import { ownString } from './value-codec';
import type { RemovalReason, StoreListener } from './types';

/**
 * Accounted bytes of an entry besides its key, value and tags. What an entry costs on Node 20
 * x64 besides those is now ~110 B of heap and arrays (`bench/store.ts`; RSS adds page and
 * allocator slack): the key and value string headers (2 x 16 B, plus alignment to 8 B), the two
 * `kv` array slots (16 B plus growth slack), the typed-array columns (33 B), the key-index slot
 * with its hash (8 B at a load of 3/8 to 3/4: 11-21 B) and the member-set slot (4 B plus growth slack). The constant
 * keeps its earlier, higher value (from when a `Map` entry and more columns cost ~138 B) so a
 * memory limit holds no more items than before; it is also the smallest entry, which bounds
 * the ids the entry table reserves.
 */
export const ENTRY_OVERHEAD = 136;

/** Accounted bytes of an entry. */
export function entrySize(keyLength: number, valueLength: number, tagBytes: number): number {
  return ENTRY_OVERHEAD + keyLength + valueLength + tagBytes;
}

/** Fate of an entry (`Keyspace.fateOf`): visible. */
export const LIVE = 0;
/** Fate of an entry: past its expiry (`now >= expiresAt`). */
export const EXPIRED = 1;
/** Fate of an entry: hidden by a namespace or tag invalidation. */
export const INVALIDATED = 2;

/** Why `Keyspace.remove` removes an entry; decides the counter and the listener reason. */
export const Removal = {
  DELETED: 0,
  EXPIRED: 1,
  INVALIDATED: 2,
  EVICTED_MEMORY: 3,
  EVICTED_QUOTA: 4,
} as const;
/** One of `Removal`. */
export type RemovalKind = (typeof Removal)[keyof typeof Removal];

const REASON: readonly (RemovalReason | undefined)[] = [
  undefined,
  'expired',
  'invalidated',
  'evicted',
  'evicted',
];
/** Most namespaces a store can hold at all: ids are 16-bit (replication, imports and policies included). */
export const NAMESPACE_ID_LIMIT = 0xffff;
/** Seconds of access-clock samples kept for OBJECT IDLETIME (18 h; 12 bytes each). */
export const IDLE_HISTORY = 65_536;
/** Default of `StoreOptions.maxNamespaces`. */
export const DEFAULT_MAX_NAMESPACES = 4096;
/** Most ids the entry table reserves up front (~620 MB of address space for its columns). */
const MAX_RESERVED_IDS = 2 ** 24;

/** Ids the entry table reserves: every entry costs at least `ENTRY_OVERHEAD` accounted bytes. */
export function reservedIds(maxMemoryBytes: number): number {
  return Math.min(MAX_RESERVED_IDS, Math.floor(maxMemoryBytes / ENTRY_OVERHEAD) + 1);
}

/** Store options with every default filled in. */
export interface ResolvedOptions {
  maxMemoryBytes: number;
  now: () => number;
  random: () => number;
  evictionSamples: number;
  defaultPolicy: ResolvedPolicy;
  lfuLogFactor: number;
  lfuDecayMinutes: number;
  /** Namespaces without a policy past which a client write may not create another one. */
  maxNamespaces: number;
}

/** Monotonic counters reported by `stats()`. */
export interface Counters {
  hits: number;
  misses: number;
  expired: number;
  evictedMemory: number;
  evictedQuota: number;
  reclaimedInvalidated: number;
}

/**
 * The store's state and its invariant-keeping primitives (insert, rewrite, remove, lookup); the
 * `Store` class builds operations on top, `Evictor` and `sweep` reclaim through `remove`.
 *
 * Guards: every live id is in exactly one namespace key index and member set, in the expiry set
 * iff its expiry is not 0, and each namespace's `expiring` counts its members in the expiry set;
 * `bytes` and each namespace's `bytes` equal the sum of accounted sizes;
 * `overQuota` holds exactly the namespaces over their quota; `versionClock` only grows and every
 * entry's version is at most `versionClock`.
 */
export class Keyspace {
  readonly table: EntryTable;
  /** Entries with an expiry and their expiry times (for lookups and the active-expiry sample). */
  readonly ttl: ExpirySet;
  readonly byName = new Map<string, Namespace>();
  /** Entries by hash slot (slot migration). */
  readonly slots: SlotIndex;
  /** Namespaces by index (entry column `ns`). */
  readonly namespaces: Namespace[] = [];
  /** Namespaces that have a policy (`manage`); the others count against `maxNamespaces`. */
  managedCount = 0;
  readonly overQuota = new Set<Namespace>();
  /** Namespaces with an invalidation the sweep has not finished reclaiming. */
  readonly pendingReclaim = new Set<Namespace>();
  readonly counters: Counters = {
    hits: 0,
    misses: 0,
    expired: 0,
    evictedMemory: 0,
    evictedQuota: 0,
    reclaimedInvalidated: 0,
  };
  bytes = 0;
  versionClock = 0;
  /** Keys eviction must pass over (write-behind keys not yet in the store); null: none. */
  pinned: { readonly count: number; has(ns: string, key: string): boolean } | null = null;
  /** Logical access clock (one tick per access, wraps at 2^32) for LRU ordering. */
  accessClock = 0;
  /** The id `insert` or `rewrite` wrote last (-1: none yet): `heldId`'s hint. */
  lastWritten = -1;
  /**
   * When the logical access clock had which value (OBJECT IDLETIME): one sample per second of
   * the injected clock, taken when the store first reads a new second (each sweep reads it, so
   * every second has one), for the last IDLE_HISTORY seconds. An entry's idle time is read from
   * its tick, which the LRU order keeps anyway: the newest sample taken before its last access
   * gives that access's second, to within one sweep period, as coarse as Redis's own LRU clock.
   * No column per entry: a per-entry time would cost every entry 4 bytes and every hit a store.
   */
  readonly #sampleTicks = new Uint32Array(IDLE_HISTORY);
  readonly #sampleSeconds = new Float64Array(IDLE_HISTORY);
  /** Samples taken so far (the newest is at `(#samples - 1) % IDLE_HISTORY`). */
  #samples = 0;
  #sampledSecond = -1;
  /**
   * A replica's keyspace: dead entries (expired, invisible) are hidden but never removed on this
   * node's own clock; the primary's deletes remove them.
   */
  passive = false;
  /** Seed of the key hashes, drawn once from the injected generator. */
  readonly hashSeed: number;
  private lastSpace: Namespace | undefined;

  constructor(
    readonly options: ResolvedOptions,
    private readonly listener?: StoreListener,
  ) {
    this.table = new EntryTable(reservedIds(options.maxMemoryBytes));
    this.ttl = new ExpirySet(this.table);
    this.slots = new SlotIndex(this.table);
    this.hashSeed = (options.random() * 4_294_967_296) >>> 0;
  }

  /** Hash of `key` for the key indexes. */
  hash(key: string): number {
    return hashKey(key, this.hashSeed);
  }

  /** Expiry of entry `id` in epoch ms, 0 = never. */
  expiresAt(id: number): number {
    return this.ttl.expiresAt(id);
  }

  /**
   * The namespace called `name`, or undefined. The last one found is remembered: requests mostly
   * name the namespace of the request before, and comparing two short strings is cheaper than
   * hashing a fresh one for the map.
   */
  namespace(name: string): Namespace | undefined {
    const last = this.lastSpace;
    if (last !== undefined && name === last.name) return last;
    const found = this.byName.get(name);
    if (found !== undefined) this.lastSpace = found;
    return found;
  }

  /**
   * The namespace called `name`, creating it with the default policy. Only the id space bounds
   * it: replication, slot imports and policies apply what a primary or etcd decided.
   */
  ensureNamespace(name: string): Namespace {
    const found = this.namespace(name);
    if (found !== undefined) return found;
    const index = this.namespaces.length;
    if (index >= NAMESPACE_ID_LIMIT) {
      throw new OpError(Status.BAD_REQUEST, `too many namespaces (limit ${NAMESPACE_ID_LIMIT})`);
    }
    const ns = new Namespace(ownString(name), index, this.options.defaultPolicy, this.table);
    this.namespaces.push(ns);
    this.byName.set(ns.name, ns);
    return ns;
  }

  /**
   * The namespace for a client write that stores something: the existing one, or a new one while
   * fewer than `maxNamespaces` namespaces without a policy exist; past that, OVER_QUOTA. A client
   * cannot use up the namespace ids, and namespaces with a policy are always admitted.
   */
  admitNamespace(name: string): Namespace {
    const found = this.namespace(name);
    if (found !== undefined) return found;
    const max = this.options.maxNamespaces;
    if (this.namespaces.length - this.managedCount >= max) {
      throw new OpError(Status.OVER_QUOTA, `too many namespaces (${max}); set a namespace policy or reuse one`);
    }
    return this.ensureNamespace(name);
  }

  /** Marks `ns` as having a policy: it no longer counts against `maxNamespaces`. */
  manage(ns: Namespace): void {
    if (ns.managed) return;
    ns.managed = true;
    this.managedCount++;
  }

  /** LIVE, EXPIRED or INVALIDATED for entry `id` of `ns` at time `now`. */
  fateOf(id: number, ns: Namespace, now: number): number {
    if (this.invisible(id, ns)) return INVALIDATED;
    const expiresAt = this.expiresAt(id);
    return expiresAt !== 0 && now >= expiresAt ? EXPIRED : LIVE;
  }

  /** True when an invalidation hides entry `id` of `ns`. */
  invisible(id: number, ns: Namespace): boolean {
    const version = this.table.version(id);
    if (version <= ns.watermark) return true;
    if (ns.tagWatermarks.size === 0) return false;
    const tags = this.table.tags.get(id);
    if (tags === undefined) return false;
    for (const tag of tags) {
      const mark = ns.tagWatermarks.get(tag);
      if (mark !== undefined && version <= mark) return true;
    }
    return false;
  }

  /** The live id of `key`, or -1; a dead entry found on the way is removed. */
  lookup(ns: Namespace, key: string, now: number): number {
    return this.lookupHashed(ns, key, hashKey(key, this.hashSeed), now);
  }

  /** `lookup` given the key's hash (`hash(key)`). */
  lookupHashed(ns: Namespace, key: string, hash: number, now: number): number {
    const id = ns.keyIndex.find(key, hash);
    if (id < 0) return -1;
    return this.reclaimIfDead(id, ns, now) ? -1 : id;
  }

  /** Removes entry `id` of `ns` if it is expired or invisible at `now`; true if it did. */
  reclaimIfDead(id: number, ns: Namespace, now: number): boolean {
    const fate = this.fateOf(id, ns, now);
    if (fate === LIVE) return false;
    if (this.passive) return true;
    this.remove(id, fate === EXPIRED ? Removal.EXPIRED : Removal.INVALIDATED);
    return true;
  }

  /** Takes this second's sample of the access clock when `now` (epoch ms) starts a new second. */
  sampleClock(now: number): void {
    const second = Math.floor(now / 1000);
    if (second === this.#sampledSecond) return;
    this.#sampledSecond = second;
    const at = this.#samples++ % IDLE_HISTORY;
    this.#sampleTicks[at] = this.accessClock;
    this.#sampleSeconds[at] = second;
  }

  /**
   * Whole seconds since the access that stamped `tick`, as of `now`; at least the history's age
   * when the access is older than the history. (Exact to the second while fewer than 2^32
   * accesses happened since: the tick wraps.)
   */
  idleSeconds(tick: number, now: number): number {
    this.sampleClock(now);
    const clock = this.accessClock;
    const idle = (clock - tick) >>> 0;
    const n = Math.min(this.#samples, IDLE_HISTORY);
    const newest = this.#samples - 1;
    const at = (k: number): number => (newest - k) % IDLE_HISTORY; // k = 0: the newest sample
    // The first sample, newest to oldest, taken before the access: its distance to the clock now
    // exceeds the entry's (distances only grow with age). Binary search.
    let lo = 0;
    let hi = n - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (((clock - this.#sampleTicks[at(mid)]) >>> 0) > idle) {
        found = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    const second = Math.floor(now / 1000);
    return Math.max(0, second - this.#sampleSeconds[at(found < 0 ? n - 1 : found)]);
  }

  /** Records an access: recency always, the LFU counter in LFU namespaces. */
  touch(id: number, ns: Namespace, now: number): void {
    const table = this.table;
    if (now > 0) this.sampleClock(now); // a caller that read the clock (0: it did not)
    table.setTick(id, (this.accessClock = (this.accessClock + 1) >>> 0));
    if (!ns.lfu) return;
    const minute = lfuMinutes(now);
    const o = this.options;
    const decayed = lfuDecay(table.lfu(id), table.lfuTime(id), minute, o.lfuDecayMinutes);
    table.setLfu(id, lfuIncrement(decayed, o.lfuLogFactor, o.random), minute);
  }

  /** True when eviction must pass over entry `id` (see `pinned`). */
  isPinned(id: number): boolean {
    const pinned = this.pinned;
    if (pinned === null || pinned.count === 0) return false;
    const key = this.table.key(id);
    return key !== undefined && pinned.has(this.namespaces[this.table.ns[id]].name, key);
  }

  /** A new version, above every version handed out before. */
  nextVersion(): number {
    return ++this.versionClock;
  }

  /**
   * Adds a new entry (the key, whose hash is `hash`, is not in `ns`) of accounted size `size`
   * (counting the tags the caller sets next); room must have been made. `owned`: the key is a
   * flat string of its own already (made from request bytes), so it is not copied again.
   */
  insert(ns: Namespace, key: string, hash: number, value: string | object, size: number, now: number, owned = false, type = 0): number {
    const table = this.table;
    const id = table.alloc(owned ? key : ownString(key), value, type);
    table.setVersion(id, this.nextVersion());
    this.sampleClock(now);
    table.setTick(id, (this.accessClock = (this.accessClock + 1) >>> 0));
    table.setLfu(id, LFU_INIT_VAL, lfuMinutes(now));
    table.setFlags(id, 0);
    table.setSize(id, size);
    table.ns[id] = ns.index;
    this.lastWritten = id;
    ns.keyIndex.insert(id, hash);
    ns.members.add(id, table.nsPos);
    this.slots.link(id, slotOf(ns.name, key), size);
    this.account(ns, size);
    return id;
  }

  /**
   * Replaces the value of live entry `id` and gives it a new version; `size` is its new accounted
   * size (counting the tags it will carry, which the caller sets next).
   */
  rewrite(id: number, ns: Namespace, value: string | object, size: number, now: number, type = 0): void {
    const table = this.table;
    if (ns.hidden > 0 && table.version(id) <= ns.watermark) this.unhide(id, ns); // its new version is above the watermark
    this.account(ns, size - table.size(id));
    this.slots.resize(table.slot[id], size - table.size(id));
    table.setSize(id, size);
    table.setValue(id, value, type);
    table.setVersion(id, this.nextVersion());
    this.lastWritten = id;
    this.touch(id, ns, now);
  }

  /**
   * The entry of `key` in `ns` (-1 if none held, dead or alive), trying the entry written last
   * first: the replication record of a write reads back the entry that write just made, and
   * that skips a second hash and probe. A hint only: it is taken when that id is live and holds
   * this very key of this namespace.
   */
  heldId(ns: Namespace, key: string): number {
    const hint = this.lastWritten;
    const table = this.table;
    if (hint >= 0 && table.ns[hint] === ns.index && table.key(hint) === key) return hint;
    return ns.keyIndex.find(key, this.hash(key));
  }

  /** Sets the expiry of live entry `id` (0 = never), counting its namespace's entries with one. */
  setExpiry(id: number, expiresAt: number): void {
    const table = this.table;
    const had = table.ttlPos(id) !== 0;
    this.ttl.set(id, expiresAt);
    if (had === (expiresAt !== 0)) return;
    const ns = this.namespaces[table.ns[id]];
    const delta = had ? -1 : 1;
    ns.expiring += delta;
    if (ns.hidden > 0 && table.version(id) <= ns.watermark) ns.hiddenExpiring = Math.max(0, ns.hiddenExpiring + delta);
  }

  /** Entry `id` of `ns`, hidden by its watermark, is no longer (removed, or rewritten above it). */
  private unhide(id: number, ns: Namespace): void {
    ns.hidden--;
    if (ns.hiddenExpiring > 0 && this.table.ttlPos(id) !== 0) ns.hiddenExpiring--;
  }

  /** Sets or clears the tags of live entry `id` (sizes are the caller's business). */
  setTags(id: number, tags: readonly string[] | undefined): void {
    if (tags !== undefined && tags.length > 0) this.table.tags.set(id, tags);
    else if (this.table.tags.size !== 0) this.table.tags.delete(id);
  }

  /** Removes live entry `id`, counts it, and tells the listener when the store decided it. */
  remove(id: number, kind: RemovalKind): void {
    const table = this.table;
    const ns = this.namespaces[table.ns[id]];
    const key = table.key(id) as string;
    if (ns.hidden > 0 && table.version(id) <= ns.watermark) this.unhide(id, ns);
    ns.keyIndex.remove(id, this.hash(key)); // the index keeps hashes, the table does not
    ns.members.remove(id, table.nsPos);
    if (table.ttlPos(id) !== 0) {
      this.ttl.remove(id);
      ns.expiring--;
    }
    this.slots.unlink(id, table.size(id));
    this.account(ns, -table.size(id));
    table.release(id);
    this.count(kind);
    const reason = REASON[kind];
    if (reason !== undefined) this.listener?.removed?.(ns.name, key, reason);
  }

  /** Hides every entry of `ns` written so far, or only those carrying `tag`. */
  invalidate(ns: Namespace, tag: string | undefined): void {
    if (ns.members.count === 0) return;
    if (tag === undefined) {
      ns.watermark = this.versionClock;
      ns.hidden = ns.members.count; // every version is at most the clock: all of them are hidden now
      ns.hiddenExpiring = ns.expiring;
    } else ns.tagWatermarks.set(ownString(tag), this.versionClock);
    ns.reclaimCursor = ns.members.count - 1;
    this.pendingReclaim.add(ns);
  }

  /** Called when the sweep has walked all of `ns`: no invisible entry is left in it. */
  finishReclaim(ns: Namespace): void {
    ns.reclaimCursor = -1;
    ns.hidden = 0;
    ns.hiddenExpiring = 0;
    ns.tagWatermarks.clear();
    this.pendingReclaim.delete(ns);
  }

  private account(ns: Namespace, delta: number): void {
    this.bytes += delta;
    ns.bytes += delta;
    if (ns.quotaBytes === 0 && this.overQuota.size === 0) return;
    if (ns.overQuota()) this.overQuota.add(ns);
    else this.overQuota.delete(ns);
  }

  private count(kind: RemovalKind): void {
    const c = this.counters;
    if (kind === Removal.EXPIRED) c.expired++;
    else if (kind === Removal.INVALIDATED) c.reclaimedInvalidated++;
    else if (kind === Removal.EVICTED_MEMORY) c.evictedMemory++;
    else if (kind === Removal.EVICTED_QUOTA) c.evictedQuota++;
  }

  /** Re-evaluates the quota state of `ns` after its policy changed. */
  refreshQuota(ns: Namespace): void {
    if (ns.overQuota()) this.overQuota.add(ns);
    else this.overQuota.delete(ns);
  }
}
