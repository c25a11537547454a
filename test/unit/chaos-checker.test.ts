import { availabilityOutside, checkHistory, checkNamespace, faultVerdicts, percentile, staleEpochWrites } from '../../scripts/chaos/checker';
import type { Fault, History, Op, ReadOp, WriteOp } from '../../scripts/chaos/history';

/** A hand-built history of one key: each op takes 10 ms, one after the other. */
function keyHistory(steps: Array<['w' | 'w?' | 'r' | 'r!' | 'final', number]>, ns = 'acked', key = 'k1', shard = 0): Op[] {
  let t = 1000;
  return steps.map(([what, counter]) => {
    const base = { ns, key, shard, proxy: 0, start: t, end: t + 10 };
    t += 10;
    if (what === 'w' || what === 'w?') return { ...base, kind: 'write', counter, outcome: what === 'w' ? 'ok' : 'ambiguous' } satisfies WriteOp;
    return { ...base, kind: 'read', counter, ok: what !== 'r!', final: what === 'final' } satisfies ReadOp;
  });
}

describe('chaos checker: losses and regressions', () => {
  test('a clean history: every read sees the last acknowledged write, the final read holds it', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['r', 1], ['w', 2], ['r', 2], ['final', 2]]), 'acked');
    expect(v).toMatchObject({ keys: 1, writesAcked: 2, lostKeys: 0, lostWrites: 0, regressions: 0, phantoms: 0, unverifiedKeys: 0 });
  });

  test('a final value older than the last acknowledged write is a loss, counted per acknowledged write', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['w', 2], ['w', 3], ['final', 1]]), 'acked');
    expect(v).toMatchObject({ lostKeys: 1, lostWrites: 2, regressions: 1 });
    expect(v.examples[0]).toMatchObject({ key: 'k1', expected: 'at least 3', got: 1 });
  });

  test('a miss after an acknowledged write is a loss of every write', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['w', 2], ['final', 0]]), 'acked');
    expect(v).toMatchObject({ lostKeys: 1, lostWrites: 2 });
  });

  test('a read below an acknowledged write is a loss and a regression even when later writes and the final value are right', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['w', 2], ['r', 1], ['w', 3], ['final', 3]]), 'acked');
    expect(v).toMatchObject({ regressions: 1, lostKeys: 1, lostWrites: 1 });
  });

  test('a rollback seen by several reads is counted once; a second rollback later counts its own writes', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['w', 2], ['r', 0], ['r', 0], ['w', 3], ['w', 4], ['r', 3], ['final', 3]]), 'acked');
    expect(v).toMatchObject({ lostKeys: 1, lostWrites: 3, regressions: 4 });
  });

  test('a timed-out write may or may not have landed: either value is accepted', () => {
    const landed = checkNamespace(keyHistory([['w', 1], ['w?', 2], ['final', 2]]), 'acked');
    const notLanded = checkNamespace(keyHistory([['w', 1], ['w?', 2], ['final', 1]]), 'acked');
    for (const v of [landed, notLanded]) expect(v).toMatchObject({ writesAmbiguous: 1, lostWrites: 0, regressions: 0, phantoms: 0 });
  });

  test('once an ambiguous write was read, each later read of the older value is a regression', () => {
    const v = checkNamespace(keyHistory([['w', 1], ['w?', 2], ['r', 2], ['r', 1], ['final', 1]]), 'acked');
    expect(v).toMatchObject({ regressions: 2, lostWrites: 0 });
  });

  test('an ambiguous write that lands after a later acknowledged one is a regression', () => {
    const v = checkNamespace(keyHistory([['w?', 1], ['w', 2], ['final', 1]]), 'acked');
    expect(v).toMatchObject({ regressions: 1, lostKeys: 1, lostWrites: 1 });
  });

  test('a value never written is a phantom; failed reads say nothing; a key without final read is unverified', () => {
    expect(checkNamespace(keyHistory([['w', 1], ['r', 7], ['final', 1]]), 'acked')).toMatchObject({ phantoms: 1, regressions: 0 });
    expect(checkNamespace(keyHistory([['w', 1], ['r!', 0], ['final', 1]]), 'acked')).toMatchObject({ readsOk: 1, regressions: 0 });
    expect(checkNamespace(keyHistory([['w', 1], ['r', 1]]), 'acked')).toMatchObject({ unverifiedKeys: 1, lostWrites: 0 });
  });

  test('namespaces are checked apart', () => {
    const ops = [...keyHistory([['w', 1], ['final', 0]], 'async'), ...keyHistory([['w', 1], ['final', 1]], 'acked')];
    expect(checkNamespace(ops, 'async').lostWrites).toBe(1);
    expect(checkNamespace(ops, 'acked').lostWrites).toBe(0);
  });
});

