import { SLOT_COUNT } from '../../shared/slot';
import { chunkRanges, countSlots, filterRanges, normaliseRanges, parseRange, rangesArg, reassign } from '../../shared/slot-ranges';
import { evenSlotMap } from '../../shared/topology/schema';
import { formatPlan, planRebalance, type Plan } from '../../control-plane/rebalance/planner';
import { remainingRanges } from '../../control-plane/rebalance/records';
import { transition } from '../../control-plane/commands/migrations';
import { newMigration } from '../../control-plane/rebalance/records';
import { SlotOwnership } from '../../storage-node/migration/ownership';
import { Status } from '../../shared/protocol';
import { OpError } from '../../shared/errors';

/** The owner of every slot after applying `plan` to `ranges`. */
function apply(ranges: ReadonlyArray<readonly [number, number, number]>, plan: Plan): Int16Array {
  const owner = new Int16Array(SLOT_COUNT).fill(-1);
  for (const [a, b, s] of ranges) owner.fill(s, a, b + 1);
  for (const m of plan.moves) for (const [a, b] of m.ranges) {
    for (let s = a; s <= b; s++) {
      expect(owner[s]).toBe(m.from);
      owner[s] = m.to;
    }
  }
  return owner;
}

const counts = (owner: Int16Array): Map<number, number> => {
  const out = new Map<number, number>();
  for (const s of owner) out.set(s, (out.get(s) ?? 0) + 1);
  return out;
};

describe('planner', () => {
  test('3 even shards plus a new one: a quarter of the slots move, all to the new shard, evenly', () => {
    const map = evenSlotMap(3).ranges;
    const plan = planRebalance({ slotMap: map, shards: [0, 1, 2, 3] });
    expect(plan.moves.every((m) => m.to === 3)).toBe(true);
    expect(plan.slotsMoved).toBe(SLOT_COUNT / 4);
    const c = counts(apply(map, plan));
    for (const s of [0, 1, 2, 3]) expect(c.get(s)).toBe(SLOT_COUNT / 4);
    expect(plan.moves.every((m) => m.ranges.length === 1)).toBe(true); // taken from the end: one range per donor
  });

  test('removing a shard moves exactly its slots, evenly over the others', () => {
    const map = evenSlotMap(4).ranges;
    const plan = planRebalance({ slotMap: map, shards: [0, 2, 3] });
    expect(plan.moves.every((m) => m.from === 1)).toBe(true);
    expect(plan.slotsMoved).toBe(SLOT_COUNT / 4);
    const c = counts(apply(map, plan));
    expect(c.get(1)).toBeUndefined();
    for (const s of [0, 2, 3]) expect(Math.abs(c.get(s)! - SLOT_COUNT / 3)).toBeLessThanOrEqual(1);
  });

  test('an even map needs no move; a plan is deterministic', () => {
    expect(planRebalance({ slotMap: evenSlotMap(4).ranges, shards: [0, 1, 2, 3] }).moves).toEqual([]);
    const input = { slotMap: evenSlotMap(3).ranges, shards: [0, 1, 2, 3] };
    expect(planRebalance(input)).toEqual(planRebalance(input));
  });

  test('by bytes: hot slots spread the bytes, and the spread shrinks', () => {
    const keys = new Float64Array(SLOT_COUNT).fill(2);
    const map = evenSlotMap(2).ranges;
    const bytes = new Float64Array(SLOT_COUNT).fill(100);
    for (let s = 0; s < 1000; s++) bytes[s] = 10_000; // shard 0 holds most bytes
    const plan = planRebalance({ slotMap: map, shards: [0, 1], slotBytes: bytes, slotKeys: keys });
    expect(plan.byBytes).toBe(true);
    expect(plan.moves.length).toBe(1);
    expect(plan.moves[0].from).toBe(0);
    const spread = (l: Plan['before']) => Math.max(...l.map((x) => x.bytes)) - Math.min(...l.map((x) => x.bytes));
    expect(spread(plan.after)).toBeLessThan(spread(plan.before) / 4);
  });

  test('bytes all zero fall back to slot counts; bad input is refused clearly', () => {
    expect(planRebalance({ slotMap: evenSlotMap(3).ranges, shards: [0, 1, 2, 3], slotBytes: new Float64Array(SLOT_COUNT) }).byBytes).toBe(false);
    expect(() => planRebalance({ slotMap: evenSlotMap(1).ranges, shards: [] })).toThrow(/at least one shard/);
    expect(() => planRebalance({ slotMap: evenSlotMap(1).ranges, shards: [1.5] })).toThrow(/whole number/);
    expect(() => planRebalance({ slotMap: evenSlotMap(1).ranges, shards: [0], slotBytes: [1, 2] })).toThrow(/16384/);
  });

  test('formatPlan names every move', () => {
    const plan = planRebalance({ slotMap: evenSlotMap(3).ranges, shards: [0, 1, 2, 3] });
    const text = formatPlan(plan);
    for (const m of plan.moves) expect(text).toContain(`shard ${m.from} -> shard ${m.to}`);
  });
});

