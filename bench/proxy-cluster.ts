import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { findOnPath, type ChildRegistry } from './children';
import type { WatchedProcess } from './proxy-cpu';
import { PROXY_NODE_FLAGS } from '../proxy/config';
import { freePort } from './servers';
import type { LocalTls } from '../scripts/tls-certs';

/**
 * A whole shardcache cluster as processes on 127.0.0.1 for the proxy benchmark, every one of them
 * tracked by the benchmark's ChildRegistry:
 *
 *   etcd (temp data dir, free ports) ─► shardctl init ─► storage nodes (shards × (replicas + 1))
 *        ─► proxy (--http-port 0 --admin-port 0) ─► /healthz 200 with a primary for every shard
 *
 * `stop` ends the proxy first (so a --cpu-prof profile is written on its clean exit), then the
 * nodes, then etcd, and removes the data dir; the dir also goes if the benchmark dies.
 */

/** Shape of the cluster and extra node flags for the proxy process. */
export interface BenchClusterOptions {
  cluster: string;
  shards: number;
  replicas: number;
  /** Node flags for the proxy process (e.g. --cpu-prof), placed before its script. */
  proxyNodeFlags: string[];
  /** Extra program flags for the proxy (e.g. --workers 2). */
  proxyArgs?: string[];
  /** Shards started beyond `shards` (not in init's slot map: they own no slots). */
  spareShards?: number;
  /** Extra flags for every storage node (e.g. --max-memory). */
  nodeArgs?: string[];
  /** Node.js flags for every storage node process (e.g. --cpu-prof), placed before its script. */
  nodeNodeFlags?: string[];
  /** Security on: client auth (a user with `*=write` and this password), and with `tls` TLS everywhere plus the cluster secret. */
  secure?: BenchSecurity;
}

/** What `secure` turns on (to measure its cost). */
export interface BenchSecurity {
  /** `shardctl auth on` with the user `bench` (grant `*=write`) whose password this is. */
  password: string;
  /** Certificates (scripts/tls-certs.ts): the client ports, node links (mutual TLS) and a cluster secret; etcd stays plain. */
  tls?: LocalTls;
}

/** The user the secure bench clusters authenticate as. */
export const BENCH_USER = 'bench';

/** A program of the project started from `dist/`, with the JSON ready line it printed. */
export interface ClusterProcess {
  name: string;
  child: ChildProcess;
  pid: number;
  ready: Record<string, unknown>;
}

/** The running cluster. */
export interface BenchCluster {
  etcdEndpoint: string;
  etcd: ChildProcess;
  nodes: ClusterProcess[];
  proxy: ClusterProcess;
  httpPort: number;
  /** The proxy's node:http port for pipelining clients (--pipelining-port). */
  pipeliningPort: number;
  adminPort: number;
  /** The proxy's RESP port. */
  respPort: number;
  /** The processes whose CPU each phase reports. */
  watched: WatchedProcess[];
  stop(): Promise<void>;
}

const DIST = path.join(__dirname, '..');
const READY_TIMEOUT_MS = 20_000;
const HEALTH_TIMEOUT_MS = 30_000;
const LEASE_TTL_SECONDS = 3;

/** Keeps the last `max` characters written to it. */
class Tail {
  #text = '';
  constructor(readonly max = 4000) {}
  push(chunk: string): void {
    this.#text = (this.#text + chunk).slice(-this.max);
  }
  toString(): string {
    return this.#text.trim() || '(empty)';
  }
}

