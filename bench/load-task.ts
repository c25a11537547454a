import type { LatencySummary } from './latency';
import type { Protocol } from './wire';

/**
 * The contract between the benchmark orchestrator and its load worker process: the task goes to
 * the worker as JSON in argv[2], the outcome comes back as one IPC message (or one JSON line on
 * stdout when the worker runs on its own).
 */
export interface LoadTask {
  protocol: Protocol;
  port: number;
  /** The server's process id, to read its CPU time over the measured window (0: do not). */
  serverPid: number;
  /**
   * `set`/`get`: random keys of 1..keyspace for `seconds` after `warmupSeconds`; `load`: SET of keys
   * 1..keyspace once, in order; `incr`: INCR of random counters (keys of their own, not the SET
   * keys); `mget`: MGET of `MGET_KEYS` random keys of 1..keyspace (`bench/load-worker.ts`).
   * Hashes and sets (`bench/coll-wire.ts`): `hload` / `sload`: one HSET with every field (one SADD
   * with every member) of keys 1..keyspace once, in order; `hset` / `hget` / `sadd` / `sismember`:
   * one field (member) of a random key of 1..keyspace per command, for `seconds`.
   */
  mode: LoadMode;
  connections: number;
  /** Requests each connection keeps in flight. */
  depth: number;
  warmupSeconds: number;
  seconds: number;
  keyspace: number;
  valueBytes: number;
  /** The worker gives up (and reports an error) after this long. */
  deadlineMs: number;
}

/** What every load worker reports for its measured window; latencies in microseconds. */
export interface RunFigures extends LatencySummary {
  ok: true;
  /** Successful replies counted in the measured window. */
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** GET replies that were a miss (NaN when the worker cannot tell). */
  misses: number;
  /** Failed requests: error replies, non-2xx answers, socket errors, timeouts. */
  errors: number;
}

/** Figures of one finished node-benchmark task. */
export interface LoadResult extends RunFigures {
  /** CPU seconds the server used in the measured window (NaN when not read). */
  serverCpuSeconds: number;
}

/** A task that could not finish. */
export interface LoadFailure {
  ok: false;
  error: string;
}

/** What the worker reports. */
export type LoadOutcome = LoadResult | LoadFailure;

/** What a load worker sends (see `LoadTask.mode`). */
export type LoadMode = 'set' | 'get' | 'load' | 'incr' | 'mget' | 'hload' | 'sload' | 'hset' | 'hget' | 'sadd' | 'sismember';

/** Modes that write keys 1..keyspace once, in order, and end (no warm-up, no timed window). */
export function isLoadMode(mode: LoadMode): boolean {
  return mode === 'load' || mode === 'hload' || mode === 'sload';
}

const MODES: ReadonlySet<string> = new Set(['set', 'get', 'load', 'incr', 'mget', 'hload', 'sload', 'hset', 'hget', 'sadd', 'sismember']);
const PROTOCOLS: ReadonlySet<string> = new Set(['frame', 'resp']);

/** Parses and checks a task; throws with the first field that is wrong. */
export function parseLoadTask(json: string | undefined): LoadTask {
  if (json === undefined) throw new Error('usage: load-worker <task JSON>');
  const task = JSON.parse(json) as LoadTask;
  if (!PROTOCOLS.has(task.protocol)) throw new Error(`unknown protocol ${String(task.protocol)}`);
  if (!MODES.has(task.mode)) throw new Error(`unknown mode ${String(task.mode)}`);
  const positive: Array<keyof LoadTask> = ['port', 'connections', 'depth', 'keyspace', 'valueBytes', 'deadlineMs'];
  for (const field of positive) {
    const value = task[field];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw new Error(`${field} must be a positive integer`);
  }
  task.serverPid ??= 0;
  if (!Number.isInteger(task.serverPid) || task.serverPid < 0) throw new Error('serverPid must be a process id or 0');
  if (!(task.seconds >= 0) || !(task.warmupSeconds >= 0)) throw new Error('seconds and warmupSeconds must be >= 0');
  return task;
}
