import { OpError, badRequest } from '../shared/errors';
import { EntryType } from '../shared/collections';
import { Status } from '../shared/protocol';
import {
  buildError, buildReply, DBSIZE, DELETE, EXISTS, EXPIRE, FRAME, GET, INCR, INVALIDATE, MEMORY_USAGE, MGET, NS_POLICY, OBJECT, PERSIST, PING, RANDOMKEY, READ_TARGET,
  SCAN, SET, SLOT_STATS, STATS, TTL, TYPE, WRITE_TARGET,
} from '../shared/ops';
import { collHandlers } from './coll-handlers';
import { wrongType } from './store';
import type { IncrResult, NamespacePolicy, Store } from './store';
import type { Changes } from './store/collections';
import type { ReplyWriter } from './reply-writer';
import type { FillLeases } from './fill-leases';
import { FILL_HANDLERS } from './fill-handlers';
import { stringHandlers } from './string-handlers';
import {
  condArg, countArg, deltaArg, epochArg, flagsArg, keyArg, keysArg, namespaceArg, optionalTagArg, signedTtlArg, slotArg, tagsArg, ttlArg,
  valueArg, versionArg,
} from './validate';

/**
 * Decides whether this node may take a write carrying `epoch` (the fencing token). Throws
 * NOT_PRIMARY with the node's view `[epoch, primaryAddr]` when it may not.
 */
export interface WriteGate {
  check(epoch: number): void;
}

/** A standalone node (no cluster) is the primary of epoch 0. */
export const STANDALONE: WriteGate = {
  check(epoch: number): void {
    if (epoch !== 0) throw new OpError(Status.NOT_PRIMARY, `standalone node has epoch 0, the write carries epoch ${epoch}`, [0, null]);
  },
};

/** Told after every write that succeeded (invalidation pushes for near-cached keys). */
export interface WriteListener {
  written(ns: string, key: string): void;
  /** A namespace-wide or tag-wide invalidation. */
  invalidated(ns: string): void;
}

/** Where handlers report each successful mutation (the replication log); see `replication/log.ts`. */
export interface MutationLog {
  set(ns: string, key: string, value: Uint8Array, version: number, expiresAt: number, flags: number, tags: readonly string[] | undefined): void;
  /** An entry changed in place (INCR, EXPIRE, PERSIST); the log reads its new state. */
  changed(ns: string, key: string): void;
  /** A hash or set changed by a command: `changes` are what it changed (`store/collections.ts`). */
  collChanged(ns: string, key: string, changes: Changes): void;
  deleted(ns: string, key: string): void;
  invalidated(ns: string, tag: string | null): void;
}

/** Slot ownership: throws MOVED for a key of a slot this node's shard does not own (`migration/ownership.ts`). */
export interface SlotGuard {
  check(ns: string, key: string): void;
  /** `check` for a write (a node that has not read the slot map yet takes none). */
  checkWrite(ns: string, key: string): void;
  /** `check` (`write`: `checkWrite`) of the ASCII key whose bytes are `bytes[start, end)`, read in place: no key string. */
  checkAscii(ns: string, bytes: Uint8Array, start: number, end: number, write: boolean): void;
  /** True when this node's shard owns `slot` (the key-space walks keep to those). */
  owns(slot: number): boolean;
  /** Before SCAN and RANDOMKEY: BUSY while a cluster node has not read the slot map yet (it would take every slot as owned). */
  checkWalk(): void;
  /** The MOVED error for `slot`. */
  moved(slot: number): OpError;
}

/** Every slot is owned on a standalone node. */
const OWNS_ALL = (): boolean => true;

/** The slots the key-space walks may read: the shard's, or all of them on a standalone node. */
function ownedSlots(ctx: HandlerContext): (slot: number) => boolean {
  const guard = ctx.slots;
  return guard === undefined ? OWNS_ALL : (slot) => guard.owns(slot);
}

export interface HandlerContext {
  store: Store;
  gate: WriteGate;
  /** Absent on a standalone node (it owns every slot). */
  slots?: SlotGuard;
  /** Absent on a standalone node (nothing is replicated). */
  repl?: MutationLog;
  stats(): Record<string, unknown>;
  /** Fill leases of read-through loads (`fill-leases.ts`); made on first use when absent. */
  leases?: FillLeases;
  /** See WriteListener; absent when nothing listens. */
  writes?: WriteListener;
  /**
   * Cluster mode: namespace policies come only from etcd (`cluster/namespace-policies.ts`), and
   * NS_POLICY is refused, so no peer can lift a quota or an item limit behind the control plane.
   */
  policiesFromEtcd?: boolean;
}

export type Handler = (m: unknown[], ctx: HandlerContext, out: ReplyWriter) => void;

