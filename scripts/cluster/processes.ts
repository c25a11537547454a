import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectEtcd } from '../../shared/topology/etcd';
import { commandContext } from '../../control-plane/commands/context';
import { clusterStatus } from '../../control-plane/commands/status';
import { PROXY_NODE_FLAGS } from '../../proxy/config';
import type { StatusDocument } from '../../control-plane/status/document';
import type { LocalTls } from '../tls-certs';
import {
  clusterSecretArgs, etcdAccessOf, etcdClientArgs, etcdHealthy, etcdScheme, etcdServerTlsArgs, nodeClientTlsArgs, nodeTlsArgs, proxyTlsArgs, toolEnv,
} from './tls';

/**
 * Starting the programs of a whole cluster as child processes on 127.0.0.1: shared by `npm start`
 * (scripts/local-cluster.ts) and the chaos harness (scripts/chaos/).
 *
 *   programSpecs(layout) ─► assertPortsFree ─► startEtcd ─► initCluster ─► launch(spec)… ─► waitForPrimaries ─► waitHealthy
 *
 * Children run in their own process group (`detached`), so a Ctrl-C reaches only the parent,
 * which stops them (`stopChild`: SIGCONT, SIGTERM, SIGKILL after a grace).
 */
export const ROOT = path.resolve(__dirname, '../../..');
export const GRACE_MS = 5000;

/** Where the programs of a cluster listen, and how many there are. */
export interface ClusterLayout {
  etcdPort: number;
  etcdPeerPort: number;
  shards: number;
  /** Replicas per shard besides the primary. */
  replicas: number;
  /**
   * Shards started after the `shards` that `shardctl init` covers (ids shards .. shards+spare-1):
   * their nodes run and elect a primary but own no slots until `shardctl shard add` and `rebalance`.
   */
  spareShards?: number;
  nodeBasePort: number;
  nodeAdminBasePort: number;
  controlPort: number;
  /** One entry per proxy; a single proxy is named `proxy`, several `proxy-1`, `proxy-2`, ... */
  proxies: Array<{ httpPort: number; respPort: number; adminPort: number; /** `--workers` of the proxy (default: its own, 1). */ workers?: number }>;
  leaseTtl: number;
  cluster: string;
  /** The control plane's `--cut-slots` (slots per cut-over), when not its default. */
  cutSlots?: number;
  /**
   * Certificates (scripts/tls-certs.ts): etcd over TLS with client certificates, the proxies'
   * client ports over TLS, node links (proxy, control plane, replication, migration) over mutual TLS.
   */
  tls?: LocalTls;
  /** A file holding the cluster secret (scripts/cluster/tls.ts `writeClusterSecret`): every node, proxy and control plane gets it. */
  clusterSecretFile?: string;
  /** Regions: every storage node gets `--data-dir <nodeDataDir>/<node id>` (where its spool of invalidations for peer regions lives). */
  nodeDataDir?: string;
}

/** What shardctl needs to reach a cluster besides `--etcd`: its name, its certificates and its secret's file. */
export type ClusterAccess = Pick<ClusterLayout, 'cluster' | 'tls' | 'clusterSecretFile'>;

/** One program of the cluster: `dist/<script>` run with `args`; `listens` is shown in tables. */
export interface ProgramSpec {
  name: string;
  script: string;
  args: string[];
  /** Node flags before the script (the proxy's PROXY_NODE_FLAGS). */
  nodeFlags?: readonly string[];
  listens: string;
  /** Ports it will bind, each with the flag that sets it (checked free before anything starts). */
  ports: Array<[number, string]>;
  /** Answers 200 once the program is usable. */
  healthUrl?: string;
  /** Storage nodes: shard and admin URL. */
  shardId?: number;
  adminUrl?: string;
}

export interface Child {
  spec: ProgramSpec;
  process: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  stopping: boolean;
}

export type Say = (text: string) => void;

/** Name of storage node `k` (0-based) of `shard`: shard0-a, shard0-b, ... */
export const nodeName = (shard: number, k: number): string => `shard${shard}-${String.fromCharCode(97 + k)}`;

