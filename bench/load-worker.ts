import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { LatencyRecorder } from './latency';
import { readCpuSeconds } from './procfs';
import { isLoadMode, parseLoadTask, type LoadOutcome, type LoadResult, type LoadTask } from './load-task';
import { collEncoderFor, encodeRespCommand, hashKey, HASH_FIELDS, setKey, SET_MEMBERS } from './coll-wire';
import { encodeFrame } from '../shared/frame';
import { Op } from '../shared/protocol';
import { BENCH_NAMESPACE, benchKey, codecFor, type Codec, type Protocol, type ReplyCounter } from './wire';

/** Keys per MGET request of the `mget` mode. */
export const MGET_KEYS = 10;

/**
 * Load generator process: opens `connections` sockets to one server, keeps `depth` requests in
 * flight on each, and times every request from its write to its reply.
 *
 *   reply chunk ─► ReplyCounter (n replies) ─► n latencies from the send-time ring ─► n new requests
 *
 * Replies come back in request order, so a ring of `depth` send times per connection is enough to
 * match them; one clock read per chunk times every reply in it (they arrived together). Requests
 * are encoded as they are sent; everything else is preallocated.
 */

/** State shared by the connections of one run: what to send next and what was measured. */
class Run {
  readonly task: LoadTask;
  readonly recorder: LatencyRecorder;
  readonly #codec: Codec;
  readonly #keys: string[];
  /** INCR's counters (`ctr:0000001` ...): keys of their own, since the SET keys hold no integer. */
  readonly #counters: string[];
  readonly #value: Buffer;
  readonly #next: (id: number) => Buffer | null;
  #random = 0x2545f491;
  #sequence = 1;
  #stopping = false;
  #measuring = false;
  #measured = 0;
  #measureStart = 0;
  #measureEnd = 0;
  #cpuStart = NaN;
  #cpuEnd = NaN;

  constructor(task: LoadTask) {
    this.task = task;
    this.#codec = codecFor(task.protocol);
    this.#value = Buffer.alloc(task.valueBytes, 0x61);
    this.#keys = keysOf(task);
    this.#counters = task.mode === 'incr' ? Array.from({ length: task.keyspace + 1 }, (_, i) => `ctr:${String(i).padStart(7, '0')}`) : [];
    this.recorder = new LatencyRecorder(isLoadMode(task.mode) ? task.keyspace : Math.ceil(task.seconds * 1_000_000));
    this.#next = this.#requestMaker();
  }

  /** The next request to send, or null when the run sends no more. */
  nextRequest(id: number): Buffer | null {
    return this.#stopping ? null : this.#next(id);
  }

