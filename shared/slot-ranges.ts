import { SLOT_COUNT } from './slot';
import type { SlotRange } from './protocol';

/**
 * Slot sets as sorted, disjoint, inclusive ranges `[[from, to], ...]` (the wire and etcd form)
 * and as bitmaps (what request paths test). Pure.
 */

/** A bitmap of the slots in `ranges` (1 = in). Throws on a range outside 0-16383. */
export function slotBitmap(ranges: readonly SlotRange[]): Uint8Array {
  const bits = new Uint8Array(SLOT_COUNT);
  for (const [from, to] of ranges) {
    if (!validRange(from, to)) throw new RangeError(`slot range ${String(from)}-${String(to)} is not within 0-${SLOT_COUNT - 1}`);
    bits.fill(1, from, to + 1);
  }
  return bits;
}

/** True for whole numbers `0 <= from <= to < SLOT_COUNT`. */
export function validRange(from: unknown, to: unknown): boolean {
  return Number.isInteger(from) && Number.isInteger(to) && (from as number) >= 0 && (from as number) <= (to as number) && (to as number) < SLOT_COUNT;
}

/** Checks a value read from a peer as ranges; returns them or null. At most SLOT_COUNT ranges. */
export function rangesArg(value: unknown): SlotRange[] | null {
  if (!Array.isArray(value) || value.length === 0 || value.length > SLOT_COUNT) return null;
  for (const r of value) if (!Array.isArray(r) || r.length !== 2 || !validRange(r[0], r[1])) return null;
  return value as SlotRange[];
}

/** The ranges of the slots set in `bits` (sorted, merged). */
export function rangesOf(bits: Uint8Array): SlotRange[] {
  const out: SlotRange[] = [];
  let start = -1;
  for (let s = 0; s <= SLOT_COUNT; s++) {
    const on = s < SLOT_COUNT && bits[s] === 1;
    if (on && start < 0) start = s;
    else if (!on && start >= 0) {
      out.push([start, s - 1]);
      start = -1;
    }
  }
  return out;
}

/** Sorted, merged copy of `ranges`. */
export function normaliseRanges(ranges: readonly SlotRange[]): SlotRange[] {
  return rangesOf(slotBitmap(ranges));
}

/** Number of slots in `ranges` (overlaps counted once). */
export function countSlots(ranges: readonly SlotRange[]): number {
  let n = 0;
  for (const [from, to] of normaliseRanges(ranges)) n += to - from + 1;
  return n;
}

/** The slots of `ranges` for which `keep(slot)` is true, as ranges. */
export function filterRanges(ranges: readonly SlotRange[], keep: (slot: number) => boolean): SlotRange[] {
  const bits = slotBitmap(ranges);
  for (let s = 0; s < SLOT_COUNT; s++) if (bits[s] === 1 && !keep(s)) bits[s] = 0;
  return rangesOf(bits);
}

/** Splits `ranges` into consecutive pieces of at most `maxSlots` slots each. */
export function chunkRanges(ranges: readonly SlotRange[], maxSlots: number): SlotRange[][] {
  const out: SlotRange[][] = [];
  let piece: SlotRange[] = [];
  let size = 0;
  for (const [from, to] of normaliseRanges(ranges)) {
    let a = from;
    while (a <= to) {
      const b = Math.min(to, a + (maxSlots - size) - 1);
      piece.push([a, b]);
      size += b - a + 1;
      a = b + 1;
      if (size === maxSlots) {
        out.push(piece);
        piece = [];
        size = 0;
      }
    }
  }
  if (piece.length > 0) out.push(piece);
  return out;
}

/** `"0-99,200"` style text of ranges, for people. */
export function formatRanges(ranges: readonly SlotRange[]): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
}

/** Parses `"N-M"` or `"N"` (the CLI's slot range argument); null when it is not one. */
export function parseRange(text: string): SlotRange | null {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (!m) return null;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return validRange(from, to) ? [from, to] : null;
}

/**
 * The slot map after moving `ranges` to shard `to`: `ranges` of `[from, to, shard]` triples,
 * sorted and with neighbours of one shard merged. Pure.
 */
export function reassign(map: ReadonlyArray<readonly [number, number, number]>, ranges: readonly SlotRange[], to: number): Array<[number, number, number]> {
  const owner = new Int16Array(SLOT_COUNT).fill(-1);
  for (const [a, b, shard] of map) owner.fill(shard, a, b + 1);
  for (const [a, b] of ranges) owner.fill(to, a, b + 1);
  const out: Array<[number, number, number]> = [];
  let start = 0;
  for (let s = 1; s <= SLOT_COUNT; s++) {
    if (s === SLOT_COUNT || owner[s] !== owner[start]) {
      out.push([start, s - 1, owner[start]]);
      start = s;
    }
  }
  return out;
}
