import { setTimeout as sleep } from 'node:timers/promises';
import type { RecordingStore, StoreCall } from '../store-server';
import { shardctlAsync, type ClusterLayout } from '../cluster/processes';
import { checkNamespace, type Invariant, type NamespaceVerdict } from './checker';
import type { Op, ReadOp, WriteOp } from './history';

/**
 * The chaos harness's write-behind part (issue 17):
 *
 *   RecordingStore (a real HTTP store in the harness process, 127.0.0.1, bulk endpoint on)
 *   ─► namespace `wb`: write-behind, writeAck: replica, 200 ms delay, flushed to that store
 *   ─► a second checked load (scripts/chaos/load.ts) on a bounded set of `wb` keys
 *   ─► StoreFaults: while the node faults run, the store answers 503 for a while, then refuses
 *      connections for a while, then recovers, over and over
 *   ─► at the end (load stopped, store healthy): `shardctl ns flush wb`, the queues read back
 *      (`ns flush-status`), every key read through the proxies, and compared with the store.
 *
 * The verdict (`writeBehindVerdict`, pure) counts the keys left unflushed at the end and the
 * store writes accepted out of order; both must be 0.
 */

export const WB_NS = 'wb';
export const WB_DELAY_MS = 200;
/** The write-behind load: 2 workers x 3 shards x 2 keys = 12 keys, about 4 writes per key per second (about a quarter of the run's writes). */
export const WB_WORKERS = 2;
export const WB_KEYS_PER_SHARD = 2;
export const WB_RATE = 100;
const WB_STORE_TIMEOUT_MS = 1000;
/** `ns flush` bound at the end: the longest retry backoff (10 s, +25 % jitter) and then some. */
export const WB_FLUSH_TIMEOUT_MS = 20_000;

/** The `shardctl ns set wb` flags. */
export function writeBehindFlags(store: RecordingStore): string[] {
  return [
    '--write-policy', 'write-behind', '--write-ack', 'replica', '--store', store.template, '--store-bulk-url', store.bulkUrl,
    '--write-behind-delay-ms', String(WB_DELAY_MS), '--store-timeout-ms', String(WB_STORE_TIMEOUT_MS),
  ];
}

/** One store outage as applied. */
export interface StoreFault {
  kind: 'store-failing' | 'store-down';
  at: number;
  doneAt: number;
}

/** The store's fault cycle: healthy `healthyMs`, 503 for `faultMs`, healthy, down for `faultMs`, ... */
export interface StoreFaultPlan {
  firstAfterMs: number;
  healthyMs: number;
  faultMs: number;
}

export const STORE_FAULT_PLAN: Record<'ci' | 'long', StoreFaultPlan> = {
  ci: { firstAfterMs: 3000, healthyMs: 6000, faultMs: 4000 },
  long: { firstAfterMs: 5000, healthyMs: 20_000, faultMs: 8000 },
};

/**
 * Runs the store's outages one after another, alongside the harness's node faults, until
 * `stop()`, which heals the store (answers again, listening again) and resolves once it does.
 */
export class StoreFaults {
  readonly applied: StoreFault[] = [];
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(readonly store: RecordingStore, readonly plan: StoreFaultPlan, readonly say: (text: string) => void) {}

  start(): void {
    this.#loop ??= this.#run().catch((err: unknown) => {
      if ((err as Error).name !== 'AbortError') this.say(`store faults stopped: ${(err as Error).message}`);
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    await sleep(this.plan.firstAfterMs, undefined, { signal });
    for (let i = 0; ; i++) {
      const kind = i % 2 === 0 ? 'store-failing' : 'store-down';
      const fault: StoreFault = { kind, at: Date.now(), doneAt: 0 };
      this.applied.push(fault);
      if (kind === 'store-failing') this.store.failing(503);
      else await this.store.down();
      try {
        await sleep(this.plan.faultMs, undefined, { signal });
      } finally {
        await this.#heal();
        fault.doneAt = Date.now();
        this.say(`store fault ${this.applied.length} ${kind}: ${kind === 'store-failing' ? 'HTTP 503 to every request' : 'connections refused'} for ${fault.doneAt - fault.at} ms, then healthy`);
      }
      await sleep(this.plan.healthyMs, undefined, { signal });
    }
  }

  async #heal(): Promise<void> {
    this.store.healthy();
    await this.store.up();
  }

  /** Ends the cycle and leaves the store healthy. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await this.#heal();
  }
}

/** One key's end state: what the cache holds (read through a proxy), what the store holds. */
export interface KeyEnd {
  key: string;
  /** Counter of the last acknowledged write (0: none). */
  lastAcked: number;
  /** Counter the final read through the proxy returned (undefined: it could not be read). */
  cache: number | undefined;
  /** Counter the store holds (0: nothing; NaN: a value that is not this load's). */
  store: number;
}

