import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeLocalTls } from '../scripts/tls-certs';
import { Limits } from '../shared/protocol';
import { findOnPath, runBounded, type ChildRegistry } from './children';
import { BENCH_USER, startBenchCluster, startProgram, type BenchCluster } from './proxy-cluster';
import { findProfile, formatProfile, profileDir, summarizeProfile } from './proxy-profile';
import { formatPhase, formatSecurityCost, formatSummary, PROXY_TARGETS, SUMMARY_LEGEND, type PhaseFigures, type ProxyCounters, type SecurityVariant } from './proxy-report';
import { bearerOf, originOf, runPhase, type HttpPhaseTask, type PhaseSecurity, type PhaseTask, type WsPhaseTask } from './proxy-task';
import { benchKey } from './wire';
import { formatPolicySummary, POLICIES, POLICY_LEGEND, runPolicyPhases, type PolicyFigures } from './proxy-policies';

/**
 * The proxy benchmark: a real cluster as processes on 127.0.0.1 (etcd, 3 shards of 1 or 2 storage
 * nodes, one proxy), keys preloaded over WebSocket, then load from separate worker processes:
 *
 *   orchestrator ──spawns──► etcd, shardctl init, storage nodes, proxy      (proxy-cluster.ts)
 *        ├──fork──► proxy-http-worker: wrk (or autocannon), HTTP GET / PUT, pipelining 1 (client port)
 *        │                             and 10 (the node:http --pipelining-port)
 *        └──fork──► proxy-ws-worker:   N WebSockets x depth in flight, GET / SET
 *
 * Calibration first: the same HTTP GET load against a no-op uWebSockets.js server, the most
 * the load generator can drive on this machine. Each phase reports ops/s, latency percentiles and
 * the CPU share of the proxy, the nodes, etcd, the load generator, other work and hypervisor steal
 * over its measured window. Every process started is killed on exit, error or SIGINT, and the
 * whole run is bounded by `--timeout`.
 *
 * With `--secure` two more clusters run beside the plain one, each with its own etcd: one with
 * auth on, one with auth plus TLS everywhere (HTTPS/WSS client port, node links over mutual TLS,
 * cluster secret). Every phase then runs against plain, auth and auth+tls back to back, so the
 * machine's noise falls on the three alike, and a last table gives what security costs.
 *
 * With `--policies` it runs instead the write-policy comparison (issue 17, bench/proxy-policies.ts):
 * HTTP PUT and batched WebSocket SET against a cache-aside, a write-through and a write-behind
 * namespace, with a store process, and a table of what each policy costs against cache-aside.
 */

/** Knobs of the proxy benchmark, from its flags. */
export interface ProxyBenchOptions {
  seconds: number;
  warmupSeconds: number;
  connections: number;
  pipelining: number[];
  /** Distinct keys the HTTP phases use (a fixed set of paths, each request built once). */
  httpPaths: number;
  /** The HTTP load generator. */
  httpDriver: 'wrk' | 'autocannon';
  /** Path of the wrk binary on the PATH; set when `httpDriver` is wrk. */
  wrkPath: string | undefined;
  wsConnections: number;
  wsDepth: number;
  wsDriver: 'raw' | 'client';
  /** WebSocket phases to run: one request per message, and/or batched messages (only batched with the client driver). */
  wsBatching: Array<'single' | 'batched'>;
  keys: number;
  valueBytes: number;
  replicas: number;
  only: 'http' | 'ws' | undefined;
  /** Run the no-op calibration phases before the HTTP phases. */
  calibrate: boolean;
  timeoutSeconds: number;
  /** Node flags for the proxy process (e.g. --cpu-prof). */
  proxyNodeFlags: string[];
  /** Extra proxy flags (e.g. --workers 2). */
  proxyArgs: string[];
  /** Also run every phase against a cluster with auth on and one with auth plus TLS everywhere. */
  secure: boolean;
  /** Run the write-policy comparison (cache-aside, write-through, write-behind) instead of the usual phases. */
  policies: boolean;
}

