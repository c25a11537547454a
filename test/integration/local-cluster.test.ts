import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import Redis from 'ioredis';
import type { LocalTls } from '../../scripts/tls-certs';
import { NodeConnection } from '../../shared/node-connection';
import { Op, Status } from '../../shared/protocol';
import { clientTlsOptions } from '../../shared/tls';
import { freeRange } from '../helpers/etcd';
import { alive, ROOT, runProgram, startProgram, type Started } from '../helpers/process';
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

test('npm start runner: 3 shards × 2 nodes and a spare shard, the control plane and the proxy, failover, shard add + rebalance, clean stop', async () => {
  // One block of free ports, so no two of them can coincide: etcd, etcd peer, control, 8 node ports, 8 admin ports, proxy client, admin and RESP.
  const base = await freeRange(22);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort] = [base, base + 1, base + 2, base + 3, base + 11, base + 19, base + 20, base + 21];
  const etcd = `127.0.0.1:${etcdPort}`;
  runner = await startProgram(RUNNER, [
    '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`,
    '--node-base-port', `${nodeBase}`, '--node-admin-base-port', `${adminBase}`, '--shards', '3', '--replicas', '1', '--lease-ttl', '2', '--spare-shards', '1',
    '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 40_000);
  children = runner.ready.children as typeof children;
  const dataDir = runner.ready.dataDir as string;
  expect(children.map((c) => c.name)).toEqual(['etcd', 'shard0-a', 'shard0-b', 'shard1-a', 'shard1-b', 'shard2-a', 'shard2-b', 'shard3-a', 'shard3-b', 'control-plane', 'proxy']);
  expect(runner.lines.join('\n')).toMatch(/spare shard 3: 127\.0\.0\.1:\d+, 127\.0\.0\.1:\d+ \(owns no slots; add it with: npx shardctl shard add 3 && npx shardctl rebalance\)/);
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
    if (doc.shards.length === 4 && doc.shards.every((s: any) => s.healthy && s.primary && s.replicas.length === 1)) break;
  }
  const status = await runProgram(SHARDCTL, ['status', '--json', '--etcd', etcd]);
  expect(status.code).toBe(0);
  doc = JSON.parse(status.stdout);
  expect(doc.shards.map((s: any) => [s.shardId, s.primary !== null, s.replicas.length])).toEqual([[0, true, 1], [1, true, 1], [2, true, 1], [3, true, 1]]);
  expect(doc.shards[3].slots).toEqual([]); // the spare shard owns no slots yet
  expect(doc.nodes.filter((n: any) => n.live)).toHaveLength(8);
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

  // The newcomer's path: add the spare shard and rebalance; a quarter of the slots move to it, the data stays readable.
  expect((await runProgram(SHARDCTL, ['shard', 'add', '3', '--etcd', etcd])).code).toBe(0);
  const rebalance = await runProgram(SHARDCTL, ['rebalance', '--etcd', etcd, '--timeout', '60']);
  expect(rebalance).toMatchObject({ code: 0, stderr: '' });
  const moved = JSON.parse((await shardctlInProcess(['status', '--json', '--etcd', etcd])).stdout).shards[3];
  expect(moved.slots.reduce((n: number, [a, b]: [number, number]) => n + b - a + 1, 0)).toBe(4096);
  expect(await (await fetch(`http://127.0.0.1:${httpPort}/v1/cache/demo/hello`)).json()).toMatchObject({ hit: true, value: 'world' });

  // A child that dies is logged and restarted (--restart is the default) on the same ports: it rejoins its shard as a replica.
  const victimId = doc.shards[2].replicas[0].nodeId as string;
  const victim = children.find((c) => c.name === victimId)!;
  const victimAdmin = `http://127.0.0.1:${adminBase + children.indexOf(victim) - 1}/healthz`; // children[0] is etcd, then the nodes in port order
  expect((await fetch(victimAdmin)).status).toBe(200);
  process.kill(victim.pid, 'SIGKILL');
  const restarted = await waitForLine(runner, (l) => l.includes(`"event":"restarted","name":"${victimId}"`), 5000);
  const fresh = JSON.parse(restarted) as { name: string; pid: number; attempt: number };
  children.push(fresh);
  expect(fresh).toMatchObject({ name: victimId, attempt: 1 });
  expect(fresh.pid).not.toBe(victim.pid);
  expect(runner.lines).toContainEqual(expect.stringMatching(new RegExp(`^local-cluster: ${victim.name} \\(pid ${victim.pid}\\) exited unexpectedly with SIGKILL; see .*${victim.name}\\.log$`)));
  expect(runner.lines).toContain(`local-cluster: restarting ${victimId} (exited with SIGKILL) in 500 ms, attempt 1`);
  let back: any;
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    back = await fetch(victimAdmin).then((r) => (r.ok ? r.json() : undefined), () => undefined);
    if (back) break;
  }
  expect(back).toMatchObject({ ok: true });
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    doc = JSON.parse((await shardctlInProcess(['status', '--json', '--etcd', etcd])).stdout);
    if (doc.shards[2].replicas.some((r: any) => r.nodeId === victimId)) break;
  }
  expect(doc.shards[2].replicas.map((r: any) => r.nodeId)).toEqual([victimId]);
  expect(runner.child.exitCode).toBeNull();

  // A restart still waiting out its backoff is cancelled by the shutdown: kill a node, then SIGTERM at once.
  const second = children.find((c) => c.name === doc.shards[1].replicas[0].nodeId)!;
  process.kill(second.pid, 'SIGKILL');
  await waitForLine(runner, (l) => l.startsWith(`local-cluster: restarting ${second.name} `), 5000);

  // SIGTERM: exit 0, no child left (restarted ones included), no restart during the shutdown, temporary data removed.
  const exit = await runner.stop(15_000);
  expect(exit).toEqual({ code: 0, signal: null });
  // Every program it ever started is gone, restarted ones included (a machine slow enough may have
  // restarted the second node before the SIGTERM: that one must be stopped too).
  for (const line of runner.lines.filter((l) => l.includes('"event":"restarted"'))) children.push(JSON.parse(line) as { name: string; pid: number });
  runner = undefined;
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
  expect(fs.existsSync(dataDir)).toBe(false);
});

