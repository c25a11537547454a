import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildRegistry } from './children';
import { benchShardctl, startProgram, type BenchCluster, type ClusterProcess } from './proxy-cluster';
import { cpuSecondsOf } from './proxy-cpu';
import { formatPhase, serverCpuPerOpUs, type PhaseFigures } from './proxy-report';
import { runPhase, type PhaseResult, type PhaseTask } from './proxy-task';
import { markdownTable } from './markdown';

/**
 * `bench proxy --policies` (issue 17): what each write policy costs against cache-aside. The same
 * write load (HTTP PUT, 50 connections; batched WebSocket SET) runs against three namespaces of
 * the bench cluster, one per policy, back to back:
 *
 *   wp-aside    cache-aside (no store)
 *   wp-through  write-through to the store (every write waits for the store; a turn's writes go in one bulk request)
 *   wp-behind   write-behind to the store, bulk endpoint on, default delay (1 s) and batch (500)
 *
 *   orchestrator ──spawn──► store (bench/store-child.ts: scripts/store-server.ts, a real HTTP server on 127.0.0.1)
 *                ──shardctl ns set──► the two store namespaces; a probe write through each reaches the store
 *                ──fork──► the phase's load worker ... then, for write-behind, `shardctl ns flush` (timed)
 *
 * Each phase reports ops/s, p50/p99, the CPU per acknowledged write of the proxy, the nodes and the
 * store, and the store requests and store writes (a bulk request carries many) per acknowledged
 * write, counted from the proxy's own `requests_total{namespace, code="ok"}` over warm-up and
 * measured window (the store's counters over the same span, after the flush).
 */

export const POLICIES = ['cache-aside', 'write-through', 'write-behind'] as const;
export type Policy = (typeof POLICIES)[number];

export const POLICY_NAMESPACES: Record<Policy, string> = { 'cache-aside': 'wp-aside', 'write-through': 'wp-through', 'write-behind': 'wp-behind' };

/** One policy phase: the usual figures and the store's. */
export interface PolicyFigures extends PhaseFigures {
  policy: Policy;
  /** Writes the proxy acknowledged in the namespace over warm-up and measured window. */
  acked: number;
  /** Store HTTP requests and store writes (bulk items count one each) over the same span, flushed. */
  storeRequests: number;
  storeWrites: number;
  /** Write-behind: how long `shardctl ns flush` took after the phase (the queue left at its end). */
  flushMs?: number;
}

interface StoreStats {
  requests: number;
  writes: number;
  accepted: number;
  staleRejected: number;
}

