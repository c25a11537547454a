/**
 * Store engine benchmark: in-process ops/s, memory per item, and the node's request path.
 *
 *   npx tsc -p tsconfig.build.json && node --expose-gc dist/bench/store.js [items]
 *
 * Prints get/set/incr throughput on a warm store; the CPU time per request of the storage node's
 * request path without sockets (frame decoder, handler, store, reply encoder, 16 requests per
 * chunk as the node bench sends them), which is the node's CPU per op less its syscalls; then
 * loads `items` (default 1M) entries of
 * 100-byte values and reports process memory per item: the V8 heap, the typed arrays that grew
 * with the load (key indexes, member sets) and RSS (what the OS sees, which also counts the
 * entry table's columns: they are reserved when the store is made and become resident as ids
 * touch them). Without `--expose-gc` the memory figures include garbage and are upper bounds.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { encodeFrame, FrameDecoder } from '../shared/frame';
import { Op } from '../shared/protocol';
import { handle, type HandlerContext, STANDALONE } from '../storage-node/handlers';
import { ReplyWriter } from '../storage-node/reply-writer';
import { answerHot, readHot } from '../storage-node/server';
import { entrySize, Store } from '../storage-node/store';
import { SlotOwnership } from '../storage-node/migration/ownership';
import { ReplicationLog } from '../storage-node/replication/log';
import { slotOf } from '../shared/slot';
import { benchKey } from './wire';

const VALUE_BYTES = 100;
const NS = 'bench';

function key(i: number): string {
  return `key:${i}`;
}

function valueOf(i: number, scratch: Buffer): Buffer {
  scratch.fill(0x61);
  scratch.write(String(i), 0, 'latin1');
  return scratch;
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
}

/** Committed bytes of V8's young generation (semi-spaces): a fixed cost that grows under load. */
function youngGeneration(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) {
    const name = space.space_name;
    if (name === 'new_space' || name === 'new_large_object_space') bytes += space.space_size;
  }
  return bytes;
}

function opsPerSecond(label: string, n: number, op: (i: number) => void): void {
  for (let i = 0; i < Math.min(n, 50_000); i++) op(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op(i);
  const ns = Number(process.hrtime.bigint() - start);
  const rate = (n / ns) * 1e9;
  const ops = Math.round(rate).toLocaleString('en-US').padStart(12);
  console.log(`${label.padEnd(28)} ${ops} ops/s  ${(ns / n).toFixed(0)} ns/op`);
}

function throughput(): void {
  const keys = 100_000;
  const scratch = Buffer.alloc(VALUE_BYTES);
  const names = Array.from({ length: keys }, (_, i) => key(i));
  const loaded = (eviction: 'lru' | 'lfu'): Store => {
    const s = new Store({ maxMemoryBytes: 1 << 30, defaultEviction: eviction });
    for (let i = 0; i < keys; i++) s.set(NS, names[i], valueOf(i, scratch));
    return s;
  };
  const store = loaded('lru');
  const n = 2_000_000;
  opsPerSecond('get (hit, lru)', n, (i) => store.get(NS, names[i % keys]));
  opsPerSecond('get (miss)', n, (i) => store.get(NS, `miss:${i % keys}`));
  opsPerSecond('set (overwrite)', n, (i) => store.set(NS, names[i % keys], scratch));
  opsPerSecond('set (ttl 60 s)', n, (i) => store.set(NS, names[i % keys], scratch, { ttlMs: 60_000 }));
  opsPerSecond('incr', n, (i) => store.incr(NS, `counter:${i % 1000}`, 1));
  const lfu = loaded('lfu');
  opsPerSecond('get (hit, lfu)', n, (i) => lfu.get(NS, names[i % keys]));
  const room = 10_000 * entrySize(9, VALUE_BYTES, 0);
  const small = new Store({ maxMemoryBytes: room });
  opsPerSecond('set (evicting 1 per set, lru)', n, (i) => small.set(NS, names[i % keys], scratch));
  const smallLfu = new Store({ maxMemoryBytes: room, defaultEviction: 'lfu' });
  opsPerSecond('set (evicting 1 per set, lfu)', n, (i) => smallLfu.set(NS, names[i % keys], scratch));
}

function memory(items: number): void {
  const store = new Store({ maxMemoryBytes: 4 * 1024 ** 3 });
  collect();
  const before = process.memoryUsage();
  const youngBefore = youngGeneration();
  const scratch = Buffer.alloc(VALUE_BYTES);
  let keyChars = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < items; i++) {
    const k = key(i);
    keyChars += k.length;
    store.set(NS, k, valueOf(i, scratch));
  }
  const loadMs = Number(process.hrtime.bigint() - start) / 1e6;
  collect();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed;
  const offHeap = after.external - before.external;
  const rss = after.rss - before.rss;
  const young = youngGeneration() - youngBefore;
  const stats = store.stats();
  const perItem = (bytes: number): string => (bytes / items).toFixed(1);
  console.log(`\nloaded ${items.toLocaleString('en-US')} items of ${VALUE_BYTES} B in ${loadMs.toFixed(0)} ms`);
  console.log(`  heap        ${perItem(heap).padStart(7)} B/item`);
  console.log(`  off-heap    ${perItem(offHeap).padStart(7)} B/item (typed arrays that grew: key index, member set)`);
  const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  console.log(`  rss         ${perItem(rss).padStart(7)} B/item (total rss ${mib(after.rss)}; counts the entry columns)`);
  const note = `V8 young generation grew ${mib(young)}, a fixed cost`;
  console.log(`  rss - young ${perItem(rss - young).padStart(7)} B/item (${note})`);
  const overhead = rss - young - keyChars - items * VALUE_BYTES;
  console.log(`  overhead    ${perItem(overhead).padStart(7)} B/item (rss - young - key and value bytes)`);
  console.log(`  accounted   ${perItem(stats.bytes).padStart(7)} B/item (store.stats().bytes)`);
  if (store.size !== items) throw new Error(`expected ${items} items, store holds ${store.size}`);
}

