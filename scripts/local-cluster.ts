#!/usr/bin/env node
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { intIn, parsePort } from '../shared/config';
import { connectEtcd } from '../shared/topology/etcd';
import { commandContext } from '../control-plane/commands/context';
import { clusterStatus } from '../control-plane/commands/status';
import type { StatusDocument } from '../control-plane/status/document';
import { renderTable } from '../control-plane/status/table';
import { parseClusterName } from '../control-plane/flags';

/**
 * `npm start`: a whole local cluster as child processes of this one.
 *
 *   etcd ─► shardctl init ─► storage nodes (shards × (replicas + 1)) + control plane [+ proxy]
 *        ─► wait until every shard has a primary ─► print where everything listens ─► wait
 *   SIGINT/SIGTERM ─► stop programs (SIGTERM, SIGKILL after a grace), etcd last ─► remove temp dir
 *
 * Children run in their own process group so a Ctrl-C reaches only this runner, which stops the
 * programs together and etcd after them (so the nodes can revoke their leases). A child that dies is logged,
 * never restarted. Adding a program is one entry in `programSpecs`.
 */
const ROOT = path.resolve(__dirname, '../..');
const GRACE_MS = 5000;

interface RunnerConfig {
  etcdPort: number;
  etcdPeerPort: number;
  shards: number;
  replicas: number;
  nodeBasePort: number;
  nodeAdminBasePort: number;
  controlPort: number;
  httpPort: number;
  respPort: number;
  adminPort: number;
  leaseTtl: number;
  dataDir?: string;
  cluster: string;
  force: boolean;
  timeout: number;
}

/** One program of the cluster: `dist/<script>` run with `args`; `listens` is shown in the table. */
interface ProgramSpec {
  name: string;
  script: string;
  args: string[];
  listens: string;
  /** Ports it will bind, each with the runner flag that sets it (checked free before anything starts). */
  ports: Array<[number, string]>;
  /** Answers 200 once the program is usable; the runner waits for it. */
  healthUrl?: string;
}

interface Child {
  spec: ProgramSpec;
  process: ChildProcess;
  logFile: string;
  exited: Promise<void>;
  stopping: boolean;
}

function parseRunnerConfig(argv: readonly string[]): RunnerConfig {
  const port = (flags: string, description: string, value: number) => new Option(flags, description).argParser(parsePort).default(value);
  return new Command('local-cluster')
    .description('run a whole shardcache cluster on this machine: etcd, storage nodes and the control plane')
    .addOption(port('--etcd-port <port>', 'etcd client port', 2379))
    .addOption(port('--etcd-peer-port <port>', 'etcd peer port', 2380))
    .addOption(new Option('--shards <n>', 'number of shards').argParser(intIn(1, 64)).default(3))
    .addOption(new Option('--replicas <r>', 'replicas per shard besides the primary').argParser(intIn(0, 8)).default(1))
    .addOption(port('--node-base-port <port>', 'frame port of the first node; node i listens on base+i', 7000))
    .addOption(port('--node-admin-base-port <port>', 'admin port of the first node; node i uses base+i', 9200))
    .addOption(port('--control-port <port>', 'admin port of the control plane', 9300))
    .addOption(port('--http-port <port>', 'client port of the proxy (HTTP/JSON and WebSocket /v1/ws)', 8080))
    .addOption(port('--resp-port <port>', 'RESP (Redis protocol) port of the proxy', 6380))
    .addOption(port('--admin-port <port>', 'admin port of the proxy (/metrics, /healthz)', 9100))
    .addOption(new Option('--lease-ttl <seconds>', 'lease TTL of the nodes').argParser(intIn(1, 60)).default(3))
    .addOption(new Option('--data-dir <dir>', 'keep etcd data and logs here (default: a temporary dir removed on exit)'))
    .addOption(new Option('--cluster <name>', 'cluster name').argParser(parseClusterName).default('default'))
    .option('--force', 're-initialise the cluster if the data dir already holds one', false)
    .addOption(new Option('--timeout <seconds>', 'how long to wait for every shard to elect a primary').argParser(intIn(1, 600)).default(30))
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' })
    .opts<RunnerConfig>();
}

