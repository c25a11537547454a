import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys } from '../../shared/topology/schema';
import { FakeShard } from '../helpers/fake-shard';
import { TestEtcd } from '../helpers/etcd';
import { startProgram, type Started } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';

const CONTROL = 'control-plane/main.js';
const CLUSTER = 'svc';
let etcd: TestEtcd;
let client: Etcd3;
let service: Started;
let base: string;
const shards: FakeShard[] = [];

beforeAll(async () => {
  etcd = await TestEtcd.start();
  client = connectEtcd(etcd.endpoint);
  service = await startProgram(CONTROL, ['--etcd', etcd.endpoint, '--cluster', CLUSTER, '--admin-port', '0']);
  base = `http://127.0.0.1:${service.ready.adminPort as number}`;
});

afterAll(async () => {
  for (const shard of shards) await shard.close();
  const exit = await service?.stop();
  client?.close();
  await etcd?.stop();
  expect(exit).toEqual({ code: 0, signal: null });
});

const get = async (path: string): Promise<{ status: number; text: string; type: string | null }> => {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
};

/** Polls until `test` holds for the response to `path`. */
async function until(path: string, test: (r: { status: number; text: string }) => boolean, ms = 10_000): Promise<{ status: number; text: string }> {
  const end = Date.now() + ms;
  for (;;) {
    const r = await get(path);
    if (test(r)) return r;
    if (Date.now() > end) throw new Error(`${path} never matched; last: ${r.status} ${r.text.slice(0, 300)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

describe('control-plane service', () => {
  test('before init: healthz 503, status says not initialised', async () => {
    const health = await until('/healthz', (r) => r.text.includes('not initialised'));
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ ok: false, reason: `cluster "${CLUSTER}" is not initialised` });
    const status = await get('/v1/status');
    expect(status.status).toBe(200);
    expect(JSON.parse(status.text)).toMatchObject({ cluster: CLUSTER, initialised: false, shards: [], nodes: [] });
    expect((await get('/static')).text).toContain('Cluster not initialised');
  });

  test('after init and node registrations: healthz 200 and /v1/status equals shardctl status --json', async () => {
    expect((await shardctlInProcess(['init', '--shards', '2', '--replicas', '1', '--etcd', etcd.endpoint, '--cluster', CLUSTER])).code).toBe(0);
    shards.push(await new FakeShard(client, CLUSTER, 0, ['a0', 'b0']).start(), await new FakeShard(client, CLUSTER, 1, ['a1', 'b1']).start());
    const health = await until('/healthz', (r) => r.status === 200 && JSON.parse(r.text).unhealthyShards.length === 0);
    expect(JSON.parse(health.text)).toMatchObject({ ok: true, cluster: CLUSTER, unhealthyShards: [] });

    const cli = await shardctlInProcess(['status', '--json', '--etcd', etcd.endpoint, '--cluster', CLUSTER]);
    const fromCli = JSON.parse(cli.stdout);
    // The CLI reads etcd's current revision, which a write outside the watched keys (the control
    // plane's own driver record, under its lease) can put past any event the service's watcher sees: the
    // documents are compared apart from it, and the service's may not be ahead of the CLI's.
    const withoutRevision = ({ revision: _r, ...rest }: { revision: number }): object => rest;
    const served = await until('/v1/status', (r) => JSON.stringify(withoutRevision(JSON.parse(r.text))) === JSON.stringify(withoutRevision(fromCli)));
    expect(withoutRevision(JSON.parse(served.text))).toEqual(withoutRevision(fromCli));
    expect(JSON.parse(served.text).revision).toBeLessThanOrEqual(fromCli.revision);
    expect(fromCli.shards.map((s: any) => [s.shardId, s.primary.nodeId, s.replicas.length, s.healthy])).toEqual([[0, 'a0', 1, true], [1, 'a1', 1, true]]);
  });

  test('metrics and the status page follow the topology', async () => {
    const metrics = await get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metric(metrics.text, 'shardcache_control_shards')).toBe(2);
    expect(metric(metrics.text, 'shardcache_control_shards_without_primary')).toBe(0);
    expect(metric(metrics.text, 'shardcache_control_live_nodes')).toBe(4);
    expect(metric(metrics.text, 'shardcache_control_topology_revision')).toBeGreaterThan(1);
    const page = await get('/static');
    expect(page.type).toContain('text/html');
    expect(page.text).toContain('all shards healthy');
    expect(page.text).toContain('<td>a0 (127.0.0.1:17000)</td>');

    await shards[1].close(); // shard 1 loses both nodes and its primary
    const after = await until('/metrics', (r) => metric(r.text, 'shardcache_control_shards_without_primary') === 1);
    expect(metric(after.text, 'shardcache_control_live_nodes')).toBe(2);
    expect(JSON.parse((await get('/healthz')).text).unhealthyShards).toEqual([1]);
    expect((await get('/static')).text).toContain('1 unhealthy');
    expect((await get('/nope')).status).toBe(404);
  });

  test('keeps serving its last snapshot through an etcd restart and catches up after', async () => {
    await etcd.restart(300);
    expect((await get('/healthz')).status).toBe(200);
    expect((await shardctlInProcess(['ns', 'set', 'app', '--eviction', 'lfu', '--etcd', etcd.endpoint, '--cluster', CLUSTER])).code).toBe(0);
    // The namespace's own revision, not etcd's: a write outside the watched keys (the migration
    // driver taking its lease again after the restart) moves etcd's revision past any event the
    // service sees, which made a comparison with `shardctl status`'s revision fail now and then.
    const nsRevision = Number((await client.get(clusterKeys(CLUSTER).namespace('app')).exec()).kvs[0].mod_revision);
    await until('/v1/status', (r) => JSON.parse(r.text).revision >= nsRevision, 15_000);
  });
});

test('control plane started while etcd is down: ready, 503, then healthy once etcd is back', async () => {
  await etcd.halt();
  const early = await startProgram(CONTROL, ['--etcd', etcd.endpoint, '--cluster', CLUSTER, '--admin-port', '0']);
  try {
    const url = `http://127.0.0.1:${early.ready.adminPort as number}/healthz`;
    expect((await fetch(url)).status).toBe(503);
    await etcd.restart();
    const end = Date.now() + 15_000;
    while ((await fetch(url)).status !== 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect((await fetch(url)).status).toBe(200);
  } finally {
    expect(await early.stop()).toEqual({ code: 0, signal: null });
  }
});
