import { OpError, badRequest } from '../shared/errors';
import { Op, Status } from '../shared/protocol';
import type { EntryView, NamespacePolicy, Store } from './store';
import type { ReplyWriter } from './reply-writer';
import type { FillLeases } from './fill-leases';
import { FILL_HANDLERS } from './fill-handlers';
import {
  condArg, deltaArg, epochArg, flagsArg, keyArg, keysArg, namespaceArg, optionalTagArg, signedTtlArg, tagsArg, ttlArg,
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
  deleted(ns: string, key: string): void;
  invalidated(ns: string, tag: string | null): void;
}

/** Slot ownership: throws MOVED for a key of a slot this node's shard does not own (`migration/ownership.ts`). */
export interface SlotGuard {
  check(ns: string, key: string): void;
  /** `check` for a write (a node that has not read the slot map yet takes none). */
  checkWrite(ns: string, key: string): void;
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

const entryTuple = (e: EntryView | undefined): unknown[] | null => (e ? [e.value, e.version, e.expiresAt, e.flags] : null);

/** After a mutation of one key: the replication log and the invalidation subscribers hear of it. */
function changed(ctx: HandlerContext, ns: string, key: string, deleted: boolean): void {
  if (deleted) ctx.repl?.deleted(ns, key);
  else ctx.repl?.changed(ns, key);
  ctx.writes?.written(ns, key);
}

/** A write's namespace, after the fencing and ownership checks of `[id, op, epoch, ns, key]`. */
function write(m: unknown[], ctx: HandlerContext): string {
  ctx.gate.check(epochArg(m[2]));
  const ns = namespaceArg(m[3]);
  if (ctx.slots !== undefined) ctx.slots.checkWrite(ns, keyArg(m[4]));
  return ns;
}

/** A read's namespace and key `[id, op, ns, key]`, after the ownership check. */
function readTarget(m: unknown[], ctx: HandlerContext): string {
  const ns = namespaceArg(m[2]);
  if (ctx.slots !== undefined) ctx.slots.check(ns, keyArg(m[3]));
  return ns;
}

/** A multi-key read's keys, each owned by this shard (MOVED for the first that is not). */
function ownedKeys(ns: string, value: unknown, ctx: HandlerContext): string[] {
  const keys = keysArg(value);
  const guard = ctx.slots;
  if (guard !== undefined) for (let i = 0; i < keys.length; i++) guard.check(ns, keys[i]);
  return keys;
}

/** The BAD_REQUEST message of NS_POLICY on a node in cluster mode. */
export const NS_POLICY_REFUSED = 'namespace policy is set through etcd (shardctl ns set)';

/** One function per opcode: message in, reply written to `out`. Errors are thrown as OpError. */
const HANDLERS: Record<number, Handler> = {
  [Op.PING]: (m, _ctx, out) => out.message([m[0], Status.OK, 'PONG']),
  [Op.STATS]: (m, ctx, out) => out.message([m[0], Status.OK, ctx.stats()]),
  [Op.GET]: (m, ctx, out) => {
    const store = ctx.store;
    const e = store.read(readTarget(m, ctx), keyArg(m[3]));
    // A replica in a full sync answers from its old data, with a trailing `true` (shared/protocol.ts).
    if (store.stale) out.message(e ? [m[0], Status.OK, Buffer.from(e.value, 'latin1'), e.version, e.expiresAt, e.flags, true] : [m[0], Status.MISS, true]);
    else if (e) out.hit(m[0] as number, e.value, e.version, e.expiresAt, e.flags);
    else out.status(m[0] as number, Status.MISS);
  },
  [Op.MGET]: (m, ctx, out) => {
    const ns = namespaceArg(m[2]);
    const entries = ctx.store.mget(ns, ownedKeys(ns, m[3], ctx)).map(entryTuple);
    out.message(ctx.store.stale ? [m[0], Status.OK, entries, true] : [m[0], Status.OK, entries]);
  },
  [Op.SET]: (m, ctx, out) => {
    const ns = write(m, ctx);
    // Every argument is checked here, so the store's own checks are skipped.
    const key = keyArg(m[4]);
    const value = valueArg(m[5]);
    const flags = flagsArg(m[7]);
    const tags = tagsArg(m[10]);
    const result = ctx.store.setTrusted(ns, key, value, ttlArg(m[6]), flags, condArg(m[8]), versionArg(m[9]), tags);
    if (!result) return out.status(m[0] as number, Status.NOT_STORED);
    out.ok2(m[0] as number, result.version, result.expiresAt);
    ctx.repl?.set(ns, key, value, result.version, result.expiresAt, flags, tags);
    ctx.writes?.written(ns, key);
  },
  [Op.DELETE]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[4]);
    const deleted = ctx.store.delete(ns, key);
    if (deleted) changed(ctx, ns, key, true);
    out.statusInt(m[0] as number, Status.OK, deleted ? 1 : 0);
  },
  [Op.INCR]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[4]);
    const r = ctx.store.incr(ns, key, deltaArg(m[5]), ttlArg(m[6] ?? 0));
    changed(ctx, ns, key, false);
    out.message([m[0], Status.OK, r.value, r.version]);
  },
  [Op.EXPIRE]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[4]);
    const updated = ctx.store.expire(ns, key, signedTtlArg(m[5]));
    if (updated) changed(ctx, ns, key, false); // EXPIRE <= 0 removed it: the log sees it gone
    out.statusInt(m[0] as number, Status.OK, updated ? 1 : 0);
  },
  [Op.PERSIST]: (m, ctx, out) => {
    const ns = write(m, ctx);
    const key = keyArg(m[4]);
    const updated = ctx.store.persist(ns, key);
    if (updated) changed(ctx, ns, key, false);
    out.statusInt(m[0] as number, Status.OK, updated ? 1 : 0);
  },
  [Op.TTL]: (m, ctx, out) => out.statusInt(m[0] as number, Status.OK, ctx.store.ttl(readTarget(m, ctx), keyArg(m[3]))),
  [Op.EXISTS]: (m, ctx, out) => {
    const ns = namespaceArg(m[2]);
    out.statusInt(m[0] as number, Status.OK, ctx.store.exists(ns, ownedKeys(ns, m[3], ctx)));
  },
  [Op.INVALIDATE]: (m, ctx, out) => {
    ctx.gate.check(epochArg(m[2])); // namespace-wide: every shard takes it, whatever slots it owns
    const ns = namespaceArg(m[3]);
    const tag = optionalTagArg(m[4]);
    // A namespace this node does not hold has nothing to hide: nothing to replicate either, so a
    // replica never makes a namespace for a name that only an INVALIDATE named.
    if (ctx.store.invalidate(ns, tag)) ctx.repl?.invalidated(ns, tag ?? null);
    out.status(m[0] as number, Status.OK);
    ctx.writes?.invalidated(ns);
  },
  [Op.SLOT_STATS]: (m, ctx, out) => out.message([m[0], Status.OK, ctx.store.slots.figures()]),
  [Op.NS_POLICY]: (m, ctx, out) => {
    if (ctx.policiesFromEtcd === true) throw badRequest(NS_POLICY_REFUSED);
    ctx.store.setNamespacePolicy(namespaceArg(m[2]), policyArg(m[3]));
    out.status(m[0] as number, Status.OK);
  },
  ...FILL_HANDLERS,
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
  const handler = typeof m[1] === 'number' ? HANDLERS[m[1]] : undefined;
  if (!handler) {
    const op = m[1]; // named only when it is an opcode-sized integer: a reply never echoes what a peer sent
    out.message([m[0], Status.UNKNOWN_OP, Number.isInteger(op) && (op as number) >= 0 && (op as number) < 256 ? `unknown operation ${String(op)}` : 'unknown operation']);
    return Status.UNKNOWN_OP;
  }
  try {
    handler(m, ctx, out);
    return Status.OK;
  } catch (err) {
    if (err instanceof OpError) {
      out.message([m[0], err.status, err.message, ...err.detail]);
      return err.status;
    }
    onInternalError(err);
    out.message([m[0], Status.INTERNAL, 'internal error']);
    return Status.INTERNAL;
  }
}
