import { performance } from 'node:perf_hooks';
import { Status } from '../../shared/protocol';
import { electedOne, readPrimary, TEST_LEASE_TTL, waitFor, WriteProber, type ProbeRecord, shardNodeSuite } from '../helpers/shard-nodes';

const suite = shardNodeSuite();
const { start, close } = suite;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fencing as a client sees it: once a write of a newer epoch was answered (at T), no write of an
 * older epoch sent after T was accepted. And as the nodes saw it: every write of an older epoch
 * was handled before any write of a newer one (no moment when two nodes both took writes).
 */
function expectNoStaleAcceptance(accepted: ProbeRecord[]): void {
  for (const newer of accepted) {
    for (const older of accepted) {
      if (older.epoch >= newer.epoch) continue;
      expect({ older, newer, sentAfterNewerAnswered: older.sentAt > newer.receivedAt }).toMatchObject({ sentAfterNewerAnswered: false });
      expect({ older, newer, handledAfterNewer: older.handledAt! >= newer.handledAt! }).toMatchObject({ handledAfterNewer: false });
    }
  }
}

describe('storage node failover', () => {
  test('kill -9 of the primary: the replica takes over with a higher epoch within the lease TTL + 1 s', async () => {
    const nodes = await start('kill', 2);
    const [primary, [replica], epoch] = await electedOne(nodes);
    let belief = epoch;
    const t0 = performance.now();
    primary.proc.child.kill('SIGKILL');
    await waitFor('a write accepted by the new primary', async () => {
      const reply = await replica.set(belief);
      if (reply[1] === Status.NOT_PRIMARY && (reply[3] as number) > belief) belief = reply[3] as number;
      return reply[1] === Status.OK;
    }, 10_000, 10);
    const failoverMs = performance.now() - t0;
    console.log(`kill -9 failover: first write accepted by the new primary ${failoverMs.toFixed(0)} ms after the kill (lease TTL ${TEST_LEASE_TTL} s)`);
    expect(failoverMs).toBeLessThanOrEqual(TEST_LEASE_TTL * 1000 + 1000);
    expect(belief).toBeGreaterThan(epoch);
    expect(await readPrimary(suite.client, 'kill', 0)).toEqual({ nodeId: replica.nodeId, addr: replica.addr, epoch: belief });
    expect(await close(primary)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await close(replica)).toEqual({ code: 0, signal: null });
  });

  test('SIGSTOP past the lease: the other node takes over; the resumed one refuses every write and ends a replica', async () => {
    const nodes = await start('freeze', 2);
    const [frozen, [other], epoch] = await electedOne(nodes);
    const prober = new WriteProber();
    prober.start(nodes, 10);
    await waitFor('writes accepted before the freeze', () => prober.accepted().length >= 10, 5000);

    const stoppedAt = performance.now();
    const stoppedAtWall = Date.now();
    frozen.proc.child.kill('SIGSTOP');
    const next = await waitFor('the other node primary', async () => {
      const p = await readPrimary(suite.client, 'freeze', 0);
      return p && p.nodeId === other.nodeId ? p : null;
    }, 10_000);
    await sleep(Math.max(0, stoppedAt + TEST_LEASE_TTL * 1000 + 1500 - performance.now())); // stay frozen well past the lease
    const resumedAt = performance.now();
    frozen.proc.child.kill('SIGCONT');

    await waitFor('the resumed node a replica of the new epoch', async () => {
      const s = await frozen.stats();
      return s.role === 'replica' && s.epoch === next.epoch && s.primary === other.addr;
    }, 10_000);
    await sleep(500);
    await prober.stop();

    expect(next.epoch).toBeGreaterThan(epoch);
    const fromFrozen = prober.records.filter((r) => r.addr === frozen.addr);
    const queued = fromFrozen.filter((r) => r.sentAt > stoppedAt + 20 && r.sentAt < resumedAt);
    expect(queued.length).toBeGreaterThan(50); // writes that waited in the socket during the freeze...
    expect(queued.every((r) => r.status === Status.NOT_PRIMARY)).toBe(true); // ...were all refused
    expect(fromFrozen.filter((r) => r.sentAt > stoppedAt + 20 && r.status === Status.OK)).toEqual([]);
    const accepted = prober.accepted();
    expect(accepted.some((r) => r.addr === other.addr && r.epoch === next.epoch)).toBe(true);
    expect(accepted.every((r) => (r.addr === frozen.addr ? r.epoch === epoch : r.epoch === next.epoch))).toBe(true);
    expectNoStaleAcceptance(accepted);
    const handledByFrozen = accepted.filter((r) => r.addr === frozen.addr).map((r) => r.handledAt!);
    expect(Math.max(...handledByFrozen)).toBeLessThanOrEqual(stoppedAtWall + 20); // nothing taken after the freeze
    const lateReplies = accepted.filter((r) => r.addr === frozen.addr && r.receivedAt > resumedAt).length;
    console.log(`SIGSTOP: ${accepted.length} writes accepted (${lateReplies} handled before the freeze, answered after it), ${queued.length} queued during the freeze and refused after it`);
    expect(await frozen.stats()).toMatchObject({ role: 'replica', epoch: next.epoch });
    expect(await other.stats()).toMatchObject({ role: 'primary', epoch: next.epoch });
    for (const n of nodes) expect(await close(n)).toEqual({ code: 0, signal: null });
  });

  test('a node restarted on the same address takes its stale primary key back without waiting for the lease', async () => {
    // A lease far longer than the test: the node can only be primary again by removing its key.
    const longLease = ['--lease-ttl', '30'];
    const [first] = await start('restart', 1, longLease);
    const [, , epoch] = await electedOne([first]);
    first.proc.child.kill('SIGKILL');
    await close(first);
    const t0 = performance.now();
    const [second] = await start('restart', 1, ['--port', String(first.port), ...longLease]);
    const [, , newEpoch] = await electedOne([second], 5000);
    const tookMs = performance.now() - t0;
    console.log(`restart on the same address: primary again ${tookMs.toFixed(0)} ms after the start`);
    expect(newEpoch).toBeGreaterThan(epoch);
    expect(second.proc.lines.some((l) => l.includes('deleting a primary key of this node'))).toBe(true); // not left to expire
    expect(second.nodeId).toBe(first.nodeId);
    expect(await close(second)).toEqual({ code: 0, signal: null });
  });
});
