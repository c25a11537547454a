import fs from 'node:fs';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { batchedUrl, ShardcacheClient, type ConnectOptions } from '../client/ws-client';
import { batchOf, decodeReplies, encodeRequest, type Op, type Reply } from '../client/protocol';
import { LatencyRecorder } from './latency';
import { CpuWindow, type CpuUsage } from './proxy-cpu';
import { bearerOf, ErrorLog, originOf, randomKeyPicker, workerMain, type PhaseResult, type WsPhaseTask } from './proxy-task';
import { benchKey } from './wire';

/**
 * WebSocket load worker: `connections` WebSockets to the proxy's /v1/ws, each keeping `depth`
 * requests in flight, timing every request from its send to its reply (matched by id: the proxy
 * answers in completion order).
 *
 *   driver raw:    ws + the client's wire codec (client/protocol.ts); a reply frees its id slot
 *                  and the requests it makes room for go out together once its chunk is read:
 *                  one message each, or with `batch` one message for all of them (and the proxy,
 *                  asked with ?batch=1, answers a turn's replies in one message)
 *   driver client: the typed ShardcacheClient (client/ws-client.ts), `depth` awaiting loops per
 *                  connection: what an application using the client would see; it always
 *                  batches, so its tasks always have `batch` set
 *
 * `load` writes keys 1..keys once each as JSON strings (HTTP GET then reads them as JSON).
 * Against a secure cluster (task.secure) the upgrade carries `Authorization: Bearer …`, over
 * wss:// trusting the task's CA when the cluster has TLS.
 */

/** What to send next and what was measured, shared by the connections of one phase. */
class Phase {
  readonly task: WsPhaseTask;
  readonly recorder: LatencyRecorder;
  readonly problems = new ErrorLog();
  misses = 0;
  #measuring = false;
  #stopping = false;
  #measured = 0;
  #sequence = 1;
  #window: CpuWindow | undefined;
  #cpu: CpuUsage | undefined;
  readonly #keys: string[];
  readonly #pick: () => number;
  readonly #binary: Buffer;
  readonly #json: string;

  constructor(task: WsPhaseTask) {
    this.task = task;
    this.#keys = Array.from({ length: task.keys + 1 }, (_, i) => benchKey(i));
    this.#pick = randomKeyPicker(task.keys);
    this.#binary = Buffer.alloc(task.valueBytes, 0x61);
    this.#json = 'a'.repeat(Math.max(0, task.valueBytes - 2));
    this.recorder = new LatencyRecorder(task.op === 'load' ? task.keys : Math.ceil(task.seconds * 200_000));
  }

  /** True while requests are still to be sent. */
  get sending(): boolean {
    return !this.#stopping && (this.task.op !== 'load' || this.#sequence <= this.task.keys);
  }