describe('slot ranges', () => {
  test('normalise, count, filter, chunk and reassign', () => {
    expect(normaliseRanges([[5, 9], [0, 4], [20, 20]])).toEqual([[0, 9], [20, 20]]);
    expect(countSlots([[0, 9], [5, 14]])).toBe(15);
    expect(filterRanges([[0, 9]], (s) => s % 2 === 0)).toEqual([[0, 0], [2, 2], [4, 4], [6, 6], [8, 8]]);
    expect(chunkRanges([[0, 9], [20, 24]], 4)).toEqual([[[0, 3]], [[4, 7]], [[8, 9], [20, 21]], [[22, 24]]]);
    expect(reassign([[0, 9, 0], [10, SLOT_COUNT - 1, 1]], [[5, 12]], 2)).toEqual([[0, 4, 0], [5, 12, 2], [13, SLOT_COUNT - 1, 1]]);
  });

  test('peer input is checked before use', () => {
    expect(rangesArg([[0, 1]])).toEqual([[0, 1]]);
    for (const bad of [[], [[1, 0]], [[0, SLOT_COUNT]], [['__proto__', 1]], 'x', [[0]], null]) expect(rangesArg(bad)).toBeNull();
    expect(parseRange('100-200')).toEqual([100, 200]);
    expect(parseRange('7')).toEqual([7, 7]);
    expect(parseRange('9-3')).toBeNull();
    expect(parseRange('1-99999')).toBeNull();
  });

  test('remaining slots are those the source still owns', () => {
    const table = new Int16Array(SLOT_COUNT).fill(0);
    table.fill(3, 100, 150);
    expect(remainingRanges([[90, 160]], table, 0)).toEqual([[90, 99], [150, 160]]); // fill(3, 100, 150) ends before 150
  });
});

describe('ownership', () => {
  test('MOVED for slots of other shards, with slot, owner and epoch; older maps ignored', () => {
    const o = new SlotOwnership(1);
    expect(o.all).toBe(true); // no map yet
    o.check('ns', 'k');
    const change = o.apply(2, [[0, 8191, 0], [8192, SLOT_COUNT - 1, 1]]);
    expect(change.lost.length).toBe(8192);
    expect(o.all).toBe(false);
    let moved: OpError | undefined;
    for (let i = 0; moved === undefined; i++) {
      try {
        o.check('ns', `k${i}`);
      } catch (err) {
        moved = err as OpError;
      }
    }
    expect(moved.status).toBe(Status.MOVED);
    expect(moved.detail[1]).toBe(0);
    expect(moved.detail[2]).toBe(2);
    expect(o.apply(1, [[0, SLOT_COUNT - 1, 1]]).gained).toEqual([]); // an older map changes nothing
    expect(o.apply(3, [[0, SLOT_COUNT - 1, 1]]).gained.length).toBe(8192);
    expect(o.all).toBe(true);
  });

  test('frozen slots are counted once each', () => {
    const o = new SlotOwnership(0);
    o.setFrozen([1, 2, 2], true);
    expect(o.frozenCount).toBe(2);
    o.setFrozen([1, 2], false);
    expect(o.frozenCount).toBe(0);
    expect(o.isFrozen('ns', 'k')).toBe(false);
  });
});

describe('migration records', () => {
  test('pause, resume and cancel', () => {
    const m = { ...newMigration('m-1', 0, 3, [[0, 9]], 0, 1), state: 'cutting' as const };
    const paused = transition(m, 'pause');
    expect(paused.state).toBe('paused');
    expect(transition(paused, 'resume').state).toBe('planned');
    expect(transition(m, 'cancel').state).toBe('aborted');
    expect(transition(m, 'resume')).toBe(m);
  });
});

test('by bytes, a new shard takes slots from every other and no slot moves between old shards', () => {
  const bytes = new Float64Array(SLOT_COUNT).fill(100);
  const plan = planRebalance({ slotMap: evenSlotMap(3).ranges, shards: [0, 1, 2, 3], slotBytes: bytes });
  expect(plan.byBytes).toBe(true);
  expect(plan.moves.every((m) => m.to === 3)).toBe(true);
  expect(Math.abs(plan.slotsMoved - SLOT_COUNT / 4)).toBeLessThan((SLOT_COUNT / 4) * 0.04); // each donor stops within 1 % of the mean
});

test('with fewer keys than slots the plan balances counts even when bytes are known', () => {
  const bytes = new Float64Array(SLOT_COUNT);
  const keys = new Float64Array(SLOT_COUNT);
  for (let s = 0; s < SLOT_COUNT; s += 8) {
    bytes[s] = 500;
    keys[s] = 1;
  }
  const plan = planRebalance({ slotMap: evenSlotMap(3).ranges, shards: [0, 1, 2, 3], slotBytes: bytes, slotKeys: keys });
  expect(plan.byBytes).toBe(false);
  expect(plan.slotsMoved).toBe(SLOT_COUNT / 4);
});

test('by bytes, a drain does not shuffle single slots between the shards that stay', () => {
  const bytes = new Float64Array(SLOT_COUNT);
  const keys = new Float64Array(SLOT_COUNT);
  for (let s = 0; s < SLOT_COUNT; s++) {
    bytes[s] = 500 + ((s * 7919) % 97); // uneven, as real slots are
    keys[s] = 2;
  }
  const plan = planRebalance({ slotMap: evenSlotMap(4).ranges, shards: [0, 1, 2], slotBytes: bytes, slotKeys: keys });
  expect(plan.byBytes).toBe(true);
  expect(plan.moves.every((m) => m.from === 3)).toBe(true);
});