describe('chaos checker: stale epochs', () => {
  const epochs = [
    { shard: 0, epoch: 10, nodeId: 'a', seenAt: 1000 },
    { shard: 0, epoch: 25, nodeId: 'b', seenAt: 5000 },
    { shard: 1, epoch: 11, nodeId: 'c', seenAt: 1000 },
  ];

  test('a write under an epoch after its successor was seen is stale; before it, or without successor, is not', () => {
    const stale = staleEpochWrites(epochs, [
      { nodeId: 'a', shard: 0, lastWriteByEpoch: [[10, 5200]] },
      { nodeId: 'b', shard: 0, lastWriteByEpoch: [[25, 9000]] },
      { nodeId: 'c', shard: 1, lastWriteByEpoch: [[11, 9000]] },
    ]);
    expect(stale).toEqual([{ nodeId: 'a', shard: 0, epoch: 10, successor: 25, successorSeenAt: 5000, lastWriteAt: 5200 }]);
  });

  test('the latest report of a node wins per epoch; a write just before the successor is fine', () => {
    expect(staleEpochWrites(epochs, [
      { nodeId: 'a', shard: 0, lastWriteByEpoch: [[10, 4999]] },
      { nodeId: 'a', shard: 0, lastWriteByEpoch: [[10, 4000]] },
    ])).toEqual([]);
  });
});

describe('chaos checker: failover and availability', () => {
  const write = (shard: number, proxy: number, start: number, end: number, ok = true): WriteOp => ({
    kind: 'write', ns: 'acked', key: `k${shard}`, shard, proxy, start, end, counter: start, outcome: ok ? 'ok' : 'ambiguous',
  });
  const fault: Fault = { id: 1, kind: 'kill-primary', target: 'shard0-a', shards: [0], hitsPrimary: true, at: 1000, doneAt: 1000 };

  test('failover: kill to the first acknowledged write started after it; recovery: through every proxy', () => {
    const ops = [write(0, 0, 990, 1005), write(0, 0, 1001, 3000, false), write(0, 0, 3000, 3100), write(0, 1, 3050, 3400), write(1, 0, 1001, 1002)];
    const [v] = faultVerdicts([fault], ops, 2, 10_000);
    expect(v).toMatchObject({ failoverMs: 2100, recoveredMs: 2400, recovered: true, attempted: 4, succeeded: 3 });
  });

  test('recovery counts only writes sent after the harness finished acting; a fault that keeps the primary has no failover time', () => {
    const etcd: Fault = { id: 2, kind: 'restart-etcd', target: 'etcd', shards: [0], hitsPrimary: false, at: 1000, doneAt: 2000 };
    const ops = [write(0, 0, 1100, 1110), write(0, 0, 1900, 2100), write(0, 0, 2500, 2600)];
    const [v] = faultVerdicts([etcd], ops, 1, 10_000);
    expect(v).toMatchObject({ failoverMs: undefined, recoveredMs: 1600, recovered: true, attempted: 3 });
  });

  test('a fault with no write after it is not recovered, and its window runs to the end', () => {
    const [v] = faultVerdicts([fault], [write(0, 0, 1001, 3000, false)], 1, 10_000);
    expect(v).toMatchObject({ recovered: false, failoverMs: undefined, attempted: 1, succeeded: 0 });
  });

  test('availability counts only requests started outside every fault window', () => {
    const ops = [write(1, 0, 500, 510), write(0, 0, 1500, 1600, false), write(0, 0, 2000, 2100), write(1, 0, 2500, 2510, false)];
    const verdicts = faultVerdicts([fault], ops, 1, 10_000);
    expect(availabilityOutside(verdicts, ops, 0, 10_000)).toEqual({ attempted: 2, succeeded: 1 });
  });

  test('percentile: nearest rank', () => {
    expect(percentile([], 50)).toBeUndefined();
    expect(percentile([3, 1, 2, 4], 50)).toBe(2);
    expect(percentile([3, 1, 2, 4], 100)).toBe(4);
  });

  test('checkHistory: invariants name what failed', () => {
    const h: History = {
      ops: [...keyHistory([['w', 1], ['w', 2], ['final', 1]], 'acked'), ...keyHistory([['w', 1], ['final', 0]], 'async')],
      faults: [], epochs: [], nodeWrites: [], ackedNs: 'acked', asyncNs: 'async', proxies: 1, startedAt: 0, loadEndedAt: 5000,
    };
    const v = checkHistory(h);
    expect(v.invariants.filter((i) => !i.ok).map((i) => i.name)).toEqual(['no acknowledged write lost in acked (writeAck: replica)', 'no version regression on primary reads in acked']);
    expect(v.async.lostWrites).toBe(1);
  });
});