test('npm start -- --no-restart: a node that dies is reported and stays down', async () => {
  const base = await freeRange(8);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort] = [base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7];
  runner = await startProgram(RUNNER, [
    '--no-restart', '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`, '--node-base-port', `${nodeBase}`,
    '--node-admin-base-port', `${adminBase}`, '--shards', '1', '--replicas', '0', '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 40_000);
  children = runner.ready.children as typeof children;
  const victim = children.find((c) => c.name === 'shard0-a')!;
  process.kill(victim.pid, 'SIGKILL');
  await waitForLine(runner, (l) => l.includes(`${victim.name} (pid ${victim.pid}) exited unexpectedly with SIGKILL`), 5000);
  await new Promise((r) => setTimeout(r, 1500)); // three times the first backoff
  expect(runner.lines.filter((l) => /restart/.test(l))).toEqual([]);
  expect(await fetch(`http://127.0.0.1:${adminBase}/healthz`).then((r) => r.status, () => 'refused')).toBe('refused');
  expect(runner.child.exitCode).toBeNull();

  const exit = await runner.stop(15_000);
  runner = undefined;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
});

test('npm start -- --prometheus: Prometheus scrapes the started cluster on its real ports, is restarted like the others and stopped with them', async () => {
  if (spawnSync('prometheus', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status !== 0) {
    throw new Error('prometheus not on the PATH: apt-get install --no-install-recommends prometheus');
  }
  const base = await freeRange(9);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort, promPort] = [base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, base + 7, base + 8];
  runner = await startProgram(RUNNER, [
    '--prometheus', '--prometheus-port', `${promPort}`, '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`, '--node-base-port', `${nodeBase}`,
    '--node-admin-base-port', `${adminBase}`, '--shards', '1', '--replicas', '0', '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 40_000);
  children = runner.ready.children as typeof children;
  expect(children.map((c) => c.name)).toEqual(['etcd', 'shard0-a', 'control-plane', 'proxy', 'prometheus']);
  const dataDir = runner.ready.dataDir as string;
  const api = `http://127.0.0.1:${promPort}`;
  const printed = runner.lines.join('\n');
  expect(printed).toContain(`local-cluster: prometheus: ${api} `);
  expect(printed).toContain(`config ${dataDir}/prometheus/prometheus.yml, TSDB ${dataDir}/prometheus/data`);
  expect(printed).toContain(`local-cluster: prometheus alerts file: ${ROOT}/deploy/prometheus/alerts.yml`);
  expect(printed).toContain(`local-cluster: grafana dashboard JSON: ${ROOT}/deploy/grafana/shardcache.json`);
  expect(printed).toMatch(new RegExp(`^prometheus +\\d+ +- +http://127\\.0\\.0\\.1:${promPort}/ \\(4 targets`, 'm'));

  // Every target of the cluster it started is up: etcd, the node, the proxy and the control plane on their real ports (the first scrape can take one 15 s interval).
  const targets = async (): Promise<Array<{ labels: Record<string, string>; health: string }>> =>
    fetch(`${api}/api/v1/targets`, { signal: AbortSignal.timeout(3000) }).then(async (r) => ((await r.json()) as any).data.activeTargets, () => []);
  let active: Array<{ labels: Record<string, string>; health: string }> = [];
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
    active = await targets();
    if (active.length === 4 && active.every((t) => t.health === 'up')) break;
  }
  expect(active.map((t) => [t.labels.job, t.labels.instance, t.health]).sort()).toEqual([
    ['shardcache-control-plane', `127.0.0.1:${controlPort}`, 'up'],
    ['shardcache-etcd', `127.0.0.1:${etcdPort}`, 'up'],
    ['shardcache-node', `127.0.0.1:${adminBase}`, 'up'],
    ['shardcache-proxy', `127.0.0.1:${proxyAdminPort}`, 'up'],
  ]);
  expect(active.find((t) => t.labels.job === 'shardcache-node')!.labels).toMatchObject({ node: 'shard0-a', shard: '0' });
  // alerts.yml is loaded from the repository.
  const groups = ((await (await fetch(`${api}/api/v1/rules`)).json()) as any).data.groups as Array<{ file: string }>;
  expect(groups.length).toBeGreaterThan(0);
  expect(groups.every((g) => g.file === `${ROOT}/deploy/prometheus/alerts.yml`)).toBe(true);

  // Supervised like the others: killed, it is started again on the same port and data dir.
  const prom = children.find((c) => c.name === 'prometheus')!;
  process.kill(prom.pid, 'SIGKILL');
  const fresh = JSON.parse(await waitForLine(runner, (l) => l.includes('"event":"restarted","name":"prometheus"'), 5000)) as { name: string; pid: number };
  children.push(fresh);
  let ready = false;
  for (const end = Date.now() + 15_000; !ready && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    ready = await fetch(`${api}/-/ready`).then((r) => r.ok, () => false);
  }
  expect(ready).toBe(true);

  // SIGTERM: exit 0, Prometheus (the restarted one too) stopped with the cluster, no child left, temporary data removed.
  const exit = await runner.stop(15_000);
  runner = undefined;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
  expect(fs.existsSync(dataDir)).toBe(false);
}, 80_000);

/** Waits until the runner printed a line matching `match`; returns it. */
async function waitForLine(started: Started, match: (line: string) => boolean, timeoutMs: number): Promise<string> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const line = started.lines.find(match);
    if (line) return line;
  }
  throw new Error(`no matching line within ${timeoutMs} ms; the runner printed:\n${started.lines.join('\n')}`);
}

