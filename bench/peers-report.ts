import type { PeerRun, PeerTest } from './peers-run';
import { markdownTable } from './markdown';

/**
 * Printing the peer benchmark: one line per run while it goes, then one table with the median of
 * the rounds per target, test and pipeline depth, the ratio shardcache / twemproxy and the
 * targets of issue #15 (steps toward 1.0x everywhere). Pure formatting.
 */

/** Targets as ratios shardcache / twemproxy in the same run. */
export const PEER_TARGETS = {
  /** Throughput of GET, SET and INCR at pipeline 16. */
  minOpsRatioPipelined: 0.5,
  /** Throughput of GET, SET and INCR at pipeline 1. */
  minOpsRatioUnpipelined: 0.75,
  /** Throughput of MGET at both depths. */
  minOpsRatioMget: 0.8,
  /** p99 at pipeline 1, at most this many times twemproxy's. */
  maxP99RatioUnpipelined: 1.5,
} as const;

export const SHARDCACHE = 'shardcache';
export const TWEMPROXY = 'twemproxy';
export const REDIS = 'redis';
/** shardcache with auth on (`--secure`). */
export const SHARDCACHE_AUTH = 'shardcache+auth';
/** shardcache with auth on and TLS on the client port and node links, with the cluster secret (`--secure`). */
export const SHARDCACHE_TLS = 'shardcache+auth+tls';

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : 'n/a');
const us = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

/** One line for a finished run. */
export function formatRun(round: number, r: PeerRun): string {
  return `  round ${round} ${r.target.padEnd(10)} ${r.test.toUpperCase().padEnd(4)} -P ${String(r.pipeline).padEnd(2)} ${int(r.rps).padStart(9)} ops/s  ` +
    `p50 ${ms(r.p50Ms)} ms  p99 ${ms(r.p99Ms)} ms  max ${ms(r.maxMs)} ms  CPU µs/op front ${us(r.frontCpuUs)} backends ${us(r.backendCpuUs)} load ${us(r.loadCpuUs)}`;
}

function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Median figures of one target for one test and depth. */
interface Cell {
  rps: number;
  p50: number;
  p99: number;
  cpu: number;
  backendCpu: number;
  loadCpu: number;
}

function cell(runs: readonly PeerRun[], target: string, test: PeerTest, pipeline: number): Cell | undefined {
  const mine = runs.filter((r) => r.target === target && r.test === test && r.pipeline === pipeline);
  if (mine.length === 0) return undefined;
  return {
    rps: median(mine.map((r) => r.rps)), p50: median(mine.map((r) => r.p50Ms)), p99: median(mine.map((r) => r.p99Ms)), cpu: median(mine.map((r) => r.frontCpuUs)),
    backendCpu: median(mine.map((r) => r.backendCpuUs)), loadCpu: median(mine.map((r) => r.loadCpuUs)),
  };
}

function verdicts(test: PeerTest, pipeline: number, sc: Cell, tw: Cell): string {
  const opsTarget = test === 'mget' ? PEER_TARGETS.minOpsRatioMget : pipeline > 1 ? PEER_TARGETS.minOpsRatioPipelined : PEER_TARGETS.minOpsRatioUnpipelined;
  const out = [`ops ≥ ${opsTarget}x: ${sc.rps / tw.rps >= opsTarget ? 'met' : 'NOT met'}`];
  if (pipeline === 1) out.push(`p99 ≤ ${PEER_TARGETS.maxP99RatioUnpipelined}x: ${sc.p99 / tw.p99 <= PEER_TARGETS.maxP99RatioUnpipelined ? 'met' : 'NOT met'}`);
  return out.join(', ');
}

