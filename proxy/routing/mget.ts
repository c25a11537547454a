import { slotOf } from '../../shared/slot';
import type { GetResult } from '../backend';
import { entryResult } from './messages';

/**
 * MGET scatter-gather, the pure part: split the keys by shard (each shard is served by one node
 * for a given read preference, so one group is one MGET frame to one node), then put the per-group
 * answers back in the order of the request. A group that failed gives each of its keys the error.
 *
 *   keys ─► splitByShard ─► [{ shard 0: keys, positions }, { shard 1: ... }] ─► one MGET each
 *                                                                              │
 *   results[position] ◄── assemble ◄── entries[] | Error per group ◄───────────┘
 */
export interface KeyGroup {
  shardId: number;
  keys: string[];
  /** Index in the request of each key of `keys`. */
  positions: number[];
}

/** Groups keys by the shard `shardOf(slot)` returns; -1 (no shard) goes to a group of its own. */
export function splitByShard(ns: string, keys: readonly string[], shardOf: (slot: number) => number): KeyGroup[] {
  const groups = new Map<number, KeyGroup>();
  for (let i = 0; i < keys.length; i++) {
    const shardId = shardOf(slotOf(ns, keys[i]));
    let group = groups.get(shardId);
    if (group === undefined) groups.set(shardId, (group = { shardId, keys: [], positions: [] }));
    group.keys.push(keys[i]);
    group.positions.push(i);
  }
  return [...groups.values()];
}

/**
 * Results in request order: `outcomes[g]` is group g's entries (null or `[value, version,
 * expiresAt, flags]`, one per key) or the Error that group failed with.
 */
export function assemble(count: number, groups: readonly KeyGroup[], outcomes: ReadonlyArray<readonly unknown[] | Error>): Array<GetResult | Error> {
  const results = new Array<GetResult | Error>(count);
  for (let g = 0; g < groups.length; g++) {
    const { positions } = groups[g];
    const outcome = outcomes[g];
    for (let k = 0; k < positions.length; k++) {
      results[positions[k]] = outcome instanceof Error ? outcome : entryResult(outcome[k], (outcome as { stale?: true }).stale === true);
    }
  }
  return results;
}
