import os from 'node:os';
import { parseArgs } from 'node:util';
import { findOnPath, runBounded, type ChildRegistry } from './children';
import fs from 'node:fs';
import path from 'node:path';
import { writeLocalTls } from '../scripts/tls-certs';
import { BENCH_USER, startBenchCluster, type BenchCluster } from './proxy-cluster';
import { findProfile, formatProfile, profileDir, summarizeProfile } from './proxy-profile';
import { formatCpuTable, formatRun, formatSecurityCost, formatTable, PEER_TARGETS, REDIS, SHARDCACHE, SHARDCACHE_AUTH, SHARDCACHE_TLS, TWEMPROXY } from './peers-report';
import { PEER_TESTS, runBenchmark, type PeerRun, type PeerTarget, type PeerTest, type RunShape } from './peers-run';
import { startTwemproxy } from './peers-servers';
import { startRedis } from './servers';

/**
 * The peer benchmark: shardcache's RESP front next to twemproxy (nutcracker) and redis-server,
 * all driven by the same redis-benchmark, interleaved A B C A B C so that the machine's noise
 * falls on every target alike.
 *
 *   shardcache: etcd ─ 3 shards × 1 storage node ─ proxy --resp-port   (no replicas: twemproxy has none)
 *   twemproxy:  nutcracker (ketama, fnv1a_64) ─ 2 redis-servers
 *   redis:      one redis-server (the ceiling: no proxy hop at all)
 *
 * Targets whose binary is missing are skipped with a note. Every process started is stopped at
 * the end, on error, on Ctrl-C and when the run passes its `--timeout`.
 * Install the peers: `apt-get install redis-server redis-tools nutcracker`.
 */

/** Knobs of the peer benchmark, from its flags. */
export interface PeersBenchOptions {
  rounds: number;
  clients: number;
  pipelines: number[];
  tests: PeerTest[];
  /** Requests per run at pipeline 1; deeper pipelines run `requests × min(pipeline, 4)`. */
  requests: number;
  valueBytes: number;
  keys: number;
  targets: string[];
  timeoutSeconds: number;
  proxyNodeFlags: string[];
  /** Node flags for each storage node process (e.g. a CPU profile of each). */
  storageNodeFlags: string[];
  proxyArgs: string[];
  /** Also measure shardcache with auth on, and with auth plus TLS everywhere (the cost of security). */
  secure: boolean;
}

export const PEERS_BENCH_USAGE = `usage: npm run bench -- peers [flags]
  --rounds <n>           interleaved rounds over every target (default 3)
  --clients <n>          redis-benchmark clients (default 50)
  --pipelines <list>     pipeline depths, comma-separated (default 1,16)
  --tests <list>         of set,get,incr,mget (default all; SET runs first so GETs hit)
  --requests <n>         requests per run at pipeline 1 (default 50000; x4 when pipelined)
  --value-bytes <n>      value size (default 100)
  --keys <n>             keyspace of __rand_int__ (default 100000), preloaded by a SET pass
  --targets <list>       of shardcache,twemproxy,redis (default all that are installed)
  --timeout <s>          bound on the whole run (default 900)
  --proxy-node-flags="<f>"  node flags for the proxy, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --storage-node-flags="<f>"  node flags for each storage node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/nodeprof"
  --proxy-args="<a>"     extra proxy flags, e.g. "--workers 2"
  --secure               also shardcache with auth on (AUTH per connection) and with auth + TLS on the client
                         port, node links (mutual TLS) and the cluster secret: each its own cluster, interleaved
peers: apt-get install redis-server redis-tools nutcracker (redis-benchmark 7 is needed for p50/p99 in its CSV)`;

const ALL_TARGETS = [SHARDCACHE, TWEMPROXY, REDIS];

