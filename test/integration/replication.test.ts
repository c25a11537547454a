import { NodeConnection } from '../../shared/node-connection';
import { Op, Status } from '../../shared/protocol';
import { clusterKeys } from '../../shared/topology/schema';
import { electedOne, waitFor, type ShardNode, shardNodeSuite } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

const suite = shardNodeSuite();
const { start } = suite;
const close = (node: ShardNode): Promise<unknown> => suite.close(node).catch(() => undefined);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const set = (n: ShardNode, epoch: number, ns: string, key: string, value: string, ttlMs = 0, tags: string[] | null = null) =>
  n.conn.request(Op.SET, epoch, ns, key, Buffer.from(value), ttlMs, 7, 0, 0, tags);

/** Every key's [value, version, expiresAt, flags] (null when missing), as a node serves them. */
async function contents(n: ShardNode, ns: string, keys: string[]): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const reply = await n.conn.request(Op.MGET, ns, keys.slice(i, i + 1000));
    expect(reply[1]).toBe(Status.OK);
    out.push(...(reply[2] as unknown[]).map((e) => (e === null ? null : [Buffer.from(e as Buffer).toString(), ...(e as unknown[]).slice(1)])));
  }
  return out;
}

async function converged(primary: ShardNode, replica: ShardNode, ns: string, keys: string[]): Promise<void> {
  await waitFor('the replica to reach the primary offset', async () => {
    const [p, r] = await Promise.all([primary.stats(), replica.stats()]);
    return r.replication.state === 'streaming' && r.replication.offset === p.replication.offset;
  }, 20_000, 50);
  expect(await contents(replica, ns, keys)).toEqual(await contents(primary, ns, keys));
}

