import type { EvictionPool } from './eviction-pool';
import { IdSet } from './id-set';
import { KeyIndex, type KeySource, MAX_INDEX_KEYS } from './key-index';
import type { EvictionPolicy } from './types';

/** Most keys one namespace holds (the key index's limit, far beyond any memory limit). */
export const MAX_NAMESPACE_KEYS = MAX_INDEX_KEYS;

/** A namespace's resolved policy; `quotaBytes` 0 = no quota. */
export interface ResolvedPolicy {
  maxItemBytes: number;
  quotaBytes: number;
  eviction: EvictionPolicy;
}

/**
 * One namespace: its keys, members, bytes, policy and invalidation watermarks.
 *
 * Guards: `keyIndex` (key -> id) and `members` hold the same ids; `bytes` is the sum of their
 * accounted sizes. `watermark` and `tagWatermarks` are versions: an entry whose version is at or
 * below the namespace watermark, or below the watermark of one of its tags, is invisible.
 * `reclaimCursor` >= 0 while the sweep still has to walk `members` (top down) for invisible
 * entries left by the last invalidation.
 */
export class Namespace {
  /** Key -> entry id (with the key's hash), over the entry table's keys. */
  readonly keyIndex: KeyIndex;
  /** Ids of the namespace's entries, for O(1) sampling and the reclaim walk. */
  readonly members = new IdSet();
  bytes = 0;
  maxItemBytes: number;
  quotaBytes: number;
  eviction: EvictionPolicy;
  /** `eviction === 'lfu'`, read on every hit. */
  lfu: boolean;
  watermark = 0;
  readonly tagWatermarks = new Map<string, number>();
  reclaimCursor = -1;
  /**
   * Members hidden by the namespace watermark and not reclaimed yet (tag watermarks aside), so a
   * live count is `members.count - hidden` in O(1) right after an invalidation (DBSIZE after
   * FLUSHDB is 0 although its entries go lazily). Kept by the keyspace where a member's version
   * crosses the watermark: an invalidation (every member then), a removal, a rewrite, a replica's
   * apply. At most `members.count`; 0 once the reclaim walk is done.
   */
  hidden = 0;
  /**
   * Members with an expiry (in the store's expiry set), kept by the keyspace where an expiry is
   * set or cleared and where a member goes: `Keyspace.setExpiry` and `remove`. O(1).
   */
  expiring = 0;
  /**
   * Of the `hidden` members, those with an expiry, kept where `hidden` is (and by `setExpiry` on a
   * hidden member, which only a replica's apply does), so `expiring - hiddenExpiring` counts the
   * live keys with a TTL as `members.count - hidden` counts the live keys (INFO keyspace's
   * `expires`). At most `hidden` and `expiring`; 0 once the reclaim walk is done.
   */
  hiddenExpiring = 0;
  /** It has (or had) a policy: it does not count against the store's `maxNamespaces`. */
  managed = false;
  /** Eviction candidates when this namespace is evicted alone (quota); created on demand. */
  pool: EvictionPool | undefined;

  constructor(
    readonly name: string,
    readonly index: number,
    policy: ResolvedPolicy,
    keys: KeySource,
  ) {
    this.keyIndex = new KeyIndex(keys);
    this.maxItemBytes = policy.maxItemBytes;
    this.quotaBytes = policy.quotaBytes;
    this.eviction = policy.eviction;
    this.lfu = policy.eviction === 'lfu';
  }

  /** Applies a new policy; scored candidates are dropped when the eviction policy changes. */
  applyPolicy(policy: ResolvedPolicy): void {
    if (policy.eviction !== this.eviction) this.pool?.clear();
    this.maxItemBytes = policy.maxItemBytes;
    this.quotaBytes = policy.quotaBytes;
    this.eviction = policy.eviction;
    this.lfu = policy.eviction === 'lfu';
  }

  /** True when the namespace holds more than its quota. */
  overQuota(): boolean {
    return this.quotaBytes > 0 && this.bytes > this.quotaBytes;
  }
}
