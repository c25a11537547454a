import { Status } from '../../shared/protocol';
import { SLOT_COUNT } from '../../shared/slot';
import { reassign } from '../../shared/slot-ranges';
import type { SlotMap } from '../../shared/topology/schema';
import { createLogger } from '../../shared/log';
import type { CommitOutcome, Committer, CutCommit } from '../../storage-node/migration/commit';
import { cutOver, CUT_LAG_BYTES, type CutEnvironment, type CutRequest } from '../../storage-node/migration/cutover';
import type { ExportSession } from '../../storage-node/migration/export';
import { SlotOwnership } from '../../storage-node/migration/ownership';

/**
 * The cut-over's decisions with etcd and the export faked: when it refuses to start, when it cuts
 * cold, and above all what it does when a commit's outcome is unknown (etcd went away mid-commit):
 * the slots stay frozen until the slot map says which it was, so a held write never runs on the
 * wrong side.
 */

const log = createLogger('test', 'silent');
const START: SlotMap = { epoch: 5, ranges: [[0, 8191, 0], [8192, SLOT_COUNT - 1, 1]] };
const REQ: CutRequest = { migrationId: 'm1', ranges: [[100, 109]], recordModRevision: 7, fromEpoch: 11, targetShard: 1, targetEpoch: 22, freezeMs: 50, cold: false };

/** A fake export: streaming with `lagBytes`, whose fences the target acknowledges after `ackMs` (never when null). */
function fakeExport(lagBytes = 0, ackMs: number | null = 1, state = 'streaming'): ExportSession {
  return {
    state,
    lagBytes,
    fence: () => ({ id: 1, done: ackMs === null ? new Promise<boolean>(() => undefined) : new Promise<boolean>((r) => setTimeout(() => r(true), ackMs)) }),
  } as unknown as ExportSession;
}

/** A committer whose commit and reads are scripted; it records what it saw. */
class ScriptedCommitter implements Committer {
  commits: CutCommit[] = [];
  reads = 0;
  frozenDuringReads: boolean[] = [];
  constructor(
    private readonly onCommit: (cut: CutCommit) => Promise<CommitOutcome>,
    private readonly onRead: (n: number) => Promise<SlotMap | null>,
    private readonly ownership: SlotOwnership,
  ) {}
  commit(cut: CutCommit): Promise<CommitOutcome> {
    this.commits.push(cut);
    return this.onCommit(cut);
  }
  readSlotMap(): Promise<SlotMap | null> {
    this.frozenDuringReads.push(this.ownership.frozen[100] === 1);
    return this.onRead(++this.reads);
  }
}

function environment(committer: (o: SlotOwnership) => ScriptedCommitter, session: ExportSession | null = fakeExport()) {
  const ownership = new SlotOwnership(0);
  ownership.apply(START.epoch, START.ranges);
  const c = committer(ownership);
  const applied: SlotMap[] = [];
  let thawed = 0;
  const env: CutEnvironment = {
    ownership, committer: c, export: session ?? undefined, count: (slot) => (slot >= 100 && slot <= 109 ? 3 : 0),
    applied: (map) => { applied.push(map); ownership.apply(map.epoch, map.ranges); },
    thawed: () => void thawed++, log,
  };
  return { env, ownership, committer: c, applied, thawed: () => thawed };
}

const moved: SlotMap = { epoch: 6, ranges: reassign(START.ranges, [[100, 109]], 1) };
const etcdDown = (): Promise<never> => Promise.reject(new Error('etcd: connection refused'));

test('a commit that lands moves the slots: the new map is applied, the freeze ends, the reply carries the figures', async () => {
  const t = environment((o) => new ScriptedCommitter(async () => ({ committed: true, map: moved }), etcdDown, o));
  const reply = await cutOver(REQ, t.env);
  expect(reply[0]).toBe(Status.OK);
  expect(reply[1]).toMatchObject({ slotMapEpoch: 6, cold: false, keys: 30, slots: 10 });
  expect(t.committer.commits).toEqual([{ migrationId: 'm1', recordModRevision: 7, from: 0, fromEpoch: 11, to: 1, toEpoch: 22, ranges: [[100, 109]] }]);
  expect(t.applied).toEqual([moved]);
  expect(t.ownership.owns(105)).toBe(false);
  expect(t.ownership.frozenCount).toBe(0);
  expect(t.thawed()).toBe(1);
});

