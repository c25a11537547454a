import type { LoadResult } from './load-task';
import { markdownTable } from './markdown';

/**
 * Printing the node benchmark's figures: one line per run, one block per memory test and the
 * final comparison table (shardcache, redis, their ratio, the target). Pure formatting.
 */

/** Figures of the throughput runs against one server. */
export interface ThroughputFigures {
  set: LoadResult;
  get: LoadResult;
}

/** Figures of the memory test against one fresh server. */
export interface MemoryFigures {
  items: number;
  /** Items the server reports holding after the load, when it can tell. */
  itemsStored: number | undefined;
  rssEmpty: number;
  rssLoaded: number;
  loadOpsPerSec: number;
}

/** Throughput runs of the hash and set commands, one field (member) per command. */
export interface CollectionThroughput {
  hset: LoadResult;
  hget: LoadResult;
  sadd: LoadResult;
  sismember: LoadResult;
}

/** Figures of hashes and sets (`bench/coll-wire.ts`) against one system. */
export interface CollectionFigures {
  /** Memory test with hashes of HASH_FIELDS fields loaded (one HSET each). */
  hashMemory: MemoryFigures;
  /** Memory test with sets of SET_MEMBERS members loaded (one SADD each). */
  setMemory: MemoryFigures;
  throughput: CollectionThroughput;
}

/** Everything measured on one system. */
export interface SystemFigures {
  name: string;
  throughput: ThroughputFigures;
  memory: MemoryFigures;
  /** Undefined when the collection part was skipped. */
  collections?: CollectionFigures;
}

/** The targets the benchmark checks. */
export const TARGETS = {
  /** Pipelined ops/s through one storage node, for SET and for GET. */
  minOpsPerSec: 200_000,
  /** RSS per item (delta) at most this many times redis-server's. */
  maxRssRatioToRedis: 1.5,
} as const;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const dec = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const mb = (bytes: number): string => `${dec(bytes / 1024 ** 2)} MB`;

/** Server CPU time (user + system) per reply in the measured window, in microseconds. */
export const serverCpuPerOpUs = (r: LoadResult): number => (r.serverCpuSeconds * 1e6) / r.ops;

/** Lines describing a finished load run; latencies in microseconds. */
export function formatRun(label: string, r: LoadResult): string[] {
  const cpuShare = (100 * r.serverCpuSeconds) / r.seconds;
  return [
    `  ${label.padEnd(5)} ${int(r.opsPerSec).padStart(9)} ops/s over ${dec(r.seconds, 2)} s (${int(r.ops)} replies, ` +
      `${int(r.misses)} misses, ${int(r.errors)} errors)`,
    `        latency µs: p50 ${dec(r.p50Us)}, p99 ${dec(r.p99Us)}, p99.9 ${dec(r.p999Us)}, max ${dec(r.maxUs)}, mean ${dec(r.meanUs)}`,
    `        server CPU: ${dec(cpuShare, 0)}% of one core, ${dec(serverCpuPerOpUs(r), 2)} µs per op ` +
      `(~${int(1e6 / serverCpuPerOpUs(r))} ops/s if it had a whole core)`,
  ];
}

/** Delta RSS per item in bytes. */
export const deltaPerItem = (m: MemoryFigures): number => (m.rssLoaded - m.rssEmpty) / m.items;
/** Absolute RSS per item in bytes. */
export const absolutePerItem = (m: MemoryFigures): number => m.rssLoaded / m.items;

/** The memory block of one system; `loadCommand` is what loaded one item. */
export function formatMemory(name: string, m: MemoryFigures, loadCommand = 'SET'): string[] {
  const stored = m.itemsStored === undefined ? 'not reported' : int(m.itemsStored);
  return [
    `  ${name}: loaded ${int(m.items)} items at ${int(m.loadOpsPerSec)} ${loadCommand}/s; items stored: ${stored}`,
    `    RSS empty ${mb(m.rssEmpty)} (${int(m.rssEmpty)} B), loaded ${mb(m.rssLoaded)} (${int(m.rssLoaded)} B), delta ${mb(m.rssLoaded - m.rssEmpty)}`,
    `    RSS per item: delta ${dec(deltaPerItem(m))} B/item, absolute ${dec(absolutePerItem(m))} B/item`,
  ];
}

interface Row {
  metric: string;
  pick: (s: SystemFigures) => number;
  format: (n: number) => string;
  target?: (mine: number, redis: number | undefined) => string;
  /** The row is printed only when this holds for shardcache's figures. */
  when?: (s: SystemFigures) => boolean;
}