/** Usage of `bench proxy`. */
export const PROXY_BENCH_USAGE = `usage: npm run bench -- proxy [flags]
  --seconds <s>          measured seconds per phase (default 8)
  --warmup <s>           unmeasured seconds before each phase (default 2)
  --connections <n>      HTTP connections (default 50)
  --http-driver <d>      wrk (default when installed: apt-get install wrk) or autocannon
  --pipelining <list>    HTTP pipelining depths to run, comma-separated (default 1,10); depths above 1
                         go to the proxy's node:http --pipelining-port (the client port cannot pipeline)
  --http-paths <n>       distinct keys of the HTTP phases, spread over the keyspace (default 1000;
                         each request is built once up front, so more costs start-up time)
  --ws-connections <n>   WebSocket connections (default 8: with --workers 2 the kernel spreads them over both
                         workers; 4 often landed 3 and 1)
  --ws-depth <n>         requests in flight per WebSocket (default 128; at most ${Limits.MAX_WS_BATCH_REQUESTS} with the raw
                         driver's batched phases, as they may send that many requests in one message)
  --ws-driver <d>        raw (ws + the client's codec, default) or client (the typed ShardcacheClient)
  --ws-batching <list>   single (one request per message), batched (a turn's requests in one message,
                         replies batched by the proxy: /v1/ws?batch=1), or both (default single,batched;
                         with --ws-driver client only batched: the client always batches)
  --keys <n>             keys preloaded and used by every phase (default 10000)
  --value-bytes <n>      value size (default 100)
  --replicas <r>         replicas per shard, 0 or 1 (default 0: 3 storage nodes)
  --only <http|ws>       run only the HTTP or only the WebSocket phases
  --no-calibrate         skip the HTTP GET runs against a no-op server (the load generator's ceiling)
  --timeout <s>          bound on the whole run (default: enough for the phases asked, ~2 min by default)
  --proxy-node-flags="<f>"  node flags for the proxy process; with --cpu-prof the profile is summarised
                         at the end, e.g. --proxy-node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"
  --proxy-args="<a>"     extra proxy flags, e.g. --proxy-args="--workers 2"
  --secure               also a cluster with auth on and one with auth + TLS (HTTPS/WSS client port, node links
                         over mutual TLS, cluster secret); every phase runs against plain, auth and auth+tls back
                         to back, then a table of what security costs
  --policies             instead of the usual phases: the write-policy comparison (issue 17): HTTP PUT (pipelining 1)
                         and batched WS SET against a cache-aside, a write-through and a write-behind namespace
                         (a store process on 127.0.0.1, bulk endpoint on), with the store's requests per write
                         (~2 min)`;

const CLUSTER_NAME = 'bench';
const NAMESPACE = 'bench';
const SHARDS = 3;