/** The programs of the cluster besides etcd, in start order. Pure. */
function programSpecs(config: RunnerConfig, etcd: string): ProgramSpec[] {
  const specs: ProgramSpec[] = [];
  const perShard = config.replicas + 1;
  for (let shard = 0; shard < config.shards; shard++) {
    for (let k = 0; k < perShard; k++) {
      const i = shard * perShard + k;
      const [port, adminPort] = [config.nodeBasePort + i, config.nodeAdminBasePort + i];
      const nodeId = `shard${shard}-${String.fromCharCode(97 + k)}`;
      specs.push({
        name: nodeId,
        script: 'storage-node/main.js',
        args: ['--port', `${port}`, '--admin-port', `${adminPort}`, '--etcd', etcd, '--cluster', config.cluster,
          '--shard', `${shard}`, '--node-id', nodeId, '--lease-ttl', `${config.leaseTtl}`],
        listens: `frames 127.0.0.1:${port}, admin http://127.0.0.1:${adminPort}/metrics`,
        ports: [[port, '--node-base-port'], [adminPort, '--node-admin-base-port']],
      });
    }
  }
  specs.push({
    name: 'control-plane',
    script: 'control-plane/main.js',
    args: ['--etcd', etcd, '--cluster', config.cluster, '--admin-port', `${config.controlPort}`],
    listens: `http://127.0.0.1:${config.controlPort}/ (status page, /v1/status, /metrics)`,
    ports: [[config.controlPort, '--control-port']],
    healthUrl: `http://127.0.0.1:${config.controlPort}/healthz`,
  });
  specs.push({
    name: 'proxy',
    script: 'proxy/main.js',
    args: ['--etcd', etcd, '--cluster', config.cluster, '--http-port', `${config.httpPort}`, '--resp-port', `${config.respPort}`, '--admin-port', `${config.adminPort}`],
    listens: `http://127.0.0.1:${config.httpPort}/v1/cache, ws://127.0.0.1:${config.httpPort}/v1/ws, redis://127.0.0.1:${config.respPort}, admin http://127.0.0.1:${config.adminPort}/metrics`,
    ports: [[config.httpPort, '--http-port'], [config.respPort, '--resp-port'], [config.adminPort, '--admin-port']],
    healthUrl: `http://127.0.0.1:${config.adminPort}/healthz`,
  });
  return specs;
}

/** Fails with the flag to change when a port is taken (say, by a system etcd on 2379) or planned twice. */
async function assertPortsFree(config: RunnerConfig, specs: readonly ProgramSpec[]): Promise<void> {
  const seen = new Map<number, string>();
  const planned: Array<[number, string]> = [[config.etcdPort, '--etcd-port'], [config.etcdPeerPort, '--etcd-peer-port'], ...specs.flatMap((s) => s.ports)];
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
function launch(spec: ProgramSpec, command: string, args: string[], logDir: string): Child {
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

/** SIGTERM, then SIGKILL after the grace period; resolves once the child is gone. */
async function stopChild(child: Child): Promise<void> {
  child.stopping = true;
  const proc = child.process;
  if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${child.spec.name} did not stop within ${GRACE_MS / 1000}s; killing it`);
    proc.kill('SIGKILL');
  }, GRACE_MS);
  await child.exited;
  clearTimeout(timer);
}

async function startEtcd(config: RunnerConfig, dataDir: string, logDir: string): Promise<Child> {
  const client = `http://127.0.0.1:${config.etcdPort}`;
  const peer = `http://127.0.0.1:${config.etcdPeerPort}`;
  const spec: ProgramSpec = { name: 'etcd', script: 'etcd', args: [], listens: `client ${client}, peer ${peer}`, ports: [] };
  const child = launch(spec, 'etcd', [
    '--name', 'local', '--data-dir', path.join(dataDir, 'etcd'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `local=${peer}`,
    '--log-level', 'warn', '--logger', 'zap',
  ], logDir);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && child.process.exitCode === null) {
    const ok = await fetch(`${client}/health`).then((r) => r.ok, () => false);
    if (ok) return child;
    await sleep(100);
  }
  throw new Error(`etcd did not become healthy on ${client}; see ${child.logFile}`);
}

/** Runs `shardctl init`; an already initialised cluster of the same shape is kept. */
async function initCluster(config: RunnerConfig, etcd: string): Promise<void> {
  const args = [path.join(ROOT, 'dist/control-plane/cli/shardctl.js'), 'init', '--etcd', etcd, '--cluster', config.cluster,
    '--shards', `${config.shards}`, '--replicas', `${config.replicas}`, '--lease-ttl', `${config.leaseTtl}`];
  if (config.force) args.push('--force');
  const res = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (res.status === 0) return say(res.stdout.trim().split('\n')[0]);
  if (!/already initialised/.test(res.stderr)) throw new Error(`shardctl init failed: ${res.stderr.trim()}`);
  const doc = await readStatus(etcd, config.cluster);
  if (doc.config?.shards !== config.shards || doc.config.replicas !== config.replicas) {
    throw new Error(`the data dir holds cluster "${config.cluster}" with ${doc.config?.shards} shards and ${doc.config?.replicas} replicas; pass --force to re-initialise it`);
  }
  say(`cluster ${config.cluster} already initialised in the data dir; keeping it`);
}

async function readStatus(etcd: string, cluster: string): Promise<StatusDocument> {
  const client = connectEtcd(etcd);
  try {
    return await clusterStatus(commandContext(client, cluster));
  } finally {
    client.close();
  }
}

/** Polls until every shard has a primary; returns the last status read. */
async function waitForPrimaries(etcd: string, cluster: string, timeoutSeconds: number): Promise<StatusDocument> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const doc = await readStatus(etcd, cluster);
    const missing = doc.shards.filter((s) => !s.primary).map((s) => s.shardId);
    if (doc.initialised && missing.length === 0) return doc;
    if (Date.now() > deadline) throw new Error(`no primary for shard(s) ${missing.join(', ')} after ${timeoutSeconds}s; see the node logs`);
    await sleep(200);
  }
}