/** The programs of the cluster besides etcd, in start order. Pure. */
export function programSpecs(layout: ClusterLayout, etcd: string): ProgramSpec[] {
  const specs: ProgramSpec[] = [];
  const perShard = layout.replicas + 1;
  const secret = clusterSecretArgs(layout.clusterSecretFile);
  const nodeAccess = [...nodeClientTlsArgs(layout.tls), ...secret]; // how the control plane and the proxies dial the nodes
  for (let shard = 0; shard < layout.shards + (layout.spareShards ?? 0); shard++) {
    for (let k = 0; k < perShard; k++) {
      const i = shard * perShard + k;
      const [port, adminPort] = [layout.nodeBasePort + i, layout.nodeAdminBasePort + i];
      const nodeId = nodeName(shard, k);
      specs.push({
        name: nodeId,
        script: 'storage-node/main.js',
        args: ['--port', `${port}`, '--admin-port', `${adminPort}`, '--etcd', etcd, '--cluster', layout.cluster,
          '--shard', `${shard}`, '--node-id', nodeId, '--lease-ttl', `${layout.leaseTtl}`, ...etcdClientArgs(layout.tls), ...nodeTlsArgs(layout.tls), ...secret,
          ...(layout.nodeDataDir ? ['--data-dir', path.join(layout.nodeDataDir, nodeId)] : [])],
        listens: `frames ${layout.tls ? 'tls://' : ''}127.0.0.1:${port}, admin http://127.0.0.1:${adminPort}/metrics`,
        ports: [[port, '--node-base-port'], [adminPort, '--node-admin-base-port']],
        shardId: shard,
        adminUrl: `http://127.0.0.1:${adminPort}`,
      });
    }
  }
  specs.push({
    name: 'control-plane',
    script: 'control-plane/main.js',
    args: ['--etcd', etcd, '--cluster', layout.cluster, '--admin-port', `${layout.controlPort}`, ...(layout.cutSlots ? ['--cut-slots', `${layout.cutSlots}`] : []), ...etcdClientArgs(layout.tls), ...nodeAccess,
      // The dashboard shows the proxies, which do not register in etcd.
      ...(layout.proxies.length > 0 ? ['--proxy-admin', layout.proxies.map((p) => `127.0.0.1:${p.adminPort}`).join(',')] : [])],
    listens: `http://127.0.0.1:${layout.controlPort}/ (live dashboard, /v1/status, /metrics)`,
    ports: [[layout.controlPort, '--control-port']],
    healthUrl: `http://127.0.0.1:${layout.controlPort}/healthz`,
  });
  const [web, ws, redis] = layout.tls ? ['https', 'wss', 'rediss'] : ['http', 'ws', 'redis'];
  layout.proxies.forEach((p, i) => {
    specs.push({
      name: layout.proxies.length === 1 ? 'proxy' : `proxy-${i + 1}`,
      script: 'proxy/main.js',
      nodeFlags: PROXY_NODE_FLAGS,
      args: ['--etcd', etcd, '--cluster', layout.cluster, '--http-port', `${p.httpPort}`, '--resp-port', `${p.respPort}`, '--admin-port', `${p.adminPort}`, ...(p.workers === undefined ? [] : ['--workers', `${p.workers}`]), ...etcdClientArgs(layout.tls), ...proxyTlsArgs(layout.tls), ...nodeAccess],
      listens: `${web}://127.0.0.1:${p.httpPort}/v1/cache, ${ws}://127.0.0.1:${p.httpPort}/v1/ws, ${redis}://127.0.0.1:${p.respPort}, admin http://127.0.0.1:${p.adminPort}/metrics`,
      ports: [[p.httpPort, '--http-port'], [p.respPort, '--resp-port'], [p.adminPort, '--admin-port']],
      healthUrl: `http://127.0.0.1:${p.adminPort}/healthz`,
    });
  });
  return specs;
}