  /** Records one reply that took `millis`. */
  reply(millis: number): void {
    if (!this.#measuring) return;
    this.#measured++;
    this.recorder.record(millis * 1000);
  }

  beginMeasuring(): void {
    this.#measuring = true;
    this.#cpuStart = this.#serverCpu();
    this.#measureStart = performance.now();
  }

  /** Ends the measured window and stops sending. */
  stop(): void {
    if (this.#measuring) {
      this.#measureEnd = performance.now();
      this.#cpuEnd = this.#serverCpu();
    }
    this.#measuring = false;
    this.#stopping = true;
  }

  result(counters: readonly ReplyCounter[]): LoadResult {
    const seconds = (this.#measureEnd - this.#measureStart) / 1000;
    return {
      ok: true,
      ops: this.#measured,
      seconds,
      opsPerSec: this.#measured / seconds,
      misses: counters.reduce((sum, c) => sum + c.misses, 0),
      errors: counters.reduce((sum, c) => sum + c.errors, 0),
      serverCpuSeconds: this.#cpuEnd - this.#cpuStart,
      ...this.recorder.summarize(),
    };
  }

  /** CPU seconds the server has used so far, or NaN when it is not to be read. */
  #serverCpu(): number {
    return this.task.serverPid > 0 ? readCpuSeconds(this.task.serverPid) : NaN;
  }

  #requestMaker(): (id: number) => Buffer | null {
    const codec = this.#codec;
    const keys = this.#keys;
    const value = this.#value;
    if (this.task.mode === 'set') return (id) => codec.encodeSet(id, keys[this.#randomKey()], value);
    if (this.task.mode === 'get') return (id) => codec.encodeGet(id, keys[this.#randomKey()]);
    const protocol = this.task.protocol;
    if (this.task.mode === 'incr') return (id) => encodeIncr(protocol, id, this.#counters[this.#randomKey()]);
    if (this.task.mode === 'mget') {
      const batch = new Array<string>(MGET_KEYS);
      return (id) => {
        for (let i = 0; i < MGET_KEYS; i++) batch[i] = keys[this.#randomKey()];
        return encodeMget(protocol, id, batch);
      };
    }
    const coll = this.#collRequestMaker();
    if (coll) return coll;
    return (id) => (this.#sequence > this.task.keyspace ? null : codec.encodeSet(id, benchKey(this.#sequence++), value));
  }

  /** The requests of the hash and set modes (`bench/coll-wire.ts`), or undefined for another mode. */
  #collRequestMaker(): ((id: number) => Buffer | null) | undefined {
    const coll = collEncoderFor(this.task.protocol);
    const keys = this.#keys;
    const once = (key: (i: number) => string, encode: (id: number, key: string) => Buffer) => (id: number): Buffer | null =>
      this.#sequence > this.task.keyspace ? null : encode(id, key(this.#sequence++));
    switch (this.task.mode) {
      case 'hload': return once(hashKey, coll.hashLoad);
      case 'sload': return once(setKey, coll.setLoad);
      case 'hset': return (id) => coll.hset(id, keys[this.#randomKey()], this.#randomBelow(HASH_FIELDS));
      case 'hget': return (id) => coll.hget(id, keys[this.#randomKey()], this.#randomBelow(HASH_FIELDS));
      case 'sadd': return (id) => coll.sadd(id, keys[this.#randomKey()], this.#randomBelow(SET_MEMBERS));
      case 'sismember': return (id) => coll.sismember(id, keys[this.#randomKey()], this.#randomBelow(SET_MEMBERS));
      default: return undefined;
    }
  }

  /** xorshift32: a key index in 1..keyspace. */
  #randomKey(): number {
    return 1 + this.#randomBelow(this.task.keyspace);
  }

  /** xorshift32: an integer in 0..n-1. */
  #randomBelow(n: number): number {
    let x = this.#random;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random = x;
    return (x >>> 0) % n;
  }
}

/** One pipelined socket of a run; resolves `done` once it sends no more and every reply is in. */
class LoadConnection {
  readonly counter: ReplyCounter;
  readonly done: Promise<void>;
  readonly #socket: net.Socket;
  readonly #run: Run;
  readonly #sentAt: Float64Array;
  #head = 0;
  #tail = 0;
  #inFlight = 0;
  #nextId = 1;
  #resolve!: () => void;

  constructor(socket: net.Socket, run: Run) {
    this.#socket = socket;
    this.#run = run;
    this.counter = run.task.protocol === 'resp' && run.task.mode === 'mget' ? new RespArrayReplyCounter() : codecFor(run.task.protocol).newReplyCounter();
    this.#sentAt = new Float64Array(run.task.depth);
    let reject!: (err: Error) => void;
    this.done = new Promise((resolve, rej) => {
      this.#resolve = resolve;
      reject = rej;
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => reject(err));
    socket.on('close', () => reject(new Error('server closed the connection')));
  }

  /** Fills the pipeline. */
  start(): void {
    this.#send(this.#run.task.depth, performance.now());
  }

  close(): void {
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    let replies: number;
    try {
      replies = this.counter.push(chunk);
    } catch (err) {
      this.#socket.destroy(err as Error);
      return;
    }
    const now = performance.now();
    for (let i = 0; i < replies; i++) {
      this.#run.reply(now - this.#sentAt[this.#head]);
      this.#head = this.#head + 1 === this.#sentAt.length ? 0 : this.#head + 1;
    }
    this.#inFlight -= replies;
    this.#send(replies, now);
  }

  #send(count: number, now: number): void {
    this.#socket.cork();
    for (let i = 0; i < count; i++) {
      const request = this.#run.nextRequest(this.#nextId);
      if (request === null) break;
      this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
      this.#sentAt[this.#tail] = now;
      this.#tail = this.#tail + 1 === this.#sentAt.length ? 0 : this.#tail + 1;
      this.#inFlight++;
      this.#socket.write(request);
    }
    this.#socket.uncork();
    if (this.#inFlight === 0) this.#resolve();
  }
}

/** The keys a mode picks from at random, by index 1..keyspace (empty for modes that pick none). */
function keysOf(task: LoadTask): string[] {
  const key = task.mode === 'set' || task.mode === 'get' || task.mode === 'mget' ? benchKey
    : task.mode === 'hset' || task.mode === 'hget' ? hashKey
      : task.mode === 'sadd' || task.mode === 'sismember' ? setKey
        : undefined;
  return key === undefined ? [] : Array.from({ length: task.keyspace + 1 }, (_, i) => key(i));
}

/** `[id, INCR, epoch 0, ns, key, delta 1, ttlMsOnCreate 0]`, or RESP `INCR key`. */
function encodeIncr(protocol: Protocol, id: number, key: string): Buffer {
  return protocol === 'frame' ? encodeFrame([id, Op.INCR, 0, BENCH_NAMESPACE, key, 1, 0]) : encodeRespCommand(['INCR', key]);
}

/** `[id, MGET, ns, keys]`, or RESP `MGET key...`. */
function encodeMget(protocol: Protocol, id: number, keys: readonly string[]): Buffer {
  return protocol === 'frame' ? encodeFrame([id, Op.MGET, BENCH_NAMESPACE, keys]) : encodeRespCommand(['MGET', ...keys]);
}


/**
 * Counts RESP replies that may be arrays (MGET's `*n` of bulk strings; `RespReplyCounter` refuses
 * arrays): an array counts once, when its last element is in; a nil element counts as a miss.
 */
class RespArrayReplyCounter implements ReplyCounter {
  misses = 0;
  errors = 0;
  #carry: Buffer | null = null;
  /** Elements still to come of the array being read (0: at the top level). */
  #elements = 0;

  push(input: Buffer): number {
    const chunk = this.#carry ? Buffer.concat([this.#carry, input]) : input;
    this.#carry = null;
    let p = 0;
    let replies = 0;
    for (;;) {
      const lf = chunk.indexOf(0x0a, p);
      if (lf < 0) break;
      const type = chunk[p];
      let next = lf + 1;
      if (type === 0x2a) { // '*'
        this.#elements = Number(chunk.toString('latin1', p + 1, lf - 1));
        p = next;
        if (this.#elements === 0) replies++;
        continue;
      }
      if (type === 0x24) { // '$'
        const length = Number(chunk.toString('latin1', p + 1, lf - 1));
        if (length < 0) this.misses++;
        else next = lf + 1 + length + 2;
        if (next > chunk.length) break;
      } else if (type === 0x2d) this.errors++; // '-'
      else if (type !== 0x2b && type !== 0x3a) throw new Error(`unexpected RESP reply type byte 0x${type.toString(16)}`);
      p = next;
      if (this.#elements === 0 || --this.#elements === 0) replies++;
    }
    if (p < chunk.length) this.#carry = chunk.subarray(p);
    return replies;
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Runs one task to its end and returns its figures. */
export async function runLoadTask(task: LoadTask): Promise<LoadResult> {
  const run = new Run(task);
  const sockets = await Promise.all(Array.from({ length: task.connections }, () => connect(task.port)));
  const connections = sockets.map((socket) => new LoadConnection(socket, run));
  const allDone = Promise.all(connections.map((c) => c.done));
  allDone.catch(() => undefined); // awaited below; a failure before then must not be unhandled
  try {
    const loading = isLoadMode(task.mode);
    if (loading) run.beginMeasuring();
    for (const c of connections) c.start();
    if (!loading) {
      await Promise.race([sleep(task.warmupSeconds * 1000), allDone]);
      run.beginMeasuring();
      await Promise.race([sleep(task.seconds * 1000), allDone]);
      run.stop();
    }
    await allDone;
    run.stop();
    return run.result(connections.map((c) => c.counter));
  } finally {
    for (const c of connections) c.close();
  }
}

function report(outcome: LoadOutcome): void {
  if (process.send) process.send(outcome, () => process.exit(outcome.ok ? 0 : 1));
  else {
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    process.exit(outcome.ok ? 0 : 1);
  }
}

function main(): void {
  process.on('disconnect', () => process.exit(1)); // the orchestrator is gone
  let task: LoadTask;
  try {
    task = parseLoadTask(process.argv[2]);
  } catch (err) {
    return report({ ok: false, error: (err as Error).message });
  }
  const deadline = setTimeout(() => report({ ok: false, error: `load worker passed its ${task.deadlineMs} ms deadline` }), task.deadlineMs);
  runLoadTask(task).then(
    (result) => report(result),
    (err: unknown) => report({ ok: false, error: (err as Error).message }),
  ).finally(() => clearTimeout(deadline));
}

if (require.main === module) main();