/** Polls every program's health URL until it answers 200. */
async function waitHealthy(children: readonly Child[], timeoutSeconds: number): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (const child of children) {
    const url = child.spec.healthUrl;
    while (url && !(await fetch(url).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline) throw new Error(`${child.spec.name} is not healthy at ${url} after ${timeoutSeconds}s; see ${child.logFile}`);
      await sleep(200);
    }
  }
}

function describe(children: readonly Child[], doc: StatusDocument): string {
  const roles = new Map(doc.nodes.map((n) => [n.nodeId, `shard ${n.shardId} ${n.role}`]));
  return renderTable(
    ['PROGRAM', 'PID', 'ROLE', 'LISTENS', 'LOG'],
    children.map((c) => [c.spec.name, String(c.process.pid ?? '-'), roles.get(c.spec.name) ?? '-', c.spec.listens, c.logFile]),
  );
}

function say(text: string): void {
  process.stdout.write(`local-cluster: ${text}\n`);
}

/** Everything the runner started, and how to tear it down once. */
class Supervisor {
  readonly children: Child[] = [];
  #stopping: Promise<void> | undefined;

  constructor(readonly dataDir: string, readonly removeDataDir: boolean) {}

  /** Stops the programs together, then etcd (the first child), removes a temp dir and exits. */
  stopAndExit(code: number): Promise<void> {
    this.#stopping ??= (async () => {
      const [etcd, ...programs] = this.children; // etcd last: nodes revoke their leases on the way out
      await Promise.all(programs.map(stopChild));
      if (etcd) await stopChild(etcd);
      if (this.removeDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
      say(code === 0 ? 'stopped' : 'stopped after an error');
      process.exit(code);
    })();
    return this.#stopping;
  }

  /** Last resort when this process exits any other way: no child outlives it. */
  killAll(): void {
    for (const c of this.children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
  }
}

async function startCluster(config: RunnerConfig, supervisor: Supervisor, logDir: string): Promise<void> {
  const { children } = supervisor;
  const etcd = `127.0.0.1:${config.etcdPort}`;
  const specs = programSpecs(config, etcd);
  await assertPortsFree(config, specs);
  children.push(await startEtcd(config, supervisor.dataDir, logDir));
  await initCluster(config, etcd);
  for (const spec of specs) children.push(launch(spec, process.execPath, [path.join(ROOT, 'dist', spec.script), ...spec.args], logDir));
  const doc = await waitForPrimaries(etcd, config.cluster, config.timeout);
  await waitHealthy(children, config.timeout);
  process.stdout.write(`\n${describe(children, doc)}\n\n`);
  say(`ready: etcd ${etcd}, status page http://127.0.0.1:${config.controlPort}/, try "node dist/control-plane/cli/shardctl.js status --etcd ${etcd}". Ctrl-C stops everything.`);
  const ready = { event: 'ready', etcd, cluster: config.cluster, dataDir: supervisor.dataDir, controlPort: config.controlPort, children: children.map((c) => ({ name: c.spec.name, pid: c.process.pid })) };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

async function main(): Promise<void> {
  const config = parseRunnerConfig(process.argv.slice(2));
  if (spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write('local-cluster: etcd is not on the PATH. Install it (Debian/Ubuntu: apt-get install -y etcd-server) or put an etcd 3.4+ binary on the PATH.\n');
    process.exit(1);
  }
  const dataDir = config.dataDir ? path.resolve(config.dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-local-'));
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const supervisor = new Supervisor(dataDir, !config.dataDir);
  process.once('SIGINT', () => void supervisor.stopAndExit(0));
  process.once('SIGTERM', () => void supervisor.stopAndExit(0));
  process.once('exit', () => supervisor.killAll());
  say(`data in ${dataDir}${config.dataDir ? '' : ' (removed on exit)'}; logs in ${logDir}`);
  try {
    await startCluster(config, supervisor, logDir);
  } catch (err) {
    process.stderr.write(`local-cluster: ${(err as Error).message}\n`);
    await supervisor.stopAndExit(1);
  }
}

void main();