/** Chunks of `perChunk` frames, as a pipelined client sends them. */
function chunksOf(frames: number, perChunk: number, frame: (id: number) => Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let id = 1; id <= frames; id += perChunk) {
    const batch: Buffer[] = [];
    for (let j = 0; j < perChunk; j++) batch.push(frame(id + j));
    chunks.push(Buffer.concat(batch));
  }
  return chunks;
}

/** CPU time (user + system) per request of the request path, median of `rounds`. */
function requestPath(rounds = 7): void {
  const keys = 100_000;
  const frames = 400_000;
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  let x = 0x2545f491;
  const randomKey = (): string => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return benchKey(1 + ((x >>> 0) % keys));
  };
  const sets = chunksOf(frames, 16, (id) => encodeFrame([id, Op.SET, 0, NS, randomKey(), value, 0, 0, 0, 0, null]));
  const gets = chunksOf(frames, 16, (id) => encodeFrame([id, Op.GET, NS, randomKey()]));
  const store = new Store({ maxMemoryBytes: 2 * 1024 ** 3 });
  for (let i = 1; i <= keys; i++) store.set(NS, benchKey(i), value);
  const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}) };
  const out = new ReplyWriter();
  const fail = (err: unknown): void => {
    throw err;
  };
  const generic = new FrameDecoder((m) => void handle(m, ctx, out, fail));
  // The node's path: GET and SET read in place (storage-node/server.ts), the rest through `handle`.
  const inPlace = new FrameDecoder((m) => void handle(m, ctx, out, fail), undefined, (bytes, start, end) => (readHot(bytes, start, end) ? (answerHot(bytes, ctx, out, fail), true) : undefined));
  let decoder = inPlace;
  const run = (chunks: readonly Buffer[]): number => {
    const start = process.cpuUsage();
    for (const chunk of chunks) {
      decoder.push(chunk);
      out.flush();
    }
    const used = process.cpuUsage(start);
    return ((used.user + used.system) * 1000) / frames;
  };
  const median = (runs: number[]): string => runs.sort((a, b) => a - b)[runs.length >> 1].toFixed(0);
  const set: number[] = [];
  const get: number[] = [];
  const setGeneric: number[] = [];
  const getGeneric: number[] = [];
  for (let r = 0; r < rounds; r++) {
    decoder = inPlace;
    set.push(run(sets));
    get.push(run(gets));
    decoder = generic;
    setGeneric.push(run(sets));
    getGeneric.push(run(gets));
  }
  console.log(`
request path (decode, handle, encode; no sockets), CPU per request, median of ${rounds}:`);
  console.log(`  SET ${median(set).padStart(6)} ns   GET ${median(get).padStart(6)} ns   (the node's path: GET and SET read in place)`);
  console.log(`  SET ${median(setGeneric).padStart(6)} ns   GET ${median(getGeneric).padStart(6)} ns   (msgpackr and handle() for every request)`);
  clusterPath(rounds);
}

