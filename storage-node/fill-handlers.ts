import { badRequest } from '../shared/errors';
import { Op, SetCond, Status } from '../shared/protocol';
import { FillLeases } from './fill-leases';
import type { Handler, HandlerContext } from './handlers';
import { epochArg, flagsArg, keyArg, namespaceArg, ttlArg, valueArg, versionArg } from './validate';

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

function fencedTarget(m: unknown[], ctx: HandlerContext): { ns: string; key: string } {
  ctx.gate.check(epochArg(m[2]));
  const target = { ns: namespaceArg(m[3]), key: keyArg(m[4]) };
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
  const ttl = leaseTtlArg(m[5]);
  const seen = versionArg(m[6]);
  const e = ctx.store.get(ns, key);
  if (e !== undefined && e.version !== seen) {
    out.message([m[0], Status.OK, 0, [e.value, e.version, e.expiresAt, e.flags]]);
    return;
  }
  const taken = leasesOf(ctx).take(ns, key, ttl);
  if ('token' in taken) out.message([m[0], Status.OK, taken.token, null]);
  else out.message([m[0], Status.LEASE_HELD, 'another loader holds the fill lease', taken.heldMs]);
};

const fill: Handler = (m, ctx, out) => {
  const { ns, key } = fencedTarget(m, ctx);
  const token = tokenArg(m[5]);
  const value = valueArg(m[6]);
  const ttl = ttlArg(m[7]);
  const flags = flagsArg(m[8]);
  const leases = leasesOf(ctx);
  if (!leases.holds(ns, key, token)) {
    out.message([m[0], Status.LEASE_LOST, 'the fill lease lapsed or was released before the fill']);
    return;
  }
  // An unconditional SET always lands (or throws, and the lease stays until it lapses).
  const result = ctx.store.setTrusted(ns, key, value, ttl, flags, SetCond.ALWAYS, 0, undefined)!;
  leases.release(ns, key, token);
  out.ok2(m[0] as number, result.version, result.expiresAt);
  // A fill is a write: replicas and near-cache subscribers hear of it like a SET.
  ctx.repl?.set(ns, key, value, result.version, result.expiresAt, flags, undefined);
  ctx.writes?.written(ns, key);
};

const release: Handler = (m, ctx, out) => {
  const { ns, key } = fencedTarget(m, ctx);
  out.statusInt(m[0] as number, Status.OK, leasesOf(ctx).release(ns, key, tokenArg(m[5])) ? 1 : 0);
};

/** Handler entries of the fill-lease ops, merged into the node's handler table. */
export const FILL_HANDLERS: Readonly<Record<number, Handler>> = {
  [Op.FILL_LEASE]: takeLease,
  [Op.FILL]: fill,
  [Op.FILL_RELEASE]: release,
};
