import type { Logger } from '../../shared/log';
import type { DeadLetter, WritePolicyFigures } from '../../shared/ops';
import type { StoreOutcome, StoreWrite } from '../../shared/store-http';
import type { Store } from '../store';
import type { DirtyRecord } from '../store/dirty-keys';
import type { WritePolicies } from './registry';

/** How often the flusher looks for due keys, ms. */
export const FLUSH_TICK_MS = 50;
/** Store batches of one namespace in flight at once. */
const BATCHES_IN_FLIGHT = 2;
/** Records looked at per namespace per tick, per batch slot (keys in backoff are passed over, within this bound). */
const SCAN_PER_BATCH = 4;
/** Retry backoff: first delay and ceiling, ms (doubling, with jitter). */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** Dead letters kept per namespace (the newest); the count goes on. */
const DEAD_LETTERS_KEPT = 100;
/** Dead letters a WRITE_POLICY_STATUS answer lists per namespace. */
const DEAD_LETTERS_SHOWN = 20;

/** Where the flusher reports to the replicas (the replication log; no-ops while not primary). */
export interface FlushLog {
  clean(ns: string, key: string, version: number): void;
}

/** Per namespace counters, for WRITE_POLICY_STATUS and /metrics. */
export interface WriteBehindCounters {
  flushed: number;
  failed: number;
  coalesced: number;
  refused: number;
  deadLetters: number;
  lastError: string | null;
  recent: DeadLetter[];
}

/** The delay before attempt `attempts + 1` of a key: doubling from 100 ms to 10 s, with ±25 % jitter. Pure but for `random`. */
export function backoffMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * The write-behind flusher of a primary: every FLUSH_TICK_MS it takes, per namespace, the dirty
 * keys (`store.dirty`) that are due (dirty for `delayMs`, or the queue holds a full batch, or a
 * flush was asked for) and writes them to the store in batches (`putMany`: the bulk endpoint, or
 * key by key). Guards:
 *
 * - one store request per key at a time (`flushing`), so the store sees a key's versions in the
 *   order the cache applied them; a write that lands while its key is in flight stays queued and
 *   goes in a later batch;
 * - a key leaves the queue only when the store took the version it holds now (or an answer said
 *   the store holds a newer one: 409/412), and the replicas hear of it (REPL_CLEAN);
 * - a failure that may pass (5xx, timeout, refused connection) is retried with backoff for as
 *   long as it takes (or `maxAttempts` when set), the key staying queued and unevictable; one
 *   that will not (a 4xx, a key that has no URL) becomes a dead letter at once;
 * - only the primary flushes: a replica keeps its copy of the queue until it is promoted.
 */
