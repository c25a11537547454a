import type { SetCondition } from '../../shared/protocol';

/** How a namespace picks its eviction victims: approximate LRU or Redis-style LFU. */
export type EvictionPolicy = 'lru' | 'lfu';

/**
 * Per-namespace policy (from etcd `namespaces/<ns>`). `setNamespacePolicy` replaces the whole
 * policy: an absent field takes the store default. `quotaBytes` 0 or absent means no quota.
 */
export interface NamespacePolicy {
  maxItemBytes?: number;
  quotaBytes?: number;
  eviction?: EvictionPolicy;
}

/** Store construction options; every time and randomness source is injected. */
export interface StoreOptions {
  /** Limit for accounted bytes (see `ENTRY_OVERHEAD`). */
  maxMemoryBytes: number;
  /** Epoch milliseconds; default `Date.now`. */
  now?: () => number;
  /** Uniform in [0, 1); default `Math.random`. Tests pass a seeded generator. */
  random?: () => number;
  /** Entries sampled per eviction round; default 5 (Redis `maxmemory-samples`). */
  evictionSamples?: number;
  /** Policy of namespaces that do not set one; default `'lru'`. */
  defaultEviction?: EvictionPolicy;
  /** Largest key + value of namespaces that do not set one; default 1 MiB. */
  defaultMaxItemBytes?: number;
  /** Default 10 (Redis `lfu-log-factor`). */
  lfuLogFactor?: number;
  /** Default 1 (Redis `lfu-decay-time`); 0 disables decay. */
  lfuDecayMinutes?: number;
  /**
   * Namespaces without a policy past which a client write (SET, INCR, FILL) to a new namespace is
   * refused with OVER_QUOTA; 1 to 65535, default 4096. Replication and imports are not bounded by it.
   */
  maxNamespaces?: number;
}

/** A copy of an entry as seen by a reader. `expiresAt` is absolute epoch ms, 0 = never. */
export interface EntryView {
  value: Buffer;
  version: number;
  expiresAt: number;
  flags: number;
}

/** An entry as `Store.read` gives it: the value as its latin1 string (one char per byte). */
export interface RawEntry {
  value: string;
  version: number;
  expiresAt: number;
  flags: number;
}

/** What `Store.objectInfo` tells of an entry (RESP OBJECT ENCODING / FREQ / IDLETIME). */
export interface ObjectInfo {
  /** Strings by Redis's rule; a hash or set `listpack` while packed, `hashtable` once indexed (`collections.ts`). */
  encoding: 'int' | 'embstr' | 'raw' | 'listpack' | 'hashtable';
  /** The LFU counter in an LFU namespace, else -1 (not tracked). */
  freq: number;
  /** Whole seconds since the last access outside LFU namespaces, else -1 (not tracked). */
  idleSeconds: number;
}

/** Options of `Store.set`. */
export interface SetOptions {
  /** 0 or undefined = no expiry; `KEEP_TTL` (-1) keeps the current expiry. */
  ttlMs?: number;
  /** Opaque uint32 returned with the value. */
  flags?: number;
  /** `SetCond.ALWAYS | NX | XX`. */
  cond?: SetCondition;
  /** Compare-and-set: the write happens only if the entry has this version. 0/undefined = no CAS. */
  ifVersion?: number;
  /** Tags for tag-wide invalidation (at most `Limits.MAX_TAGS`). */
  tags?: readonly string[];
}

/** Outcome of a successful write. */
export interface WriteResult {
  version: number;
  expiresAt: number;
}

/** INCR's outcome: the new value and the entry's version. */
export interface IncrResult {
  value: number | bigint;
  version: number;
}

/** Per-namespace figures inside `StoreStats`; `quotaBytes` 0 = no quota. */
export interface NamespaceStats {
  items: number;
  bytes: number;
  quotaBytes: number;
}

/** Counters and gauges of a store; counters only grow. */
export interface StoreStats {
  items: number;
  bytes: number;
  maxMemoryBytes: number;
  hits: number;
  misses: number;
  expired: number;
  evictedMemory: number;
  evictedQuota: number;
  reclaimedInvalidated: number;
  namespaces: Record<string, NamespaceStats>;
}

/** Why the store removed an entry on its own (never called for DELETE or EXPIRE <= 0). */
export type RemovalReason = 'expired' | 'evicted' | 'invalidated';

/**
 * Hook for removals the store decides by itself (replication will forward them). Called after
 * the entry is gone; it must not throw and must not call back into the store.
 */
export interface StoreListener {
  removed?(ns: string, key: string, reason: RemovalReason): void;
}

/** Result of one `Store.sweep` call. */
export interface SweepResult {
  expired: number;
  reclaimed: number;
}
