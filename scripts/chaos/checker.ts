import type { Counter, EpochSeen, Fault, History, NodeWrites, Op, WriteOp } from './history';

/**
 * The chaos checker: verdicts from a recorded history. Pure: no I/O, no clock.
 *
 * Precondition: operations on one key never overlap (the worker that owns a key waits for each
 * reply before its next request), and each key's writes carry counters 1, 2, 3, ... in order.
 * Then, walking a key's operations by start time:
 *   - an acknowledged write of counter c raises the floor to c;
 *   - an ambiguous write of c (error, timeout, broken connection) may have landed: c becomes an
 *     acceptable value to read, never a requirement;
 *   - a read must return the floor, or an ambiguous counter above it, and never less than the last
 *     counter read: anything lower is a regression (a miss reads as 0);
 *   - a read below the floor means the acknowledged writes above what it returned were rolled
 *     back: each is a lost write (counted once, however many reads show it); the final read of
 *     every key, after every fault is healed, catches a loss no read during the load saw.
 */

export interface Example {
  ns: string;
  key: string;
  at: number;
  expected: string;
  got: Counter;
}

export interface NamespaceVerdict {
  ns: string;
  keys: number;
  writesAcked: number;
  writesAmbiguous: number;
  readsOk: number;
  /** Keys that lost acknowledged writes at least once. */
  lostKeys: number;
  /** Acknowledged writes rolled back: a later read of their key returned an older counter. */
  lostWrites: number;
  /** Keys never read by the final verification (it could not reach them). */
  unverifiedKeys: number;
  /** Reads that returned a counter older than one already acknowledged or read for that key. */
  regressions: number;
  /** Reads of a counter never written (a bug in the store or the checker). */
  phantoms: number;
  examples: Example[];
}

const MAX_EXAMPLES = 5;

/** Per key, its operations by start time. */
function byKey(ops: readonly Op[], ns: string): Map<string, Op[]> {
  const keys = new Map<string, Op[]>();
  for (const op of ops) {
    if (op.ns !== ns) continue;
    const list = keys.get(op.key);
    if (list) list.push(op);
    else keys.set(op.key, [op]);
  }
  for (const list of keys.values()) list.sort((a, b) => a.start - b.start || a.end - b.end);
  return keys;
}

/** What one key's history says, added into `v`. */
function checkKey(ns: string, key: string, ops: readonly Op[], v: NamespaceVerdict): void {
  let floor = 0; // last acknowledged counter
  let seen = 0; // highest counter acknowledged or read
  let lostUpTo = 0; // acknowledged counters up to this one are already counted as lost
  const acked: Counter[] = [];
  const maybe = new Set<Counter>(); // ambiguous counters above the floor
  let verified = false;
  let keyLost = false;
  const note = (at: number, expected: string, got: Counter) => {
    if (v.examples.length < MAX_EXAMPLES) v.examples.push({ ns, key, at, expected, got });
  };
  for (const op of ops) {
    if (op.kind === 'write') {
      noteWrite(op, v, maybe);
      if (op.outcome === 'ok') {
        floor = op.counter;
        seen = Math.max(seen, op.counter);
        acked.push(op.counter);
        maybe.clear();
      }
      continue;
    }
    if (!op.ok) continue;
    v.readsOk++;
    verified ||= op.final === true;
    const got = op.counter;
    if (got < floor && floor > lostUpTo) {
      // every acknowledged write above what was read has been rolled back: lost
      const lost = acked.filter((c) => c > Math.max(got, lostUpTo)).length;
      if (lost > 0 && !keyLost) v.lostKeys++;
      keyLost ||= lost > 0;
      v.lostWrites += lost;
      lostUpTo = floor;
    }
    if (got < seen) {
      v.regressions++;
      note(op.end, `at least ${seen}`, got);
    } else if (got !== seen && got !== floor && !maybe.has(got)) {
      v.phantoms++;
      note(op.end, `${seen} or one of [${[...maybe].join(', ')}]`, got);
    } else seen = got;
  }
  if (!verified && floor > 0) v.unverifiedKeys++;
}

