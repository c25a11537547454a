import { OpError, badRequest } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import {
  APPEND, buildError, buildReply, COLL_WRITE, COPY, DELETE, FRAME, INCR, INCRBYFLOAT, MSETNX, RENAME, SET, SETGET, SETRANGE, WRITE_POLICY_FLUSH,
  WRITE_POLICY_STATUS, WRITE_TARGET, type WritePolicyFigures,
} from '../../shared/ops';
import { SetCond, Status } from '../../shared/protocol';
import type { StoreOutcome, StoreWrite } from '../../shared/store-http';
import type { NamespacePolicy } from '../../shared/topology/schema';
import { changed, handle, type HandlerContext, type MutationLog, write as writeTarget } from '../handlers';
import { ReplyWriter } from '../reply-writer';
import { floatSumText, intSum, setRangeText } from '../store/store';
import { bytesToString } from '../store/value-codec';
import { condArg, deltaArg, keyArg, namespaceArg, ttlArg, valueArg, versionArg } from '../validate';
import { WritePolicies, type WritePolicy } from './registry';
import { WriteBehind } from './write-behind';

/**
 * Write-through and write-behind on the storage node (issue 17; promises in docs/api.md, "Write
 * policies"). The shard's primary writes to the store: it is the one place that orders a key's
 * writes, so the store sees them in the order the cache applied them.
 *
 * Write-through: a write is planned without touching the cache (its arguments, its condition,
 * the value it will leave), the store is asked, and only once the store took it is the write
 * applied and answered; a store error or timeout is answered STORE_ERROR / STORE_TIMEOUT with the
 * cache as it was. A key's writes run one at a time (a per-key chain); the connection goes on
 * serving, its later replies held behind the waiting one (`AckWaiters.reserve`).
 *
 * Write-behind: the write is applied and answered at once; the mutation hooks queue the key's new
 * state (`store.dirty`, replicated) for the flusher (`write-behind.ts`). A full queue refuses
 * writes of keys not queued yet (WRITE_QUEUE_FULL).
 *
 * Only the string writes that define a value reach the store: SET (any form), SETGET, DEL, INCR
 * and INCRBYFLOAT, APPEND, SETRANGE. TTL changes (EXPIRE, PERSIST), read-through fills and
 * invalidations (FLUSHDB, tags) are the cache's own. RENAME, COPY, MSETNX and hash and set writes
 * are refused in these namespaces: the store contract is one value per key.
 */

/** The ops a write policy sends to the store. */
const STORE_OPS: ReadonlySet<number> = new Set([SET.code, SETGET.code, DELETE.code, INCR.code, INCRBYFLOAT.code, APPEND.code, SETRANGE.code]);
/** The ops refused in a namespace with a write policy. */
const REFUSED_OPS: ReadonlyMap<number, string> = new Map([[RENAME.code, 'RENAME'], [COPY.code, 'COPY'], [MSETNX.code, 'MSETNX'], [COLL_WRITE.code, 'hash and set writes']]);

/**
 * Bounds of write-through writes waiting for the store: per key (its chain) and per connection. A
 * waiting write holds its request and the replies queued behind it on its connection, for at most
 * the store's deadline; past these a write is refused WRITE_QUEUE_FULL, so a slow store cannot make
 * a node hold an unbounded backlog.
 */
const MAX_CHAIN = 256;
const MAX_WAITING_PER_CONN = 4096;

const ID = FRAME.id;
const OP = FRAME.op;
const NS = WRITE_TARGET.ns;
const KEY = WRITE_TARGET.key;

/** The connection-side steps the runtime needs from the server. */
export interface ReplySlots<C> {
  /** Sends the replies produced so far on `conn` (before a place is reserved behind them). */
  sendPending(conn: C): void;
  reserve(conn: C, id: number): object;
  /** `offset` > 0: the reply also waits for a replica's acknowledgement (writeAck: replica). */
  fill(conn: C, slot: object, reply: Buffer, offset: number): void;
  /** The offset the last write must wait for (0: none); reading it clears it. */
  takeAckWait(): number;
}

/** A write-through write the store has to take: what it sends, and how the cache then applies and answers it. */
interface Planned {
  value: Buffer | null;
  apply(out: ReplyWriter): void;
}