/** What the end of the run found in the write-behind namespace. */
export interface WriteBehindSummary {
  ns: string;
  delayMs: number;
  keys: number;
  /** The load's own checker verdict (loss, regressions) for the namespace. */
  load: NamespaceVerdict;
  storeFaults: StoreFault[];
  /** `ns flush` at the end: exit status, elapsed ms, what it printed first. */
  flush: { code: number; ms: number; out: string };
  /** Unflushed keys per the primaries' queues after the flush, and the replicas' copies (null: not read). */
  queueDepthAtEnd: number | null;
  replicaDepthAtEnd: number | null;
  /** Figures of the primaries (flush-status totals) at the end; null when not read. */
  figures: { flushed: number; failed: number; coalesced: number; refused: number; deadLetters: number } | null;
  store: { requests: number; writes: number; accepted: number; staleRejected: number; failedAnswers: number };
  /** Keys whose store value is not the cache's, or is behind their last acknowledged write. */
  keysDiffering: KeyEnd[];
  /** Keys the final read could not read. */
  keysUnread: string[];
  /** max(keys differing, queue depth at end): must be 0. */
  unflushedAtEnd: number;
  /** Store writes accepted (2xx) with a version below one accepted before for the same key: must be 0. */
  outOfOrder: number;
  /** Acknowledged writes per store write accepted (the coalescing ratio). */
  writesPerStoreWrite: number;
}

/** Store writes accepted with a version below an earlier accepted write of the same key. Pure. */
export function outOfOrderWrites(calls: readonly StoreCall[]): number {
  const highest = new Map<string, number>();
  let n = 0;
  for (const c of calls) {
    if (c.status < 200 || c.status >= 300) continue;
    const before = highest.get(c.key);
    if (before !== undefined && c.version < before) n++;
    else highest.set(c.key, c.version);
  }
  return n;
}

/** A store value's counter: this load writes `{"c": n, "w": worker}` as JSON. */
function counterOf(value: Buffer | undefined): number {
  if (value === undefined) return 0;
  try {
    const parsed = JSON.parse(value.toString('utf8')) as { c?: unknown };
    return typeof parsed.c === 'number' ? parsed.c : NaN;
  } catch {
    return NaN;
  }
}

/** Per key: last acknowledged counter and the final read's counter, from the load's operations. Pure. */
export function keyEnds(ops: readonly Op[], ns: string, storeCounter: (key: string) => number): KeyEnd[] {
  const ends = new Map<string, KeyEnd>();
  const sorted = ops.filter((op) => op.ns === ns).sort((a, b) => a.start - b.start);
  for (const op of sorted) {
    const end = ends.get(op.key) ?? { key: op.key, lastAcked: 0, cache: undefined, store: 0 };
    ends.set(op.key, end);
    if (op.kind === 'write') {
      if ((op as WriteOp).outcome === 'ok') end.lastAcked = op.counter;
    } else if ((op as ReadOp).final && (op as ReadOp).ok) end.cache = op.counter;
  }
  for (const end of ends.values()) end.store = storeCounter(end.key);
  return [...ends.values()];
}

/** A key is unflushed when the store does not hold what the cache does, or holds less than the last acknowledged write. */
export const unflushed = (k: KeyEnd): boolean => k.cache !== undefined && (k.store !== k.cache || k.store < k.lastAcked);

/** The two invariants of the write-behind namespace. */
export function writeBehindInvariants(s: WriteBehindSummary): Invariant[] {
  return [
    {
      name: `write-behind: no unflushed write at the end in ${s.ns}`,
      ok: s.unflushedAtEnd === 0 && s.queueDepthAtEnd === 0 && s.keysUnread.length === 0 && s.flush.code === 0,
      detail: `${s.unflushedAtEnd} unflushed (${s.keysDiffering.length} keys whose store value is not the cache's or is behind their last acknowledged write, queue depth ${s.queueDepthAtEnd ?? 'not read'}); ${s.keysUnread.length} keys unread; ns flush exit ${s.flush.code}`,
    },
    { name: `write-behind: no store write accepted out of order in ${s.ns}`, ok: s.outOfOrder === 0, detail: `${s.outOfOrder} accepted writes below a version the store had accepted before` },
  ];
}

