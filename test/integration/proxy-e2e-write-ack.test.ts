import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

jest.setTimeout(60_000);

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster({ shards: 1, perShard: 2, cluster: 'wack', nodeArgs: ['--write-ack-timeout-ms', '300'] });
}, 40_000);

afterAll(async () => {
  for (const n of c?.nodes.flat() ?? []) n.proc.child.kill('SIGCONT');
  await c?.stop();
});

test('writeAck replica through the proxy: 201 once a replica has the write, 504 WRITE_ACK_TIMEOUT while none answers', async () => {
  const set = await shardctlInProcess(['ns', 'set', 'safe', '--write-ack', 'replica', '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);
  expect(set.code).toBe(0);
  const nodes = c.nodes[0];
  const stats = await Promise.all(nodes.map((n) => n.stats()));
  const replica = nodes[stats.findIndex((s) => s.role === 'replica')];
  await waitFor('the replica to stream', async () => (await replica.stats()).replication.state === 'streaming');
  const ok = await c.call('PUT', '/v1/cache/safe/a', { value: 1 });
  expect(ok.status).toBe(201);
  replica.proc.child.kill('SIGSTOP');
  try {
    // (Retried with fresh keys until the policy has reached the primary through its watch.)
    let n = 0;
    const late = await waitFor('a 504', async () => {
      const answer = await c.call('PUT', `/v1/cache/safe/b${n++}`, { value: 2 });
      return answer.status === 504 ? answer : null;
    }, 5000, 10);
    expect(late.json.error.code).toBe('WRITE_ACK_TIMEOUT');
    // The write is on the primary all the same.
    expect((await c.call('GET', `/v1/cache/safe/b${n - 1}`)).json).toMatchObject({ hit: true, value: 2 });
    // A namespace with the default policy does not wait.
    expect((await c.call('PUT', '/v1/cache/other/c', { value: 3 })).status).toBe(201);
  } finally {
    replica.proc.child.kill('SIGCONT');
  }
});
