import fs from 'node:fs';
import { freeRange } from '../helpers/etcd';
import { alive, runProgram, startProgram, type Started } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';

const RUNNER = 'scripts/local-cluster.js';
const SHARDCTL = 'control-plane/cli/shardctl.js';
jest.setTimeout(55_000);

let runner: Started | undefined;
let children: Array<{ name: string; pid: number }> = [];

afterAll(async () => {
  await runner?.stop(10_000);
  for (const c of children) if (alive(c.pid)) process.kill(c.pid, 'SIGKILL');
});

test('npm start runner: 3 shards × 2 nodes, the control plane and the proxy, failover, clean stop', async () => {
  // One block of free ports, so no two of them can coincide: etcd, etcd peer, control, 6 node ports, 6 admin ports, proxy client, admin and RESP.
  const base = await freeRange(18);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort] = [base, base + 1, base + 2, base + 3, base + 9, base + 15, base + 16, base + 17];
  const etcd = `127.0.0.1:${etcdPort}`;
  runner = await startProgram(RUNNER, [
    '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`,
    '--node-base-port', `${nodeBase}`, '--node-admin-base-port', `${adminBase}`, '--shards', '3', '--replicas', '1', '--lease-ttl', '2',
    '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 40_000);
  children = runner.ready.children as typeof children;
  const dataDir = runner.ready.dataDir as string;
  expect(children.map((c) => c.name)).toEqual(['etcd', 'shard0-a', 'shard0-b', 'shard1-a', 'shard1-b', 'shard2-a', 'shard2-b', 'control-plane', 'proxy']);
  expect(runner.lines.join('\n')).toMatch(/^control-plane +\d+ +- +http:\/\/127\.0\.0\.1:\d+\//m);
  expect(runner.lines.join('\n')).toMatch(new RegExp(`^proxy +\\d+ +- +http://127\\.0\\.0\\.1:${httpPort}/v1/cache`, 'm'));

  // The proxy is healthy (the runner waited for its /healthz) and serves the cache.
  expect((await fetch(`http://127.0.0.1:${proxyAdminPort}/healthz`)).status).toBe(200);
  const put = await fetch(`http://127.0.0.1:${httpPort}/v1/cache/demo/hello`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value":"world"}' });
  expect(put.status).toBe(201);
  expect(await (await fetch(`http://127.0.0.1:${httpPort}/v1/cache/demo/hello`)).json()).toMatchObject({ hit: true, value: 'world' });

  // Every shard gets a primary and a live replica.
  let doc: any;
  for (const end = Date.now() + 20_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    doc = JSON.parse((await shardctlInProcess(['status', '--json', '--etcd', etcd])).stdout);
    if (doc.shards.length === 3 && doc.shards.every((s: any) => s.healthy && s.primary && s.replicas.length === 1)) break;
  }
  const status = await runProgram(SHARDCTL, ['status', '--json', '--etcd', etcd]);
  expect(status.code).toBe(0);
  doc = JSON.parse(status.stdout);
  expect(doc.shards.map((s: any) => [s.shardId, s.healthy, s.primary !== null, s.replicas.length])).toEqual([[0, true, true, 1], [1, true, true, 1], [2, true, true, 1]]);
  expect(doc.nodes.filter((n: any) => n.live)).toHaveLength(6);
  const health = await fetch(`http://127.0.0.1:${controlPort}/healthz`);
  expect(health.status).toBe(200);

  // Failover of shard 0 through real nodes: the replica takes over with a higher epoch.
  const before = doc.shards[0];
  const failover = await runProgram(SHARDCTL, ['failover', '0', '--timeout', '20', '--etcd', etcd]);
  expect(failover).toMatchObject({ code: 0 });
  const after = JSON.parse((await shardctlInProcess(['status', '--json', '--etcd', etcd])).stdout).shards[0];
  expect(after.primary.nodeId).toBe(before.replicas[0].nodeId);
  expect(after.primary.epoch).toBeGreaterThan(before.primary.epoch);
  expect(failover.stdout).toContain(`shard 0: ${before.primary.nodeId} (${before.primary.addr}, epoch ${before.primary.epoch}) -> ${after.primary.nodeId}`);

  // A child that dies is logged and the runner stays up.
  const victim = children.find((c) => c.name === doc.shards[2].replicas[0].nodeId)!;
  process.kill(victim.pid, 'SIGKILL');
  for (const end = Date.now() + 5000; Date.now() < end && !runner.lines.some((l) => l.includes('exited unexpectedly')); ) await new Promise((r) => setTimeout(r, 50));
  expect(runner.lines).toContainEqual(expect.stringMatching(new RegExp(`^local-cluster: ${victim.name} \\(pid ${victim.pid}\\) exited unexpectedly with SIGKILL; see .*${victim.name}\\.log$`)));
  expect(runner.child.exitCode).toBeNull();

  // SIGTERM: exit 0, no child left, temporary data removed.
  const exit = await runner.stop(15_000);
  runner = undefined;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
  expect(fs.existsSync(dataDir)).toBe(false);
});

test('runner refuses bad flags and explains how to get etcd', async () => {
  const [bad, noEtcd] = await Promise.all([
    runProgram(RUNNER, ['--shards', '0']),
    runProgram(RUNNER, ['--etcd-port', '1'], { PATH: '/nonexistent' }),
  ]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("option '--shards <n>' argument '0' is invalid");
  expect(noEtcd.code).toBe(1);
  expect(noEtcd.stderr).toContain('etcd is not on the PATH. Install it (Debian/Ubuntu: apt-get install -y etcd-server)');
});