test('etcd goes away mid-commit and the move had landed: the slots stay frozen until the slot map says so, then move', async () => {
  const t = environment((o) => new ScriptedCommitter(etcdDown, async (n) => (n < 3 ? etcdDown() : moved), o));
  const reply = await cutOver(REQ, t.env);
  expect(reply[0]).toBe(Status.OK);
  expect(t.committer.reads).toBe(3);
  expect(t.committer.frozenDuringReads).toEqual([true, true, true]); // no write ran while the outcome was unknown
  expect(t.applied).toEqual([moved]);
  expect(t.ownership.frozenCount).toBe(0);
});

test('etcd goes away mid-commit and the move had not landed: the slots stay here and the freeze ends', async () => {
  const t = environment((o) => new ScriptedCommitter(etcdDown, async (n) => (n < 2 ? etcdDown() : START), o));
  const reply = await cutOver(REQ, t.env);
  expect(reply).toEqual([Status.VERSION_CONFLICT, 'the cut-over did not commit (etcd did not answer)']);
  expect(t.committer.frozenDuringReads).toEqual([true, true]);
  expect(t.applied).toEqual([]);
  expect(t.ownership.owns(105)).toBe(true);
  expect(t.ownership.frozenCount).toBe(0);
  expect(t.thawed()).toBe(1);
});

test('a move only partly in the map read after an unknown outcome is not taken as committed', async () => {
  const partly: SlotMap = { epoch: 6, ranges: reassign(START.ranges, [[100, 104]], 1) };
  const t = environment((o) => new ScriptedCommitter(etcdDown, async () => partly, o));
  expect((await cutOver(REQ, t.env))[0]).toBe(Status.VERSION_CONFLICT);
  expect(t.applied).toEqual([]);
});

test('a refused commit (a primary, the record or the map changed) thaws the slots where they were', async () => {
  const t = environment((o) => new ScriptedCommitter(async () => ({ committed: false, reason: 'changed' }), etcdDown, o));
  expect(await cutOver(REQ, t.env)).toEqual([Status.VERSION_CONFLICT, 'changed']);
  expect(t.ownership.owns(100)).toBe(true);
  expect(t.ownership.frozenCount).toBe(0);
});

test('no cut before the export streams or while the target is far behind; a cold cut needs neither', async () => {
  const never = (o: SlotOwnership) => new ScriptedCommitter(async () => ({ committed: true, map: moved }), etcdDown, o);
  expect((await cutOver(REQ, environment(never, null).env))[0]).toBe(Status.BUSY);
  expect((await cutOver(REQ, environment(never, fakeExport(0, 1, 'snapshot')).env))[0]).toBe(Status.BUSY);
  const behind = environment(never, fakeExport(CUT_LAG_BYTES + 1));
  expect((await cutOver(REQ, behind.env))[0]).toBe(Status.BUSY);
  expect(behind.committer.commits).toEqual([]);
  expect(behind.ownership.frozenCount).toBe(0);
  const cold = await cutOver({ ...REQ, cold: true }, environment(never, null).env);
  expect(cold[0]).toBe(Status.OK);
  expect(cold[1]).toMatchObject({ cold: true });
});

test('a target that does not acknowledge the fence within freezeMs makes the cut cold', async () => {
  const t = environment((o) => new ScriptedCommitter(async () => ({ committed: true, map: moved }), etcdDown, o), fakeExport(0, null));
  const reply = await cutOver({ ...REQ, freezeMs: 30 }, t.env);
  expect(reply[0]).toBe(Status.OK);
  expect(reply[1]).toMatchObject({ cold: true });
  expect((reply[1] as { drainMs: number }).drainMs).toBeGreaterThanOrEqual(25);
});

test('slots this shard no longer owns are left out; none left is a no-op', async () => {
  const t = environment((o) => new ScriptedCommitter(async () => ({ committed: true, map: moved }), etcdDown, o));
  const reply = await cutOver({ ...REQ, ranges: [[8192, 8200]] }, t.env);
  expect(reply).toEqual([Status.OK, { slotMapEpoch: 5, freezeMs: 0, cold: false, keys: 0, slots: 0 }]);
  expect(t.committer.commits).toEqual([]);
});
