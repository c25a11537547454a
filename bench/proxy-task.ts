import path from 'node:path';
import { runTaskProcess, type ChildRegistry } from './children';
import type { CpuUsage, WatchedProcess } from './proxy-cpu';
import type { RunFigures } from './load-task';

/**
 * The contract between the proxy benchmark's orchestrator and its load workers, each a separate
 * process: the task goes out as JSON in argv[2], the outcome comes back as one IPC message.
 *
 *   orchestrator ──fork(task)──► proxy-http-worker (wrk | autocannon) | proxy-ws-worker (ws)
 *                ◄──IPC outcome── figures + CPU of every watched process over the measured window
 */

/** What every phase shares: where the proxy is, how long to run and what to watch. */
interface PhaseBase {
  /** The proxy's client port on 127.0.0.1. */
  port: number;
  connections: number;
  warmupSeconds: number;
  seconds: number;
  namespace: string;
  /** Keys 1..keys are read and written. */
  keys: number;
  valueBytes: number;
  /** Processes whose CPU the worker reads at both ends of the measured window (itself included). */
  watch: WatchedProcess[];
  /** The worker gives up (and reports an error) after this long. */
  deadlineMs: number;
  /** A cluster with auth on (and maybe TLS): the credentials and CA the phase's connections use; absent = plain. */
  secure?: PhaseSecurity;
}

/**
 * How a phase reaches a cluster with auth on: every HTTP request, and every WebSocket upgrade,
 * carries `Authorization: Bearer <user>:<password>`; with `caFile` the proxy's client ports speak
 * TLS (https://, wss://) and clients trust that CA.
 */
export interface PhaseSecurity {
  user: string;
  password: string;
  /** The CA (PEM file) the proxy's certificate chains to; absent = no TLS. */
  caFile?: string;
}

/** The `Authorization` header value of `s`. */
export function bearerOf(s: PhaseSecurity): string {
  return `Bearer ${s.user}:${s.password}`;
}

/** The origin of the proxy's port `port` on 127.0.0.1: http(s):// or, for WebSockets, ws(s)://. */
export function originOf(port: number, secure: PhaseSecurity | undefined, ws = false): string {
  const tls = secure?.caFile !== undefined;
  return `${ws ? (tls ? 'wss' : 'ws') : tls ? 'https' : 'http'}://127.0.0.1:${port}`;
}

/** An HTTP phase, run by wrk or autocannon. */
export interface HttpPhaseTask extends PhaseBase {
  kind: 'http';
  /** The load generator: wrk (C, a child process) or autocannon (JavaScript, in the worker). */
  driver: 'wrk' | 'autocannon';
  /** Path of the wrk binary, found on the PATH by the orchestrator; set when `driver` is wrk. */
  wrkPath?: string;
  op: 'get' | 'put';
  /** Requests each connection keeps in flight (HTTP/1.1 pipelining). */
  pipelining: number;
  /** Distinct paths (keys) the connections cycle through. */
  httpPaths: number;
}

/** A WebSocket phase; `load` writes keys 1..keys once as JSON strings (no timing window). */
export interface WsPhaseTask extends PhaseBase {
  kind: 'ws';
  op: 'get' | 'set' | 'load';
  /** Requests each connection keeps in flight. */
  depth: number;
  /** `raw`: ws + the client's wire codec; `client`: the typed ShardcacheClient (which always batches). */
  driver: 'raw' | 'client';
  /** The requests of one turn go out as one message and replies come batched (?batch=1); always set with the client driver. */
  batch: boolean;
}

/** A task for one load worker. */
export type PhaseTask = HttpPhaseTask | WsPhaseTask;

/** Figures of one finished phase; latencies in microseconds. */
export interface PhaseResult extends RunFigures {
  /** The first few distinct error descriptions, for the report. */
  errorSamples: string[];
  cpu: CpuUsage;
}

/** A phase that could not finish. */
export interface PhaseFailure {
  ok: false;
  error: string;
}

/** What a worker reports. */
export type PhaseOutcome = PhaseResult | PhaseFailure;

const WORKERS: Record<PhaseTask['kind'], string> = {
  http: path.join(__dirname, 'proxy-http-worker.js'),
  ws: path.join(__dirname, 'proxy-ws-worker.js'),
};

/** Runs `task` in a fresh worker process (tracked by `children`) and resolves with its figures. */
export function runPhase(children: ChildRegistry, task: PhaseTask): Promise<PhaseResult> {
  return runTaskProcess<PhaseResult>(children, WORKERS[task.kind], task, `${task.kind} ${task.op} worker`);
}

/** Keeps the first `limit` distinct error descriptions and counts the rest. */
export class ErrorLog {
  count = 0;
  readonly samples: string[] = [];
  readonly #limit: number;

  constructor(limit = 5) {
    this.#limit = limit;
  }

  add(description: string): void {
    this.count++;
    if (this.samples.length < this.#limit && !this.samples.includes(description)) this.samples.push(description);
  }
}

/** xorshift32 from a seed: returns key indexes 1..keys. */
export function randomKeyPicker(keys: number, seed = 0x2545f491): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return 1 + ((x >>> 0) % keys);
  };
}

function report(outcome: PhaseOutcome): void {
  if (process.send) process.send(outcome, () => process.exit(outcome.ok ? 0 : 1));
  else {
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    process.exit(outcome.ok ? 0 : 1);
  }
}

/**
 * The body of a worker program: parses the task from argv[2], runs it within its deadline and
 * reports the outcome; exits when the orchestrator goes away.
 */
export function workerMain<T extends PhaseTask>(kind: T['kind'], run: (task: T) => Promise<PhaseResult>): void {
  process.on('disconnect', () => process.exit(1));
  let task: T;
  try {
    task = JSON.parse(process.argv[2] ?? '') as T;
    if (task.kind !== kind) throw new Error(`expected a ${kind} task, got ${String(task.kind)}`);
  } catch (err) {
    return report({ ok: false, error: `bad task: ${(err as Error).message}` });
  }
  const deadline = setTimeout(() => report({ ok: false, error: `worker passed its ${task.deadlineMs} ms deadline` }), task.deadlineMs);
  run(task).then(
    (result) => report(result),
    (err: unknown) => report({ ok: false, error: (err as Error).message }),
  ).finally(() => clearTimeout(deadline));
}