function positive(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${String(raw)}`);
  return Math.round(value);
}

function listOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T[] {
  if (raw === undefined) return [...allowed];
  const items = raw.split(',').map((s) => s.trim().toLowerCase());
  for (const item of items) if (!(allowed as readonly string[]).includes(item)) throw new Error(`--${name}: ${item} is not one of ${allowed.join(', ')}`);
  return items as T[];
}

/** Parses the flags; undefined when usage was asked for. Throws on a bad flag. */
export function parsePeersBenchOptions(argv: readonly string[]): PeersBenchOptions | undefined {
  const text = { type: 'string' } as const;
  const { values } = parseArgs({
    args: [...argv], strict: true,
    options: {
      rounds: text, clients: text, pipelines: text, tests: text, requests: text, 'value-bytes': text, keys: text, targets: text, timeout: text,
      'proxy-node-flags': text, 'storage-node-flags': text, 'proxy-args': text, secure: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const tests = listOf('tests', values.tests, PEER_TESTS);
  return {
    rounds: positive('rounds', values.rounds, 3),
    clients: positive('clients', values.clients, 50),
    pipelines: (values.pipelines ?? '1,16').split(',').map((p) => positive('pipelines', p.trim(), 1)),
    tests: PEER_TESTS.filter((t) => tests.includes(t)),
    requests: positive('requests', values.requests, 50_000),
    valueBytes: positive('value-bytes', values['value-bytes'], 100),
    keys: positive('keys', values.keys, 100_000),
    targets: listOf('targets', values.targets, ALL_TARGETS),
    timeoutSeconds: positive('timeout', values.timeout, 900),
    proxyNodeFlags: (values['proxy-node-flags'] ?? '').split(/\s+/).filter(Boolean),
    storageNodeFlags: (values['storage-node-flags'] ?? '').split(/\s+/).filter(Boolean),
    proxyArgs: (values['proxy-args'] ?? '').split(/\s+/).filter(Boolean),
    secure: values.secure === true,
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** Starts every target asked for whose binaries exist; notes the skipped ones. */
async function startTargets(children: ChildRegistry, o: PeersBenchOptions, redisServer: string | undefined, clusters: BenchCluster[]): Promise<PeerTarget[]> {
  const targets: PeerTarget[] = [];
  if (o.targets.includes(SHARDCACHE)) {
    const cluster = await startBenchCluster(children, { cluster: 'peers', shards: 3, replicas: 0, proxyNodeFlags: o.proxyNodeFlags, nodeNodeFlags: o.storageNodeFlags, proxyArgs: o.proxyArgs });
    clusters.push(cluster);
    targets.push({ name: SHARDCACHE, port: cluster.respPort, frontPid: cluster.proxy.pid, backendPids: cluster.nodes.map((n) => n.pid) });
    say(`  shardcache: etcd + 3 storage nodes (1 per shard) + proxy RESP :${cluster.respPort} (pid ${cluster.proxy.pid}${o.proxyArgs.length ? `, ${o.proxyArgs.join(' ')}` : ''})`);
    if (o.secure) targets.push(...await startSecureTargets(children, o, clusters));
  }
  const nutcracker = findOnPath('nutcracker');
  if (o.targets.includes(TWEMPROXY)) {
    if (redisServer === undefined || nutcracker === undefined) say(`  twemproxy: skipped (${redisServer ? 'nutcracker' : 'redis-server'} is not installed)`);
    else {
      const tw = await startTwemproxy(children, redisServer, nutcracker);
      targets.push({ name: TWEMPROXY, port: tw.proxy.port, frontPid: tw.proxy.pid, backendPids: tw.backends.map((b) => b.pid) });
      say(`  twemproxy: nutcracker :${tw.proxy.port} (pid ${tw.proxy.pid}, ketama/fnv1a_64) over redis-server :${tw.backends.map((b) => b.port).join(', :')}`);
    }
  }
  if (o.targets.includes(REDIS)) {
    if (redisServer === undefined) say('  redis: skipped (redis-server is not installed)');
    else {
      const r = await startRedis(children, redisServer);
      targets.push({ name: REDIS, port: r.port, frontPid: r.pid });
      say(`  redis: redis-server :${r.port} (pid ${r.pid})`);
    }
  }
  return targets;
}

/** shardcache with auth on, and with auth plus TLS everywhere: each its own cluster (auth is a cluster's setting). */
async function startSecureTargets(children: ChildRegistry, o: PeersBenchOptions, clusters: BenchCluster[]): Promise<PeerTarget[]> {
  const password = `bench-password-${process.pid}`;
  const base = { shards: 3, replicas: 0, proxyNodeFlags: o.proxyNodeFlags, nodeNodeFlags: o.storageNodeFlags, proxyArgs: o.proxyArgs };
  const auth = await startBenchCluster(children, { ...base, cluster: 'peers-auth', secure: { password } });
  clusters.push(auth);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-bench-tls-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const tls = writeLocalTls(dir);
  const secure = await startBenchCluster(children, { ...base, cluster: 'peers-tls', secure: { password, tls } });
  clusters.push(secure);
  const login = ['--user', BENCH_USER, '-a', password];
  say(`  ${SHARDCACHE_AUTH}: the same with auth on (redis-benchmark authenticates each connection as ${BENCH_USER}) RESP :${auth.respPort}`);
  say(`  ${SHARDCACHE_TLS}: auth on, TLS on the RESP port, node links over mutual TLS, cluster secret RESP :${secure.respPort}`);
  return [
    { name: SHARDCACHE_AUTH, port: auth.respPort, frontPid: auth.proxy.pid, args: login },
    { name: SHARDCACHE_TLS, port: secure.respPort, frontPid: secure.proxy.pid, args: [...login, '--tls', '--cacert', tls.caFile] },
  ];
}

function shape(o: PeersBenchOptions, test: PeerTest, pipeline: number, requests?: number): RunShape {
  const n = requests ?? o.requests * Math.min(pipeline, 4);
  return { test, pipeline, clients: o.clients, requests: n, valueBytes: o.valueBytes, keys: o.keys, timeoutMs: 120_000 };
}

async function measure(children: ChildRegistry, binary: string, o: PeersBenchOptions, targets: PeerTarget[]): Promise<PeerRun[]> {
  say(`\n== preload: SET over ${o.keys.toLocaleString('en-US')} keys on every target (-P 16, ${(3 * o.keys).toLocaleString('en-US')} requests)`);
  for (const t of targets) say(formatRun(0, await runBenchmark(children, binary, t, shape(o, 'set', 16, 3 * o.keys))));
  const runs: PeerRun[] = [];
  for (let round = 1; round <= o.rounds; round++) {
    say(`\n== round ${round} of ${o.rounds}`);
    for (const pipeline of o.pipelines) {
      for (const test of o.tests) {
        for (const t of targets) {
          const run = await runBenchmark(children, binary, t, shape(o, test, pipeline));
          runs.push(run);
          say(formatRun(round, run));
        }
      }
    }
  }
  return runs;
}

function printHeader(o: PeersBenchOptions, binary: string): void {
  const [load1] = os.loadavg();
  say(`shardcache peer benchmark: redis-benchmark (${binary}) against shardcache's RESP front, twemproxy and redis-server, on 127.0.0.1`);
  say(`  machine: ${os.cpus().length} CPUs, load average ${load1.toFixed(2)} at start; servers and the load generator share the cores`);
  say(`  ${o.clients} clients, ${o.valueBytes}-byte values, ${o.keys.toLocaleString('en-US')} random keys, pipelines ${o.pipelines.join(' and ')}, tests ${o.tests.join(', ')}; ${o.rounds} interleaved rounds`);
  say(`  targets (shardcache / twemproxy): GET, SET and INCR ops >= ${PEER_TARGETS.minOpsRatioPipelined}x at pipeline 16, >= ${PEER_TARGETS.minOpsRatioUnpipelined}x at pipeline 1; MGET >= ${PEER_TARGETS.minOpsRatioMget}x at both; p99 <= ${PEER_TARGETS.maxP99RatioUnpipelined}x at pipeline 1`);
}

