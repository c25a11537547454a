/**
 * What the chaos load generator records and what the checker reads: every operation with its
 * start and end (wall-clock ms), every fault injected, every epoch seen in etcd and every node's
 * report of its last accepted write per epoch. Plain data, so a history can be built by hand in a
 * test or written to JSON.
 */

/** A payload counter: a worker writes each of its keys with 1, 2, 3, ...; 0 stands for "no value". */
export type Counter = number;

/**
 * `ok`: acknowledged. `ambiguous`: failed, timed out or the connection broke: the write may or may
 * not have landed, so either outcome is acceptable to the checker.
 */
export type WriteOutcome = 'ok' | 'ambiguous';

export interface OpBase {
  ns: string;
  key: string;
  /** Shard of the key when the run started (no rebalancing during a run). */
  shard: number;
  /** Index of the proxy the request went through. */
  proxy: number;
  start: number;
  end: number;
  /** Error code of a failed request. */
  code?: string;
}

export interface WriteOp extends OpBase {
  kind: 'write';
  counter: Counter;
  outcome: WriteOutcome;
}

export interface ReadOp extends OpBase {
  kind: 'read';
  ok: boolean;
  /** The counter read; 0 for a miss; meaningless when `ok` is false. */
  counter: Counter;
  /** A read of the final verification, after every fault has been healed. */
  final?: boolean;
}

export type Op = WriteOp | ReadOp;

export type FaultKind = 'kill-primary' | 'stop-primary' | 'kill-replica-in-sync' | 'restart-proxy' | 'restart-etcd' | 'restart-node-empty';

export const FAULT_KINDS: readonly FaultKind[] = ['kill-primary', 'stop-primary', 'kill-replica-in-sync', 'restart-proxy', 'restart-etcd', 'restart-node-empty'];

/** One fault as injected. */
export interface Fault {
  id: number;
  kind: FaultKind;
  /** Program hit (node id, `proxy-N`, `etcd`). */
  target: string;
  /** Shards whose writes it may interrupt (every shard for etcd and a proxy). */
  shards: number[];
  /** Only writes through this proxy index count for its recovery (restart-proxy). */
  proxy?: number;
  /** Whether it took a shard's primary away (a failover must follow). */
  hitsPrimary: boolean;
  at: number;
  /** When the harness finished acting (restart done, SIGCONT sent): recovery is measured after it. */
  doneAt: number;
  /** What happened, for the report line (e.g. "no full sync seen within 5 s; killed at once"). */
  note?: string;
}

/** A primary key seen in etcd: its create revision is the shard's epoch. */
export interface EpochSeen {
  shard: number;
  epoch: number;
  nodeId: string;
  /** Wall-clock ms when the harness first saw it (never earlier than its creation). */
  seenAt: number;
}

/** A node's report (STATS / healthz): per epoch it held, the wall-clock ms of its last accepted write. */
export interface NodeWrites {
  nodeId: string;
  shard: number;
  lastWriteByEpoch: Array<[number, number]>;
}

export interface History {
  ops: Op[];
  faults: Fault[];
  epochs: EpochSeen[];
  nodeWrites: NodeWrites[];
  /** Namespace whose writes need a replica's acknowledgement, and the asynchronous one. */
  ackedNs: string;
  asyncNs: string;
  proxies: number;
  startedAt: number;
  /** End of the load (before the final verification). */
  loadEndedAt: number;
}

/**
 * The faults log chaos-compose.sh writes for `--external` runs: one JSON object per fault (a Fault
 * without its id), and `{"event":"end"}` once the schedule is over. Pure.
 */
export function parseFaultsLog(text: string): { faults: Fault[]; ended: boolean } {
  const lines = text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const faults = lines.filter((l) => l.kind !== undefined).map((l, i) => ({ ...(l as unknown as Omit<Fault, 'id'>), id: i + 1 }));
  return { faults, ended: lines.some((l) => l.event === 'end') };
}
