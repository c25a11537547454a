import { spawn } from 'node:child_process';
import type { ChildRegistry } from './children';
import { readReapedChildrenCpuSeconds } from './procfs';
import { cpuOfAll, processTree } from './peers-servers';

/**
 * One redis-benchmark run against one target, and what it measured: ops/s and latency
 * percentiles from its `--csv` line (redis-benchmark 7 prints p50 and p99 there), plus the CPU
 * seconds the target's front process(es) used during the run (/proc), for CPU per op.
 */

/** The commands the peer benchmark compares. */
export type PeerTest = 'get' | 'set' | 'incr' | 'mget';
export const PEER_TESTS: readonly PeerTest[] = ['set', 'get', 'incr', 'mget'];

/** Keys one MGET names (as redis-benchmark's own MSET test writes 10). */
export const MGET_KEYS = 10;

/** What a target is to the runner: a port, and the process whose CPU is its front's. */
export interface PeerTarget {
  name: string;
  port: number;
  /** Process whose CPU (with its children) counts as the front's; undefined = not measured. */
  frontPid?: number;
  /** The processes behind the front (storage nodes, redis-servers): their CPU per request is reported too. */
  backendPids?: number[];
  /** More redis-benchmark flags for this target (credentials, TLS). */
  args?: string[];
}

/** Load shape of one run. */
export interface RunShape {
  test: PeerTest;
  pipeline: number;
  clients: number;
  requests: number;
  valueBytes: number;
  keys: number;
  timeoutMs: number;
}

/** Figures of one run. */
export interface PeerRun {
  target: string;
  test: PeerTest;
  pipeline: number;
  rps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** CPU µs per request of the target's front process(es); NaN when not measured. */
  frontCpuUs: number;
  /** CPU µs per request of the processes behind the front; NaN when not measured (redis-server alone has none). */
  backendCpuUs: number;
  /** CPU µs per request of redis-benchmark itself (the load generator shares the cores). */
  loadCpuUs: number;
}

/** redis-benchmark arguments of one run. */
export function benchmarkArgs(port: number, s: RunShape): string[] {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(s.clients), '-n', String(s.requests), '-d', String(s.valueBytes),
    '-P', String(s.pipeline), '-r', String(s.keys), '--csv'];
  if (s.test !== 'mget') return [...args, '-t', s.test];
  return [...args, 'MGET', ...Array.from({ length: MGET_KEYS }, () => 'key:__rand_int__')];
}

/** The figures of redis-benchmark's `--csv` output (header line, then one line per test). */
export function parseCsv(output: string): { rps: number; avgMs: number; p50Ms: number; p99Ms: number; maxMs: number } {
  const lines = output.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('"'));
  const header = lines.find((l) => l.startsWith('"test"'));
  const row = lines.filter((l) => !l.startsWith('"test"')).at(-1);
  if (header === undefined || row === undefined) throw new Error(`no CSV figures in redis-benchmark output: ${output.slice(-500)}`);
  const names = header.split(',').map((c) => c.replace(/"/g, ''));
  // The test name may hold commas only inside quotes; the figures are the last columns.
  const cells = row.match(/"[^"]*"/g)?.map((c) => c.slice(1, -1)) ?? [];
  const figures = cells.slice(cells.length - (names.length - 1));
  const at = (name: string): number => {
    const i = names.indexOf(name);
    if (i < 1) throw new Error(`redis-benchmark CSV has no ${name} column (header ${header}); redis-benchmark 7 or newer is needed`);
    return Number(figures[i - 1]);
  };
  return { rps: at('rps'), avgMs: at('avg_latency_ms'), p50Ms: at('p50_latency_ms'), p99Ms: at('p99_latency_ms'), maxMs: at('max_latency_ms') };
}

/** Runs redis-benchmark once against `target`; rejects if it fails or outlives the run's timeout. */
export async function runBenchmark(children: ChildRegistry, binary: string, target: PeerTarget, s: RunShape): Promise<PeerRun> {
  const pids = target.frontPid === undefined ? [] : processTree(target.frontPid);
  const backends = target.backendPids ?? [];
  const cpuBefore = cpuOfAll(pids);
  const backendBefore = cpuOfAll(backends);
  const loadBefore = readReapedChildrenCpuSeconds();
  const child = children.track(spawn(binary, [...(target.args ?? []), ...benchmarkArgs(target.port, s)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const timer = setTimeout(() => child.kill('SIGKILL'), s.timeoutMs);
  const code = await new Promise<number | string>((resolve) => child.once('close', (c, signal) => resolve(c ?? signal ?? 'unknown')));
  clearTimeout(timer);
  const cpu = cpuOfAll(pids) - cpuBefore;
  const backendCpu = cpuOfAll(backends) - backendBefore;
  const loadCpu = readReapedChildrenCpuSeconds() - loadBefore; // redis-benchmark, reaped by 'close'
  if (code !== 0) throw new Error(`redis-benchmark ${s.test} -P ${s.pipeline} against ${target.name} failed (${code}): ${stderr.trim() || stdout.slice(-500)}`);
  const f = parseCsv(stdout);
  return { target: target.name, test: s.test, pipeline: s.pipeline, ...f, frontCpuUs: pids.length === 0 ? NaN : (cpu * 1e6) / s.requests,
    backendCpuUs: backends.length === 0 ? NaN : (backendCpu * 1e6) / s.requests, loadCpuUs: (loadCpu * 1e6) / s.requests };
}