const keysOf = (n: number, prefix = 'k') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('replication', () => {
  test('full sync while writes continue, then streaming; expiry and deletes arrive as deletes', async () => {
    const [primary] = await start('full', 1);
    const [, , epoch] = await electedOne([primary]);
    const keys = keysOf(30_000);
    for (let i = 0; i < keys.length; i++) void set(primary, epoch, 'data', keys[i], `v${i}`.repeat(10), i % 3 === 0 ? 600_000 : 0, i % 5 === 0 ? ['t'] : null);
    await set(primary, epoch, 'data', 'short', 'x', 300);
    const [replica] = await start('full', 1);
    // Writes, deletes and an invalidation continue while the snapshot streams.
    let writing = true;
    const writer = (async () => {
      for (let round = 0; writing; round++) {
        const batch: Promise<unknown>[] = [];
        for (let i = 0; i < 200; i++) batch.push(set(primary, epoch, 'data', keys[(round * 200 + i) % keys.length], `w${round}`));
        batch.push(primary.conn.request(Op.DELETE, epoch, 'data', keys[(round * 7919) % keys.length]));
        if (round === 3) batch.push(primary.conn.request(Op.INVALIDATE, epoch, 'data', 't'));
        await Promise.all(batch);
        await sleep(5);
      }
    })();
    await waitFor('the replica to finish its full sync', async () => (await replica.stats()).replication.syncs.full === 1 && (await replica.stats()).replication.state === 'streaming', 20_000, 50);
    writing = false;
    await writer;
    await converged(primary, replica, 'data', [...keys, 'short']);
    // The short TTL passes: the replica hides the entry, the primary's delete removes it.
    await sleep(400);
    expect((await replica.conn.request(Op.GET, 'data', 'short'))[1]).toBe(Status.MISS);
    await waitFor('the primary to expire the key and replicate the delete', async () => (await replica.stats()).items === (await primary.stats()).items, 5000, 50);
    const p = await primary.stats();
    expect(p.replication.role).toBe('primary');
    expect(p.replication.replicas).toEqual([expect.objectContaining({ nodeId: replica.nodeId, lagBytes: 0 })]);
    // The lag reaches shardctl status through the offsets the nodes publish.
    await waitFor('shardctl status to show the replica caught up', async () => {
      const status = await shardctlInProcess(['status', '--json', '--etcd', suite.etcd.endpoint, '--cluster', 'full']);
      const node = JSON.parse(status.stdout).nodes.find((n: { nodeId: string }) => n.nodeId === replica.nodeId);
      return node?.replication?.lagBytes === 0 && node.replication.offset === p.replication.offset;
    }, 5000, 200);
    const metrics = await (await fetch(`http://127.0.0.1:${primary.proc.ready.adminPort as number}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`shardcache_node_replica_lag_bytes\\{replica="${replica.nodeId}"\\} 0`));
    await Promise.all([close(primary), close(replica)]);
  });

  test('a replica cut off and back continues from its offset (partial resync) while the backlog holds it', async () => {
    const nodes = await start('resume', 2, ['--repl-timeout-ms', '400']);
    const [primary, [replica], epoch] = await electedOne(nodes);
    const keys = keysOf(1000);
    await Promise.all(keys.map((k, i) => set(primary, epoch, 'data', k, `v${i}`, i % 2 ? 600_000 : 0, ['t'])));
    await converged(primary, replica, 'data', keys);
    const before = (await replica.stats()).replication.syncs;
    replica.proc.child.kill('SIGSTOP');
    await waitFor('the primary to drop the frozen replica', async () => (await primary.stats()).replication.replicas.length === 0, 5000, 50);
    await Promise.all(keys.slice(0, 300).map((k) => set(primary, epoch, 'data', k, 'while away', 60_000)));
    await primary.conn.request(Op.DELETE, epoch, 'data', keys[999]);
    await primary.conn.request(Op.EXPIRE, epoch, 'data', keys[998], 5000);
    await primary.conn.request(Op.INCR, epoch, 'data', 'counter', 5, 0);
    replica.proc.child.kill('SIGCONT');
    await converged(primary, replica, 'data', [...keys, 'counter']);
    expect((await replica.stats()).replication.syncs).toEqual({ full: before.full, partial: before.partial + 1 });
    await Promise.all(nodes.map(close));
  });

  test('with a cluster secret, replicas prove it and sync; a connection without it, or with another, is refused', async () => {
    const secret = 'shared-secret-0123456789';
    const nodes = await start('secret', 2, [], 0, secret);
    const [primary, [replica], epoch] = await electedOne(nodes);
    await set(primary, epoch, 'data', 'k', 'v');
    await converged(primary, replica, 'data', ['k']);
    const plain = await NodeConnection.connect(primary.port);
    await expect(plain.request(Op.REPL_SYNC, 'intruder', '127.0.0.1:1', '', 0)).rejects.toThrow(/requires the cluster secret/);
    await expect(NodeConnection.connect(primary.port, '127.0.0.1', undefined, { secret: 'another-secret-0123456789' })).rejects.toThrow(/wrong cluster secret/);
    expect((await primary.stats()).connectionLimits.unauthenticated).toBe(2);
    await plain.close();
    await Promise.all(nodes.map(close));
  });

  test('planned failover: the old primary follows the new one with a partial resync and both converge', async () => {
    const nodes = await start('psync', 2);
    const [primary, [replica], epoch] = await electedOne(nodes);
    const keys = keysOf(2000);
    await Promise.all(keys.map((k, i) => set(primary, epoch, 'data', k, `v${i}`, i % 2 ? 600_000 : 0)));
    await converged(primary, replica, 'data', keys);
    const { kvs } = await suite.client.get(clusterKeys('psync').primary(0)).exec();
    await suite.client.put(clusterKeys('psync').resign(0)).value(JSON.stringify({ epoch: Number(kvs[0].create_revision), requestedAt: Date.now() }));
    const [newPrimary, , newEpoch] = await electedOne(nodes, 15_000);
    expect(newPrimary).toBe(replica);
    await Promise.all(keys.slice(0, 500).map((k) => set(newPrimary, newEpoch, 'data', k, 'after')));
    await converged(newPrimary, primary, 'data', keys);
    const old = await primary.stats();
    expect(old.replication.syncs).toEqual({ full: 0, partial: 1 });
    expect((await newPrimary.stats()).replication.replId2).not.toBe('');
    await Promise.all(nodes.map(close));
  });

  test('writeAck replica: acknowledged only once a replica has it; a frozen replica gives WRITE_ACK_TIMEOUT and the write stays', async () => {
    const nodes = await start('ack', 2, ['--write-ack-timeout-ms', '500']);
    const [primary, [replica], epoch] = await electedOne(nodes);
    await suite.client.put(clusterKeys('ack').namespace('safe')).value(JSON.stringify({ writeAck: 'replica' }));
    await sleep(300);
    await waitFor('streaming', async () => (await replica.stats()).replication.state === 'streaming');
    const ok = await set(primary, epoch, 'safe', 'a', '1');
    expect(ok[1]).toBe(Status.OK);
    // The reply came after the replica acknowledged it, so the replica serves it now.
    expect((await replica.conn.request(Op.GET, 'safe', 'a'))[1]).toBe(Status.OK);
    replica.proc.child.kill('SIGSTOP');
    const t0 = Date.now();
    // One pipelined burst: the read before the write is answered at once, the read behind it waits.
    let aheadAt = 0;
    let lateAt = 0;
    const ahead = primary.conn.request(Op.GET, 'safe', 'a').then((r) => ((aheadAt = Date.now()), r));
    const write = set(primary, epoch, 'safe', 'b', '2').then((r) => ((lateAt = Date.now()), r));
    const [first, late, behind] = await Promise.all([ahead, write, primary.conn.request(Op.GET, 'safe', 'a')]);
    expect(first[1]).toBe(Status.OK);
    expect(aheadAt).toBeLessThan(lateAt);
    expect(late[1]).toBe(Status.WRITE_ACK_TIMEOUT);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    expect(behind[1]).toBe(Status.OK); // the reply behind it kept its order
    expect((await primary.conn.request(Op.GET, 'safe', 'b'))[1]).toBe(Status.OK);
    // Other namespaces do not wait.
    expect((await set(primary, epoch, 'fast', 'c', '3'))[1]).toBe(Status.OK);
    replica.proc.child.kill('SIGCONT');
    // A malformed sync request is refused with a clear error and the connection stays usable;
    // a replica refuses to serve a sync.
    expect((await primary.conn.request(Op.REPL_SYNC, 1, 2))[1]).toBe(Status.BAD_REQUEST);
    expect((await primary.conn.request(Op.PING))[1]).toBe(Status.OK);
    expect((await replica.conn.request(Op.REPL_SYNC, 'x', '127.0.0.1:1', '', 0))[1]).toBe(Status.NOT_PRIMARY);
    expect((await replica.conn.request(Op.REPL_ACK, 5))[1]).toBe(Status.UNKNOWN_OP);
    await Promise.all(nodes.map(close));
  });

  test('kill -9 of the primary: the more up-to-date replica wins, the other follows it partially, no acknowledged data is lost', async () => {
    const nodes = await start('prefer', 3, ['--repl-timeout-ms', '400']);
    const [primary, replicas, epoch] = await electedOne(nodes);
    const keys = keysOf(1000);
    await Promise.all(keys.map((k, i) => set(primary, epoch, 'data', k, `v${i}`)));
    for (const r of replicas) await converged(primary, r, 'data', keys);
    // One replica falls behind: frozen long enough for the primary to drop it, then the
    // primary dies before it can catch up.
    const [behind, ahead] = replicas;
    const fullBefore = (await behind.stats()).replication.syncs.full as number;
    behind.proc.child.kill('SIGSTOP');
    await waitFor('the primary to drop the frozen replica', async () => (await primary.stats()).replication.replicas.length === 1, 5000, 50);
    const later = keysOf(300, 'late');
    await Promise.all(later.map((k) => set(primary, epoch, 'data', k, 'late')));
    await waitFor('the live replica to have the late writes', async () => (await ahead.stats()).replication.offset === (await primary.stats()).replication.offset);
    primary.proc.child.kill('SIGKILL');
    await primary.conn.close().catch(() => undefined);
    behind.proc.child.kill('SIGCONT');
    const [winner, [other]] = await electedOne([behind, ahead], 15_000);
    expect(winner).toBe(ahead);
    await converged(winner, other, 'data', [...keys, ...later]);
    expect((await other.stats()).replication.syncs.full).toBe(fullBefore); // it continued partially
    expect((await contents(winner, 'data', later)).every((e) => e !== null)).toBe(true);
    await Promise.all([behind, ahead].map(close));
  });

  test('a returning old primary discards the writes the new primary never saw', async () => {
    const nodes = await start('diverge', 2, ['--repl-timeout-ms', '400']);
    const [primary, [replica], epoch] = await electedOne(nodes);
    const keys = keysOf(500);
    await Promise.all(keys.map((k) => set(primary, epoch, 'data', k, 'before')));
    await converged(primary, replica, 'data', keys);
    // The replica is cut off (frozen until the primary drops it); the primary takes writes
    // nobody else sees, then freezes itself before the replica can come back.
    replica.proc.child.kill('SIGSTOP');
    await waitFor('the primary to drop the frozen replica', async () => (await primary.stats()).replication.replicas.length === 0, 5000, 50);
    const lost = keysOf(50, 'lost');
    await Promise.all(lost.map((k) => set(primary, epoch, 'data', k, 'diverged')));
    primary.proc.child.kill('SIGSTOP');
    replica.proc.child.kill('SIGCONT');
    await waitFor('the replica to take over', async () => (await replica.stats()).role === 'primary', 15_000, 50);
    const newEpoch = (await replica.stats()).epoch as number;
    await set(replica, newEpoch, 'data', keys[0], 'after');
    primary.proc.child.kill('SIGCONT');
    await converged(replica, primary, 'data', [...keys, ...lost]);
    expect(await contents(primary, 'data', lost)).toEqual(lost.map(() => null));
    expect((await primary.stats()).replication.syncs.full).toBe(1);
    await Promise.all(nodes.map(close));
  });
});
