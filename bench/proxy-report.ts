import { coreShare, cpuSecondsOf, otherCpuSeconds, type CpuUsage } from './proxy-cpu';
import type { PhaseResult } from './proxy-task';
import { markdownTable } from './markdown';

/**
 * Printing the proxy benchmark's figures: a block per phase as it finishes and the final table
 * with the targets and where the CPU went. Pure formatting.
 */

/** The targets the proxy benchmark checks (2-core machine, load generator on the same machine). */
export const PROXY_TARGETS = {
  httpRequestsPerSec: 40_000,
  wsOpsPerSec: 150_000,
} as const;

/** Counters of the proxy's /metrics over one phase (deltas). */
export interface ProxyCounters {
  hits: number;
  misses: number;
  coalesced: number;
  upstreamRequests: number;
  refused: number;
}

/** One phase: what was asked, its target and what came of it. */
export interface PhaseFigures {
  /** e.g. `HTTP GET`. */
  label: string;
  /** e.g. `50 conn x 1`. */
  load: string;
  /** Ops/s to reach; undefined for a calibration phase. */
  target?: number;
  result?: PhaseResult;
  failure?: string;
  counters?: ProxyCounters;
  /** With `--secure`: which of the three clusters the phase ran against. */
  security?: SecurityVariant;
}

/** The clusters of `bench proxy --secure`: plain, auth on, auth on with TLS everywhere. */
export const SECURITY_VARIANTS = ['plain', 'auth', 'auth+tls'] as const;
export type SecurityVariant = (typeof SECURITY_VARIANTS)[number];

/** The phase's label with its cluster, when it has one (`HTTP GET [auth+tls]`). */
const labelOf = (f: PhaseFigures): string => (f.security === undefined ? f.label : `${f.label} [${f.security}]`);

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const pct = (usage: CpuUsage, seconds: number): string => dec(coreShare(usage, seconds));

/** Verdict of one phase against its target. */
export function verdict(f: PhaseFigures): string {
  if (f.target === undefined) return '- (calibration)';
  if (!f.result) return `>= ${int(f.target)}: NOT met (failed)`;
  const met = f.result.opsPerSec >= f.target;
  return `>= ${int(f.target)}: ${met ? 'met' : `NOT met (${dec((100 * f.result.opsPerSec) / f.target)}%)`}`;
}

/** CPU of the server under load: the first watched process (the proxy, or the no-op server). */
const serverCpu = (usage: CpuUsage): number => usage.processes[0]?.cpuSeconds ?? NaN;

/** CPU of the server under load per successful reply, in microseconds. */
export const serverCpuPerOpUs = (r: PhaseResult): number => (serverCpu(r.cpu) * 1e6) / r.ops;

/** Per-process CPU of a window, as % of one core, nodes added up and listed; steal and other work apart. */
export function formatCpu(usage: CpuUsage): string {
  const parts = [`${usage.processes[0]?.name ?? 'server'} ${pct(usage, serverCpu(usage))}%`];
  const nodes = usage.processes.filter((p) => p.name.startsWith('node '));
  if (nodes.length > 0) parts.push(`nodes ${pct(usage, cpuSecondsOf(usage, 'node '))}% (${nodes.map((n) => pct(usage, n.cpuSeconds)).join(' + ')})`);
  if (usage.processes.some((p) => p.name === 'etcd')) parts.push(`etcd ${pct(usage, cpuSecondsOf(usage, 'etcd'))}%`);
  parts.push(
    `load generator ${pct(usage, cpuSecondsOf(usage, 'load generator'))}%`,
    `other processes ${pct(usage, otherCpuSeconds(usage))}%`,
    `steal ${pct(usage, usage.stealSeconds)}%`,
    `machine busy ${pct(usage, usage.machineBusySeconds)}% of ${usage.cpus * 100}%`,
  );
  return parts.join(', ');
}

function formatCounters(c: ProxyCounters, ops: number): string {
  const reads = c.hits + c.misses;
  const parts = [`${int(c.upstreamRequests)} upstream requests`];
  if (reads > 0) parts.push(`${int(c.hits)} hits, ${int(c.misses)} misses, ${int(c.coalesced)} GETs coalesced (${dec((100 * c.coalesced) / reads, 1)}%)`);
  if (c.refused > 0) parts.push(`${int(c.refused)} refused`);
  return `proxy counters (warm-up included, ${int(ops)} measured ops): ${parts.join(', ')}`;
}

