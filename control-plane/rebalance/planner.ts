import { SLOT_COUNT } from '../../shared/slot';
import { formatRanges, rangesOf } from '../../shared/slot-ranges';
import type { SlotRange } from '../../shared/protocol';

/** By bytes, shards within this share of the mean count as even (no move for rounding-sized gaps). */
const BYTES_TOLERANCE = 0.01;

/** Keys the cluster must hold before the plan balances bytes rather than slot counts (one per slot). */
export const MIN_KEYS_FOR_BYTES = SLOT_COUNT;

/** What the planner reads: the slot map, the shards that should hold slots, and per-slot figures when known. */
export interface PlanInput {
  /** Current slot map ranges `[from, to, shard]`. */
  slotMap: ReadonlyArray<readonly [number, number, number]>;
  /** The shards that should own slots after the plan (a shard left out is drained). Non-empty. */
  shards: readonly number[];
  /** Bytes held per slot (16384 long), when the nodes reported them; absent: balance slot counts. */
  slotBytes?: ArrayLike<number>;
  /** Keys held per slot (16384 long), for the report only. */
  slotKeys?: ArrayLike<number>;
}

export interface PlannedMove { from: number; to: number; ranges: SlotRange[]; slots: number; bytes: number; keys: number }
export interface ShardLoad { shard: number; slots: number; bytes: number; keys: number }
export interface Plan { moves: PlannedMove[]; before: ShardLoad[]; after: ShardLoad[]; slotsMoved: number; bytesMoved: number; byBytes: boolean }

/**
 * The rebalance planner (pure): the fewest slot moves that drain the shards left out and even out
 * the rest, by bytes when the nodes reported them and the cluster holds at least one key per
 * slot (each slot weighing its bytes plus one mean slot's), else by slot count. Slots leave a shard from
 * the end of its ranges (by count), or heaviest first (by bytes), so moves are few; ties go to the lower shard id, so a plan is
 * the same for the same input. O(slots · shards).
 */
export function planRebalance(input: PlanInput): Plan {
  const shards = checkInput(input);
  const owner = new Int16Array(SLOT_COUNT).fill(-1);
  for (const [a, b, s] of input.slotMap) owner.fill(s, a, b + 1);
  const bytesTotal = input.slotBytes ? sumOf(input.slotBytes) : 0;
  // Per-slot bytes say something only once slots hold keys: with fewer keys than slots they are
  // noise (most slots empty), and balancing them would just skew slot counts.
  const keysTotal = input.slotKeys ? sumOf(input.slotKeys) : Number.POSITIVE_INFINITY;
  const byBytes = bytesTotal > 0 && keysTotal >= MIN_KEYS_FOR_BYTES;
  // By bytes, every slot also weighs one mean slot, so empty slots still spread evenly (a young
  // cluster balances counts) while a skewed one balances its bytes.
  const mean = bytesTotal / SLOT_COUNT;
  const weight = (s: number): number => (byBytes ? Number(input.slotBytes![s]) + mean : 1);
  const before = loads(owner, shards, input);
  const next = Int16Array.from(owner);
  const keep = new Set(shards);
  // 1. Drained shards: every slot goes to the lightest receiver.
  const load = new Map<number, number>(shards.map((s) => [s, 0]));
  for (let s = 0; s < SLOT_COUNT; s++) if (keep.has(owner[s])) load.set(owner[s], load.get(owner[s])! + weight(s));
  for (let s = SLOT_COUNT - 1; s >= 0; s--) {
    if (keep.has(owner[s])) continue;
    const to = lightest(load, shards);
    next[s] = to;
    load.set(to, load.get(to)! + weight(s));
  }
  // 2. Even out: the heaviest shard gives slots from its end to the lightest while that narrows the gap.
  if (byBytes) evenBytes(next, shards, load, weight);
  else evenCounts(next, shards);
  return summarise(owner, next, shards, input, before, byBytes);
}

function checkInput(input: PlanInput): number[] {
  if (input.shards.length === 0) throw new RangeError('the plan needs at least one shard to hold the slots');
  for (const s of input.shards) if (!Number.isInteger(s) || s < 0 || s > 1023) throw new RangeError(`shard id ${String(s)} is not a whole number 0-1023`);
  for (const [name, a] of [['slotBytes', input.slotBytes], ['slotKeys', input.slotKeys]] as const) {
    if (a !== undefined && a.length !== SLOT_COUNT) throw new RangeError(`${name} has ${a.length} entries, not ${SLOT_COUNT}`);
  }
  return [...new Set(input.shards)].sort((a, b) => a - b);
}

function sumOf(a: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += Number(a[i]) || 0;
  return n;
}

function lightest(load: ReadonlyMap<number, number>, shards: readonly number[]): number {
  let best = shards[0];
  for (const s of shards) if (load.get(s)! < load.get(best)!) best = s;
  return best;
}

function heaviest(load: ReadonlyMap<number, number>, shards: readonly number[]): number {
  let best = shards[0];
  for (const s of shards) if (load.get(s)! > load.get(best)!) best = s;
  return best;
}