/** Fails with the flag to change when a port is taken (say, by a system etcd on 2379) or planned twice. */
export async function assertPortsFree(layout: ClusterLayout, specs: readonly ProgramSpec[]): Promise<void> {
  const seen = new Map<number, string>();
  const planned: Array<[number, string]> = [[layout.etcdPort, '--etcd-port'], [layout.etcdPeerPort, '--etcd-peer-port'], ...specs.flatMap((s) => s.ports)];
  for (const [port, flag] of planned) {
    if (seen.has(port)) throw new Error(`port ${port} is planned twice (${seen.get(port)} and ${flag}); pick ports further apart`);
    seen.set(port, flag);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (!free) throw new Error(`port ${port} (${flag}) is already in use; stop what holds it or pass another ${flag}`);
  }
}

/** Starts a child with its stdout and stderr appended to `<logDir>/<name>.log`. */
export function launch(spec: ProgramSpec, command: string, args: string[], logDir: string, say: Say): Child {
  const logFile = path.join(logDir, `${spec.name}.log`);
  const out = fs.openSync(logFile, 'a');
  const proc = spawn(command, args, { stdio: ['ignore', out, out], detached: true, env: { ...process.env, SHARDCACHE_LOG_LEVEL: process.env.SHARDCACHE_LOG_LEVEL ?? 'info' } });
  fs.closeSync(out);
  const child: Child = { spec, process: proc, logFile, stopping: false, exited: new Promise((resolve) => proc.once('exit', () => resolve())) };
  proc.once('exit', (code, signal) => {
    if (!child.stopping) say(`${spec.name} (pid ${proc.pid}) exited unexpectedly with ${signal ?? `code ${code}`}; see ${logFile}`);
  });
  proc.once('error', (err) => say(`${spec.name} could not start: ${err.message}`));
  return child;
}

/** Starts a program of the build (`dist/<spec.script>`). */
export function launchProgram(spec: ProgramSpec, logDir: string, say: Say): Child {
  return launch(spec, process.execPath, [...(spec.nodeFlags ?? []), path.join(ROOT, 'dist', spec.script), ...spec.args], logDir, say);
}

export const hasExited = (child: Child): boolean => child.process.exitCode !== null || child.process.signalCode !== null;

/** SIGCONT (a frozen child cannot handle SIGTERM), SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
export async function stopChild(child: Child, say: Say, graceMs = GRACE_MS): Promise<void> {
  child.stopping = true;
  const proc = child.process;
  if (hasExited(child) || proc.pid === undefined) return;
  proc.kill('SIGCONT');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${child.spec.name} did not stop within ${graceMs / 1000}s; killing it`);
    proc.kill('SIGKILL');
  }, graceMs);
  await child.exited;
  clearTimeout(timer);
}

/** SIGKILL now; resolves once the child is gone. */
export async function killChild(child: Child): Promise<void> {
  child.stopping = true;
  if (hasExited(child)) return;
  child.process.kill('SIGKILL');
  await child.exited;
}

/** Whether an etcd binary is on the PATH. */
export const etcdOnPath = (): boolean => spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;

/** Starts etcd on loopback with its data under `dataDir/etcd` and waits until it is healthy. */
export async function startEtcd(layout: ClusterLayout, dataDir: string, logDir: string, say: Say): Promise<Child> {
  const client = `${etcdScheme(layout.tls)}://127.0.0.1:${layout.etcdPort}`;
  const peer = `http://127.0.0.1:${layout.etcdPeerPort}`;
  const spec: ProgramSpec = { name: 'etcd', script: 'etcd', args: [], listens: `client ${client}, peer ${peer}`, ports: [] };
  const child = launch(spec, 'etcd', [
    '--name', 'local', '--data-dir', path.join(dataDir, 'etcd'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `local=${peer}`,
    '--log-level', 'warn', '--logger', 'zap', ...etcdServerTlsArgs(layout.tls),
  ], logDir, say);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && child.process.exitCode === null) {
    const ok = await etcdHealthy(client, layout.tls);
    if (ok) return child;
    await sleep(100);
  }
  throw new Error(`etcd did not become healthy on ${client}; see ${child.logFile}`);
}