  /** The next request as [op, args], or null when the phase sends no more. */
  next(): [Op, unknown[]] | null {
    if (!this.sending) return null;
    const ns = this.task.namespace;
    if (this.task.op === 'load') return ['set', [ns, this.#keys[this.#sequence++], this.#json]];
    const key = this.#keys[this.#pick()];
    return this.task.op === 'get' ? ['get', [ns, key]] : ['set', [ns, key, this.#binary]];
  }

  /** Records a successful reply that took `millis`; `hit` is false for a GET miss. */
  ok(millis: number, hit: boolean): void {
    if (!this.#measuring) return;
    if (!hit) this.misses++;
    this.#measured++;
    this.recorder.record(millis * 1000);
  }

  /** Records a failed request. */
  failed(description: string): void {
    if (this.#measuring) this.problems.add(description);
  }

  beginMeasuring(): void {
    this.#window = CpuWindow.open([...this.task.watch, { name: 'load generator', pid: process.pid }]);
    this.#measuring = true;
  }

  /** Ends the measured window (if open) and stops sending. */
  stop(): void {
    if (this.#measuring) this.#cpu = this.#window!.close();
    this.#measuring = false;
    this.#stopping = true;
  }

  result(): PhaseResult {
    const cpu = this.#cpu!;
    return {
      ok: true, ops: this.#measured, seconds: cpu.seconds, opsPerSec: this.#measured / cpu.seconds,
      misses: this.misses, errors: this.problems.count, errorSamples: this.problems.samples, cpu,
      ...this.recorder.summarize(),
    };
  }
}

/** Id slots per raw connection: ids run 1..SLOTS-1 and skip any still awaiting its reply. */
const SLOTS = 1 << 16;

/** How the connections of a phase reach a secure cluster: the upgrade's Authorization header and the CA of wss://. */
interface Access {
  headers?: Record<string, string>;
  ca?: Buffer;
}

/** The access of `task`: nothing for a plain cluster. */
function accessOf(task: WsPhaseTask): Access {
  const s = task.secure;
  if (s === undefined) return {};
  return { headers: { authorization: bearerOf(s) }, ...(s.caFile === undefined ? {} : { ca: fs.readFileSync(s.caFile) }) };
}

/** A WebSocket open to `url` with binary messages as Buffers; credentials go with the upgrade. */
function openSocket(url: string, access: Access): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 10_000, ...access });
    socket.binaryType = 'nodebuffer';
    socket.once('error', reject);
    socket.once('open', () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * One raw pipelined connection. Replies of one TCP chunk are read one by one; the requests they
 * make room for are sent together afterwards (one microtask): one message each, with the TCP
 * socket corked so they leave in one write, or with `batch` one message holding them all (at
 * most `depth` requests, which the orchestrator keeps within Limits.MAX_WS_BATCH_REQUESTS). Either
 * way the load generator spends its CPU on requests, not on syscalls.
 */
class RawConnection {
  readonly drained: Promise<void>;
  readonly #socket: WebSocket;
  readonly #tcp: net.Socket | undefined;
  readonly #phase: Phase;
  readonly #sentAt = new Float64Array(SLOTS);
  readonly #busy = new Uint8Array(SLOTS);
  #nextId = 0;
  #inFlight = 0;
  #owed = 0;
  #flushQueued = false;
  #resolve!: () => void;

  constructor(socket: WebSocket, phase: Phase) {
    this.#socket = socket;
    // ws keeps its TCP socket private; corking it is an optimisation, skipped if it is not there.
    this.#tcp = (socket as unknown as { _socket?: net.Socket })._socket;
    this.#phase = phase;
    let reject!: (err: Error) => void;
    this.drained = new Promise((resolve, rej) => {
      this.#resolve = resolve;
      reject = rej;
    });
    socket.on('message', (data: Buffer) => this.#onMessage(data));
    socket.on('error', (err) => reject(err));
    socket.on('close', (code) => reject(new Error(`the proxy closed the WebSocket (${code})`)));
  }

  /** Fills the pipeline. */
  start(): void {
    this.#owed = this.#phase.task.depth;
    this.#flush();
  }

  close(): void {
    this.#socket.removeAllListeners('close');
    this.#socket.terminate();
  }

  #onMessage(data: Buffer): void {
    const now = performance.now();
    let replies: Reply[];
    try {
      replies = decodeReplies(data);
    } catch (err) {
      this.#socket.emit('error', err);
      return;
    }
    for (const reply of replies) this.#onReply(reply, now);
  }

  #onReply(reply: Reply, now: number): void {
    if (reply.id === 0 || this.#busy[reply.id] === 0) {
      this.#phase.failed(reply.ok ? 'reply to no request' : `${reply.error.code} (no id)`);
      return;
    }
    this.#busy[reply.id] = 0;
    this.#inFlight--;
    if (reply.ok) this.#phase.ok(now - this.#sentAt[reply.id], (reply.result[0] as { hit?: boolean } | undefined)?.hit !== false);
    else this.#phase.failed(reply.error.code);
    this.#owed++;
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushQueued = false;
    const now = performance.now();
    const batch: Buffer[] = [];
    this.#tcp?.cork();
    for (; this.#owed > 0; this.#owed--) {
      const request = this.#phase.next();
      if (request === null) break;
      const id = this.#takeId();
      this.#busy[id] = 1;
      this.#sentAt[id] = now;
      this.#inFlight++;
      const bytes = encodeRequest(id, request[0], request[1]);
      if (this.#phase.task.batch) batch.push(bytes);
      else this.#socket.send(bytes, { binary: true });
    }
    if (batch.length > 0) this.#socket.send(batchOf(batch), { binary: true });
    this.#tcp?.uncork();
    if (this.#inFlight === 0 && !this.#phase.sending) this.#resolve();
  }

  #takeId(): number {
    do this.#nextId = this.#nextId + 1 >= SLOTS ? 1 : this.#nextId + 1;
    while (this.#busy[this.#nextId] === 1);
    return this.#nextId;
  }
}

/** Runs the raw driver: resolves once every connection sent its last request and had its reply. */
async function runRaw(url: string, phase: Phase, measure: () => Promise<void>): Promise<void> {
  const access = accessOf(phase.task);
  const sockets = await Promise.all(Array.from({ length: phase.task.connections }, () => openSocket(url, access)));
  const connections = sockets.map((socket) => new RawConnection(socket, phase));
  const drained = Promise.all(connections.map((c) => c.drained));
  drained.catch(() => undefined); // awaited below; a failure before then must not be unhandled
  try {
    for (const c of connections) c.start();
    await Promise.race([measure(), drained]);
    phase.stop();
    await drained;
  } finally {
    for (const c of connections) c.close();
  }
}

/** One awaiting loop of the client driver: a request, its reply, the next request. */
async function clientLoop(client: ShardcacheClient, phase: Phase): Promise<void> {
  for (let request = phase.next(); request !== null; request = phase.next()) {
    const [op, [ns, key, value]] = request as [Op, [string, string, unknown]];
    const started = performance.now();
    try {
      let hit = true;
      if (op === 'get') hit = (await client.get(ns, key)).hit;
      else await client.set(ns, key, value);
      phase.ok(performance.now() - started, hit);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'CONNECTION_CLOSED') throw err;
      phase.failed(code ?? (err as Error).message);
    }
  }
}

/** Runs the client driver: `depth` loops per connection until the phase stops sending. */
async function runClient(url: string, phase: Phase, measure: () => Promise<void>): Promise<void> {
  const s = phase.task.secure;
  const options: ConnectOptions = s === undefined ? {} : { credentials: { user: s.user, password: s.password }, ...(s.caFile === undefined ? {} : { ca: fs.readFileSync(s.caFile) }) };
  const clients = await Promise.all(Array.from({ length: phase.task.connections }, () => ShardcacheClient.connect(url, options)));
  const loops = Promise.all(clients.flatMap((client) => Array.from({ length: phase.task.depth }, () => clientLoop(client, phase))));
  loops.catch(() => undefined);
  try {
    await Promise.race([measure(), loops]);
    phase.stop();
    await loops;
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
}

/** Runs one WebSocket phase: warm-up, then the measured window (or the whole load). */
async function runWsPhase(task: WsPhaseTask): Promise<PhaseResult> {
  const phase = new Phase(task);
  const endpoint = `${originOf(task.port, task.secure, true)}/v1/ws`;
  const url = task.batch ? batchedUrl(endpoint) : endpoint;
  if (task.op === 'load') phase.beginMeasuring();
  const measure = async (): Promise<void> => {
    if (task.op === 'load') return new Promise<void>(() => undefined); // until every key is written
    await sleep(task.warmupSeconds * 1000);
    phase.beginMeasuring();
    await sleep(task.seconds * 1000);
  };
  await (task.driver === 'client' ? runClient(url, phase, measure) : runRaw(url, phase, measure));
  phase.stop();
  return phase.result();
}

if (require.main === module) workerMain<WsPhaseTask>('ws', runWsPhase);
