import { slotOf } from '../../shared/slot';
import type { GetResult } from '../backend';
import { ENTRY } from '../../shared/ops';
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
 * MGET results in request order, kept as what each node sent: per key its entry (`[value,
 * version, expiresAt, flags]`, or null for a miss) or its group's Error, with no object per key.
 * Fronts read them by position (`valueAt`, `errorAt`: the RESP reply is written from them
 * straight); `resultAt` and `toArray` make the GetResult objects the HTTP and WebSocket replies
 * are built from. A group a resyncing replica answered (stale) keeps GetResults marked `resync`.
 */
export class MgetResults {
  readonly #items: ReadonlyArray<unknown>;

  constructor(items: ReadonlyArray<unknown>) {
    this.#items = items;
  }

  /** Results made of GetResults (a backend without node entries, tests). */
  static of(results: ReadonlyArray<GetResult | Error>): MgetResults {
    return new MgetResults(results);
  }

  get length(): number {
    return this.#items.length;
  }

  /** The Error of key `i`'s group, if it failed. */
  errorAt(i: number): Error | undefined {
    const item = this.#items[i];
    return item instanceof Error ? item : undefined;
  }

  /** Key `i`'s value, or null for a miss (or a failed group). */
  valueAt(i: number): Buffer | null {
    const item = this.#items[i];
    if (item === null || item instanceof Error) return null;
    if (Array.isArray(item)) return item[ENTRY_VALUE] as Buffer;
    const r = item as GetResult;
    return r.hit ? r.value : null;
  }

  /** Key `i`'s result as a GetResult or the Error of its group. */
  resultAt(i: number): GetResult | Error {
    const item = this.#items[i];
    if (item === null) return { hit: false };
    return Array.isArray(item) ? entryResult(item) : (item as GetResult | Error);
  }

  toArray(): Array<GetResult | Error> {
    return Array.from({ length: this.#items.length }, (_, i) => this.resultAt(i));
  }
}

const ENTRY_VALUE = ENTRY.at.value;

/**
 * Results in request order: `outcomes[g]` is group g's entries (null or `[value, version,
 * expiresAt, flags]`, one per key) or the Error that group failed with.
 */
export function assemble(count: number, groups: readonly KeyGroup[], outcomes: ReadonlyArray<readonly unknown[] | Error>): MgetResults {
  const items = new Array<unknown>(count);
  for (let g = 0; g < groups.length; g++) {
    const { positions } = groups[g];
    const outcome = outcomes[g];
    const stale = !(outcome instanceof Error) && (outcome as { stale?: true }).stale === true;
    for (let k = 0; k < positions.length; k++) {
      items[positions[k]] = outcome instanceof Error ? outcome : stale ? entryResult(outcome[k], true) : outcome[k];
    }
  }
  return new MgetResults(items);
}