/** What `shardctl` printed and its exit status. */
export interface ShardctlResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** shardctl's argv and environment: `--etcd`, `--cluster`, the `--etcd-*` TLS flags, and node-link TLS and the secret's file in the environment. */
function shardctlCommand(args: readonly string[], etcd: string, access: ClusterAccess): { argv: string[]; env: NodeJS.ProcessEnv } {
  return {
    argv: [path.join(ROOT, 'dist/control-plane/cli/shardctl.js'), ...args, '--etcd', etcd, '--cluster', access.cluster, ...etcdClientArgs(access.tls)],
    env: { ...process.env, ...toolEnv(access.tls, access.clusterSecretFile) },
  };
}

/** Runs `shardctl <args>` of the build against the cluster (blocking; for set-up steps, before any load runs). */
export function shardctl(args: string[], etcd: string, access: ClusterAccess): ShardctlResult {
  const { argv, env } = shardctlCommand(args, etcd, access);
  const res = spawnSync(process.execPath, argv, { encoding: 'utf8', env });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** `shardctl` as a child process without blocking this one (a load keeps running meanwhile). */
export function shardctlAsync(args: string[], etcd: string, access: ClusterAccess): Promise<ShardctlResult> {
  const { argv, env } = shardctlCommand(args, etcd, access);
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { encoding: 'utf8', env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ status: err ? (typeof code === 'number' ? code : null) : 0, stdout, stderr });
    });
  });
}

/** Runs `shardctl init`; an already initialised cluster of the same shape is kept. */
export async function initCluster(layout: ClusterLayout, etcd: string, force: boolean, say: Say): Promise<void> {
  const args = ['init', '--shards', `${layout.shards}`, '--replicas', `${layout.replicas}`, '--lease-ttl', `${layout.leaseTtl}`];
  if (force) args.push('--force');
  const res = shardctl(args, etcd, layout);
  if (res.status === 0) return say(res.stdout.trim().split('\n')[0]);
  if (!/already initialised/.test(res.stderr)) throw new Error(`shardctl init failed: ${res.stderr.trim()}`);
  const doc = await readStatus(etcd, layout.cluster, layout.tls);
  if (doc.config?.shards !== layout.shards || doc.config.replicas !== layout.replicas) {
    throw new Error(`the data dir holds cluster "${layout.cluster}" with ${doc.config?.shards} shards and ${doc.config?.replicas} replicas; pass --force to re-initialise it`);
  }
  say(`cluster ${layout.cluster} already initialised in the data dir; keeping it`);
}

/** The cluster's status as shardctl prints it (over TLS with the client certificate when `tls`). */
export async function readStatus(etcd: string, cluster: string, tls?: LocalTls): Promise<StatusDocument> {
  const client = connectEtcd(etcd, { access: etcdAccessOf(tls) });
  try {
    return await clusterStatus(commandContext(client, cluster));
  } finally {
    client.close();
  }
}

/** Polls until every shard has a primary; returns the last status read. */
export async function waitForPrimaries(etcd: string, cluster: string, timeoutSeconds: number, tls?: LocalTls): Promise<StatusDocument> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const doc = await readStatus(etcd, cluster, tls);
    const missing = doc.shards.filter((s) => !s.primary).map((s) => s.shardId);
    if (doc.initialised && missing.length === 0) return doc;
    if (Date.now() > deadline) throw new Error(`no primary for shard(s) ${missing.join(', ')} after ${timeoutSeconds}s; see the node logs`);
    await sleep(200);
  }
}

/** Polls every program's health URL until it answers 200. */
export async function waitHealthy(children: readonly Child[], timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (const child of children) {
    const url = child.spec.healthUrl;
    while (url && !(await fetch(url).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`${child.spec.name} is not healthy at ${url} after ${timeoutSeconds}s; see ${child.logFile}`);
      await sleep(200);
    }
  }
}