test('npm start -- --tls: a throwaway CA and a cluster secret; etcd, HTTPS/RESP on the proxy and node links over TLS; shard add + rebalance with the printed environment', async () => {
  const base = await freeRange(10);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort] = [base, base + 1, base + 2, base + 3, base + 5, base + 7, base + 8, base + 9];
  const etcd = `127.0.0.1:${etcdPort}`;
  runner = await startProgram(RUNNER, [
    '--tls', '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`, '--node-base-port', `${nodeBase}`,
    '--node-admin-base-port', `${adminBase}`, '--shards', '1', '--replicas', '0', '--spare-shards', '1', '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 40_000);
  children = runner.ready.children as typeof children;
  expect(children.map((c) => c.name)).toEqual(['etcd', 'shard0-a', 'shard1-a', 'control-plane', 'proxy']);
  const dataDir = runner.ready.dataDir as string;
  const tls = runner.ready.tls as LocalTls;
  expect(tls.caFile).toBe(`${dataDir}/tls/ca.pem`);
  const printed = runner.lines.join('\n');
  expect(printed).toContain(`curl --cacert ${tls.caFile} https://127.0.0.1:${httpPort}/v1/cache/app/greeting`);
  expect(printed).toContain(`redis-cli --tls --cacert ${tls.caFile} -p ${respPort} ping`);
  expect(printed).toMatch(new RegExp(`^proxy +\\d+ +- +https://127\\.0\\.0\\.1:${httpPort}/v1/cache, wss://.*rediss://`, 'm'));
  expect(printed).toMatch(/^etcd +\d+ +- +client https:\/\//m);
  expect(printed).toMatch(new RegExp(`^shard0-a +\\d+ +shard 0 primary +frames tls://127\\.0\\.0\\.1:${nodeBase},`, 'm'));

  // The cluster secret: a 0600 file in the data dir, its path passed on and printed, never its content.
  const secretFile = runner.ready.clusterSecretFile as string;
  expect(secretFile).toBe(`${dataDir}/cluster-secret`);
  expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
  const secret = fs.readFileSync(secretFile, 'utf8').split('\n')[0];
  expect(secret.length).toBeGreaterThanOrEqual(16);
  expect(printed).not.toContain(secret);
  for (const c of children.filter((c) => c.name !== 'etcd')) expect(fs.readFileSync(`${dataDir}/logs/${c.name}.log`, 'utf8')).not.toContain(secret);

  // Writes and reads through the proxy: HTTPS to the proxy, mutual TLS and the secret to the node.
  const ca = fs.readFileSync(tls.caFile);
  for (let i = 0; i < 16; i++) expect((await httpsCall(`https://127.0.0.1:${httpPort}/v1/cache/demo/k${i}`, ca, `{"value":${i}}`)).status).toBe(201);
  expect(JSON.parse((await httpsCall(`https://127.0.0.1:${httpPort}/v1/cache/demo/k3`, ca)).body)).toMatchObject({ hit: true, value: 3 });
  const redis = new Redis({ host: '127.0.0.1', port: respPort, tls: { ca }, lazyConnect: true, maxRetriesPerRequest: 0 });
  await redis.connect();
  expect(await redis.get('demo:nope')).toBeNull();
  redis.disconnect();
  // A node's frame port takes no plain TCP; with the client certificate and the secret it answers.
  await expect(NodeConnection.connect(nodeBase, '127.0.0.1', undefined, { secret })).rejects.toThrow(/closed the connection/);
  const access = { secret, tls: clientTlsOptions({ ca, cert: fs.readFileSync(tls.clientCertFile), key: fs.readFileSync(tls.clientKeyFile) }) };
  const link = await NodeConnection.connect(nodeBase, '127.0.0.1', undefined, access);
  expect((await link.request(Op.PING))[1]).toBe(Status.OK);
  await link.close();

  // shardctl with the environment the runner printed (and no flags): status, shard add, rebalance over the TLS node links.
  const env = Object.fromEntries([...printed.slice(printed.indexOf('  export ')).matchAll(/(SHARDCACHE_[A-Z_]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  expect(env).toEqual({
    SHARDCACHE_ETCD: etcd, SHARDCACHE_CLUSTER: 'default', SHARDCACHE_ETCD_CA: tls.caFile, SHARDCACHE_ETCD_CERT: tls.clientCertFile, SHARDCACHE_ETCD_KEY: tls.clientKeyFile,
    SHARDCACHE_NODE_TLS_CA: tls.caFile, SHARDCACHE_NODE_TLS_CERT: tls.clientCertFile, SHARDCACHE_NODE_TLS_KEY: tls.clientKeyFile, SHARDCACHE_CLUSTER_SECRET_FILE: secretFile,
  });
  expect(JSON.parse((await runProgram(SHARDCTL, ['status', '--json'], env)).stdout).shards[0].primary).not.toBeNull();
  expect((await shardctlInProcess(['status', '--etcd', etcd])).code).toBe(2); // no client certificate: etcd refuses
  expect((await runProgram(SHARDCTL, ['shard', 'add', '1'], env)).code).toBe(0);
  const rebalance = await runProgram(SHARDCTL, ['rebalance', '--timeout', '60'], env, 70_000);
  expect(rebalance.code).toBe(0);
  expect(rebalance.stdout).toMatch(/^shard 0 -> shard 1: slots .*, [1-9][\d,]* keys\)$/m); // the nodes' slot figures, read over TLS with the secret
  expect(rebalance.stdout).toMatch(/committed/);
  const moved = JSON.parse((await runProgram(SHARDCTL, ['status', '--json'], env)).stdout).shards[1];
  expect(moved.slots.reduce((n: number, [a, b]: [number, number]) => n + b - a + 1, 0)).toBe(8192);
  for (let i = 0; i < 16; i++) expect(JSON.parse((await httpsCall(`https://127.0.0.1:${httpPort}/v1/cache/demo/k${i}`, ca)).body)).toMatchObject({ hit: true, value: i });

  const exit = await runner.stop(15_000);
  runner = undefined;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
  expect(fs.existsSync(dataDir)).toBe(false);
});

/** One HTTPS request trusting `ca`; a body makes it a JSON PUT. */
function httpsCall(url: string, ca: Buffer, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, agent: false, method: body ? 'PUT' : 'GET', headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('npm start -- --regions 2: two whole regions with their own etcd and ports, a write in r1 invalidates the key in r2, SIGTERM leaves nothing', async () => {
  // r1 on the flags' ports, r2 on each of them + 10 (--region-port-step 10): one block of 20 free ports.
  const base = await freeRange(20);
  const [etcdPort, etcdPeerPort, controlPort, nodeBase, adminBase, httpPort, proxyAdminPort, respPort] = [base, base + 1, base + 2, base + 3, base + 5, base + 7, base + 8, base + 9];
  runner = await startProgram(RUNNER, [
    '--regions', '2', '--region-port-step', '10', '--etcd-port', `${etcdPort}`, '--etcd-peer-port', `${etcdPeerPort}`, '--control-port', `${controlPort}`, '--node-base-port', `${nodeBase}`,
    '--node-admin-base-port', `${adminBase}`, '--shards', '1', '--replicas', '1', '--http-port', `${httpPort}`, '--admin-port', `${proxyAdminPort}`, '--resp-port', `${respPort}`,
  ], {}, 60_000);
  children = runner.ready.children as typeof children;
  const dataDir = runner.ready.dataDir as string;
  const programs = ['shard0-a', 'shard0-b', 'control-plane', 'proxy'];
  expect(children.map((c) => c.name)).toEqual(['r1-etcd', 'r2-etcd', ...programs.map((p) => `r1-${p}`), ...programs.map((p) => `r2-${p}`)]);
  const regions = runner.ready.regions as Array<{ name: string; etcd: string; httpPort: number; adminPort: number; peers: string[] }>;
  expect(regions).toMatchObject([
    { name: 'r1', etcd: `127.0.0.1:${etcdPort}`, httpPort, adminPort: proxyAdminPort, peers: ['r2'] },
    { name: 'r2', etcd: `127.0.0.1:${etcdPort + 10}`, httpPort: httpPort + 10, adminPort: proxyAdminPort + 10, peers: ['r1'] },
  ]);
  const printed = runner.lines.join('\n');
  expect(printed).toContain(`local-cluster: region r1: etcd 127.0.0.1:${etcdPort}, proxy http://127.0.0.1:${httpPort} `);
  expect(printed).toContain(`peers: r1 at http://127.0.0.1:${httpPort} (linked)`);
  expect(printed).toContain('namespace "shared" is replicated (replicated: invalidate) in r1, r2');
  expect(printed).toMatch(new RegExp(`^r2-proxy +\\d+ +- +http://127\\.0\\.0\\.1:${httpPort + 10}/v1/cache`, 'm'));
  // The region secret: generated into the data dir (0600), never printed; every node has a --data-dir of its own.
  const secretFile = runner.ready.regionSecretFile as string;
  expect(secretFile).toBe(`${dataDir}/region-secret`);
  expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
  expect(printed).not.toContain(fs.readFileSync(secretFile, 'utf8').trim());
  for (const r of ['r1', 'r2']) for (const n of ['shard0-a', 'shard0-b']) expect(fs.existsSync(`${dataDir}/${r}/nodes/${n}`)).toBe(true);
  // Each region's etcd names it and its peer (shardctl region list), and replicates `shared`.
  for (const [i, r] of regions.entries()) {
    const other = regions[1 - i];
    expect(JSON.parse((await shardctlInProcess(['region', 'list', '--json', '--etcd', r.etcd])).stdout)).toMatchObject({
      region: r.name, peers: [{ name: other.name, endpoint: `http://127.0.0.1:${other.httpPort}` }],
    });
    expect(JSON.parse((await shardctlInProcess(['ns', 'get', 'shared', '--json', '--etcd', r.etcd])).stdout)).toMatchObject({ replicated: 'invalidate' });
  }

  // Cached in r2, written in r1: r2 stops serving the old value.
  const [r1Url, r2Url] = regions.map((r) => `http://127.0.0.1:${r.httpPort}/v1/cache/shared/greeting`);
  const putJson = (url: string, value: string) => fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }) });
  expect((await putJson(r2Url, 'old')).status).toBe(201);
  expect(await (await fetch(r2Url)).json()).toMatchObject({ hit: true, value: 'old' });
  expect([200, 201]).toContain((await putJson(r1Url, 'new')).status);
  let seen: any;
  for (const end = Date.now() + 10_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    seen = await (await fetch(r2Url)).json();
    if (!seen.hit || seen.value === 'new') break;
  }
  expect(seen.hit === false || seen.value === 'new').toBe(true);
  const received = (await (await fetch(`http://127.0.0.1:${regions[1].adminPort}/v1/admin/regions`)).json()) as any;
  expect(received).toMatchObject({ region: 'r2', peers: [{ name: 'r1', endpoint: `http://127.0.0.1:${httpPort}` }] });
  expect(received.received.find((x: any) => x.from === 'r1').applied).toBeGreaterThanOrEqual(1);
  // A namespace that is not replicated stays local.
  const localUrl = (r: number) => `http://127.0.0.1:${regions[r].httpPort}/v1/cache/local/k`;
  expect((await putJson(localUrl(1), 'mine')).status).toBe(201);
  expect([200, 201]).toContain((await putJson(localUrl(0), 'theirs')).status);
  await new Promise((r) => setTimeout(r, 500));
  expect(await (await fetch(localUrl(1))).json()).toMatchObject({ hit: true, value: 'mine' });

  // SIGTERM: exit 0, every program of both regions (both etcds included) gone, temporary data removed.
  const exit = await runner.stop(20_000);
  runner = undefined;
  expect(exit).toEqual({ code: 0, signal: null });
  expect(children.filter((c) => alive(c.pid))).toEqual([]);
  expect(fs.existsSync(dataDir)).toBe(false);
}, 90_000);

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