// Field positions, from the op table (shared/ops.ts), read once into plain numbers for the hot handlers.
const ID = FRAME.id;
const OP = FRAME.op;
const W_EPOCH = WRITE_TARGET.epoch;
const W_NS = WRITE_TARGET.ns;
const W_KEY = WRITE_TARGET.key;
const R_NS = READ_TARGET.ns;
const R_KEY = READ_TARGET.key;
const SET_VALUE = SET.at.value;
const SET_TTL = SET.at.ttlMs;
const SET_FLAGS = SET.at.flags;
const SET_COND = SET.at.cond;
const SET_IF_VERSION = SET.at.ifVersion;
const SET_TAGS = SET.at.tags;

/** After a mutation of one key: the replication log and the invalidation subscribers hear of it. */
export function changed(ctx: HandlerContext, ns: string, key: string, deleted: boolean): void {
  if (deleted) ctx.repl?.deleted(ns, key);
  else ctx.repl?.changed(ns, key);
  ctx.writes?.written(ns, key);
}

/** A write's namespace, after the fencing and ownership checks of `[id, op, epoch, ns, key]` (`WRITE_TARGET`). */
export function write(m: unknown[], ctx: HandlerContext): string {
  ctx.gate.check(epochArg(m[W_EPOCH]));
  const ns = namespaceArg(m[W_NS]);
  if (ctx.slots !== undefined) ctx.slots.checkWrite(ns, keyArg(m[W_KEY]));
  return ns;
}

/** A read's namespace and key `[id, op, ns, key]` (`READ_TARGET`), after the ownership check. */
function readTarget(m: unknown[], ctx: HandlerContext): string {
  const ns = namespaceArg(m[R_NS]);
  if (ctx.slots !== undefined) ctx.slots.check(ns, keyArg(m[R_KEY]));
  return ns;
}

/** A multi-key read's keys, each owned by this shard (MOVED for the first that is not). */
function ownedKeys(ns: string, value: unknown, ctx: HandlerContext): string[] {
  const keys = keysArg(value);
  const guard = ctx.slots;
  if (guard !== undefined) for (let i = 0; i < keys.length; i++) guard.check(ns, keys[i]);
  return keys;
}

/**
 * INCR once its target passed the fencing and ownership checks and its arguments theirs: shared
 * by the handler and the node's in-place path (`answerHot` in server.ts), so both log, notify and
 * answer alike.
 */
export function incr(ctx: HandlerContext, out: ReplyWriter, id: number, ns: string, key: string, delta: number | bigint, ttlMsOnCreate: number): void {
  incremented(ctx, out, id, ns, key, ctx.store.incr(ns, key, delta, ttlMsOnCreate));
}

/** INCR's end once the store added (the in-place path's too): the change is heard, the reply written. */
export function incremented(ctx: HandlerContext, out: ReplyWriter, id: number, ns: string, key: string, r: IncrResult): void {
  changed(ctx, ns, key, false);
  out.incr(id, r.value, r.version); // INCR.ok
}

/**
 * MGET's reply once its keys passed the checks, each entry written as the store reads it (no
 * Buffer or tuple per key). The in-place path (`storage-node/server.ts`) writes the same reply
 * from the keys' bytes.
 */
export function mget(ctx: HandlerContext, out: ReplyWriter, id: number, ns: string, keys: readonly string[]): void {
  const store = ctx.store;
  // A replica in a full sync answers from its old data, with a trailing `true` (MGET.ok's resync).
  const reply = out.beginEntries(id, keys.length, store.stale); // MGET.ok
  for (let i = 0; i < keys.length; i++) out.entry(store.read(ns, keys[i]));
  out.endEntries(reply);
}

/** The BAD_REQUEST message of NS_POLICY on a node in cluster mode. */
export const NS_POLICY_REFUSED = 'namespace policy is set through etcd (shardctl ns set)';

