import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { findOnPath, runBounded, runWorker, type ChildRegistry } from './children';
import { readRssBytes } from './procfs';
import { isLoadMode, type LoadMode, type LoadResult, type LoadTask } from './load-task';
import { MGET_KEYS } from './load-worker';
import { ELEMENT_BYTES, HASH_FIELDS, hashKey, SET_MEMBERS, setKey } from './coll-wire';
import {
  formatMemory, formatRun, formatTable, serverCpuPerOpUs, TARGETS,
  type CollectionFigures, type CollectionThroughput, type MemoryFigures, type SystemFigures, type ThroughputFigures,
} from './report';
import { nodeAccountedBytes, nodeItemCount, redisItemCount, redisObjectEncoding, startRedis, startStorageNode, type ServerUnderTest } from './servers';
import type { Protocol } from './wire';

/**
 * The node benchmark: one storage node over loopback TCP, driven by a separate load worker
 * process, and the same load against redis-server when it is installed.
 *
 *   orchestrator ──fork──► load worker ──TCP 127.0.0.1, pipelined──► storage node | redis-server
 *        └──────── spawns and kills the servers, reads their RSS from /proc/<pid>/status
 *
 * Per system: a fresh server for SET, GET, MGET (MGET_KEYS keys that exist per request) and INCR
 * throughput (keyspace preloaded before GET), and a fresh server for memory (RSS before and after
 * loading `items` keys). Unless `--no-collections`, the same for hashes and sets
 * (`bench/coll-wire.ts`): a fresh server for HSET, HGET, SADD and SISMEMBER throughput (one field
 * or member per command), and one fresh server each for the memory of `items` hashes (one HSET of
 * HASH_FIELDS pairs per key) and of `items` sets (one SADD of SET_MEMBERS members per key).
 * Every process started is killed on exit, error or SIGINT, and the whole run is bounded by `--timeout`.
 */

/** Knobs of the node benchmark, from its flags. */
export interface NodeBenchOptions {
  connections: number;
  depth: number;
  seconds: number;
  warmupSeconds: number;
  keyspace: number;
  items: number;
  valueBytes: number;
  loadDepth: number;
  timeoutSeconds: number;
  redis: boolean;
  /** Measure hashes and sets too (memory per item, HSET/HGET/SADD/SISMEMBER throughput). */
  collections: boolean;
  /** Extra node flags for the throughput storage node (e.g. --cpu-prof). */
  nodeFlags: string[];
}

/** Usage of `bench node`. */
export const NODE_BENCH_USAGE = `usage: npm run bench -- node [flags]
  --connections <n>   connections of the load worker (default 4)
  --depth <n>         requests in flight per connection (default 16)
  --seconds <s>       measured seconds per operation (default 5)
  --warmup <s>        unmeasured seconds before each measurement (default 1)
  --keyspace <n>      keys read and written by the SET/GET runs (default 100000)
  --items <n>         items loaded for the memory test (default 1000000)
  --value-bytes <n>   value size (default 100)
  --load-depth <n>    requests in flight per connection while loading (default 64)
  --timeout <s>       bound on the whole run (default 600)
  --no-redis          skip the redis-server comparison
  --no-collections    skip the hash and set part (memory per item of 10-field hashes and 10-member sets,
                      HSET/HGET/SADD/SISMEMBER throughput)
  --node-flags="<f>"  extra node flags for the throughput storage node, e.g. --node-flags="--cpu-prof --cpu-prof-dir=/tmp/prof"`;

const NODE_HEAP_FLAG = '--max-old-space-size=4096';
const NODE_MAX_MEMORY = '2gb';