/** The report's lines of the write-behind namespace. Pure. */
export function writeBehindLines(s: WriteBehindSummary): string[] {
  const f = s.figures;
  const faults = s.storeFaults.map((x) => `${x.kind} ${((x.doneAt || x.at) - x.at) / 1000}s`).join(', ');
  const lines = [
    `namespace ${s.ns} (write-behind, writeAck: replica, delay ${s.delayMs} ms, bulk store): ${s.keys} keys, ${s.load.writesAcked} writes acknowledged, ${s.load.writesAmbiguous} ambiguous; ` +
      `LOST ${s.load.lostWrites} acknowledged writes in the cache; ${s.load.regressions} read regressions, ${s.load.phantoms} phantom values`,
    `  store faults: ${s.storeFaults.length} (${faults || 'none'}); store: ${s.store.requests} requests, ${s.store.writes} writes asked, ${s.store.accepted} accepted, ` +
      `${s.store.failedAnswers} answered 503, ${s.store.staleRejected} stale refused (409, information); ${s.writesPerStoreWrite.toFixed(2)} acknowledged writes per store write accepted`,
    `  primaries: ${f ? `${f.flushed} flushed, ${f.failed} failed attempts, ${f.coalesced} coalesced, ${f.refused} refused (queue full), ${f.deadLetters} dead letters` : 'figures not read'}; ` +
      `ns flush at the end: exit ${s.flush.code} in ${s.flush.ms} ms; queue depth at the end ${s.queueDepthAtEnd ?? '?'} (replicas ${s.replicaDepthAtEnd ?? '?'})`,
    `  unflushed at end: ${s.unflushedAtEnd}; out-of-order store writes: ${s.outOfOrder}`,
  ];
  for (const k of s.keysDiffering.slice(0, 5)) lines.push(`  e.g. ${s.ns}/${k.key}: cache ${k.cache}, store ${k.store}, last acknowledged ${k.lastAcked}`);
  return lines;
}

interface FlushStatusJson {
  shards?: Array<{ figures?: { depth?: number; flushed?: number; failed?: number; coalesced?: number; refused?: number; deadLetters?: number } | null; replicas?: Array<{ depth?: number | null }> }>;
}

/** Reads the namespace's queues (`shardctl ns flush-status <ns> -o json`); nulls when it fails. */
async function readQueues(etcd: string, layout: ClusterLayout, ns: string): Promise<Pick<WriteBehindSummary, 'queueDepthAtEnd' | 'replicaDepthAtEnd' | 'figures'>> {
  const res = await shardctlAsync(['ns', 'flush-status', ns, '--output', 'json'], etcd, layout);
  try {
    const doc = JSON.parse(res.stdout) as FlushStatusJson;
    const figures = { flushed: 0, failed: 0, coalesced: 0, refused: 0, deadLetters: 0 };
    let depth = 0;
    let replicas = 0;
    for (const s of doc.shards ?? []) {
      depth += s.figures?.depth ?? 0;
      for (const k of Object.keys(figures) as Array<keyof typeof figures>) figures[k] += s.figures?.[k] ?? 0;
      for (const r of s.replicas ?? []) replicas += r.depth ?? 0;
    }
    return { queueDepthAtEnd: depth, replicaDepthAtEnd: replicas, figures };
  } catch {
    return { queueDepthAtEnd: null, replicaDepthAtEnd: null, figures: null };
  }
}

/** `shardctl ns flush <ns>`, bounded by its own timeout (and its grace). */
export async function flushAtEnd(etcd: string, layout: ClusterLayout, ns: string): Promise<WriteBehindSummary['flush']> {
  const started = Date.now();
  const res = await shardctlAsync(['ns', 'flush', ns, '--timeout', String(WB_FLUSH_TIMEOUT_MS)], etcd, layout);
  const out = `${res.stdout}${res.stderr}`.trim().split('\n').slice(0, 6).join(' | ');
  return { code: res.status ?? 1, ms: Date.now() - started, out };
}

/**
 * The end of the write-behind part, once the load is stopped, the store healed, the queues
 * flushed (`flush`) and every key read back through a proxy (`ops` holds the final reads).
 */
export async function writeBehindSummary(input: {
  etcd: string; layout: ClusterLayout; store: RecordingStore; faults: StoreFault[]; ops: readonly Op[]; keys: number; flush: WriteBehindSummary['flush'];
}): Promise<WriteBehindSummary> {
  const { store } = input;
  const queues = await readQueues(input.etcd, input.layout, WB_NS);
  const ends = keyEnds(input.ops, WB_NS, (key) => counterOf(store.value(key)));
  const keysDiffering = ends.filter(unflushed);
  const keysUnread = ends.filter((k) => k.cache === undefined).map((k) => k.key);
  const load = checkNamespace(input.ops, WB_NS);
  return {
    ns: WB_NS, delayMs: WB_DELAY_MS, keys: input.keys, load, storeFaults: input.faults, flush: input.flush, ...queues,
    store: { requests: store.requestCount, writes: store.writeCount, accepted: store.acceptedCount, staleRejected: store.staleRejected, failedAnswers: store.failedAnswers },
    keysDiffering, keysUnread,
    unflushedAtEnd: Math.max(keysDiffering.length, queues.queueDepthAtEnd ?? 0),
    outOfOrder: outOfOrderWrites(store.calls),
    writesPerStoreWrite: store.acceptedCount === 0 ? 0 : load.writesAcked / store.acceptedCount,
  };
}