async function storeStats(statsPort: number): Promise<StoreStats> {
  const res = await fetch(`http://127.0.0.1:${statsPort}/`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as StoreStats;
}

/** Requests the proxy answered `ok` in namespace `ns`, every front and op (its /metrics). */
export function okRequestsOf(metrics: string, ns: string): number {
  let sum = 0;
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('shardcache_proxy_requests_total{')) continue;
    if (!line.includes(`namespace="${ns}"`) || !line.includes('code="ok"')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function ackedWrites(adminPort: number, ns: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return okRequestsOf(text, ns);
}

/** One HTTP PUT of `key` in `ns` through the proxy; its status. */
async function put(cluster: BenchCluster, ns: string, key: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${cluster.httpPort}/v1/cache/${ns}/${encodeURIComponent(key)}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value: 'probe' }), signal: AbortSignal.timeout(5000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** Waits (bounded) until a probe write in `ns` reaches the store: the nodes and the proxy have the policy. */
async function probe(children: ChildRegistry, cluster: BenchCluster, clusterName: string, ns: string, statsPort: number, flush: boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  let last = '';
  for (let i = 0; Date.now() < deadline; i++) {
    const before = (await storeStats(statsPort)).writes;
    const status = await put(cluster, ns, `probe-${i}`).catch((err: Error) => err.message);
    if (flush) await benchShardctl(children, cluster.etcdEndpoint, clusterName, ['ns', 'flush', ns, '--timeout', '5000']).catch(() => undefined);
    if ((await storeStats(statsPort)).writes > before) return;
    last = `PUT answered ${status}`;
    await sleep(200);
  }
  throw new Error(`no probe write in ${ns} reached the store within 20 s (last: ${last})`);
}

/**
 * Runs the policy phases on `cluster`: starts the store, sets the namespaces, then for each load
 * of `loads` (a task per namespace) each policy in turn. Printing as each phase ends.
 */
export async function runPolicyPhases(
  children: ChildRegistry, cluster: BenchCluster, clusterName: string,
  loads: ReadonlyArray<{ label: string; load: string; task: (ns: string, watchStore: { name: string; pid: number }) => PhaseTask }>,
  say: (line: string) => void,
): Promise<PolicyFigures[]> {
  const store: ClusterProcess = await startProgram(children, 'store', 'bench/store-child.js', []);
  try {
    const port = store.ready.port as number;
    const statsPort = store.ready.statsPort as number;
    const template = `http://127.0.0.1:${port}/items/{key}`;
    const ctl = (args: string[]): Promise<void> => benchShardctl(children, cluster.etcdEndpoint, clusterName, args);
    await ctl(['ns', 'set', POLICY_NAMESPACES['write-through'], '--write-policy', 'write-through', '--store', template, '--store-bulk-url', `http://127.0.0.1:${port}/bulk`]);
    await ctl(['ns', 'set', POLICY_NAMESPACES['write-behind'], '--write-policy', 'write-behind', '--store', template, '--store-bulk-url', `http://127.0.0.1:${port}/bulk`]);
    await probe(children, cluster, clusterName, POLICY_NAMESPACES['write-through'], statsPort, false);
    await probe(children, cluster, clusterName, POLICY_NAMESPACES['write-behind'], statsPort, true);
    say(`  store (pid ${store.pid}) on ${template}, bulk endpoint on; ${POLICY_NAMESPACES['write-through']}: write-through (bulk), ${POLICY_NAMESPACES['write-behind']}: write-behind (delay 1000 ms, batch 500, bulk), ${POLICY_NAMESPACES['cache-aside']}: cache-aside`);
    const figures: PolicyFigures[] = [];
    for (const l of loads) {
      for (const policy of POLICIES) {
        const ns = POLICY_NAMESPACES[policy];
        const f: PolicyFigures = { label: l.label, load: l.load, policy, acked: 0, storeRequests: 0, storeWrites: 0 };
        const [ackedBefore, storeBefore] = await Promise.all([ackedWrites(cluster.adminPort, ns), storeStats(statsPort)]);
        try {
          f.result = await runPhase(children, l.task(ns, { name: 'store', pid: store.pid }));
        } catch (err) {
          f.failure = (err as Error).message;
        }
        if (policy === 'write-behind') {
          const started = Date.now();
          await ctl(['ns', 'flush', ns, '--timeout', '15000']).catch((err: Error) => say(`  ns flush ${ns}: ${err.message}`));
          f.flushMs = Date.now() - started;
        }
        const [ackedAfter, storeAfter] = await Promise.all([ackedWrites(cluster.adminPort, ns), storeStats(statsPort)]);
        f.acked = ackedAfter - ackedBefore;
        f.storeRequests = storeAfter.requests - storeBefore.requests;
        f.storeWrites = storeAfter.writes - storeBefore.writes;
        // No ops/s target for these phases: formatPhase's "target - (calibration)" is left out.
        for (const line of formatPhase({ ...f, label: `${f.label} [${policy}]` })) say(line.replace('  target - (calibration)', ''));
        say(`        ${policyLine(f)}`);
        figures.push(f);
      }
    }
    return figures;
  } finally {
    await children.stop(store.child);
  }
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

/** CPU µs per acknowledged write of the processes whose name starts with `prefix`. */
const cpuPerOp = (r: PhaseResult, prefix: string): number => (cpuSecondsOf(r.cpu, prefix) * 1e6) / r.ops;

function policyLine(f: PolicyFigures): string {
  const perWrite = f.acked > 0 ? `${dec(f.storeRequests / f.acked, 3)} store requests and ${dec(f.storeWrites / f.acked, 3)} store writes per acknowledged write` : 'no write acknowledged';
  const flush = f.flushMs === undefined ? '' : `; ns flush after the phase ${f.flushMs} ms`;
  return `store: ${int(f.storeRequests)} requests, ${int(f.storeWrites)} writes for ${int(f.acked)} acknowledged writes (warm-up included): ${perWrite}${flush}`;
}

/** The comparison table: one row per load and policy, ops/s relative to cache-aside under the same load. */
export function formatPolicySummary(figures: readonly PolicyFigures[]): string[] {
  const head = ['phase', 'load', 'policy', 'ops/s', 'vs cache-aside', 'p50 µs', 'p99 µs', 'errors', 'proxy µs/op', 'nodes µs/op', 'store µs/op', 'store req/write', 'store writes/write', 'flush ms'];
  const rows = figures.map((f) => {
    const r = f.result;
    const aside = figures.find((g) => g.label === f.label && g.load === f.load && g.policy === 'cache-aside')?.result;
    if (!r) return [f.label, f.load, f.policy, 'failed', '-', '-', '-', '-', '-', '-', '-', '-', '-', '-'];
    return [
      f.label, f.load, f.policy, int(r.opsPerSec), aside ? `${(r.opsPerSec / aside.opsPerSec).toFixed(2)}x` : '-', dec(r.p50Us, 0), dec(r.p99Us, 0), int(r.errors),
      dec(serverCpuPerOpUs(r)), dec(cpuPerOp(r, 'node ')), dec(cpuPerOp(r, 'store')),
      f.acked > 0 ? dec(f.storeRequests / f.acked, 3) : '-', f.acked > 0 ? dec(f.storeWrites / f.acked, 3) : '-', f.flushMs === undefined ? '-' : String(f.flushMs),
    ];
  });
  return markdownTable(head, rows);
}

export const POLICY_LEGEND = [
  'ops/s and latencies over the measured window; vs cache-aside = ops/s over the cache-aside row of the same load.',
  'µs/op = CPU time per acknowledged write of the proxy, the storage nodes together, and the store process (from /proc).',
  'store req/write = store HTTP requests per acknowledged write, store writes/write = writes the store applied or refused',
  '(a bulk request carries many) per acknowledged write: for write-through 1 store write and one request per turn of writes; for write-behind the coalescing',
  '(1 / store writes/write = acknowledged writes per store write) and the batching (store writes per request).',
];
