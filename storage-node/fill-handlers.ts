import { badRequest } from '../shared/errors';
import { SetCond, Status } from '../shared/protocol';
import { buildEntry, buildReply, FILL, FILL_LEASE, FILL_RELEASE, FRAME, WRITE_TARGET } from '../shared/ops';
import { FillLeases } from './fill-leases';
import type { Handler, HandlerContext } from './handlers';
import { epochArg, flagsArg, keyArg, namespaceArg, ttlArg, valueArg, versionArg } from './validate';
import { wrongType } from './store';

/**
 * The fill-lease operations (FILL_LEASE, FILL, FILL_RELEASE; layouts in `shared/protocol.ts`).
 * They run at the shard's primary and carry the epoch like writes, so a deposed primary refuses
 * them (NOT_PRIMARY) and the proxy retries at the new one, where no lease exists yet.
 */

/** Longest fill lease a proxy may ask for. */
export const MAX_LEASE_MS = 60_000;

/** The context's lease table, made on first use (contexts built without one still work). */
function leasesOf(ctx: HandlerContext): FillLeases {
  ctx.leases ??= new FillLeases(() => performance.now());
  return ctx.leases;
}

const ID = FRAME.id;

/** `[id, op, epoch, ns, key, ...]` (`WRITE_TARGET`), after the fencing and ownership checks. */
function fencedTarget(m: unknown[], ctx: HandlerContext): { ns: string; key: string } {
  ctx.gate.check(epochArg(m[WRITE_TARGET.epoch]));
  const target = { ns: namespaceArg(m[WRITE_TARGET.ns]), key: keyArg(m[WRITE_TARGET.key]) };
  ctx.slots?.checkWrite(target.ns, target.key);
  return target;
}

function tokenArg(value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) throw badRequest('token must be a whole number above 0');
  return value;
}

function leaseTtlArg(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_LEASE_MS) {
    throw badRequest(`leaseTtlMs must be a whole number from 1 to ${MAX_LEASE_MS}`);
  }
  return value;
}

const takeLease: Handler = (m, ctx, out) => {
  const { ns, key } = fencedTarget(m, ctx);
  const ttl = leaseTtlArg(m[FILL_LEASE.at.leaseTtlMs]);
  const seen = versionArg(m[FILL_LEASE.at.seenVersion]);
  const e = ctx.store.get(ns, key);
  if (e === undefined && ctx.store.missWasType) throw wrongType(); // a hash or set: a fill would replace it with the origin's string
  if (e !== undefined && e.version !== seen) {
    out.message(buildReply(FILL_LEASE.ok, m[ID], 0, buildEntry(e.value, e.version, e.expiresAt, e.flags)));
    return;
  }
  const taken = leasesOf(ctx).take(ns, key, ttl);
  if ('token' in taken) out.message(buildReply(FILL_LEASE.ok, m[ID], taken.token, null));
  else out.message(buildReply(FILL_LEASE.replies.LEASE_HELD, m[ID], 'another loader holds the fill lease', taken.heldMs));
};

const fill: Handler = (m, ctx, out) => {
  const { ns, key } = fencedTarget(m, ctx);
  const token = tokenArg(m[FILL.at.token]);
  const value = valueArg(m[FILL.at.value]);
  const ttl = ttlArg(m[FILL.at.ttlMs]);
  const flags = flagsArg(m[FILL.at.flags]);
  const leases = leasesOf(ctx);
  if (!leases.holds(ns, key, token)) {
    out.message(buildReply(FILL.replies.LEASE_LOST, m[ID], 'the fill lease lapsed or was released before the fill'));
    return;
  }
  // An unconditional SET always lands (or throws, and the lease stays until it lapses).
  const result = ctx.store.setTrusted(ns, key, value, ttl, flags, SetCond.ALWAYS, 0, undefined)!;
  leases.release(ns, key, token);
  out.ok2(m[ID] as number, result.version, result.expiresAt); // FILL.ok
  // A fill is a write: replicas and near-cache subscribers hear of it like a SET.
  ctx.repl?.set(ns, key, value, result.version, result.expiresAt, flags, undefined);
  ctx.writes?.written(ns, key);
};

const release: Handler = (m, ctx, out) => {
  const { ns, key } = fencedTarget(m, ctx);
  out.statusInt(m[ID] as number, Status.OK, leasesOf(ctx).release(ns, key, tokenArg(m[FILL_RELEASE.at.token])) ? 1 : 0); // FILL_RELEASE.ok
};

/** Handler entries of the fill-lease ops, merged into the node's handler table. */
export const FILL_HANDLERS: Readonly<Record<number, Handler>> = {
  [FILL_LEASE.code]: takeLease,
  [FILL.code]: fill,
  [FILL_RELEASE.code]: release,
};