/** One write of a key's write-through chain. */
interface Job<C> {
  conn: C;
  slot: object;
  m: unknown[];
  policy: WritePolicy;
}

export class WritePolicyRuntime<C> {
  readonly policies: WritePolicies;
  readonly writeBehind: WriteBehind;
  readonly #ctx: HandlerContext;
  readonly #slots: ReplySlots<C>;
  readonly #onInternalError: (err: unknown) => void;
  readonly #isPrimary: () => boolean;
  readonly #log: { dirty(ns: string, key: string, version: number, value: Buffer | null): void; clean(ns: string, key: string, version: number): void };
  /** Write-through chains by namespace + key: the head runs, the others wait. */
  readonly #chains = new Map<string, Job<C>[]>();
  readonly #scratch = new ReplyWriter();
  /** Write-through writes waiting for their store, per connection (bounded: MAX_WAITING_PER_CONN). */
  readonly #waiting = new Map<C, number>();
  /** Write-through writes gathered this turn per store client (sent as one bulk request). */
  readonly #turns = new Map<object, Array<{ write: StoreWrite; resolve: (o: StoreOutcome) => void }>>();
  /** Set while a store op of a write-behind namespace runs `handle`: its mutations are queued. */
  #marking: WritePolicy | null = null;
  /** Whether the op running under `#marking` queued its key. */
  #marked = false;
  /** Write-through figures per namespace. */
  readonly #through = new Map<string, { flushed: number; failed: number; lastError: string | null; inFlight: number }>();
  /** Store latency of write-through writes, seconds (for /metrics). */
  onStoreLatency: ((ns: string, seconds: number) => void) | undefined;

  /**
   * `ctx` is the server's handler context; its `repl` is wrapped here (`mutationLog`) so
   * write-behind writes queue their key. `log` is the replication log (REPL_DIRTY / REPL_CLEAN).
   */
  constructor(
    ctx: HandlerContext, slots: ReplySlots<C>, log: { dirty(ns: string, key: string, version: number, value: Buffer | null): void; clean(ns: string, key: string, version: number): void },
    logger: Logger, isPrimary: () => boolean, onInternalError: (err: unknown) => void,
  ) {
    this.policies = new WritePolicies(logger);
    this.#ctx = ctx;
    this.#slots = slots;
    this.#isPrimary = isPrimary;
    this.#onInternalError = onInternalError;
    this.#log = log;
    this.writeBehind = new WriteBehind(ctx.store, this.policies, log, logger, isPrimary);
    ctx.repl = this.#wrap(ctx.repl);
  }

  /** True when some namespace has a write policy: writes then come through `intercept`. */
  get active(): boolean {
    return this.policies.active;
  }

  /** A namespace policy from etcd (undefined: removed). */
  apply(ns: string, policy: NamespacePolicy | undefined): void {
    this.policies.apply(ns, policy);
    if (this.policies.active) this.writeBehind.start();
  }

  close(): void {
    this.writeBehind.close();
    this.policies.close();
  }

