import { copyKeySuffix } from '../../shared/copy-keys';
import { Limits } from '../../shared/protocol';
import { crc16, SLOT_COUNT } from '../../shared/slot';
import type { HotKeyRule } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';

/** A rule as the snapshot holds it. */
export type SnapshotRule = HotKeyRule & { namespace: string; key: string; createRevision: number };

/** Near-cache TTL when a rule names none, and the most any rule gets (ms). */
export const DEFAULT_NEAR_TTL_MS = 1000;

/** The id the data plane uses for a key in its hot-key maps: `ns + "\n" + key` (as the snapshot's). */
export const hotId = (ns: string, key: string): string => `${ns}\n${key}`;

/** The rule of `id` in `snapshot` when it has not expired (`expiresAt` is wall-clock ms). Pure. */
export function activeRule(snapshot: TopologySnapshot | undefined, id: string, wallNow: number): SnapshotRule | undefined {
  const rule = snapshot?.hotkeys.get(id);
  if (rule === undefined) return undefined;
  return rule.expiresAt !== undefined && rule.expiresAt <= wallNow ? undefined : rule;
}

/** The near-cache TTL of a rule: its `ttlMs`, else the default. */
export const nearTtlMs = (rule: HotKeyRule): number => rule.ttlMs ?? DEFAULT_NEAR_TTL_MS;

/** One copy of a key: the shard holding it and the key it is stored under there. */
export interface CopyPlace {
  index: number;
  shardId: number;
  storageKey: string;
}

/**
 * Where the K copies of a key live (named by `shared/copy-keys.ts`, whose `isCopyKey` the storage
 * nodes' SCAN and RANDOMKEY skip): copy 0 is the key on its owner shard; copy i (1..K-1) is
 * `"{" + tag + "}" + key + "\0copy" + i + "@" + generation` on the i-th shard after the owner in
 * shard-id order (the tag puts it in the first slot that shard owns, since nodes refuse keys of
 * slots they do not own), so
 * the K copies sit on K distinct shards (fewer when the cluster has fewer shards). `generation`
 * is the rule's create revision: copies left behind by a removed rule are never read by a later
 * one. Deterministic and pure: every proxy computes the same places from the same snapshot. A key
 * too long for the suffix gets only its owner's copy.
 */
export function copyPlaces(snapshot: TopologySnapshot, ownerShard: number, key: string, copies: number, generation = 0): CopyPlace[] {
  const places: CopyPlace[] = [{ index: 0, shardId: ownerShard, storageKey: key }];
  // Only shards that own slots hold copies: a copy is stored in one of its shard's slots.
  const mapped = snapshot.slotMap !== undefined;
  const shardIds = [...snapshot.shards.keys()].filter((s) => !mapped || s === ownerShard || firstSlotOf(snapshot, s) >= 0).sort((a, b) => a - b);
  const at = shardIds.indexOf(ownerShard);
  const suffix = (i: number): string => copyKeySuffix(i, generation);
  if (at < 0 || key.length + suffix(16).length + 8 > Limits.MAX_KEY_LENGTH) return places;
  const k = Math.min(copies, shardIds.length);
  for (let i = 1; i < k; i++) {
    const shardId = shardIds[(at + i) % shardIds.length];
    const tag = mapped ? `{${tagForSlot(firstSlotOf(snapshot, shardId))}}` : '';
    places.push({ index: i, shardId, storageKey: `${tag}${key}${suffix(i)}` });
  }
  return places;
}

/** The first slot `shardId` owns in the snapshot's slot map, or -1. */
function firstSlotOf(snapshot: TopologySnapshot, shardId: number): number {
  for (const [from, , shard] of snapshot.slotMap?.ranges ?? []) if (shard === shardId) return from;
  return -1;
}

let SLOT_TAGS: string[] | undefined;

/**
 * A short hash tag whose slot is `slot` (a copy key `{tag}...` lives in that slot whatever its
 * namespace). The table of all 16384 is found once by counting through base-36 strings.
 */
export function tagForSlot(slot: number): string {
  if (SLOT_TAGS === undefined) {
    const tags = new Array<string>(SLOT_COUNT);
    let found = 0;
    for (let n = 0; found < SLOT_COUNT; n++) {
      const tag = n.toString(36);
      const s = crc16(tag) & (SLOT_COUNT - 1);
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    SLOT_TAGS = tags;
  }
  return SLOT_TAGS[slot];
}