function positive(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${String(raw)}`);
  return value;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) throw new Error(`--${name} must be one of ${allowed.join(', ')}, got ${raw}`);
  return raw as T;
}

/** Seconds a run of these options should take at most: start-up, preload, and each phase with slack. */
function defaultTimeout(o: Omit<ProxyBenchOptions, 'timeoutSeconds'>): number {
  if (o.policies) return Math.ceil(60 + 2 * POLICIES.length * (o.warmupSeconds + o.seconds + 10));
  const clusters = o.secure ? 3 : 1;
  const http = o.only === 'ws' ? 0 : ((o.calibrate ? 1 : 0) + 2 * clusters) * o.pipelining.length;
  const ws = o.only === 'http' ? 0 : 2 * o.wsBatching.length * clusters;
  // Each more cluster: its start-up (etcd, shardctl, nodes, proxy; TLS handshakes) and its preload.
  return Math.ceil(40 + 40 * (clusters - 1) + (http + ws) * (o.warmupSeconds + o.seconds + 5));
}

/** The WebSocket phases: `raw` runs those asked for; the client always batches, so only batched. */
function wsBatchingOf(raw: string | undefined, driver: 'raw' | 'client'): Array<'single' | 'batched'> {
  const fallback = driver === 'client' ? 'batched' : 'single,batched';
  const asked = (raw ?? fallback).split(',').map((b) => oneOf('ws-batching', b.trim(), ['single', 'batched'] as const)!);
  if (driver === 'client' && asked.includes('single')) {
    throw new Error('--ws-batching single cannot run with --ws-driver client: ShardcacheClient always batches (use --ws-batching batched, or --ws-driver raw)');
  }
  return asked;
}

/** The wrk binary when the HTTP driver is wrk (asked for, or by default when it is on the PATH). */
function httpDriverOf(raw: string | undefined): { httpDriver: 'wrk' | 'autocannon'; wrkPath: string | undefined } {
  const asked = oneOf('http-driver', raw, ['wrk', 'autocannon'] as const);
  if (asked === 'autocannon') return { httpDriver: 'autocannon', wrkPath: undefined };
  // A look along the PATH, no process started: cheap enough to do even when no HTTP phase runs.
  const wrkPath = findOnPath('wrk');
  if (asked === 'wrk' && wrkPath === undefined) throw new Error('--http-driver wrk: wrk is not on the PATH (apt-get install wrk)');
  return { httpDriver: wrkPath === undefined ? 'autocannon' : 'wrk', wrkPath };
}

/** Parses the flags; returns undefined when usage was asked for. Throws on a bad flag. */
export function parseProxyBenchOptions(argv: readonly string[]): ProxyBenchOptions | undefined {
  const text = { type: 'string' } as const;
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      seconds: text, warmup: text, connections: text, pipelining: text, 'http-paths': text, 'ws-connections': text, 'ws-depth': text, 'ws-driver': text, 'http-driver': text, 'ws-batching': text,
      keys: text, 'value-bytes': text, replicas: text, only: text, timeout: text, 'proxy-node-flags': text, 'proxy-args': text,
      'no-calibrate': { type: 'boolean' }, secure: { type: 'boolean' }, policies: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const whole = (name: keyof typeof values, fallback: number): number => Math.round(positive(name, values[name] as string | undefined, fallback));
  const replicas = values.replicas === undefined ? 0 : Number(values.replicas);
  if (replicas !== 0 && replicas !== 1) throw new Error(`--replicas must be 0 or 1, got ${values.replicas}`);
  const wsDriver = oneOf('ws-driver', values['ws-driver'], ['raw', 'client'] as const) ?? 'raw';
  const options = {
    seconds: positive('seconds', values.seconds, 8),
    warmupSeconds: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 2),
    connections: whole('connections', 50),
    pipelining: (values.pipelining ?? '1,10').split(',').map((p) => Math.round(positive('pipelining', p.trim(), 1))),
    httpPaths: whole('http-paths', 1000),
    ...httpDriverOf(values['http-driver']),
    wsConnections: whole('ws-connections', 8),
    wsDepth: whole('ws-depth', 128),
    wsDriver,
    wsBatching: wsBatchingOf(values['ws-batching'], wsDriver),
    keys: whole('keys', 10_000),
    valueBytes: Math.max(2, whole('value-bytes', 100)),
    replicas,
    only: oneOf('only', values.only, ['http', 'ws'] as const),
    calibrate: !values['no-calibrate'],
    proxyNodeFlags: (values['proxy-node-flags'] ?? '').split(/\s+/).filter(Boolean),
    proxyArgs: (values['proxy-args'] ?? '').split(/\s+/).filter(Boolean),
    secure: values.secure === true,
    policies: values.policies === true,
  };
  if (options.policies && options.secure) throw new Error('--policies runs against the plain cluster only; leave out --secure');
  // A raw batched turn sends up to `depth` requests in one message; the proxy runs no more than its limit of one.
  const rawBatched = options.only !== 'http' && wsDriver === 'raw' && options.wsBatching.includes('batched');
  if (rawBatched && options.wsDepth > Limits.MAX_WS_BATCH_REQUESTS) {
    throw new Error(`--ws-depth must be at most ${Limits.MAX_WS_BATCH_REQUESTS} (the proxy's limit of requests in one WebSocket message) when batched phases run with --ws-driver raw, got ${options.wsDepth}`);
  }
  return { ...options, timeoutSeconds: values.timeout === undefined ? defaultTimeout(options) : positive('timeout', values.timeout, 0) };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/**
 * A cluster the phases run against: the plain one, and with `--secure` the one with auth on and
 * the one with auth plus TLS (`secure` then holds the credentials and the CA its clients use).
 */
interface BenchTarget {
  cluster: BenchCluster;
  /** Set with `--secure` only, so the default run's figures and output stay as they were. */
  variant?: SecurityVariant;
  secure?: PhaseSecurity;
}

/** Task fields every phase shares. */
function base(target: BenchTarget, o: ProxyBenchOptions, connections: number) {
  const { cluster, secure } = target;
  return {
    port: cluster.httpPort, connections, warmupSeconds: o.warmupSeconds, seconds: o.seconds, namespace: NAMESPACE,
    keys: o.keys, valueBytes: o.valueBytes, watch: cluster.watched, deadlineMs: (o.warmupSeconds + o.seconds) * 1000 + 30_000,
    ...(secure === undefined ? {} : { secure }),
  };
}

/** A phase to run: its label, its load, its target (none for calibration), the cluster and the task of its worker. */
interface PhasePlan {
  label: string;
  load: string;
  target?: number;
  /** Where the proxy's counters are read; undefined = not read (calibration). */
  cluster?: BenchCluster;
  security?: SecurityVariant;
  task: PhaseTask;
}

/**
 * The phases in run order: HTTP first (it reads the JSON values the preload wrote), WS SET last;
 * each phase against every target in turn (plain, auth, auth+tls with `--secure`).
 */
function planPhases(targets: readonly BenchTarget[], o: ProxyBenchOptions): PhasePlan[] {
  const plans: PhasePlan[] = [];
  const each = (plan: (t: BenchTarget) => Omit<PhasePlan, 'cluster' | 'security'>): void => {
    for (const t of targets) plans.push({ ...plan(t), cluster: t.cluster, security: t.variant });
  };
  if (o.only !== 'ws') {
    for (const pipelining of o.pipelining) {
      for (const op of ['get', 'put'] as const) {
        const load = `${o.connections} conn x ${pipelining}${pipelining > 1 ? ' (pipelining port)' : ''}`;
        each((t) => {
          // The client port (uWS) closes connections that pipeline: pipelined phases use the node:http port.
          const port = pipelining > 1 ? t.cluster.pipeliningPort : t.cluster.httpPort;
          const task: HttpPhaseTask = { ...base(t, o, o.connections), kind: 'http', op, pipelining, httpPaths: o.httpPaths, driver: o.httpDriver, wrkPath: o.wrkPath, port };
          return { label: `HTTP ${op.toUpperCase()}`, load, target: PROXY_TARGETS.httpRequestsPerSec, task };
        });
      }
    }
  }
  if (o.only !== 'http') {
    for (const batching of o.wsBatching) {
      for (const op of ['get', 'set'] as const) {
        const batch = batching === 'batched';
        const load = `${o.wsConnections} ws x ${o.wsDepth}${batch ? ' batched' : ''}`;
        each((t) => {
          const task: WsPhaseTask = { ...base(t, o, o.wsConnections), kind: 'ws', op, depth: o.wsDepth, driver: o.wsDriver, batch };
          return { label: `WS ${op.toUpperCase()}`, load, target: PROXY_TARGETS.wsOpsPerSec, task };
        });
      }
    }
  }
  return plans;
}

const COUNTER_METRICS: Record<keyof ProxyCounters, string> = {
  hits: 'shardcache_proxy_hits_total',
  misses: 'shardcache_proxy_misses_total',
  coalesced: 'shardcache_proxy_coalesced_total',
  upstreamRequests: 'shardcache_proxy_upstream_requests_total',
  refused: 'shardcache_proxy_refused_total',
};

/** The proxy's counters from its /metrics, each summed over its labels (undefined if unreachable). */
async function readCounters(adminPort: number): Promise<ProxyCounters | undefined> {
  const text = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text(), () => undefined);
  if (text === undefined) return undefined;
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const name = line.slice(0, line.search(/[{ ]/));
    sums.set(name, (sums.get(name) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  const entries = Object.entries(COUNTER_METRICS).map(([field, metric]) => [field, sums.get(metric) ?? 0]);
  return Object.fromEntries(entries) as unknown as ProxyCounters;
}

function difference(after: ProxyCounters | undefined, before: ProxyCounters | undefined): ProxyCounters | undefined {
  if (!after || !before) return undefined;
  const fields = Object.keys(COUNTER_METRICS) as Array<keyof ProxyCounters>;
  return Object.fromEntries(fields.map((f) => [f, after[f] - before[f]])) as unknown as ProxyCounters;
}

/** Runs one phase; a failure is kept in the figures, not thrown. With `plan.cluster` its proxy's /metrics are read around it. */
async function runPlan(children: ChildRegistry, plan: PhasePlan): Promise<PhaseFigures> {
  const figures: PhaseFigures = { label: plan.label, load: plan.load, target: plan.target };
  if (plan.security !== undefined) figures.security = plan.security;
  const cluster = plan.cluster;
  const before = cluster ? await readCounters(cluster.adminPort) : undefined;
  try {
    figures.result = await runPhase(children, plan.task);
  } catch (err) {
    figures.failure = (err as Error).message;
  }
  if (cluster) figures.counters = difference(await readCounters(cluster.adminPort), before);
  return figures;
}

/** HTTP GET at each pipelining depth against a no-op uWebSockets.js server: the load generator's ceiling. */
async function calibrate(children: ChildRegistry, plain: BenchTarget, o: ProxyBenchOptions): Promise<PhaseFigures[]> {
  const cluster = plain.cluster;
  const server = await startProgram(children, 'no-op server', 'bench/proxy-noop-server.js', []);
  try {
    const figures: PhaseFigures[] = [];
    for (const pipelining of o.pipelining) {
      const task: HttpPhaseTask = {
        ...base(plain, o, o.connections), kind: 'http', op: 'get', pipelining, httpPaths: o.httpPaths, driver: o.httpDriver, wrkPath: o.wrkPath,
        port: server.ready.httpPort as number, watch: [{ name: 'no-op server', pid: server.pid }, ...cluster.watched.slice(1)],
      };
      figures.push(await runPlan(children, { label: 'no-op GET', load: `${o.connections} conn x ${pipelining}`, task }));
      for (const line of formatPhase(figures[figures.length - 1])) say(line);
    }
    return figures;
  } finally {
    await children.stop(server.child);
  }
}

/**
 * One HTTP GET of `path` on the proxy's client port of `target`, with its credentials (and over
 * https:// trusting its CA when it has TLS); `authorize: false` leaves the credentials out.
 * Bounded by a 10 s timeout.
 */
function getJson(target: BenchTarget, path: string, authorize = true): Promise<{ status: number; body: unknown }> {
  const s = target.secure;
  const url = `${originOf(target.cluster.httpPort, s)}${path}`;
  const headers = s !== undefined && authorize ? { authorization: bearerOf(s) } : {};
  const options = { headers, timeout: 10_000, ...(s?.caFile === undefined ? {} : { ca: fs.readFileSync(s.caFile) }) };
  return new Promise((resolve, reject) => {
    const req = (s?.caFile === undefined ? http : https).get(url, options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: text });
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    req.on('error', reject);
  });
}

/**
 * Writes keys 1..keys over WebSocket as JSON strings, then checks one over HTTP; on a secure
 * cluster also that a request without credentials is refused (auth is really on).
 */
async function preload(children: ChildRegistry, target: BenchTarget, o: ProxyBenchOptions): Promise<void> {
  const task: WsPhaseTask = {
    ...base(target, o, Math.min(4, o.wsConnections)), kind: 'ws', op: 'load', depth: 64, driver: 'raw', batch: false, warmupSeconds: 0, seconds: 0, deadlineMs: 120_000,
  };
  const on = target.variant === undefined ? '' : ` (${target.variant})`;
  const load = await runPhase(children, task);
  if (load.errors > 0) throw new Error(`preload${on}: ${load.errors} of ${o.keys} writes failed (${load.errorSamples.join('; ')})`);
  say(`  preloaded${on} ${load.ops.toLocaleString('en-US')} keys in ${load.seconds.toFixed(2)} s over WebSocket (${Math.round(load.opsPerSec).toLocaleString('en-US')} SET/s)`);
  const key = benchKey(o.keys);
  const keyPath = `/v1/cache/${NAMESPACE}/${encodeURIComponent(key)}`;
  const res = await getJson(target, keyPath);
  const body = res.body as { hit?: boolean; value?: unknown };
  if (res.status !== 200 || body.hit !== true || typeof body.value !== 'string') throw new Error(`preload check${on}: GET ${key} answered ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
  say(`  check${on}: HTTP GET ${key} -> 200, hit, JSON string value of ${JSON.stringify(body.value).length} bytes`);
  if (target.secure === undefined) return;
  const refused = await getJson(target, keyPath, false);
  if (refused.status !== 401) throw new Error(`preload check${on}: GET ${key} without credentials answered ${refused.status}, not 401: auth is not on`);
  say(`  check${on}: the same GET without credentials -> 401`);
}

function printHeader(o: ProxyBenchOptions): void {
  const [load1] = os.loadavg();
  say(`shardcache proxy benchmark: etcd + ${SHARDS * (o.replicas + 1)} storage nodes + 1 proxy as processes on 127.0.0.1, load from separate worker processes`);
  say(`  machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}), load average ${load1.toFixed(2)} at start`);
  say(`  the load generators run on this same machine and compete with the proxy, nodes and etcd for its ${os.cpus().length} cores:`);
  say('  the figures are what the whole setup does together here, not the proxy alone on its own core');
  say(`  targets: >= ${PROXY_TARGETS.httpRequestsPerSec.toLocaleString('en-US')} HTTP req/s, >= ${PROXY_TARGETS.wsOpsPerSec.toLocaleString('en-US')} WebSocket ops/s`);
  say(`  ${o.keys.toLocaleString('en-US')} keys, ${o.valueBytes}-byte values, ${SHARDS} shards x ${o.replicas + 1} node(s); ${o.warmupSeconds} s warm-up + ${o.seconds} s measured per phase; bound ${o.timeoutSeconds} s`);
  say(`  HTTP: ${o.httpDriver === 'wrk' ? 'wrk (1 thread)' : 'autocannon (wrk not installed: apt-get install wrk)'}, ${o.connections} connections, pipelining ${o.pipelining.join(' and ')}, ${Math.min(o.httpPaths, o.keys).toLocaleString('en-US')} distinct keys`);
  if (o.only !== 'ws' && o.httpDriver === 'wrk' && o.pipelining.some((p) => p > 1)) {
    say('  wrk at pipelining above 1 records one latency per pipelined batch (from its write to its last reply), not one per request');
  }
  say(`  WebSocket: ${o.wsConnections} connections x ${o.wsDepth} in flight (${o.wsDriver} driver; ${o.wsBatching.join(' and ')} messages), random keys over all ${o.keys.toLocaleString('en-US')}`);
  say('  latencies in µs from the send of a request to its reply; CPU in % of one core over the measured window');
  if (o.policies) say('  --policies: the write-policy phases only (HTTP PUT at pipelining 1 and batched WS SET, each against cache-aside, write-through and write-behind)');
  if (o.secure) {
    say('  --secure: every phase runs against three clusters back to back: plain, auth (a bearer token on every HTTP request and');
    say('  WebSocket upgrade), auth+tls (HTTPS/WSS client port, node links over mutual TLS, cluster secret); wrk and autocannon');
    say('  do not verify the proxy\'s certificate, the WebSocket clients and the checks trust the bench CA');
  }
  if (load1 > 0.5) say('  note: other work is running on this machine; expect noisy figures');
}

function printProfile(o: ProxyBenchOptions, proxyPid: number): void {
  const dir = profileDir(o.proxyNodeFlags, process.cwd());
  if (dir === undefined) return;
  const file = findProfile(dir, proxyPid);
  say('');
  if (file === undefined) say(`no CPU profile of the proxy (pid ${proxyPid}) found in ${dir}`);
  else for (const line of formatProfile(summarizeProfile(file, 25))) say(line);
}

/**
 * With `--secure`: a cluster with auth on and one with auth plus TLS everywhere, each with its own
 * etcd (auth is a cluster's setting), as bench/peers.ts starts them. Their proxies serve /metrics
 * without credentials (--metrics-public), so the phases' counters are read as on the plain one.
 * Pushed to `clusters` as they start, so the caller stops whatever did start.
 */
async function startSecureTargets(children: ChildRegistry, o: ProxyBenchOptions, clusters: BenchCluster[]): Promise<BenchTarget[]> {
  const password = `bench-password-${process.pid}`;
  const shape = { shards: SHARDS, replicas: o.replicas, proxyNodeFlags: o.proxyNodeFlags, proxyArgs: [...o.proxyArgs, '--metrics-public'] };
  const auth = await startBenchCluster(children, { ...shape, cluster: `${CLUSTER_NAME}-auth`, secure: { password } });
  clusters.push(auth);
  say(`  auth: the same with auth on (user ${BENCH_USER}, grant *=write), proxy http :${auth.httpPort} admin :${auth.adminPort} (pid ${auth.proxy.pid})`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-bench-tls-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const tls = writeLocalTls(dir);
  const secure = await startBenchCluster(children, { ...shape, cluster: `${CLUSTER_NAME}-tls`, secure: { password, tls } });
  clusters.push(secure);
  say(`  auth+tls: auth on, HTTPS/WSS client port, node links over mutual TLS, cluster secret, proxy https :${secure.httpPort} admin :${secure.adminPort} (pid ${secure.proxy.pid})`);
  return [
    { cluster: auth, variant: 'auth', secure: { user: BENCH_USER, password } },
    { cluster: secure, variant: 'auth+tls', secure: { user: BENCH_USER, password, caFile: tls.caFile } },
  ];
}

/** `--policies`: the write-policy phases on the plain cluster (bench/proxy-policies.ts). */
async function runPolicies(children: ChildRegistry, o: ProxyBenchOptions): Promise<PolicyFigures[]> {
  const started = Date.now();
  say('\n== starting the cluster');
  const cluster = await startBenchCluster(children, { cluster: CLUSTER_NAME, shards: SHARDS, replicas: o.replicas, proxyNodeFlags: o.proxyNodeFlags, proxyArgs: o.proxyArgs });
  try {
    say(`  etcd ${cluster.etcdEndpoint}, ${cluster.nodes.length} storage nodes, proxy http :${cluster.httpPort} admin :${cluster.adminPort} (pid ${cluster.proxy.pid}); healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const target: BenchTarget = { cluster };
    const watch = (store: { name: string; pid: number }) => [...cluster.watched, store];
    say('\n== write-policy phases');
    return await runPolicyPhases(children, cluster, CLUSTER_NAME, [
      {
        label: 'HTTP PUT', load: `${o.connections} conn x 1`,
        task: (namespace, store) => ({ ...base(target, o, o.connections), namespace, watch: watch(store), kind: 'http', op: 'put', pipelining: 1, httpPaths: o.httpPaths, driver: o.httpDriver, wrkPath: o.wrkPath }),
      },
      {
        label: 'WS SET', load: `${o.wsConnections} ws x ${o.wsDepth} batched`,
        task: (namespace, store) => ({ ...base(target, o, o.wsConnections), namespace, watch: watch(store), kind: 'ws', op: 'set', depth: o.wsDepth, driver: o.wsDriver, batch: true }),
      },
    ], say);
  } finally {
    await cluster.stop();
  }
}