  /**
   * A keyed write on `conn`: true when the runtime answered it (or will), false when the server
   * handles it as usual (no write policy, or a write the store does not take).
   */
  intercept(conn: C, m: unknown[], out: ReplyWriter): boolean {
    const ns = m[NS];
    if (typeof ns !== 'string') return false;
    const policy = this.policies.get(ns);
    if (policy === undefined) return false;
    const op = m[OP] as number;
    const refused = REFUSED_OPS.get(op);
    if (refused !== undefined) {
      out.message(buildError(m[ID], Status.BAD_REQUEST, `${refused} is not available in namespace "${ns}": its write policy is ${policy.mode}, and the store takes one value per key`));
      return true;
    }
    if (!STORE_OPS.has(op)) return false;
    const key = m[KEY];
    const chainKey = typeof key === 'string' ? `${ns}\u0000${key}` : '';
    const chain = this.#chains.get(chainKey);
    // A key with write-through writes still waiting keeps its order whatever the policy became since.
    if (policy.mode === 'write-behind' && chain === undefined) return this.#writeBehind(m, out, ns, policy);
    if (typeof key !== 'string') return false;
    const waiting = this.#waiting.get(conn) ?? 0;
    if ((chain?.length ?? 0) >= MAX_CHAIN || waiting >= MAX_WAITING_PER_CONN) {
      out.message(buildError(m[ID], Status.WRITE_QUEUE_FULL, chain !== undefined && chain.length >= MAX_CHAIN
        ? `${MAX_CHAIN} write-through writes of this key already wait for the store (it is slow or down); retry later`
        : `${MAX_WAITING_PER_CONN} write-through writes of this connection already wait for the store (it is slow or down); retry later`));
      return true;
    }
    this.#slots.sendPending(conn);
    const job: Job<C> = { conn, slot: this.#slots.reserve(conn, m[ID] as number), m, policy: chain?.[0].policy ?? policy };
    this.#waiting.set(conn, waiting + 1);
    if (chain !== undefined) chain.push(job);
    else {
      this.#chains.set(chainKey, [job]);
      this.#run(chainKey, job);
    }
    return true;
  }

  /** WRITE_POLICY_STATUS: figures of the namespaces with a write policy or a queue here. */
  status(m: unknown[], out: ReplyWriter): void {
    const only = m[WRITE_POLICY_STATUS.at.ns];
    if (only !== null && only !== undefined) namespaceArg(only);
    out.message(buildReply(WRITE_POLICY_STATUS.ok, m[ID], this.figures(typeof only === 'string' ? only : null)));
  }

  /** WRITE_POLICY_FLUSH: the reply once the namespace's queue is drained or the deadline passed. */
  async flush(m: unknown[]): Promise<unknown[]> {
    try {
      const ns = namespaceArg(m[WRITE_POLICY_FLUSH.at.ns]);
      const timeoutMs = m[WRITE_POLICY_FLUSH.at.timeoutMs];
      if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 600_000) throw badRequest('timeoutMs must be a whole number of ms up to 600000');
      if (!this.#isPrimary()) throw new OpError(Status.NOT_PRIMARY, 'only the primary flushes its write-behind queue', [0, null]);
      const r = await this.writeBehind.flush(ns, timeoutMs);
      return buildReply(WRITE_POLICY_FLUSH.ok, m[ID], r.remaining, r.deadLetters);
    } catch (err) {
      if (err instanceof OpError) return buildError(m[ID], err.status, err.message, err.detail);
      this.#onInternalError(err);
      return buildError(m[ID], Status.INTERNAL, 'internal error');
    }
  }

  figures(only: string | null): WritePolicyFigures[] {
    const now = Date.now();
    const primary = this.#isPrimary();
    const names = new Set<string>();
    for (const p of this.policies.all()) names.add(p.ns);
    for (const ns of this.#ctx.store.dirty.namespaces()) names.add(ns);
    const out: WritePolicyFigures[] = [];
    for (const ns of names) {
      if (only !== null && ns !== only) continue;
      const policy = this.policies.get(ns);
      if (policy?.mode === 'write-through') {
        const t = this.#throughOf(ns);
        out.push({
          namespace: ns, policy: 'write-through', primary, depth: 0, bytes: 0, oldestMs: 0, inFlight: t.inFlight, flushed: t.flushed, failed: t.failed, coalesced: 0, refused: 0,
          deadLetters: 0, recent: [], lastError: t.lastError,
        });
      } else out.push(this.writeBehind.figures(ns, primary, now));
    }
    return out;
  }

  /** Write-through figures of `ns` (made on first use). */
  #throughOf(ns: string): { flushed: number; failed: number; lastError: string | null; inFlight: number } {
    let t = this.#through.get(ns);
    if (t === undefined) this.#through.set(ns, (t = { flushed: 0, failed: 0, lastError: null, inFlight: 0 }));
    return t;
  }

  #writeBehind(m: unknown[], out: ReplyWriter, ns: string, policy: WritePolicy): boolean {
    const key = m[KEY];
    if (typeof key === 'string' && !this.writeBehind.admit(ns, key, policy.maxQueue)) {
      out.message(buildError(m[ID], Status.WRITE_QUEUE_FULL, `the write-behind queue of namespace "${ns}" holds ${policy.maxQueue} unflushed keys (the store is slow or down); retry later`));
      return true;
    }
    this.#marking = policy;
    this.#marked = false;
    try {
      const status = handle(m, this.#ctx, out, this.#onInternalError);
      // A DEL of a key the cache does not hold still reaches the store.
      if (status === Status.OK && !this.#marked && m[OP] === DELETE.code && typeof key === 'string') this.#queue(ns, key);
    } finally {
      this.#marking = null;
    }
    return true;
  }

  /** Runs the head of a key's chain: plan, store, apply, answer; then the next. */
  #run(chainKey: string, job: Job<C>): void {
    const out = this.#scratch;
    let planned: Planned | undefined;
    try {
      planned = this.#plan(job.m);
    } catch (err) {
      planned = undefined;
      if (!(err instanceof OpError)) {
        this.#onInternalError(err);
        out.message(buildError(job.m[ID], Status.INTERNAL, 'internal error'));
        return this.#finish(chainKey, job);
      }
    }
    if (planned === undefined) {
      // Nothing for the store (a condition not met, a bad argument, not the primary): the usual answer.
      handle(job.m, this.#ctx, out, this.#onInternalError);
      return this.#finish(chainKey, job);
    }
    const ns = job.m[NS] as string;
    const key = job.m[KEY] as string;
    const version = this.#ctx.store.nextVersion();
    const through = this.#throughOf(ns);
    through.inFlight++;
    const started = performance.now();
    const write: StoreWrite = planned.value === null ? { key, version, deleted: true } : { key, value: planned.value, version };
    const request = this.#storeWrite(job.policy, write);
    const settle = (outcome: StoreOutcome): void => {
      through.inFlight--;
      this.onStoreLatency?.(ns, (performance.now() - started) / 1000);
      this.#settle(job, planned as Planned, outcome, through);
      this.#finish(chainKey, job);
    };
    request.then(settle, (err: unknown) => settle({ kind: 'error', reason: (err as Error).message, retryable: true }));
  }

  /**
   * One write-through write to the store. With a bulk endpoint, the writes of one event-loop turn
   * (of different keys: a key's chain has one in flight) go as one batch, each answered by its own
   * result: a request per turn rather than per write, which is most of a write's cost here.
   */
  #storeWrite(policy: WritePolicy, write: StoreWrite): Promise<StoreOutcome> {
    if (!policy.client.hasBulk) return policy.client.write(write);
    return new Promise((resolve) => {
      let turn = this.#turns.get(policy.client);
      if (turn === undefined) {
        const batch: Array<{ write: StoreWrite; resolve: (o: StoreOutcome) => void }> = [];
        turn = batch;
        this.#turns.set(policy.client, batch);
        setImmediate(() => {
          this.#turns.delete(policy.client);
          const send = batch.length === 1 ? policy.client.write(batch[0].write).then((o) => [o]) : policy.client.putMany(batch.map((b) => b.write));
          send.then(
            (outcomes) => batch.forEach((b, i) => b.resolve(outcomes[i] ?? { kind: 'error', reason: 'no answer for this write', retryable: true })),
            (err: unknown) => batch.forEach((b) => b.resolve({ kind: 'error', reason: (err as Error).message, retryable: true })),
          );
        });
      }
      turn.push({ write, resolve });
    });
  }

  /** The store's answer to a write-through write: applied and answered, or the error with the cache untouched. */
  #settle(job: Job<C>, planned: Planned, outcome: StoreOutcome, through: { flushed: number; failed: number; lastError: string | null }): void {
    const out = this.#scratch;
    const id = job.m[ID];
    if (outcome.kind === 'ok') {
      through.flushed++;
      this.#slots.takeAckWait();
      try {
        // Re-checked: the node may have lost its primacy, or the slot its ownership, while the store answered.
        writeTarget(job.m, this.#ctx);
        planned.apply(out);
      } catch (err) {
        this.#dropCached(job.m[NS] as string, job.m[KEY] as string);
        if (err instanceof OpError) out.message(buildError(id, err.status, `the store took the write, but the cache did not: ${err.message}`, err.detail));
        else {
          this.#onInternalError(err);
          out.message(buildError(id, Status.INTERNAL, 'internal error'));
        }
      }
      return;
    }
    through.failed++;
    if (outcome.kind === 'timeout') {
      through.lastError = 'the store did not answer in time';
      out.message(buildError(id, Status.STORE_TIMEOUT, `the store did not answer within ${job.policy.timeoutMs} ms; the cache is unchanged (the write may or may not have reached the store)`));
    } else if (outcome.kind === 'stale') {
      // The store holds a newer version from another writer: the cached copy is dropped so the next read loads the store's.
      through.lastError = 'the store holds a newer version';
      this.#dropCached(job.m[NS] as string, job.m[KEY] as string);
      out.message(buildError(id, Status.STORE_ERROR, 'the store holds a newer version of this key (409/412); the write was not applied and the cached copy was dropped'));
    } else {
      through.lastError = outcome.reason;
      out.message(buildError(id, Status.STORE_ERROR, `the store refused the write: ${outcome.reason}; the cache is unchanged`));
    }
  }

  /**
   * Removes a key from the cache (and the replicas), so it cannot hold what the store does not.
   * Only a primary changes its store: a node that lost its primacy while the store answered leaves
   * the key to the new primary (the client's retry goes there).
   */
  #dropCached(ns: string, key: string): void {
    if (!this.#isPrimary()) return;
    try {
      if (this.#ctx.store.delete(ns, key)) changed(this.#ctx, ns, key, true);
    } catch (err) {
      this.#onInternalError(err);
    }
  }

  /** Answers the head job with what `out` holds and starts the next write of its key. */
  #finish(chainKey: string, job: Job<C>): void {
    const waiting = (this.#waiting.get(job.conn) ?? 1) - 1;
    if (waiting <= 0) this.#waiting.delete(job.conn);
    else this.#waiting.set(job.conn, waiting);
    const reply = this.#scratch.flush();
    const offset = this.#slots.takeAckWait();
    this.#slots.fill(job.conn, job.slot, reply ?? Buffer.alloc(0), offset);
    const chain = this.#chains.get(chainKey);
    if (chain === undefined) return;
    chain.shift();
    if (chain.length === 0) this.#chains.delete(chainKey);
    else this.#run(chainKey, chain[0]);
  }

  /**
   * What a write-through write sends to the store and how it is applied after: undefined when
   * the store is not involved (a condition that fails, a SET of nothing); throws the error the
   * write answers with (an argument, the type, a limit, NOT_PRIMARY, MOVED), which `handle` then
   * answers the same way. Nothing in the cache changes here.
   */
  #plan(m: unknown[]): Planned | undefined {
    const ctx = this.#ctx;
    const store = ctx.store;
    const ns = writeTarget(m, ctx);
    const key = keyArg(m[KEY]);
    const id = m[ID] as number;
    switch (m[OP]) {
      case SET.code:
      case SETGET.code: {
        const isSet = m[OP] === SET.code;
        const value = valueArg(m[isSet ? SET.at.value : SETGET.at.value]);
        const cond = condArg(m[isSet ? SET.at.cond : SETGET.at.cond]);
        const ifVersion = isSet ? versionArg(m[SET.at.ifVersion]) : 0;
        const exists = store.ttl(ns, key) !== -2;
        if (cond === SetCond.NX ? exists : cond === SetCond.XX && !exists) return undefined;
        // As the store's own check: a key whose TTL ended has version 0.
        if (ifVersion !== 0 && (exists ? store.replication.peekMeta(ns, key)?.version : 0) !== ifVersion) return undefined;
        store.checkWritable(ns, key, value.byteLength);
        return {
          value: Buffer.from(value),
          apply: (out) => {
            // Checked above; the store took the value, so the cache takes it whatever happened since.
            m[isSet ? SET.at.cond : SETGET.at.cond] = SetCond.ALWAYS;
            if (isSet) m[SET.at.ifVersion] = 0;
            this.#handleOrThrow(m, out);
          },
        };
      }
      case DELETE.code:
        return { value: null, apply: (out) => this.#handleOrThrow(m, out) };
      case INCR.code: {
        const delta = deltaArg(m[INCR.at.delta]);
        const ttl = ttlArg(m[INCR.at.ttlMsOnCreate] ?? 0);
        const sum = intSum(store.peekString(ns, key), delta);
        const text = String(sum);
        store.checkWritable(ns, key, text.length);
        return { value: Buffer.from(text, 'latin1'), apply: (out) => out.incr(id, sum, this.#writeString(ns, key, text, ttl).version) };
      }
      case INCRBYFLOAT.code: {
        const ttl = ttlArg(m[INCRBYFLOAT.at.ttlMsOnCreate] ?? 0);
        const text = floatSumText(store.peekString(ns, key) ?? '0', m[INCRBYFLOAT.at.delta]);
        store.checkWritable(ns, key, text.length);
        return { value: Buffer.from(text, 'latin1'), apply: (out) => out.message(buildReply(INCRBYFLOAT.ok, id, text, this.#writeString(ns, key, text, ttl).version)) };
      }
      case APPEND.code:
      case SETRANGE.code: {
        const isAppend = m[OP] === APPEND.code;
        const patch = bytesToString(valueArg(m[isAppend ? APPEND.at.value : SETRANGE.at.value]));
        const ttl = ttlArg(m[isAppend ? APPEND.at.ttlMsOnCreate : SETRANGE.at.ttlMsOnCreate] ?? 0);
        const old = store.peekString(ns, key) ?? '';
        let text: string;
        if (isAppend) text = old + patch;
        else {
          const offset = m[SETRANGE.at.offset];
          if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw badRequest('offset is out of range');
          if (patch.length === 0) return undefined; // writes nothing
          store.checkWritable(ns, key, Math.max(old.length, offset + patch.length)); // before a huge offset is built
          text = setRangeText(old, offset, patch);
        }
        store.checkWritable(ns, key, text.length);
        const shape = isAppend ? APPEND.ok : SETRANGE.ok;
        return { value: Buffer.from(text, 'latin1'), apply: (out) => out.message(buildReply(shape, id, text.length, this.#writeString(ns, key, text, ttl).version)) };
      }
      default:
        return undefined;
    }
  }

  /** Runs the write's usual handler; an error reply (a limit the cache now meets) is thrown, so the cached copy is dropped. */
  #handleOrThrow(m: unknown[], out: ReplyWriter): void {
    const status = handle(m, this.#ctx, out, this.#onInternalError);
    if (status !== Status.OK && status !== Status.NOT_STORED) {
      out.flush(); // that error reply is replaced by the caller's
      throw new OpError(status, 'the cache could not apply it');
    }
  }

  /** A computed string written as the read-modify-writes write it, replicated and announced. */
  #writeString(ns: string, key: string, text: string, ttlMsOnCreate: number): { version: number } {
    const r = this.#ctx.store.writeString(ns, key, text, ttlMsOnCreate);
    changed(this.#ctx, ns, key, false);
    return r;
  }

  /** Queues `key`'s state now (a copy of its value, or a delete) in the write-behind queue and on the replicas. */
  #queue(ns: string, key: string): void {
    const store = this.#ctx.store;
    const e = store.replication.peek(ns, key);
    const value = e === undefined ? null : Buffer.from(e.value, 'latin1');
    const version = e === undefined ? store.nextVersion() : e.version;
    this.#marked = true;
    this.writeBehind.written(ns, key, value, version);
    this.#log.dirty(ns, key, version, value);
  }

  /** The handlers' mutation log, with write-behind writes also queued (and replicated as REPL_DIRTY). */
  #wrap(inner: MutationLog | undefined): MutationLog {
    const queue = (ns: string, key: string): void => {
      if (this.#marking !== null && this.#marking.ns === ns) this.#queue(ns, key);
    };
    return {
      set: (ns, key, value, version, expiresAt, flags, tags) => {
        inner?.set(ns, key, value, version, expiresAt, flags, tags);
        queue(ns, key);
      },
      changed: (ns, key) => {
        inner?.changed(ns, key);
        queue(ns, key);
      },
      collChanged: (ns, key, changes) => inner?.collChanged(ns, key, changes),
      deleted: (ns, key) => {
        inner?.deleted(ns, key);
        queue(ns, key);
      },
      invalidated: (ns, tag) => inner?.invalidated(ns, tag),
    };
  }
}