function printProfile(o: PeersBenchOptions, pid: number): void {
  const dir = profileDir(o.proxyNodeFlags, process.cwd());
  if (dir === undefined) return;
  const file = findProfile(dir, pid);
  if (file === undefined) say(`no CPU profile of the proxy (pid ${pid}) in ${dir}`);
  else for (const line of formatProfile(summarizeProfile(file, 30))) say(line);
}

/** Runs the peer benchmark; every process started is gone when it resolves. */
export async function runPeersBench(o: PeersBenchOptions): Promise<number> {
  const binary = findOnPath('redis-benchmark');
  if (binary === undefined) {
    say('peer benchmark: redis-benchmark is not installed (apt-get install redis-tools); nothing to run');
    return 1;
  }
  return runBounded('peer benchmark', o.timeoutSeconds, async (children) => {
    const started = Date.now();
    const clusters: BenchCluster[] = [];
    try {
      printHeader(o, binary);
      say('\n== starting the targets');
      const targets = await startTargets(children, o, findOnPath('redis-server'), clusters);
      const runs = await measure(children, binary, o, targets);
      say('\n== summary');
      for (const line of formatTable(runs, o.tests, o.pipelines, targets.map((t) => t.name), o.rounds)) say(line);
      for (const line of formatCpuTable(runs, o.tests, o.pipelines, targets.map((t) => t.name))) say(line);
      if (o.secure) for (const line of formatSecurityCost(runs, o.tests, o.pipelines)) say(line);
      say(`  total run time ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return 0;
    } finally {
      for (const cluster of clusters) await cluster.stop();
      if (clusters[0] !== undefined) printProfile(o, clusters[0].proxy.pid);
    }
  });
}