export class WriteBehind {
  readonly #store: Store;
  readonly #policies: WritePolicies;
  readonly #log: FlushLog;
  readonly #logger: Logger;
  readonly #isPrimary: () => boolean;
  readonly #counters = new Map<string, WriteBehindCounters>();
  readonly #inFlight = new Map<string, number>();
  /** Namespaces whose whole queue is due now (WRITE_POLICY_FLUSH), until drained. */
  readonly #forced = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(store: Store, policies: WritePolicies, log: FlushLog, logger: Logger, isPrimary: () => boolean) {
    this.#store = store;
    this.#policies = policies;
    this.#log = log;
    this.#logger = logger;
    this.#isPrimary = isPrimary;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.tick(Date.now()), FLUSH_TICK_MS);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  counters(ns: string): WriteBehindCounters {
    let c = this.#counters.get(ns);
    if (c === undefined) this.#counters.set(ns, (c = { flushed: 0, failed: 0, coalesced: 0, refused: 0, deadLetters: 0, lastError: null, recent: [] }));
    return c;
  }

  /** Every namespace with counters (it had a write-behind write on this node). */
  countedNamespaces(): IterableIterator<string> {
    return this.#counters.keys();
  }

  /**
   * Before a write of `key` in write-behind namespace `ns` with `maxQueue`: false when the queue
   * is full and the key not already queued (the write is refused: WRITE_QUEUE_FULL).
   */
  admit(ns: string, key: string, maxQueue: number): boolean {
    const dirty = this.#store.dirty;
    if (dirty.depth(ns) < maxQueue || dirty.has(ns, key)) return true;
    this.counters(ns).refused++;
    return false;
  }

  /** A primary's write of `key` applied: queue its latest state (a copy of the value, or a delete). Returns the record's version. */
  written(ns: string, key: string, value: Buffer | null, version: number): void {
    if (!this.#store.dirty.mark(ns, key, value, version, Date.now())) this.counters(ns).coalesced++;
  }

  /** Makes `ns`'s whole queue due and resolves once it is empty, or at `timeoutMs`: what is left, and the dead letters counted. */
  async flush(ns: string, timeoutMs: number): Promise<{ remaining: number; deadLetters: number }> {
    const deadline = Date.now() + timeoutMs;
    this.#forced.set(ns, (this.#forced.get(ns) ?? 0) + 1);
    try {
      this.tick(Date.now());
      while (this.#store.dirty.depth(ns) > 0 && Date.now() < deadline && !this.#closed) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(FLUSH_TICK_MS, Math.max(1, deadline - Date.now()))));
      }
    } finally {
      const n = (this.#forced.get(ns) ?? 1) - 1;
      if (n <= 0) this.#forced.delete(ns);
      else this.#forced.set(ns, n);
    }
    return { remaining: this.#store.dirty.depth(ns), deadLetters: this.#counters.get(ns)?.deadLetters ?? 0 };
  }

  /** One pass: starts the batches that are due (primary only). */
  tick(now: number): void {
    if (this.#closed || !this.#isPrimary()) return;
    const dirty = this.#store.dirty;
    if (dirty.count === 0) return;
    for (const ns of [...dirty.namespaces()]) {
      const policy = this.#policies.flushPolicy(ns);
      if (policy === undefined) continue; // no store known on this node (yet): kept until one is
      let slots = BATCHES_IN_FLIGHT - (this.#inFlight.get(ns) ?? 0);
      while (slots > 0) {
        const batch = this.#dueBatch(ns, policy.batch, policy.delayMs, now);
        if (batch.length === 0) break;
        slots--;
        this.#send(ns, batch, policy.client, policy.maxAttempts);
      }
    }
  }

  /** Up to `size` due records of `ns`, oldest first, not in flight and not backing off; marked in flight. */
  #dueBatch(ns: string, size: number, delayMs: number, now: number): DirtyRecord[] {
    const dirty = this.#store.dirty;
    const all = this.#forced.has(ns) || dirty.depth(ns) >= size;
    const batch: DirtyRecord[] = [];
    let looked = 0;
    for (const r of dirty.records(ns) ?? []) {
      if (++looked > size * SCAN_PER_BATCH || batch.length >= size) break;
      if (!all && now - r.since < delayMs) break; // the rest are younger
      if (r.flushing !== 0 || r.nextTry > now) continue;
      r.flushing = r.version;
      batch.push(r);
    }
    return batch;
  }

  #send(ns: string, batch: DirtyRecord[], client: { putMany(w: readonly StoreWrite[]): Promise<StoreOutcome[]> }, maxAttempts: number): void {
    this.#inFlight.set(ns, (this.#inFlight.get(ns) ?? 0) + 1);
    const writes: StoreWrite[] = batch.map((r) => (r.value === null ? { key: r.key, version: r.version, deleted: true } : { key: r.key, value: r.value, version: r.version }));
    const done = (outcomes: StoreOutcome[]): void => {
      this.#inFlight.set(ns, (this.#inFlight.get(ns) ?? 1) - 1);
      const now = Date.now();
      batch.forEach((r, i) => this.#settle(ns, r, writes[i].version, outcomes[i] ?? { kind: 'error', reason: 'no answer', retryable: true }, maxAttempts, now));
      if (this.#store.dirty.depth(ns) === 0 && this.#policies.get(ns)?.mode !== 'write-behind') this.#policies.release(ns);
      if (!this.#closed) this.tick(now); // a full queue goes on at once
    };
    client.putMany(writes).then(done, (err: unknown) => done(batch.map(() => ({ kind: 'error', reason: (err as Error).message, retryable: true }))));
  }

  /** One key's answer: flushed (leaves the queue unless written again meanwhile), retried later, or a dead letter. */
  #settle(ns: string, r: DirtyRecord, sent: number, outcome: StoreOutcome, maxAttempts: number, now: number): void {
    r.flushing = 0;
    const dirty = this.#store.dirty;
    const held = dirty.get(ns, r.key);
    const c = this.counters(ns);
    if (outcome.kind === 'ok' || outcome.kind === 'stale') {
      c.flushed++;
      if (held !== r) return;
      if (r.version === sent) {
        if (dirty.clean(ns, r.key, sent)) this.#log.clean(ns, r.key, sent);
      } else dirty.requeue(r, now); // written meanwhile: that write waits its delay (coalescing a hot key's writes)
      return;
    }
    c.failed++;
    const reason = outcome.kind === 'timeout' ? 'the store did not answer in time' : outcome.reason;
    c.lastError = reason;
    if (held !== r || r.version !== sent) return; // written again meanwhile: the newer version goes next
    r.attempts++;
    const retryable = outcome.kind === 'timeout' || outcome.retryable;
    if (retryable && (maxAttempts === 0 || r.attempts < maxAttempts)) {
      r.nextTry = now + backoffMs(r.attempts);
      return;
    }
    // Given up: recorded, and dropped from the queue here and on the replicas.
    c.deadLetters++;
    c.recent.push({ key: r.key, version: sent, deleted: r.value === null, reason, at: now });
    if (c.recent.length > DEAD_LETTERS_KEPT) c.recent.splice(0, c.recent.length - DEAD_LETTERS_KEPT);
    this.#logger.warn({ event: 'write-behind-dead-letter', namespace: ns, key: r.key, version: sent, reason, attempts: r.attempts }, 'a write-behind write was given up');
    if (dirty.clean(ns, r.key, sent)) this.#log.clean(ns, r.key, sent);
  }

  /** Figures of `ns`'s write-behind queue on this node. */
  figures(ns: string, primary: boolean, now: number): WritePolicyFigures {
    const dirty = this.#store.dirty;
    const c = this.counters(ns);
    let oldest = 0;
    let inFlight = 0;
    for (const r of dirty.records(ns) ?? []) {
      if (oldest === 0) oldest = r.since;
      if (r.flushing !== 0) inFlight++;
    }
    return {
      namespace: ns, policy: 'write-behind', primary, depth: dirty.depth(ns), bytes: dirty.bytesOf(ns), oldestMs: oldest === 0 ? 0 : Math.max(0, now - oldest), inFlight,
      flushed: c.flushed, failed: c.failed, coalesced: c.coalesced, refused: c.refused, deadLetters: c.deadLetters, recent: c.recent.slice(-DEAD_LETTERS_SHOWN), lastError: c.lastError,
    };
  }
}