/** One function per opcode: message in, reply written to `out`. Errors are thrown as OpError. */
const HANDLERS: Record<number, Handler> = {
  [PING.code]: (m, _ctx, out) => out.message(buildReply(PING.ok, m[ID], 'PONG')),
  [STATS.code]: (m, ctx, out) => out.message(buildReply(STATS.ok, m[ID], ctx.stats())),
  [GET.code]: (m, ctx, out) => {
    const store = ctx.store;
    const e = store.read(readTarget(m, ctx), keyArg(m[R_KEY]));
    if (e === undefined && store.missWasType) throw wrongType();
    // A replica in a full sync answers from its old data, with a trailing `true` (shared/protocol.ts).
    if (store.stale) {
      out.message(e ? buildReply(GET.ok, m[ID], Buffer.from(e.value, 'latin1'), e.version, e.expiresAt, e.flags, true) : buildReply(GET.replies.MISS, m[ID], true));
    } else if (e) out.hit(m[ID] as number, e.value, e.version, e.expiresAt, e.flags); // GET.ok
    else out.status(m[ID] as number, Status.MISS);
  },
  [MGET.code]: (m, ctx, out) => {
    const ns = namespaceArg(m[MGET.at.ns]);
    mget(ctx, out, m[ID] as number, ns, ownedKeys(ns, m[MGET.at.keys], ctx));
  },
  [SET.code]: (m, ctx, out) => {
    const ns = write(m, ctx);
    // Every argument is checked here, so the store's own checks are skipped.
    const key = keyArg(m[W_KEY]);
    const value = valueArg(m[SET_VALUE]);
    const flags = flagsArg(m[SET_FLAGS]);
    const tags = tagsArg(m[SET_TAGS]);
    const result = ctx.store.setTrusted(ns, key, value, ttlArg(m[SET_TTL]), flags, condArg(m[SET_COND]), versionArg(m[SET_IF_VERSION]), tags);
    if (!result) return out.status(m[ID] as number, Status.NOT_STORED); // SET.replies.NOT_STORED
    out.ok2(m[ID] as number, result.version, result.expiresAt); // SET.ok
    ctx.repl?.set(ns, key, value, result.version, result.expiresAt, flags, tags);
    ctx.writes?.written(ns, key);
  },
  [DELETE.code]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[DELETE.at.key]);
    const deleted = ctx.store.delete(ns, key);
    if (deleted) changed(ctx, ns, key, true);
    out.statusInt(m[ID] as number, Status.OK, deleted ? 1 : 0); // DELETE.ok
  },
  [INCR.code]: (m, ctx, out) => {
    const ns = write(m, ctx);
    incr(ctx, out, m[ID] as number, ns, keyArg(m[INCR.at.key]), deltaArg(m[INCR.at.delta]), ttlArg(m[INCR.at.ttlMsOnCreate] ?? 0));
  },
  [EXPIRE.code]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[EXPIRE.at.key]);
    const updated = ctx.store.expire(ns, key, signedTtlArg(m[EXPIRE.at.ttlMs]));
    if (updated) changed(ctx, ns, key, false); // EXPIRE <= 0 removed it: the log sees it gone
    out.statusInt(m[ID] as number, Status.OK, updated ? 1 : 0); // EXPIRE.ok
  },
  [PERSIST.code]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[PERSIST.at.key]);
    const updated = ctx.store.persist(ns, key);
    if (updated) changed(ctx, ns, key, false);
    out.statusInt(m[ID] as number, Status.OK, updated ? 1 : 0); // PERSIST.ok
  },
  [TYPE.code]: (m, ctx, out) => out.message(buildReply(TYPE.ok, m[ID], ctx.store.typeOf(readTarget(m, ctx), keyArg(m[TYPE.at.key])))),
  [TTL.code]: (m, ctx, out) => out.statusInt(m[ID] as number, Status.OK, ctx.store.ttl(readTarget(m, ctx), keyArg(m[TTL.at.key]))), // TTL.ok
  [MEMORY_USAGE.code]: (m, ctx, out) => {
    const bytes = ctx.store.memoryUsage(readTarget(m, ctx), keyArg(m[MEMORY_USAGE.at.key]));
    if (bytes < 0) out.status(m[ID] as number, Status.MISS); // MEMORY_USAGE.replies.MISS
    else out.statusInt(m[ID] as number, Status.OK, bytes); // MEMORY_USAGE.ok
  },
  [OBJECT.code]: (m, ctx, out) => {
    const info = ctx.store.objectInfo(readTarget(m, ctx), keyArg(m[OBJECT.at.key]));
    if (info === undefined) out.status(m[ID] as number, Status.MISS); // OBJECT.replies.MISS
    else out.message(buildReply(OBJECT.ok, m[ID], info.encoding, info.freq, info.idleSeconds));
  },
  [EXISTS.code]: (m, ctx, out) => {
    const ns = namespaceArg(m[EXISTS.at.ns]);
    out.statusInt(m[ID] as number, Status.OK, ctx.store.exists(ns, ownedKeys(ns, m[EXISTS.at.keys], ctx), m[EXISTS.at.touch] === 1)); // EXISTS.ok
  },
  [INVALIDATE.code]: (m, ctx, out) => {
    ctx.gate.check(epochArg(m[INVALIDATE.at.epoch])); // namespace-wide: every shard takes it, whatever slots it owns
    const ns = namespaceArg(m[INVALIDATE.at.ns]);
    const tag = optionalTagArg(m[INVALIDATE.at.tag]);
    // A namespace this node does not hold has nothing to hide: nothing to replicate either, so a
    // replica never makes a namespace for a name that only an INVALIDATE named.
    if (ctx.store.invalidate(ns, tag)) ctx.repl?.invalidated(ns, tag ?? null);
    out.status(m[ID] as number, Status.OK); // INVALIDATE.ok
    ctx.writes?.invalidated(ns);
  },
  [SCAN.code]: (m, ctx, out) => {
    const ns = namespaceArg(m[SCAN.at.ns]);
    const slot = slotArg(m[SCAN.at.slot]);
    const count = countArg(m[SCAN.at.count]);
    const type = m[SCAN.at.type] ?? -1;
    if (type !== -1 && type !== EntryType.STRING && type !== EntryType.HASH && type !== EntryType.SET) throw badRequest('type must be an entry type');
    if (ctx.slots !== undefined) {
      ctx.slots.checkWalk();
      if (!ctx.slots.owns(slot)) throw ctx.slots.moved(slot);
    }
    const page = ctx.store.keys.scan(ns, slot, count, ownedSlots(ctx), type as number);
    out.message(buildReply(SCAN.ok, m[ID], page.next, page.keys));
  },
  [DBSIZE.code]: (m, ctx, out) => {
    const ns = namespaceArg(m[DBSIZE.at.ns]);
    out.ok2(m[ID] as number, ctx.store.keys.liveCount(ns), ctx.store.keys.expiringCount(ns)); // DBSIZE.ok
  },
  [RANDOMKEY.code]: (m, ctx, out) => {
    const ns = namespaceArg(m[RANDOMKEY.at.ns]);
    ctx.slots?.checkWalk();
    out.message(buildReply(RANDOMKEY.ok, m[ID], ctx.store.keys.randomKey(ns, ownedSlots(ctx))));
  },
  [SLOT_STATS.code]: (m, ctx, out) => out.message(buildReply(SLOT_STATS.ok, m[ID], ctx.store.slots.figures())),
  [NS_POLICY.code]: (m, ctx, out) => {
    if (ctx.policiesFromEtcd === true) throw badRequest(NS_POLICY_REFUSED);
    ctx.store.setNamespacePolicy(namespaceArg(m[NS_POLICY.at.ns]), policyArg(m[NS_POLICY.at.policy]));
    out.status(m[ID] as number, Status.OK); // NS_POLICY.ok
  },
  ...FILL_HANDLERS,
  ...stringHandlers({ write, changed }),
  ...collHandlers({ write, changed, read: readTarget }),
};