/** The summary table: medians over the rounds. */
export function formatTable(runs: readonly PeerRun[], tests: readonly PeerTest[], pipelines: readonly number[], targets: readonly string[], rounds: number): string[] {
  const head = ['test', ...targets.flatMap((t) => [`${t} ops/s`, 'p50 ms', 'p99 ms', 'CPU µs/op']), 'sc/tw ops', 'sc/tw p99', 'targets'];
  const rows: string[][] = [];
  for (const pipeline of pipelines) {
    for (const test of tests) {
      const cells = targets.map((t) => cell(runs, t, test, pipeline));
      const sc = cell(runs, SHARDCACHE, test, pipeline);
      const tw = cell(runs, TWEMPROXY, test, pipeline);
      rows.push([
        `${test.toUpperCase()} -P ${pipeline}`,
        ...cells.flatMap((c) => (c === undefined ? ['-', '-', '-', '-'] : [int(c.rps), ms(c.p50), ms(c.p99), us(c.cpu)])),
        sc && tw ? ratio(sc.rps / tw.rps) : '-',
        sc && tw ? ratio(sc.p99 / tw.p99) : '-',
        sc && tw ? verdicts(test, pipeline, sc, tw) : '',
      ]);
    }
  }
  return [
    `medians of ${rounds} interleaved round(s); CPU µs/op is the front process's (shardcache proxy, nutcracker, redis-server) per request`,
    ...markdownTable(head, rows),
  ];
}

/**
 * Where the machine's CPU goes per request, for each target: its front, the processes behind it
 * (storage nodes, redis-servers) and redis-benchmark, medians over the rounds. On a machine whose
 * cores all serve the run, throughput is about the cores over the total.
 */
export function formatCpuTable(runs: readonly PeerRun[], tests: readonly PeerTest[], pipelines: readonly number[], targets: readonly string[]): string[] {
  const head = ['test', ...targets.map((t) => `${t}: front + backends + load = total µs`)];
  const rows: string[][] = [];
  for (const pipeline of pipelines) {
    for (const test of tests) {
      rows.push([`${test.toUpperCase()} -P ${pipeline}`, ...targets.map((t) => {
        const c = cell(runs, t, test, pipeline);
        if (c === undefined) return '-';
        const parts = [c.cpu, c.backendCpu, c.loadCpu];
        const total = parts.filter(Number.isFinite).reduce((a, b) => a + b, 0);
        return `${parts.map(us).join(' + ')} = ${us(total)}`;
      })]);
    }
  }
  return ['', 'the machine\'s CPU per request (medians): front process, processes behind it, redis-benchmark', ...markdownTable(head, rows)];
}

/**
 * What security costs (`--secure`): medians of shardcache with auth on and with auth plus TLS,
 * as ratios to plain shardcache in the same run (throughput, p99, proxy CPU per request).
 */
export function formatSecurityCost(runs: readonly PeerRun[], tests: readonly PeerTest[], pipelines: readonly number[]): string[] {
  const head = ['test', 'plain ops/s', 'auth ops/s', 'auth+tls ops/s', 'auth/plain ops', 'auth+tls/plain ops', 'auth+tls/plain p99', 'CPU µs/op plain / auth / auth+tls'];
  const rows: string[][] = [];
  for (const pipeline of pipelines) {
    for (const test of tests) {
      const plain = cell(runs, SHARDCACHE, test, pipeline);
      const auth = cell(runs, SHARDCACHE_AUTH, test, pipeline);
      const tls = cell(runs, SHARDCACHE_TLS, test, pipeline);
      if (!plain || !auth || !tls) continue;
      rows.push([`${test.toUpperCase()} -P ${pipeline}`, int(plain.rps), int(auth.rps), int(tls.rps), ratio(auth.rps / plain.rps), ratio(tls.rps / plain.rps), ratio(tls.p99 / plain.p99),
        `${us(plain.cpu)} / ${us(auth.cpu)} / ${us(tls.cpu)}`]);
    }
  }
  return ['', 'the cost of security: shardcache with auth on, and with auth + TLS (client port, node links, cluster secret), against plain shardcache in the same run',
    ...markdownTable(head, rows)];
}