/**
 * The request path of a cluster node as the peer benchmark has it: a primary that owns part of
 * the slots (each request's slot is checked) and records every write for replicas (the backlog),
 * serving GET, SET, INCR and MGET of 10 keys; only keys of its own slots are asked for.
 */
function clusterPath(rounds: number): void {
  const frames = 200_000;
  const value = Buffer.alloc(VALUE_BYTES, 0x61);
  const slots = new SlotOwnership(0);
  slots.apply(1, [[0, 5460, 0], [5461, 10922, 1], [10923, 16383, 2]]);
  const ownedOf = (name: (i: number) => string): string[] => {
    const keys: string[] = [];
    for (let i = 1; keys.length < 30_000; i++) if (slots.owns(slotOf(NS, name(i)))) keys.push(name(i));
    return keys;
  };
  const owned = ownedOf(benchKey);
  const counters = ownedOf((i) => `counter:${i}`);
  let x = 0x2545f491;
  const random = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const pick = (): string => owned[random() % owned.length];
  const store = new Store({ maxMemoryBytes: 2 * 1024 ** 3 });
  for (const k of owned) store.set(NS, k, value);
  const repl = new ReplicationLog(store, 64 * 1024 * 1024, () => undefined);
  repl.startRecording(); // a primary a replica follows records its writes (one that none follows keeps no backlog)
  const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}), slots, repl };
  const out = new ReplyWriter();
  const fail = (err: unknown): void => {
    throw err;
  };
  const decoder = new FrameDecoder((m) => void handle(m, ctx, out, fail), undefined, (bytes, start, end) => (readHot(bytes, start, end) ? (answerHot(bytes, ctx, out, fail), true) : undefined));
  const kinds = {
    GET: chunksOf(frames, 16, (id) => encodeFrame([id, Op.GET, NS, pick()])),
    SET: chunksOf(frames, 16, (id) => encodeFrame([id, Op.SET, 0, NS, pick(), value, 0, 0, 0, 0, null])),
    INCR: chunksOf(frames, 16, (id) => encodeFrame([id, Op.INCR, 0, NS, counters[random() % counters.length], 1, 0])),
    MGET: chunksOf(frames / 10, 16, (id) => encodeFrame([id, Op.MGET, NS, Array.from({ length: 10 }, pick)])),
  };
  const counts = { GET: frames, SET: frames, INCR: frames, MGET: frames / 10 };
  const runs: Record<string, number[]> = { GET: [], SET: [], INCR: [], MGET: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, chunks] of Object.entries(kinds)) {
      const start = process.cpuUsage();
      for (const chunk of chunks) {
        decoder.push(chunk);
        out.flush();
      }
      const used = process.cpuUsage(start);
      runs[name].push(((used.user + used.system) * 1000) / counts[name as keyof typeof counts]);
    }
  }
  const median = (xs: number[]): string => xs.sort((a, b) => a - b)[xs.length >> 1].toFixed(0);
  console.log(`  cluster primary (slots checked, writes recorded for replicas): ${Object.keys(runs).map((n) => `${n} ${median(runs[n])} ns`).join('   ')} (MGET: per request of 10 keys)`);
}

function main(): void {
  const arg = process.argv[2] ?? '1000000';
  const items = Number(arg);
  if (!Number.isSafeInteger(items) || items < 1) {
    console.error(`usage: npm run bench -- store [items]   (items: how many to load for the memory figures, default 1000000; got ${JSON.stringify(arg)})`);
    process.exit(2);
  }
  if ((globalThis as { gc?: unknown }).gc === undefined) {
    console.log('(run with --expose-gc for exact memory figures)');
  }
  memory(items);
  console.log('');
  throughput();
  requestPath();
}

main();