const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');

const opsTarget = (mine: number): string => `>= ${int(TARGETS.minOpsPerSec)}: ${verdict(mine >= TARGETS.minOpsPerSec)}`;

function rssTarget(mine: number, redis: number | undefined): string {
  const target = `<= ${TARGETS.maxRssRatioToRedis}x redis`;
  if (redis === undefined) return `${target}: no redis to compare`;
  return `${target}: ${verdict(mine <= TARGETS.maxRssRatioToRedis * redis)} (${dec(mine / redis, 3)}x)`;
}

const ROWS: Row[] = [
  { metric: 'SET ops/s', pick: (s) => s.throughput.set.opsPerSec, format: int, target: opsTarget },
  { metric: 'SET p50 (µs)', pick: (s) => s.throughput.set.p50Us, format: (n) => dec(n) },
  { metric: 'SET p99 (µs)', pick: (s) => s.throughput.set.p99Us, format: (n) => dec(n) },
  { metric: 'SET p99.9 (µs)', pick: (s) => s.throughput.set.p999Us, format: (n) => dec(n) },
  { metric: 'SET server CPU/op (µs)', pick: (s) => serverCpuPerOpUs(s.throughput.set), format: (n) => dec(n, 2) },
  { metric: 'GET ops/s', pick: (s) => s.throughput.get.opsPerSec, format: int, target: opsTarget },
  { metric: 'GET p50 (µs)', pick: (s) => s.throughput.get.p50Us, format: (n) => dec(n) },
  { metric: 'GET p99 (µs)', pick: (s) => s.throughput.get.p99Us, format: (n) => dec(n) },
  { metric: 'GET p99.9 (µs)', pick: (s) => s.throughput.get.p999Us, format: (n) => dec(n) },
  { metric: 'GET server CPU/op (µs)', pick: (s) => serverCpuPerOpUs(s.throughput.get), format: (n) => dec(n, 2) },
  { metric: 'RSS/item delta (B)', pick: (s) => deltaPerItem(s.memory), format: (n) => dec(n), target: rssTarget },
  { metric: 'RSS/item absolute (B)', pick: (s) => absolutePerItem(s.memory), format: (n) => dec(n) },
  ...collectionRows(),
];

/** Rows of the hash and set figures; printed when the collection part ran. */
function collectionRows(): Row[] {
  const when = (s: SystemFigures): boolean => s.collections !== undefined;
  const memory = (kind: 'hashMemory' | 'setMemory') => (s: SystemFigures): number => (s.collections ? deltaPerItem(s.collections[kind]) : NaN);
  const rows: Row[] = [
    { metric: 'hash RSS/item delta (B)', pick: memory('hashMemory'), format: (n) => dec(n), target: rssTarget, when },
    { metric: 'set RSS/item delta (B)', pick: memory('setMemory'), format: (n) => dec(n), target: rssTarget, when },
  ];
  const runs: Array<[string, keyof CollectionThroughput]> = [['HSET', 'hset'], ['HGET', 'hget'], ['SADD', 'sadd'], ['SISMEMBER', 'sismember']];
  for (const [label, run] of runs) {
    const pick = (figure: (r: LoadResult) => number) => (s: SystemFigures): number => (s.collections ? figure(s.collections.throughput[run]) : NaN);
    rows.push(
      { metric: `${label} ops/s`, pick: pick((r) => r.opsPerSec), format: int, when },
      { metric: `${label} p50 (µs)`, pick: pick((r) => r.p50Us), format: (n) => dec(n), when },
      { metric: `${label} p99 (µs)`, pick: pick((r) => r.p99Us), format: (n) => dec(n), when },
    );
  }
  return rows;
}

/** The comparison table; `redis` is undefined when redis-server was not run. */
export function formatTable(mine: SystemFigures, redis: SystemFigures | undefined): string[] {
  const header = ['metric', mine.name, redis ? redis.name : 'redis', `${mine.name}/redis`, 'target'];
  const body = ROWS.filter((row) => !row.when || row.when(mine)).map((row) => {
    const a = row.pick(mine);
    const b = redis ? row.pick(redis) : undefined;
    const ratio = b === undefined ? '-' : `${dec(a / b, 2)}x`;
    return [row.metric, row.format(a), b === undefined ? '-' : row.format(b), ratio, row.target ? row.target(a, b) : ''];
  });
  return markdownTable(header, body, (col) => col !== 0 && col !== header.length - 1);
}
