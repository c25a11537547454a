import { slotOf } from '../../shared/slot';
import type { GetResult } from '../backend';
import { ENTRY } from '../../shared/ops';
import { entryResult, type MgetEntries } from './messages';
import { MgetView } from '../upstream/mget-reply';

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
 * MGET results in request order, kept as what each node sent, with no object per key: per key
 * two slots of one array, its group's entries (an `MgetView` read in place from the node's reply,
 * or the entries array msgpackr decoded) or its group's Error, and its index in them. Fronts read
 * them by position: the RESP reply copies each value straight from the node's reply bytes
 * (`valueLength`, `copyValue`); `resultAt` and `toArray` make the GetResult objects the HTTP and
 * WebSocket replies are built from. A group a resyncing replica answered (stale) gives GetResults
 * marked `resync`.
 */
export class MgetResults {
  /** Key i: `items[2i]` its group's entries or Error (or, from `of`, its GetResult or Error), `items[2i + 1]` its index there. */
  readonly #items: unknown[];

  constructor(items: unknown[]) {
    this.#items = items;
  }

  /** Results made of GetResults (a backend without node entries, tests). */
  static of(results: ReadonlyArray<GetResult | Error>): MgetResults {
    const items = new Array<unknown>(2 * results.length);
    for (let i = 0; i < results.length; i++) {
      items[2 * i] = results[i];
      items[2 * i + 1] = -1;
    }
    return new MgetResults(items);
  }

  get length(): number {
    return this.#items.length >> 1;
  }

  /** The Error of key `i`'s group, if it failed. */
  errorAt(i: number): Error | undefined {
    const item = this.#items[2 * i];
    return item instanceof Error ? item : undefined;
  }

  /** Bytes of key `i`'s value, or -1 for a miss (or a failed group). */
  valueLength(i: number): number {
    const item = this.#items[2 * i];
    const k = this.#items[2 * i + 1] as number;
    if (item instanceof MgetView) return item.valueLength(k);
    const value = this.#arrayValue(item, k);
    return value === null ? -1 : value.length;
  }

  /** Copies key `i`'s value (a hit: `valueLength(i) >= 0`) into `out` at `at`; returns the end. */
  copyValue(i: number, out: Uint8Array, at: number): number {
    const item = this.#items[2 * i];
    const k = this.#items[2 * i + 1] as number;
    if (item instanceof MgetView) return item.copyValue(k, out, at);
    const value = this.#arrayValue(item, k) as Uint8Array;
    out.set(value, at);
    return at + value.length;
  }

  /** Key `i`'s result as a GetResult or the Error of its group. */
  resultAt(i: number): GetResult | Error {
    const item = this.#items[2 * i];
    const k = this.#items[2 * i + 1] as number;
    if (item instanceof Error) return item;
    if (item instanceof MgetView) {
      const value = item.value(k);
      const result: GetResult = value === null ? { hit: false } : { hit: true, value, version: item.version(k), expiresAt: item.expiresAt(k), flags: item.flags(k) };
      if (item.stale) result.stale = 'resync';
      return result;
    }
    if (k < 0) return item as GetResult;
    const entries = item as MgetEntries & unknown[];
    return entryResult(entries[k], entries.stale === true);
  }

  /** Puts key k's result at position `positions[k]` of an `assemble`'s items (a group split again after MOVED keeps what each part said). */
  placeInto(items: unknown[], positions: readonly number[]): void {
    const own = this.#items;
    for (let k = 0; k < positions.length; k++) {
      items[2 * positions[k]] = own[2 * k];
      items[2 * positions[k] + 1] = own[2 * k + 1];
    }
  }

  toArray(): Array<GetResult | Error> {
    return Array.from({ length: this.length }, (_, i) => this.resultAt(i));
  }

  /** The value of entry `k` of a decoded entries array (k >= 0), or of a GetResult (k = -1); null for a miss or an Error. */
  #arrayValue(item: unknown, k: number): Buffer | null {
    if (item instanceof Error) return null;
    if (k < 0) {
      const r = item as GetResult;
      return r.hit ? r.value : null;
    }
    const entry = (item as unknown[])[k];
    return entry === null ? null : ((entry as unknown[])[ENTRY_VALUE] as Buffer);
  }
}

const ENTRY_VALUE = ENTRY.at.value;

/**
 * Results in request order: `outcomes[g]` is group g's entries (an `MgetView`, or an array of
 * null or `[value, version, expiresAt, flags]`, one per key), the results of its keys split again
 * (after MOVED), or the Error that group failed with.
 */
export function assemble(count: number, groups: readonly KeyGroup[], outcomes: ReadonlyArray<MgetEntries | MgetResults | Error>): MgetResults {
  const items = new Array<unknown>(2 * count);
  for (let g = 0; g < groups.length; g++) {
    const { positions } = groups[g];
    const outcome = outcomes[g];
    if (outcome instanceof MgetResults) {
      outcome.placeInto(items, positions);
      continue;
    }
    for (let k = 0; k < positions.length; k++) {
      items[2 * positions[k]] = outcome;
      items[2 * positions[k] + 1] = k;
    }
  }
  return new MgetResults(items);
}