function positive(name: string, raw: string | undefined, fallback: number): number {
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number, got ${String(raw)}`);
  return value;
}

/** Parses the flags; returns undefined when usage was asked for. Throws on a bad flag. */
export function parseNodeBenchOptions(argv: readonly string[]): NodeBenchOptions | undefined {
  const text = { type: 'string' } as const;
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      connections: text, depth: text, seconds: text, warmup: text, keyspace: text, items: text, 'value-bytes': text,
      'load-depth': text, timeout: text, 'node-flags': text, 'no-redis': { type: 'boolean' },
      'no-collections': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const whole = (name: keyof typeof values, fallback: number): number => Math.round(positive(name, values[name] as string | undefined, fallback));
  return {
    connections: whole('connections', 4),
    depth: whole('depth', 16),
    seconds: positive('seconds', values.seconds, 5),
    warmupSeconds: values.warmup === '0' ? 0 : positive('warmup', values.warmup, 1),
    keyspace: whole('keyspace', 100_000),
    items: whole('items', 1_000_000),
    valueBytes: whole('value-bytes', 100),
    loadDepth: whole('load-depth', 64),
    timeoutSeconds: positive('timeout', values.timeout, 600),
    redis: !values['no-redis'],
    collections: !values['no-collections'],
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter(Boolean),
  };
}

/** A server kind under test: how to start a fresh one and how to ask its item count. */
interface System {
  name: string;
  protocol: Protocol;
  start(purpose: 'throughput' | 'memory'): Promise<ServerUnderTest>;
  itemCount(port: number): Promise<number | undefined>;
  /** One line about how the loaded server holds `key` (its accounting, its encoding), if it can tell. */
  describe(port: number, key: string, items: number): Promise<string | undefined>;
}

function shardcacheSystem(children: ChildRegistry, o: NodeBenchOptions): System {
  return {
    name: 'shardcache',
    protocol: 'frame',
    start: (purpose) => startStorageNode(children, purpose === 'throughput' ? [NODE_HEAP_FLAG, ...o.nodeFlags] : [NODE_HEAP_FLAG], NODE_MAX_MEMORY),
    itemCount: nodeItemCount,
    describe: async (port, _key, items) => {
      const bytes = await nodeAccountedBytes(port).catch(() => undefined);
      return bytes === undefined ? undefined : `accounted by the node (STATS bytes): ${(bytes / items).toFixed(1)} B/item`;
    },
  };
}

function redisSystem(children: ChildRegistry, redisServer: string): System {
  return {
    name: 'redis',
    protocol: 'resp',
    start: () => startRedis(children, redisServer),
    itemCount: redisItemCount,
    describe: async (port, key) => {
      const encoding = await redisObjectEncoding(port, key);
      return encoding === undefined ? undefined : `OBJECT ENCODING ${key}: ${encoding}`;
    },
  };
}

function loadTask(server: ServerUnderTest, protocol: Protocol, mode: LoadMode, o: NodeBenchOptions, keys: number): LoadTask {
  const loading = isLoadMode(mode);
  return {
    protocol, port: server.port, serverPid: server.pid, mode, keyspace: keys, valueBytes: o.valueBytes,
    connections: o.connections,
    depth: loading ? o.loadDepth : o.depth,
    warmupSeconds: loading ? 0 : o.warmupSeconds,
    seconds: loading ? 0 : o.seconds,
    deadlineMs: loading ? 300_000 : (o.warmupSeconds + o.seconds) * 1000 + 30_000,
  };
}

const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** The throughput runs: SET and GET (the summary table's), then MGET and INCR. */
interface NodeThroughput extends ThroughputFigures {
  mget: LoadResult;
  incr: LoadResult;
}

interface NodeSystemFigures extends SystemFigures {
  throughput: NodeThroughput;
}

async function measureThroughput(children: ChildRegistry, system: System, o: NodeBenchOptions): Promise<NodeThroughput> {
  const server = await system.start('throughput');
  try {
    const run = (mode: LoadTask['mode'], keys: number): Promise<LoadResult> => runWorker(children, loadTask(server, system.protocol, mode, o, keys));
    const set = await run('set', o.keyspace);
    for (const line of formatRun('SET', set)) say(line);
    const preload = await run('load', o.keyspace);
    say(`  preloaded ${preload.ops.toLocaleString('en-US')} keys for GET (${Math.round(preload.opsPerSec).toLocaleString('en-US')} SET/s)`);
    const get = await run('get', o.keyspace);
    for (const line of formatRun('GET', get)) say(line);
    const mget = await run('mget', o.keyspace);
    for (const line of formatRun('MGET', mget)) say(line);
    say(`        ${MGET_KEYS} keys per MGET: ${Math.round(mget.opsPerSec * MGET_KEYS).toLocaleString('en-US')} keys/s, server CPU ${(serverCpuPerOpUs(mget) / MGET_KEYS).toFixed(2)} µs per key`);
    const incr = await run('incr', o.keyspace);
    for (const line of formatRun('INCR', incr)) say(line);
    return { set, get, mget, incr };
  } finally {
    await children.stop(server.child);
  }
}

/** RSS of a fresh server before and after loading `o.items` items with `mode`; `sampleKey`: a key the load wrote, for `describe`. */
async function measureMemory(children: ChildRegistry, system: System, o: NodeBenchOptions, mode: LoadMode = 'load', sampleKey?: string): Promise<MemoryFigures & { detail?: string }> {
  const server = await system.start('memory');
  try {
    await sleep(500);
    const rssEmpty = readRssBytes(server.pid);
    const load = await runWorker(children, loadTask(server, system.protocol, mode, o, o.items));
    await sleep(1000);
    const rssLoaded = readRssBytes(server.pid);
    const itemsStored = await system.itemCount(server.port);
    const detail = sampleKey === undefined ? undefined : await system.describe(server.port, sampleKey, o.items);
    return { items: o.items, itemsStored, rssEmpty, rssLoaded, loadOpsPerSec: load.opsPerSec, detail };
  } finally {
    await children.stop(server.child);
  }
}

/** HSET, then HGET on preloaded hashes; SADD, then SISMEMBER on preloaded sets: one field or member per command. */
async function measureCollectionThroughput(children: ChildRegistry, system: System, o: NodeBenchOptions): Promise<CollectionThroughput> {
  const server = await system.start('throughput');
  try {
    const run = (mode: LoadMode): Promise<LoadResult> => runWorker(children, loadTask(server, system.protocol, mode, o, o.keyspace));
    const preload = async (mode: LoadMode, command: string): Promise<void> => {
      const r = await run(mode);
      say(`  preloaded ${r.ops.toLocaleString('en-US')} keys (${Math.round(r.opsPerSec).toLocaleString('en-US')} ${command}/s, errors ${r.errors})`);
    };
    const hset = await run('hset');
    for (const line of formatRun('HSET', hset)) say(line);
    await preload('hload', `HSET of ${HASH_FIELDS} pairs`);
    const hget = await run('hget');
    for (const line of formatRun('HGET', hget)) say(line);
    const sadd = await run('sadd');
    for (const line of formatRun('SADD', sadd)) say(line);
    await preload('sload', `SADD of ${SET_MEMBERS} members`);
    const sismember = await run('sismember');
    for (const line of formatRun('SISMEMBER', sismember)) say(line);
    return { hset, hget, sadd, sismember };
  } finally {
    await children.stop(server.child);
  }
}

async function measureCollections(children: ChildRegistry, system: System, o: NodeBenchOptions): Promise<CollectionFigures> {
  say(`== ${system.name}: hash and set throughput (one field or member per command, ${o.keyspace.toLocaleString('en-US')} keys)`);
  const throughput = await measureCollectionThroughput(children, system, o);
  const memoryOf = async (what: string, mode: LoadMode, command: string, sampleKey: string): Promise<MemoryFigures> => {
    say(`== ${system.name}: memory of ${what} (${o.items.toLocaleString('en-US')} items into a fresh server)`);
    const m = await measureMemory(children, system, o, mode, sampleKey);
    for (const line of formatMemory(system.name, m, command)) say(line);
    if (m.detail !== undefined) say(`    ${m.detail}`);
    return m;
  };
  const hashMemory = await memoryOf(`hashes of ${HASH_FIELDS} fields x ${ELEMENT_BYTES}-byte values`, 'hload', 'HSET', hashKey(1));
  const setMemory = await memoryOf(`sets of ${SET_MEMBERS} members of ${ELEMENT_BYTES} bytes`, 'sload', 'SADD', setKey(1));
  return { hashMemory, setMemory, throughput };
}

async function measureSystem(children: ChildRegistry, system: System, o: NodeBenchOptions): Promise<NodeSystemFigures> {
  say(`\n== ${system.name}: throughput (${o.connections} connections x ${o.depth} in flight, ${o.valueBytes}-byte values, ${o.keyspace.toLocaleString('en-US')} keys)`);
  const throughput = await measureThroughput(children, system, o);
  say(`== ${system.name}: memory (${o.items.toLocaleString('en-US')} items into a fresh server)`);
  const memory = await measureMemory(children, system, o);
  for (const line of formatMemory(system.name, memory)) say(line);
  const collections = o.collections ? await measureCollections(children, system, o) : undefined;
  return { name: system.name, throughput, memory, collections };
}

function printHeader(o: NodeBenchOptions): void {
  say('shardcache node benchmark: one storage node on 127.0.0.1, load from a separate worker process');
  say(`  ${o.connections} connections x ${o.depth} requests in flight, ${o.seconds} s measured after ${o.warmupSeconds} s warm-up per operation`);
  say(`  targets: >= ${TARGETS.minOpsPerSec.toLocaleString('en-US')} ops/s pipelined through one node; RSS per item <= ${TARGETS.maxRssRatioToRedis}x redis-server's` +
    (o.collections ? ` (strings, and hashes of ${HASH_FIELDS} fields x ${ELEMENT_BYTES} B and sets of ${SET_MEMBERS} members of ${ELEMENT_BYTES} B)` : ''));
  say('  latencies are in microseconds (µs), from the write of a request to the arrival of its reply');
  const [load1] = os.loadavg();
  say(`  machine: ${os.cpus().length} CPUs, load average ${load1.toFixed(2)} at start (server and load worker share these CPUs)`);
  if (load1 > 0.5) say('  note: other work is running on this machine; expect noisy figures');
}

