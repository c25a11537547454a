import { SLOT_COUNT } from '../../shared/slot';
import type { EntryTable } from './entry-table';

/**
 * The entries of each hash slot: an intrusive doubly linked list per slot through the entry
 * table's `slotNext`/`slotPrev` columns, with per-slot key and byte counts. Slot migration reads
 * it (a slot's snapshot, dropping a slot that moved away, per-slot figures for the planner), and
 * so do the RESP key-space walks (`key-walk.ts`: SCAN, a bounded run of slots per call). O(1) to
 * link and unlink.
 *
 * Guards: every live id is in the list of `table.slot[id]` exactly once; `keys[s]` is that list's
 * length and `bytes[s]` the sum of its entries' accounted sizes.
 */
export class SlotIndex {
  readonly heads = new Int32Array(SLOT_COUNT).fill(-1);
  readonly keys = new Uint32Array(SLOT_COUNT);
  readonly bytes = new Float64Array(SLOT_COUNT);

  constructor(private readonly table: EntryTable) {}

  /** Puts live `id` (accounted size `size`) on the list of `slot`. */
  link(id: number, slot: number, size: number): void {
    const t = this.table;
    const head = this.heads[slot];
    t.slot[id] = slot;
    t.slotPrev[id] = -1;
    t.slotNext[id] = head;
    if (head >= 0) t.slotPrev[head] = id;
    this.heads[slot] = id;
    this.keys[slot]++;
    this.bytes[slot] += size;
  }

  /** Takes `id` (accounted size `size`) off its slot's list. */
  unlink(id: number, size: number): void {
    const t = this.table;
    const slot = t.slot[id];
    const prev = t.slotPrev[id];
    const next = t.slotNext[id];
    if (prev >= 0) t.slotNext[prev] = next;
    else this.heads[slot] = next;
    if (next >= 0) t.slotPrev[next] = prev;
    this.keys[slot]--;
    this.bytes[slot] -= size;
  }

  /** The accounted size of an entry of `slot` changed by `delta`. */
  resize(slot: number, delta: number): void {
    this.bytes[slot] += delta;
  }

  /** The ids of `slot` now (a copy: the caller may remove entries while it walks them). */
  ids(slot: number): Int32Array {
    const out = new Int32Array(this.keys[slot]);
    const next = this.table.slotNext;
    let n = 0;
    for (let id = this.heads[slot]; id >= 0 && n < out.length; id = next[id]) out[n++] = id;
    return out;
  }

  /** Slots holding entries, flat as `[slot, keys, bytes, ...]`. */
  figures(): number[] {
    const out: number[] = [];
    for (let s = 0; s < SLOT_COUNT; s++) if (this.keys[s] > 0) out.push(s, this.keys[s], this.bytes[s]);
    return out;
  }
}