function noteWrite(op: WriteOp, v: NamespaceVerdict, maybe: Set<Counter>): void {
  if (op.outcome === 'ok') v.writesAcked++;
  else {
    v.writesAmbiguous++;
    maybe.add(op.counter);
  }
}

/** Loss and regression verdicts for one namespace. */
export function checkNamespace(ops: readonly Op[], ns: string): NamespaceVerdict {
  const v: NamespaceVerdict = { ns, keys: 0, writesAcked: 0, writesAmbiguous: 0, readsOk: 0, lostKeys: 0, lostWrites: 0, unverifiedKeys: 0, regressions: 0, phantoms: 0, examples: [] };
  for (const [key, list] of byKey(ops, ns)) {
    v.keys++;
    checkKey(ns, key, list, v);
  }
  return v;
}

/** A write a node accepted under an epoch after the harness had seen that epoch's successor. */
export interface StaleWrite {
  nodeId: string;
  shard: number;
  epoch: number;
  successor: number;
  successorSeenAt: number;
  lastWriteAt: number;
}

/**
 * Stale-epoch writes: a node reports, per epoch it held, the wall-clock time of its last accepted
 * write; the harness saw each epoch's successor (the next primary key of the shard) at some time.
 * Both clocks are the same machine's. A write under E later than E's successor was seen is stale.
 * The harness sees a key after it is created, so the test is lenient by the watch's delay.
 */
export function staleEpochWrites(epochs: readonly EpochSeen[], reports: readonly NodeWrites[]): StaleWrite[] {
  const stale: StaleWrite[] = [];
  const last = new Map<string, NodeWrites & { at: Map<number, number> }>();
  for (const r of reports) {
    const entry = last.get(r.nodeId) ?? { ...r, at: new Map<number, number>() };
    for (const [epoch, at] of r.lastWriteByEpoch) entry.at.set(epoch, Math.max(at, entry.at.get(epoch) ?? 0));
    last.set(r.nodeId, entry);
  }
  for (const node of last.values()) {
    for (const [epoch, at] of node.at) {
      const next = successorOf(epochs, node.shard, epoch);
      if (next && at > next.seenAt) stale.push({ nodeId: node.nodeId, shard: node.shard, epoch, successor: next.epoch, successorSeenAt: next.seenAt, lastWriteAt: at });
    }
  }
  return stale;
}

function successorOf(epochs: readonly EpochSeen[], shard: number, epoch: number): EpochSeen | undefined {
  let best: EpochSeen | undefined;
  for (const e of epochs) if (e.shard === shard && e.epoch > epoch && (!best || e.epoch < best.epoch)) best = e;
  return best;
}

/** What one fault did to the load. */
export interface FaultVerdict {
  fault: Fault;
  /**
   * Faults that take a primary away: fault → first write acknowledged for a key of its shard that
   * was sent after the fault (the new primary's first accepted write). Undefined otherwise or when none.
   */
  failoverMs?: number;
  /**
   * Fault → the moment every (affected shard × proxy) pair has had a write acknowledged that was
   * sent after the harness finished acting (restart done, SIGCONT sent): the end of the fault window.
   */
  recoveredMs?: number;
  recovered: boolean;
  /** Requests that started inside the window, and how many succeeded. */
  attempted: number;
  succeeded: number;
}

const succeeded = (op: Op): boolean => (op.kind === 'write' ? op.outcome === 'ok' : op.ok);