/** Slot counts: every shard ends with floor or ceil of the mean (the lower ids take the extra ones). */
function evenCounts(next: Int16Array, shards: readonly number[]): void {
  const base = Math.floor(SLOT_COUNT / shards.length);
  const extra = SLOT_COUNT - base * shards.length;
  const target = new Map(shards.map((s, i) => [s, base + (i < extra ? 1 : 0)]));
  const count = new Map(shards.map((s) => [s, 0]));
  for (let s = 0; s < SLOT_COUNT; s++) count.set(next[s], (count.get(next[s]) ?? 0) + 1);
  const receivers = shards.filter((s) => count.get(s)! < target.get(s)!);
  let r = 0;
  for (let s = SLOT_COUNT - 1; s >= 0 && r < receivers.length; s--) {
    const from = next[s];
    if (count.get(from)! <= target.get(from)!) continue;
    const to = receivers[r];
    next[s] = to;
    count.set(from, count.get(from)! - 1);
    count.set(to, count.get(to)! + 1);
    if (count.get(to)! >= target.get(to)!) r++;
  }
}

/**
 * Bytes: the heaviest shard gives its heaviest slots, as long as each fits the room both it
 * (above the mean) and the lightest shard (below it) have, so no slot moves twice and no shard
 * gives to one that will give again. Equal weights go from the end, so ranges stay long.
 */
function evenBytes(next: Int16Array, shards: readonly number[], load: Map<number, number>, weight: (s: number) => number): void {
  const bySize = Array.from({ length: SLOT_COUNT }, (_, s) => s).sort((a, b) => weight(b) - weight(a) || b - a);
  let total = 0;
  for (const s of shards) total += load.get(s)!;
  const mean = total / shards.length;
  for (let round = 0; round < shards.length * shards.length; round++) {
    const from = heaviest(load, shards);
    const to = lightest(load, shards);
    let moved = false;
    for (const s of bySize) {
      if (next[s] !== from) continue;
      const w = weight(s);
      const room = Math.min(load.get(from)! - mean, mean - load.get(to)!);
      if (room <= mean * BYTES_TOLERANCE) break; // even enough: a move would cost more than it evens
      if (w <= 0 || w > 2 * room) continue; // it would overshoot the mean by more than it narrows
      next[s] = to;
      load.set(from, load.get(from)! - w);
      load.set(to, load.get(to)! + w);
      moved = true;
    }
    if (!moved) return;
  }
}

function loads(owner: Int16Array, shards: readonly number[], input: PlanInput): ShardLoad[] {
  const out = new Map<number, ShardLoad>();
  const row = (s: number): ShardLoad => out.get(s) ?? (out.set(s, { shard: s, slots: 0, bytes: 0, keys: 0 }), out.get(s)!);
  for (const s of shards) row(s);
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (owner[s] < 0) continue;
    const r = row(owner[s]);
    r.slots++;
    r.bytes += Number(input.slotBytes?.[s] ?? 0);
    r.keys += Number(input.slotKeys?.[s] ?? 0);
  }
  return [...out.values()].sort((a, b) => a.shard - b.shard);
}

function summarise(owner: Int16Array, next: Int16Array, shards: readonly number[], input: PlanInput, before: ShardLoad[], byBytes: boolean): Plan {
  const pairs = new Map<string, { from: number; to: number; bits: Uint8Array; bytes: number; keys: number }>();
  let slotsMoved = 0;
  let bytesMoved = 0;
  for (let s = 0; s < SLOT_COUNT; s++) {
    if (owner[s] === next[s]) continue;
    const id = `${owner[s]}>${next[s]}`;
    let p = pairs.get(id);
    if (p === undefined) pairs.set(id, (p = { from: owner[s], to: next[s], bits: new Uint8Array(SLOT_COUNT), bytes: 0, keys: 0 }));
    p.bits[s] = 1;
    p.bytes += Number(input.slotBytes?.[s] ?? 0);
    p.keys += Number(input.slotKeys?.[s] ?? 0);
    slotsMoved++;
    bytesMoved += Number(input.slotBytes?.[s] ?? 0);
  }
  const moves = [...pairs.values()]
    .map((p) => {
      const ranges = rangesOf(p.bits);
      return { from: p.from, to: p.to, ranges, slots: ranges.reduce((n, [a, b]) => n + b - a + 1, 0), bytes: p.bytes, keys: p.keys };
    })
    .sort((a, b) => a.from - b.from || a.to - b.to);
  return { moves, before, after: loads(next, shards, input), slotsMoved, bytesMoved, byBytes };
}

/** The plan for people (`shardctl rebalance --dry-run`): one line per move, then load per shard before and after. */
export function formatPlan(plan: Plan): string {
  const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
  const lines = plan.moves.length === 0 ? ['nothing to move'] : plan.moves.map((m) => `shard ${m.from} -> shard ${m.to}: slots ${formatRanges(m.ranges)} (${m.slots} slots, ${mb(m.bytes)}, ${m.keys.toLocaleString('en')} keys)`);
  lines.push(`${plan.slotsMoved} slots move${plan.byBytes ? `, ${mb(plan.bytesMoved)}` : ''} (balanced by ${plan.byBytes ? 'bytes' : 'slot count'})`);
  lines.push('shard  slots before  slots after  bytes before  bytes after');
  const after = new Map(plan.after.map((l) => [l.shard, l]));
  for (const b of plan.before) {
    const a = after.get(b.shard) ?? { slots: 0, bytes: 0 };
    lines.push(`${String(b.shard).padEnd(5)}  ${String(b.slots).padEnd(12)}  ${String(a.slots).padEnd(11)}  ${mb(b.bytes).padEnd(12)}  ${mb(a.bytes)}`);
  }
  return lines.join('\n');
}
