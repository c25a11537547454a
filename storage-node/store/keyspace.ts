import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import { EntryTable } from './entry-table';
import { IdSet } from './id-set';
import { LFU_INIT_VAL, lfuDecay, lfuIncrement, lfuMinutes } from './lfu';
import { Namespace, type ResolvedPolicy } from './namespace';
import { ownString } from './value-codec';
import type { RemovalReason, StoreListener } from './types';

/**
 * Accounted bytes of an entry besides its key, value and tags, ~ what it really costs on Node 20
 * x64 (`bench/store.ts` measures ~138 B for 1M entries): the namespace map slot (~29 B at full
 * load), the key and value string headers (2 x 16 B, plus alignment to 8 B), the key and value
 * array slots (2 x 8 B plus growth slack) and the typed-array columns with the member-set slot
 * (45 B plus growth slack).
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
const MAX_NAMESPACES = 0xffff;

/** Store options with every default filled in. */
export interface ResolvedOptions {
  maxMemoryBytes: number;
  now: () => number;
  random: () => number;
  evictionSamples: number;
  defaultPolicy: ResolvedPolicy;
  lfuLogFactor: number;
  lfuDecayMinutes: number;
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
 * Guards: every live id is in exactly one namespace map and member set, in the TTL set iff its
 * expiry is not 0; `bytes` and each namespace's `bytes` equal the sum of accounted sizes;
 * `overQuota` holds exactly the namespaces over their quota; `versionClock` only grows and every
 * entry's version is at most `versionClock`.
 */
export class Keyspace {
  readonly table = new EntryTable();
  /** Ids of entries with an expiry, for the active-expiry sample. */
  readonly ttl = new IdSet();
  readonly byName = new Map<string, Namespace>();
  /** Namespaces by index (entry column `ns`). */
  readonly namespaces: Namespace[] = [];
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
  /** Logical access clock (one tick per access, wraps at 2^32) for LRU ordering. */
  accessClock = 0;

  constructor(
    readonly options: ResolvedOptions,
    private readonly listener?: StoreListener,
  ) {}

  /** The namespace called `name`, creating it with the default policy. */
  ensureNamespace(name: string): Namespace {
    const found = this.byName.get(name);
    if (found !== undefined) return found;
    const index = this.namespaces.length;
    if (index >= MAX_NAMESPACES) {
      throw new OpError(Status.BAD_REQUEST, `too many namespaces (limit ${MAX_NAMESPACES})`);
    }
    const ns = new Namespace(ownString(name), index, this.options.defaultPolicy);
    this.namespaces.push(ns);
    this.byName.set(ns.name, ns);
    return ns;
  }

  /** LIVE, EXPIRED or INVALIDATED for entry `id` of `ns` at time `now`. */
  fateOf(id: number, ns: Namespace, now: number): number {
    if (this.invisible(id, ns)) return INVALIDATED;
    const expiresAt = this.table.expiresAt[id];
    return expiresAt !== 0 && now >= expiresAt ? EXPIRED : LIVE;
  }

  /** True when an invalidation hides entry `id` of `ns`. */
  invisible(id: number, ns: Namespace): boolean {
    const version = this.table.version[id];
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
    const id = ns.map.get(key);
    if (id === undefined) return -1;
    return this.reclaimIfDead(id, ns, now) ? -1 : id;
  }

  /** Removes entry `id` of `ns` if it is expired or invisible at `now`; true if it did. */
  reclaimIfDead(id: number, ns: Namespace, now: number): boolean {
    const fate = this.fateOf(id, ns, now);
    if (fate === LIVE) return false;
    this.remove(id, fate === EXPIRED ? Removal.EXPIRED : Removal.INVALIDATED);
    return true;
  }

  /** Records an access: recency always, the LFU counter in LFU namespaces. */
  touch(id: number, ns: Namespace, now: number): void {
    const table = this.table;
    table.tick[id] = this.accessClock = (this.accessClock + 1) >>> 0;
    if (!ns.lfu) return;
    const minute = lfuMinutes(now);
    const o = this.options;
    const decayed = lfuDecay(table.lfu[id], table.lfuTime[id], minute, o.lfuDecayMinutes);
    table.lfu[id] = lfuIncrement(decayed, o.lfuLogFactor, o.random);
    table.lfuTime[id] = minute;
  }

  /** A new version, above every version handed out before. */
  nextVersion(): number {
    return ++this.versionClock;
  }

  /** Adds a new entry (the key is not in `ns`); room must have been made. */
  insert(ns: Namespace, key: string, value: string, size: number, now: number): number {
    const table = this.table;
    const id = table.alloc(ownString(key), value);
    table.version[id] = this.nextVersion();
    table.tick[id] = this.accessClock = (this.accessClock + 1) >>> 0;
    table.lfu[id] = LFU_INIT_VAL;
    table.lfuTime[id] = lfuMinutes(now);
    table.flags[id] = 0;
    table.size[id] = size;
    table.ns[id] = ns.index;
    ns.map.set(table.keys[id] as string, id);
    ns.members.add(id, table.nsPos);
    this.account(ns, size);
    return id;
  }

  /** Replaces the value of live entry `id` and gives it a new version. */
  rewrite(id: number, ns: Namespace, value: string, size: number, now: number): void {
    const table = this.table;
    table.values[id] = value;
    table.version[id] = this.nextVersion();
    this.account(ns, size - table.size[id]);
    table.size[id] = size;
    this.touch(id, ns, now);
  }

  /** Sets the expiry of live entry `id`, keeping the TTL set in step. */
  setExpiry(id: number, expiresAt: number): void {
    const table = this.table;
    const had = table.expiresAt[id] !== 0;
    table.expiresAt[id] = expiresAt;
    if (had && expiresAt === 0) this.ttl.remove(id, table.ttlPos);
    else if (!had && expiresAt !== 0) this.ttl.add(id, table.ttlPos);
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
    const key = table.keys[id] as string;
    ns.map.delete(key);
    ns.members.remove(id, table.nsPos);
    if (table.expiresAt[id] !== 0) this.ttl.remove(id, table.ttlPos);
    this.account(ns, -table.size[id]);
    table.release(id);
    this.count(kind);
    const reason = REASON[kind];
    if (reason !== undefined) this.listener?.removed?.(ns.name, key, reason);
  }

  /** Hides every entry of `ns` written so far, or only those carrying `tag`. */
  invalidate(ns: Namespace, tag: string | undefined): void {
    if (ns.members.count === 0) return;
    if (tag === undefined) ns.watermark = this.versionClock;
    else ns.tagWatermarks.set(ownString(tag), this.versionClock);
    ns.reclaimCursor = ns.members.count - 1;
    this.pendingReclaim.add(ns);
  }

  /** Called when the sweep has walked all of `ns`: no invisible entry is left in it. */
  finishReclaim(ns: Namespace): void {
    ns.reclaimCursor = -1;
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