/** MGET and INCR figures under the summary table: ops/s and server CPU per op (per key for MGET). */
function formatMoreOps(mine: NodeSystemFigures, redis: NodeSystemFigures | undefined): string[] {
  const rows: Array<[string, (s: NodeSystemFigures) => number, number]> = [
    [`MGET ops/s (${MGET_KEYS} keys)`, (s) => s.throughput.mget.opsPerSec, 0],
    ['MGET server CPU/op (µs)', (s) => serverCpuPerOpUs(s.throughput.mget), 2],
    ['MGET server CPU/key (µs)', (s) => serverCpuPerOpUs(s.throughput.mget) / MGET_KEYS, 2],
    ['INCR ops/s', (s) => s.throughput.incr.opsPerSec, 0],
    ['INCR server CPU/op (µs)', (s) => serverCpuPerOpUs(s.throughput.incr), 2],
  ];
  const show = (n: number, digits: number): string => (!Number.isFinite(n) ? 'n/a' : digits === 0 ? Math.round(n).toLocaleString('en-US') : n.toFixed(digits));
  return rows.map(([metric, pick, digits]) => {
    const a = pick(mine);
    const b = redis ? pick(redis) : undefined;
    return `| ${metric.padEnd(28)} | ${show(a, digits).padStart(10)} | ${(b === undefined ? '-' : show(b, digits)).padStart(10)} | ${b === undefined ? '-' : `${(a / b).toFixed(2)}x`} |`;
  });
}

