import { performance } from 'node:perf_hooks';
import { Status } from '../../shared/protocol';
import { clusterKeys, NodeRecordSchema } from '../../shared/topology/schema';
import { electedOne, readPrimary, waitFor, shardNodeSuite } from '../helpers/shard-nodes';

const suite = shardNodeSuite();
const { start, close } = suite;

describe('storage node election', () => {
  test('2 shards x 2 nodes: one primary each; fencing by epoch on both sides', async () => {
    const shards = await Promise.all([start('elect', 2, [], 0), start('elect', 2, [], 1)]);
    const epochs: number[] = [];
    for (const [shard, nodes] of shards.entries()) {
      const [primary, [replica], epoch] = await electedOne(nodes);
      epochs.push(epoch);
      expect(await readPrimary(suite.client, 'elect', shard)).toEqual({ nodeId: primary.nodeId, addr: primary.addr, epoch });
      expect(await primary.stats()).toMatchObject({ role: 'primary', epoch, nodeId: primary.nodeId, shardId: shard, primary: primary.addr });
      expect(await replica.stats()).toMatchObject({ role: 'replica', epoch, nodeId: replica.nodeId, shardId: shard, primary: primary.addr });

      expect((await primary.set(epoch)).slice(1, 2)).toEqual([Status.OK]);
      expect((await replica.set(epoch)).slice(1)).toEqual([Status.NOT_PRIMARY, expect.any(String), epoch, primary.addr]);
      for (const wrong of [0, epoch - 1, epoch + 1]) {
        expect((await primary.set(wrong)).slice(1)).toEqual([Status.NOT_PRIMARY, expect.any(String), epoch, primary.addr]);
      }
      const health = await (await fetch(`http://127.0.0.1:${replica.proc.ready.adminPort as number}/healthz`)).json();
      expect(health).toMatchObject({ ok: true, role: 'replica', epoch, nodeId: replica.nodeId, shardId: shard, primary: primary.addr });
      for (const node of nodes) {
        const text = await suite.client.get(clusterKeys('elect').node(node.nodeId)).string();
        expect(NodeRecordSchema.parse(JSON.parse(text!))).toMatchObject({ addr: node.addr, shardId: shard, zone: '' });
      }
    }
    expect(epochs[0]).not.toEqual(epochs[1]);
    for (const nodes of shards) for (const n of nodes) expect(await close(n)).toEqual({ code: 0, signal: null });
  });

  test('a resign request for the primary epoch hands the shard over; a stale one is deleted', async () => {
    const nodes = await start('resign', 2, [], 0);
    const [primary, [replica], epoch] = await electedOne(nodes);
    const keys = clusterKeys('resign');
    await suite.client.put(keys.resign(0)).value(JSON.stringify({ epoch, requestedAt: Date.now() }));
    // The old key stays until the primary has seen the request: wait for the next epoch first.
    await waitFor('a primary with a newer epoch', async () => ((await readPrimary(suite.client, 'resign', 0))?.epoch ?? 0) > epoch, 5000);
    const [next, , newEpoch] = await electedOne(nodes, 5000);
    expect(next).toBe(replica);
    expect(newEpoch).toBeGreaterThan(epoch);
    expect(await suite.client.get(keys.resign(0)).string()).toBeNull();
    expect((await primary.set(epoch)).slice(1)).toEqual([Status.NOT_PRIMARY, expect.any(String), newEpoch, replica.addr]);
    expect((await replica.set(newEpoch))[1]).toBe(Status.OK);

    await suite.client.put(keys.resign(0)).value(JSON.stringify({ epoch, requestedAt: Date.now() }));
    await waitFor('stale resign request deleted', async () => (await suite.client.get(keys.resign(0)).string()) === null, 5000);
    expect(await electedOne(nodes, 1000)).toEqual([replica, [primary], newEpoch]);
    for (const n of nodes) expect(await close(n)).toEqual({ code: 0, signal: null });
  });

  test('SIGTERM of the primary hands over at once and exits 0', async () => {
    const nodes = await start('term', 2, [], 0);
    const [primary, [replica], epoch] = await electedOne(nodes);
    const t0 = performance.now();
    const exit = close(primary);
    let belief = epoch;
    await waitFor('a write accepted by the new primary', async () => {
      const reply = await replica.set(belief);
      if (reply[1] === Status.NOT_PRIMARY && (reply[3] as number) > belief) belief = reply[3] as number;
      return reply[1] === Status.OK;
    }, 5000, 5);
    const handoverMs = performance.now() - t0;
    console.log(`SIGTERM handover: first write accepted by the new primary ${handoverMs.toFixed(0)} ms after SIGTERM`);
    expect(handoverMs).toBeLessThan(1500);
    expect(belief).toBeGreaterThan(epoch);
    expect(await exit).toEqual({ code: 0, signal: null });
    expect(await suite.client.get(clusterKeys('term').node(primary.nodeId)).string()).toBeNull(); // lease revoked
    expect(await close(replica)).toEqual({ code: 0, signal: null });
  });
});