async function runAll(children: ChildRegistry, o: ProxyBenchOptions): Promise<PhaseFigures[]> {
  const started = Date.now();
  say(o.secure ? '\n== starting the clusters' : '\n== starting the cluster');
  const cluster = await startBenchCluster(children, { cluster: CLUSTER_NAME, shards: SHARDS, replicas: o.replicas, proxyNodeFlags: o.proxyNodeFlags, proxyArgs: o.proxyArgs });
  const clusters = [cluster];
  try {
    say(`  etcd ${cluster.etcdEndpoint}, ${cluster.nodes.length} storage nodes, proxy http :${cluster.httpPort} admin :${cluster.adminPort} (pid ${cluster.proxy.pid}); healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const plain: BenchTarget = o.secure ? { cluster, variant: 'plain' } : { cluster };
    const targets = [plain, ...(o.secure ? await startSecureTargets(children, o, clusters) : [])];
    if (o.secure) say(`  all ${targets.length} clusters healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const target of targets) await preload(children, target, o);
    const figures: PhaseFigures[] = [];
    if (o.calibrate && o.only !== 'ws') {
      say('\n== calibration: the same HTTP GET load against a no-op uWebSockets.js server (no proxy, no nodes)');
      figures.push(...(await calibrate(children, plain, o)));
    }
    say('\n== phases');
    for (const plan of planPhases(targets, o)) {
      const f = await runPlan(children, plan);
      for (const line of formatPhase(f)) say(line);
      figures.push(f);
    }
    return figures;
  } finally {
    for (const c of clusters.reverse()) await c.stop();
    printProfile(o, cluster.proxy.pid);
  }
}

/** Runs the whole benchmark and prints its figures; every process started is gone when it resolves. */
export function runProxyBench(o: ProxyBenchOptions): Promise<number> {
  return runBounded('proxy benchmark', o.timeoutSeconds, async (children) => {
    const started = Date.now();
    printHeader(o);
    if (o.policies) {
      const figures = await runPolicies(children, o);
      say('\n== write policies: the same write load against cache-aside, write-through and write-behind namespaces');
      for (const line of formatPolicySummary(figures)) say(line);
      for (const line of POLICY_LEGEND) say(`  ${line}`);
      say(`  total run time ${((Date.now() - started) / 1000).toFixed(1)} s`);
      return figures.every((f) => f.result) ? 0 : 1;
    }
    const figures = await runAll(children, o);
    say(`\n== summary (ops/s over the measured window; latencies in µs; CPU in % of one core, machine = all ${os.cpus().length} cores)`);
    for (const line of formatSummary(figures)) say(line);
    for (const line of SUMMARY_LEGEND) say(`  ${line}`);
    if (o.secure) {
      say('');
      for (const line of formatSecurityCost(figures)) say(line);
    }
    say(`  total run time ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return figures.every((f) => f.result) ? 0 : 1;
  });
}
