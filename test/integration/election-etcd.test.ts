import { Op, Status } from '../../shared/protocol';
import { SLOT_COUNT } from '../../shared/slot';
import { clusterKeys } from '../../shared/topology/schema';
import { runProgram, startProgram } from '../helpers/process';
import { electedOne, shardNodeSuite, waitFor } from '../helpers/shard-nodes';

const suite = shardNodeSuite();

describe('storage node and etcd', () => {
  test('bad cluster flags exit 1 with a message naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--etcd', 'nohost'], /--etcd.*host:port/],
      [['--etcd', suite.etcd.endpoint], /--shard <n> is required with --etcd/],
      [['--shard', '1'], /--shard needs --etcd/],
      [['--etcd', suite.etcd.endpoint, '--shard', '0', '--node-id', 'a/b'], /--node-id.*letters, digits/],
      [['--etcd', suite.etcd.endpoint, '--shard', '0', '--lease-ttl', '1', '--step-down-margin-ms', '500'], /under half of --lease-ttl/],
      [['--etcd', suite.etcd.endpoint, '--shard', '0', '--cluster', 'a b'], /--cluster.*cluster name/],
    ];
    for (const [args, message] of cases) {
      const result = await runProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0', ...args], { SHARDCACHE_ETCD: '' });
      expect({ args, code: result.code }).toEqual({ args, code: 1 });
      expect(result.stderr).toMatch(message);
    }
  });

  test('the lease TTL comes from the cluster config when --lease-ttl is not given', async () => {
    await suite.client.put(clusterKeys('ttl').config).value(JSON.stringify({ slots: SLOT_COUNT, shards: 1, replicas: 1, leaseTtlSeconds: 4, createdAt: Date.now() }));
    const node = await startProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0', '--etcd', suite.etcd.endpoint, '--cluster', 'ttl', '--shard', '0']);
    try {
      const joined = await waitFor('joined', () => node.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'joined'), 10_000);
      expect(joined.leaseTtl).toBe(4);
      const record = await suite.client.get(clusterKeys('ttl').node(node.ready.nodeId as string)).exec();
      expect(record.kvs[0].lease).toBe(joined.leaseId);
    } finally {
      expect(await node.stop()).toEqual({ code: 0, signal: null });
    }
  });

  test('etcd down at start: ready anyway, serves reads, refuses writes; primary once etcd is up; SIGTERM without etcd still exits 0', async () => {
    await suite.etcd.halt();
    const [node] = await suite.start('late', 1);
    try {
      expect((await node.conn.request(Op.GET, 'test', 'k'))[1]).toBe(Status.MISS);
      expect((await node.set(0)).slice(1)).toEqual([Status.NOT_PRIMARY, expect.any(String), 0, null]);
      expect(await node.stats()).toMatchObject({ role: 'replica', epoch: 0, primary: null });
      await waitFor('a retry warning', () => node.proc.lines.some((l) => l.includes('cannot join the cluster yet')), 10_000);
      await suite.etcd.restart();
      const stats = await waitFor('primary', async () => {
        const s = await node.stats();
        return s.role === 'primary' && s.slotMapKnown === true ? s : null; // writes wait for the slot map too
      }, 20_000, 100);
      expect((await node.set(stats.epoch as number))[1]).toBe(Status.OK);
      await suite.etcd.halt();
    } finally {
      const t0 = Date.now();
      expect(await suite.close(node)).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(4000);
      await suite.etcd.restart();
    }
  }, 45_000);
  test('an etcd restart that outlasts the lease proof: the shard takes writes again once etcd is back', async () => {
    const nodes = await suite.start('outage', 2);
    try {
      const [primary, , epoch] = await electedOne(nodes);
      expect((await primary.set(epoch))[1]).toBe(Status.OK);
      await suite.etcd.restart(1000); // down past the step-down point, not long enough for the client to give the lease up
      // the lease proofs recover: some node is primary and takes writes, and still does a while later
      const acceptsWrites = async (): Promise<boolean> => {
        const elected = await electedOne(nodes, 2000).catch(() => undefined);
        return elected !== undefined && (await elected[0].set(elected[2]))[1] === Status.OK;
      };
      await waitFor('a write accepted after the outage', acceptsWrites, 25_000, 100);
      await new Promise((r) => setTimeout(r, 3000));
      await waitFor('a write accepted a while later', acceptsWrites, 10_000, 100);
    } finally {
      await Promise.all(nodes.map((n) => suite.close(n)));
    }
  }, 60_000);
});
