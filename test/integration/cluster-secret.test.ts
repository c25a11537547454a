import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NodeConnection } from '../../shared/node-connection';
import { Op } from '../../shared/protocol';
import { httpCall, startProxyProcess, startTestCluster, type TestCluster } from '../helpers/cluster';
import { startProgram } from '../helpers/process';
import { waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * A cluster whose nodes require the cluster secret (processes, real etcd): the proxy's links and
 * invalidation subscriptions, replication and a slot migration driven by the control plane all
 * prove it; a proxy without it cannot reach the data, and a raw connection without it is closed
 * after its first frame.
 */
jest.setTimeout(120_000);

const SECRET = 'cluster-secret-for-tests-0123';
let c: TestCluster;
let dir: string;
const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-secret-'));
  c = await startTestCluster({ shards: 2, perShard: 2, cluster: 'secret', access: { secret: SECRET } });
}, 60_000);

afterAll(async () => {
  await c?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the proxy proves the secret: writes, reads and replica reads work', async () => {
  for (let i = 0; i < 50; i++) expect((await c.call('PUT', `/v1/cache/app/k${i}`, { value: i })).status).toBe(201);
  for (let i = 0; i < 50; i++) expect((await c.call('GET', `/v1/cache/app/k${i}`)).json).toMatchObject({ hit: true, value: i });
  await waitFor('the replicas to have the writes', async () => (await c.call('GET', '/v1/cache/app/k49?readPreference=replica')).json?.hit === true, 10_000, 50);
});

test('near-cache invalidations arrive over a subscription that proved the secret', async () => {
  expect((await ctl('hotkey', 'add', 'app', 'hot', '--mode', 'near-cache', '--ttl-ms', '60000')).code).toBe(0);
  await c.call('PUT', '/v1/cache/app/hot', { value: 'one' });
  await waitFor('the near cache to serve the key', async () => {
    await c.call('GET', '/v1/cache/app/hot');
    const report = (await httpCall(c.adminUrl, 'GET', '/v1/admin/hotkeys')).json;
    return report?.nearCache?.entries > 0;
  }, 10_000, 100);
  await c.call('PUT', '/v1/cache/app/hot', { value: 'two' });
  await waitFor('the write to invalidate the near cache', async () => (await c.call('GET', '/v1/cache/app/hot')).json?.value === 'two', 5000, 20);
});

test('a proxy without the secret cannot reach the nodes; a raw connection without it is closed', async () => {
  const outsider = await startProxyProcess(c.etcd.endpoint, c.cluster);
  try {
    // Once the outsider has the topology, its request reaches a node, which refuses the link.
    let res = await httpCall(outsider.httpUrl, 'GET', '/v1/cache/app/k1');
    await waitFor('the outsider to load the topology', async () => {
      res = await httpCall(outsider.httpUrl, 'GET', '/v1/cache/app/k1');
      return !/no topology yet/.test(res.json?.error?.message ?? '');
    }, 10_000, 100);
    expect(res.status).toBe(503);
    expect(res.json?.error?.code).toMatch(/^(NODE_)?UNAVAILABLE$/);
    expect(res.json?.error?.message).not.toMatch(/no topology/);
  } finally {
    await outsider.proc.stop();
  }
  const raw = await NodeConnection.connect(c.nodes[0][0].port);
  await expect(raw.request(Op.GET, 'app', 'k1')).rejects.toThrow(/requires the cluster secret/);
  await raw.close();
  // Before the handshake a frame may be no larger than HELLO or AUTH: a 64 KB one is refused the same way.
  const big = await NodeConnection.connect(c.nodes[0][0].port);
  await expect(big.request(Op.SET, 0, 'app', 'k1', Buffer.alloc(64 * 1024), 0, 0, 0, 0, null)).rejects.toThrow(/requires the cluster secret/);
  await big.close();
});

test('a slot migration driven by the control plane proves the secret at both ends', async () => {
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, `${SECRET}\n`);
  const control = await startProgram('control-plane/main.js', ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, '--admin-port', '0', '--cluster-secret-file', file]);
  try {
    await waitFor('the control plane to drive migrations', async () => (await httpCall(`http://127.0.0.1:${control.ready.adminPort as number}`, 'GET', '/v1/migrations')).json?.driver?.leader === true, 10_000, 50);
    const moved = await ctl('migrate', '0-2047', '--to', '1', '--max-bytes-per-sec', '0', '--timeout', '60');
    expect([moved.code, moved.stderr]).toEqual([0, '']);
    const list = JSON.parse((await ctl('migrations', '--json')).stdout) as Array<{ state: string; keys: number }>;
    expect(list.map((m) => m.state)).toEqual(['committed']);
    for (let i = 0; i < 50; i++) expect((await c.call('GET', `/v1/cache/app/k${i}`)).json).toMatchObject({ hit: true, value: i });
  } finally {
    await control.stop();
  }
});