const REDIS_MISSING = 'redis-server is not on the PATH, so there is no comparison; install it with `apt-get install redis-server`';

function redisVersion(redisServer: string): string {
  const out = spawnSync(redisServer, ['--version'], { encoding: 'utf8', timeout: 5000 }).stdout ?? '';
  const version = /v=(\S+)/.exec(out);
  return version ? `redis-server ${version[1]}` : 'redis-server';
}

/** Runs the whole benchmark and prints its figures; every process started is gone when it resolves. */
export function runNodeBench(o: NodeBenchOptions): Promise<number> {
  return runBounded('node benchmark', o.timeoutSeconds, async (children) => {
    printHeader(o);
    const redisServer = o.redis ? findOnPath('redis-server') : undefined;
    if (redisServer) say(`  compared with: ${redisVersion(redisServer)} (${redisServer}), persistence off`);
    else if (o.redis) say(`  ${REDIS_MISSING}`);
    const mine = await measureSystem(children, shardcacheSystem(children, o), o);
    const redis = redisServer ? await measureSystem(children, redisSystem(children, redisServer), o) : undefined;
    say('\n== summary (latencies in µs, RSS per item in bytes; ratio = shardcache / redis)');
    if (!o.redis) say('redis comparison skipped (--no-redis)');
    if (!o.collections) say('hashes and sets skipped (--no-collections)');
    else if (!redisServer) say(REDIS_MISSING);
    for (const line of formatTable(mine, redis)) say(line);
    for (const line of formatMoreOps(mine, redis)) say(line);
    return 0;
  });
}