/** The record of a `"event":"ready"` JSON log line, or undefined for any other line. */
function parseReady(line: string): Record<string, unknown> | undefined {
  if (!line.includes('"ready"')) return undefined;
  try {
    const record = JSON.parse(line) as Record<string, unknown>;
    return record.event === 'ready' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Starts `dist/<script>` as `name` and waits for its ready line. */
export function startProgram(children: ChildRegistry, name: string, script: string, args: readonly string[], nodeFlags: readonly string[] = []): Promise<ClusterProcess> {
  const child = children.track(spawn(process.execPath, [...nodeFlags, path.join(DIST, script), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SHARDCACHE_LOG_LEVEL: 'info' },
  }));
  const output = new Tail();
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  // SHARDCACHE_BENCH_OUTPUT_DIR=<dir>: each program's whole output also goes to <dir>/<name>.log
  // (e.g. the proxy's --trace-gc lines, which the bench reads no further).
  const outDir = process.env.SHARDCACHE_BENCH_OUTPUT_DIR;
  if (outDir) {
    const file = fs.createWriteStream(path.join(outDir, `${name}.log`));
    child.stdout!.pipe(file);
    child.stderr!.pipe(file);
  }
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      child.kill('SIGKILL');
      reject(new Error(`${name} ${why}; output: ${output.toString()}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      fail(`exited (${code ?? signal}) before it was ready`);
    };
    child.once('exit', onEarlyExit);
    // Keep reading stdout for the program's whole life: a full pipe would stall its logger.
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(`${line}\n`);
      const ready = parseReady(line);
      if (ready === undefined) return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      resolve({ name, child, pid: child.pid!, ready });
    });
  });
}

/** Starts a private etcd on free loopback ports with its data in `dataDir`; resolves once healthy. */
async function startEtcd(children: ChildRegistry, dataDir: string): Promise<{ child: ChildProcess; endpoint: string }> {
  const etcd = findOnPath('etcd');
  if (!etcd) throw new Error('etcd is not on the PATH; install it with `apt-get install etcd-server`');
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = children.track(spawn(etcd, [
    '--name', 'bench', '--data-dir', dataDir,
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `bench=${peer}`,
    '--log-level', 'error', '--logger', 'zap',
  ], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const output = new Tail();
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if (await fetch(`${client}/health`).then((r) => r.ok, () => false)) return { child, endpoint: `127.0.0.1:${clientPort}` };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`etcd did not become healthy on ${client}; output: ${output.toString()}`);
}

/** Runs `shardctl init` against the fresh etcd. */
function initCluster(children: ChildRegistry, endpoint: string, o: BenchClusterOptions): Promise<void> {
  return shardctl(children, endpoint, o.cluster, ['init', '--shards', String(o.shards), '--replicas', String(o.replicas), '--lease-ttl', String(LEASE_TTL_SECONDS)]);
}

/** Polls the proxy's /healthz until it routes by a snapshot in which every shard has a primary. */
async function waitHealthy(adminPort: number): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      const body = (await res.json()) as { shardsWithoutPrimary?: unknown[] };
      if (res.status === 200 && body.shardsWithoutPrimary?.length === 0) return;
      last = `${res.status} ${JSON.stringify(body)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`the proxy's /healthz did not turn 200 with a primary for every shard within ${HEALTH_TIMEOUT_MS} ms (last: ${last})`);
}

/** Runs the built shardctl with `args` against the bench etcd; rejects with its output when it fails. */
function shardctl(children: ChildRegistry, endpoint: string, cluster: string, args: readonly string[]): Promise<void> {
  const child = children.track(spawn(process.execPath, [path.join(DIST, 'control-plane/cli/shardctl.js'), ...args, '--etcd', endpoint, '--cluster', cluster], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const output = new Tail();
  child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), READY_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`shardctl ${args.slice(0, 2).join(' ')} failed (${code ?? signal}): ${output.toString()}`));
    });
  });
}

/** `shardctl <args>` of the build against a bench cluster's etcd (killed after 20 s); rejects with its output when it fails. */
export const benchShardctl = shardctl;

/** Users and auth on for a secure bench cluster; with TLS, the cluster secret's file. Passwords go through files, never argv. */
async function secureCluster(children: ChildRegistry, endpoint: string, o: BenchClusterOptions, s: BenchSecurity, dataDir: string): Promise<void> {
  const file = (name: string, text: string): string => {
    const p = path.join(dataDir, name);
    fs.writeFileSync(p, `${text}\n`, { mode: 0o600 });
    return p;
  };
  await shardctl(children, endpoint, o.cluster, ['user', 'add', 'admin', '--grant', '*=admin']);
  await shardctl(children, endpoint, o.cluster, ['user', 'add', BENCH_USER, '--grant', '*=write', '--password-file', file('bench-password', s.password)]);
  await shardctl(children, endpoint, o.cluster, ['auth', 'on']);
  if (s.tls) file('cluster-secret', `bench-secret-${process.pid}-${Date.now()}`);
}