/** Failover and recovery of each fault, from the acknowledged writes. */
export function faultVerdicts(faults: readonly Fault[], ops: readonly Op[], proxies: number, endAt: number): FaultVerdict[] {
  const writes = ops.filter((op): op is WriteOp => op.kind === 'write' && op.outcome === 'ok').sort((a, b) => a.end - b.end);
  return faults.map((fault) => {
    const proxyList = fault.proxy === undefined ? Array.from({ length: proxies }, (_, i) => i) : [fault.proxy];
    const affected = (op: WriteOp) => fault.shards.includes(op.shard) && proxyList.includes(op.proxy);
    const first = fault.hitsPrimary ? writes.find((op) => affected(op) && op.start >= fault.at) : undefined;
    let all: number | undefined = fault.doneAt;
    for (const shard of fault.shards) {
      for (const proxy of proxyList) {
        const w = writes.find((op) => op.shard === shard && op.proxy === proxy && op.start >= fault.doneAt);
        all = w && all !== undefined ? Math.max(all, w.end) : undefined;
      }
    }
    const windowEnd = all ?? endAt;
    const inWindow = ops.filter((op) => op.start >= fault.at && op.start < windowEnd);
    return {
      fault, failoverMs: first && first.end - fault.at, recoveredMs: all === undefined ? undefined : all - fault.at,
      recovered: all !== undefined, attempted: inWindow.length, succeeded: inWindow.filter(succeeded).length,
    };
  });
}

/** Requests outside every fault window, between `from` and `to`. */
export function availabilityOutside(verdicts: readonly FaultVerdict[], ops: readonly Op[], from: number, to: number): { attempted: number; succeeded: number } {
  const windows = verdicts.map((v) => [v.fault.at, v.fault.at + (v.recoveredMs ?? Infinity)] as const);
  const outside = ops.filter((op) => op.start >= from && op.start < to && !(op.kind === 'read' && op.final) && !windows.some(([a, b]) => op.start >= a && op.start < b));
  return { attempted: outside.length, succeeded: outside.filter(succeeded).length };
}

/** Nearest-rank percentile of `values` (p in 0..100); undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Invariant {
  name: string;
  ok: boolean;
  detail: string;
}

export interface Verdict {
  acked: NamespaceVerdict;
  async: NamespaceVerdict;
  stale: StaleWrite[];
  faults: FaultVerdict[];
  outside: { attempted: number; succeeded: number };
  failoverP50Ms?: number;
  failoverMaxMs?: number;
  /** What the stale-epoch verdict rests on: epochs seen in etcd and node reports of accepted writes. */
  evidence: { epochsSeen: number; nodeEpochReports: number };
  invariants: Invariant[];
}

/** Every verdict of a run, and the invariants it must hold. */
export function checkHistory(h: History): Verdict {
  const acked = checkNamespace(h.ops, h.ackedNs);
  const asyncNs = checkNamespace(h.ops, h.asyncNs);
  const stale = staleEpochWrites(h.epochs, h.nodeWrites);
  const faults = faultVerdicts(h.faults, h.ops, h.proxies, h.loadEndedAt);
  const outside = availabilityOutside(faults, h.ops, h.startedAt, h.loadEndedAt);
  const failovers = faults.flatMap((f) => (f.failoverMs === undefined ? [] : [f.failoverMs]));
  const invariants: Invariant[] = [
    { name: `no acknowledged write lost in ${h.ackedNs} (writeAck: replica)`, ok: acked.lostWrites === 0 && acked.unverifiedKeys === 0, detail: `${acked.lostWrites} lost over ${acked.lostKeys} keys, ${acked.unverifiedKeys} keys unverified` },
    { name: 'no write accepted under a stale epoch', ok: stale.length === 0, detail: `${stale.length} node-epochs with writes after their successor` },
    { name: `no version regression on primary reads in ${h.ackedNs}`, ok: acked.regressions === 0 && acked.phantoms === 0, detail: `${acked.regressions} regressions, ${acked.phantoms} phantom values` },
    { name: `no phantom value in ${h.asyncNs}`, ok: asyncNs.phantoms === 0, detail: `${asyncNs.phantoms} reads of values never written` },
    { name: 'every fault followed by recovery', ok: faults.every((f) => f.recovered), detail: `${faults.filter((f) => f.recovered).length}/${faults.length} recovered` },
  ];
  const evidence = { epochsSeen: h.epochs.length, nodeEpochReports: new Set(h.nodeWrites.flatMap((r) => r.lastWriteByEpoch.map(([e]) => `${r.nodeId}/${e}`))).size };
  return { acked, async: asyncNs, stale, faults, outside, failoverP50Ms: percentile(failovers, 50), failoverMaxMs: percentile(failovers, 100), evidence, invariants };
}