/** The block printed when a phase ends. */
export function formatPhase(f: PhaseFigures): string[] {
  const head = `  ${labelOf(f).padEnd(9)} ${f.load.padEnd(18)}`;
  if (!f.result) return [`${head} FAILED: ${f.failure ?? 'unknown error'}`];
  const r = f.result;
  const misses = Number.isFinite(r.misses) ? `, ${int(r.misses)} misses` : '';
  const lines = [
    `${head} ${int(r.opsPerSec).padStart(9)} ops/s over ${dec(r.seconds, 2)} s (${int(r.ops)} ok${misses}, ${int(r.errors)} errors)  target ${verdict(f)}`,
    `        latency µs: p50 ${dec(r.p50Us)}, p99 ${dec(r.p99Us)}, p99.9 ${dec(r.p999Us)}, max ${dec(r.maxUs)}, mean ${dec(r.meanUs)}`,
    `        cpu (% of one core): ${formatCpu(r.cpu)}`,
    `        ${r.cpu.processes[0]?.name ?? 'server'} CPU per op: ${dec(serverCpuPerOpUs(r), 1)} µs (~${int(1e6 / serverCpuPerOpUs(r))} ops/s if it had a whole core to itself)`,
  ];
  if (f.counters) lines.push(`        ${formatCounters(f.counters, r.ops)}`);
  if (r.errorSamples.length > 0) lines.push(`        errors seen: ${r.errorSamples.join('; ')}`);
  return lines;
}

const COLUMNS = ['phase', 'load', 'ops/s', 'target', 'p50 µs', 'p99 µs', 'p99.9 µs', 'errors', 'proxy µs/op', 'proxy', 'nodes', 'load gen', 'other', 'steal', 'busy'];

function row(f: PhaseFigures): string[] {
  const r = f.result;
  if (!r) return [labelOf(f), f.load, 'failed', verdict(f), ...COLUMNS.slice(4).map(() => '-')];
  const u = r.cpu;
  const share = (seconds: number): string => `${pct(u, seconds)}%`;
  return [
    labelOf(f), f.load, int(r.opsPerSec), verdict(f), dec(r.p50Us), dec(r.p99Us), dec(r.p999Us), int(r.errors),
    dec(serverCpuPerOpUs(r), 1), share(serverCpu(u)), share(cpuSecondsOf(u, 'node ')), share(cpuSecondsOf(u, 'load generator')),
    share(otherCpuSeconds(u)), share(u.stealSeconds), share(u.machineBusySeconds),
  ];
}

/** What the summary table's CPU columns mean. */
export const SUMMARY_LEGEND = [
  'proxy µs/op = proxy CPU time per reply (1e6 / it = the ops/s the proxy could serve with a whole core to itself).',
  'CPU columns in % of one core over the measured window: proxy = the proxy process (in calibration rows: the no-op',
  'server), nodes = the storage nodes together, load gen = the load worker, other = everything else busy on the machine',
  '(other sessions, the kernel), steal = time the hypervisor ran other guests, busy = the whole machine (steal excluded).',
  'Under heavy steal the per-process times can include stolen time, so their shares (and µs/op) read high.',
];

/** The summary table: figures, targets and CPU per phase. */
export function formatSummary(phases: readonly PhaseFigures[]): string[] {
  const body = phases.map(row);
  const leftAligned = new Set([0, 1, 3]);
  return markdownTable(COLUMNS, body, (col) => !leftAligned.has(col));
}

/**
 * What security costs (`--secure`): for each phase, run back to back against the plain cluster,
 * the one with auth on and the one with auth plus TLS, the ops/s of each, their ratios to plain,
 * the p99 ratios and the proxy's CPU per op. A phase that failed on a cluster shows `-` there.
 */
export function formatSecurityCost(phases: readonly PhaseFigures[]): string[] {
  const head = ['phase', 'load', 'plain ops/s', 'auth ops/s', 'auth+tls ops/s', 'auth/plain ops', 'auth+tls/plain ops', 'auth/plain p99', 'auth+tls/plain p99', 'proxy CPU µs/op plain / auth / auth+tls'];
  const groups = new Map<string, Partial<Record<SecurityVariant, PhaseResult>> & { label: string; load: string }>();
  for (const f of phases) {
    if (f.security === undefined) continue;
    const key = `${f.label}\u0000${f.load}`;
    const group = groups.get(key) ?? { label: f.label, load: f.load };
    if (f.result) group[f.security] = f.result;
    groups.set(key, group);
  }
  const ratio = (a: number | undefined, b: number | undefined): string => {
    const n = a === undefined || b === undefined ? NaN : a / b;
    return Number.isFinite(n) ? `${n.toFixed(2)}x` : '-';
  };
  const rows = [...groups.values()].map((g) => {
    const [plain, auth, tls] = SECURITY_VARIANTS.map((v) => g[v]);
    const ops = (r: PhaseResult | undefined): string => (r ? int(r.opsPerSec) : '-');
    const cpu = (r: PhaseResult | undefined): string => (r ? dec(serverCpuPerOpUs(r), 1) : '-');
    return [
      g.label, g.load, ops(plain), ops(auth), ops(tls), ratio(auth?.opsPerSec, plain?.opsPerSec), ratio(tls?.opsPerSec, plain?.opsPerSec),
      ratio(auth?.p99Us, plain?.p99Us), ratio(tls?.p99Us, plain?.p99Us), `${cpu(plain)} / ${cpu(auth)} / ${cpu(tls)}`,
    ];
  });
  return [
    'the cost of security: each phase against the plain cluster, one with auth on (a bearer token on every HTTP request and WebSocket upgrade)',
    'and one with auth + TLS (https/wss client port, node links over mutual TLS, cluster secret), back to back in the same run',
    ...markdownTable(head, rows),
  ];
}