/** Node flags of a secure cluster: TLS on the frame port with mutual TLS, and the cluster secret. */
function nodeSecurityArgs(s: BenchSecurity | undefined, dataDir: string): string[] {
  if (!s?.tls) return [];
  const t = s.tls;
  return ['--tls-cert', t.serverCertFile, '--tls-key', t.serverKeyFile, '--tls-ca', t.caFile, '--tls-client-auth', '--cluster-secret-file', path.join(dataDir, 'cluster-secret')];
}

/** Proxy flags of a secure cluster: TLS on the client ports, node links over mutual TLS, the cluster secret. */
function proxySecurityArgs(s: BenchSecurity | undefined, dataDir: string): string[] {
  if (!s?.tls) return [];
  const t = s.tls;
  return ['--tls-cert', t.serverCertFile, '--tls-key', t.serverKeyFile, '--node-tls-ca', t.caFile, '--node-tls-cert', t.clientCertFile, '--node-tls-key', t.clientKeyFile,
    '--cluster-secret-file', path.join(dataDir, 'cluster-secret')];
}

function startNodes(children: ChildRegistry, endpoint: string, o: BenchClusterOptions & { dataDir?: string }): Promise<ClusterProcess[]> {
  const starts: Array<Promise<ClusterProcess>> = [];
  for (let shard = 0; shard < o.shards + (o.spareShards ?? 0); shard++) {
    for (let k = 0; k <= o.replicas; k++) {
      const nodeId = `shard${shard}-${String.fromCharCode(97 + k)}`;
      starts.push(startProgram(children, `node ${nodeId}`, 'storage-node/main.js', [
        '--port', '0', '--admin-port', '0', '--etcd', endpoint, '--cluster', o.cluster, '--shard', String(shard), '--node-id', nodeId, ...(o.nodeArgs ?? []),
        ...nodeSecurityArgs(o.secure, o.dataDir ?? ''),
      ], o.nodeNodeFlags));
    }
  }
  return Promise.all(starts);
}

/** Starts the whole cluster; on failure everything started so far is stopped before it throws. */
export async function startBenchCluster(children: ChildRegistry, o: BenchClusterOptions): Promise<BenchCluster> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-bench-etcd-'));
  const removeDir = (): void => fs.rmSync(dataDir, { recursive: true, force: true });
  process.once('exit', removeDir);
  // Stopped last group first: the proxy, then the nodes together, then etcd.
  const started: ChildProcess[][] = [];
  const stop = async (): Promise<void> => {
    for (const group of started.reverse()) await Promise.all(group.map((child) => children.stop(child)));
    removeDir();
  };
  try {
    const etcd = await startEtcd(children, dataDir);
    started.push([etcd.child]);
    await initCluster(children, etcd.endpoint, o);
    if (o.secure) await secureCluster(children, etcd.endpoint, o, o.secure, dataDir);
    const nodes = await startNodes(children, etcd.endpoint, { ...o, dataDir });
    started.push(nodes.map((n) => n.child));
    const proxy = await startProgram(children, 'proxy', 'proxy/main.js', [
      '--etcd', etcd.endpoint, '--cluster', o.cluster, '--http-port', '0', '--admin-port', '0', '--resp-port', '0', '--pipelining-port', '0',
      ...(o.proxyArgs ?? []), ...proxySecurityArgs(o.secure, dataDir),
    ], [...PROXY_NODE_FLAGS, ...o.proxyNodeFlags]);
    started.push([proxy.child]);
    const adminPort = proxy.ready.adminPort as number;
    await waitHealthy(adminPort);
    const watched: WatchedProcess[] = [
      { name: 'proxy', pid: proxy.pid },
      ...nodes.map((n) => ({ name: n.name, pid: n.pid })),
      { name: 'etcd', pid: etcd.child.pid! },
    ];
    return { etcdEndpoint: etcd.endpoint, etcd: etcd.child, nodes, proxy, httpPort: proxy.ready.httpPort as number, pipeliningPort: proxy.ready.pipeliningPort as number, adminPort, respPort: proxy.ready.respPort as number, watched, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