function policyArg(value: unknown): NamespacePolicy {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('policy must be a map');
  const { maxItemBytes, quotaBytes, eviction } = value as Record<string, unknown>;
  const policy: NamespacePolicy = {};
  const positive = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw badRequest(`${name} must be a positive whole number of bytes`);
    return v;
  };
  if (maxItemBytes !== undefined) policy.maxItemBytes = positive(maxItemBytes, 'maxItemBytes');
  if (quotaBytes !== undefined) policy.quotaBytes = positive(quotaBytes, 'quotaBytes');
  if (eviction !== undefined) {
    if (eviction !== 'lru' && eviction !== 'lfu') throw badRequest('eviction must be "lru" or "lfu"');
    policy.eviction = eviction;
  }
  return policy;
}

/**
 * Runs one request (its id already checked to be a non-negative integer) and writes its reply.
 * Never throws: every failure becomes an error reply `[id, status, message, ...detail]`.
 * Returns the reply status, for counters.
 */
export function handle(m: unknown[], ctx: HandlerContext, out: ReplyWriter, onInternalError: (err: unknown) => void): number {
  const op = m[OP];
  const handler = typeof op === 'number' ? HANDLERS[op] : undefined;
  if (!handler) {
    // named only when it is an opcode-sized integer: a reply never echoes what a peer sent
    out.message(buildError(m[ID], Status.UNKNOWN_OP, Number.isInteger(op) && (op as number) >= 0 && (op as number) < 256 ? `unknown operation ${String(op)}` : 'unknown operation'));
    return Status.UNKNOWN_OP;
  }
  try {
    handler(m, ctx, out);
    return Status.OK;
  } catch (err) {
    return replyError(m[ID], err, out, onInternalError);
  }
}

/** The error reply of a request that threw (an OpError's status and detail, else INTERNAL); returns its status. */
export function replyError(id: unknown, err: unknown, out: ReplyWriter, onInternalError: (err: unknown) => void): number {
  if (err instanceof OpError) {
    out.message(buildError(id, err.status, err.message, err.detail));
    return err.status;
  }
  onInternalError(err);
  out.message(buildError(id, Status.INTERNAL, 'internal error'));
  return Status.INTERNAL;
}
