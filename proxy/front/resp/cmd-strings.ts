import { KEEP_TTL, Limits, SetCond } from '../../../shared/protocol';
import type { GetResult, WriteResult } from '../../backend';
import { getExOptions, int64Arg, keyArg, keysArg, setOptions, toDelta } from './args';
import type { CommandSpec, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import { batches, settleAll, valuesOrThrow } from './fanout';
import { removeTtl } from './persist';
import { bulk, bulkArray, integer, Replies } from './reply';

/**
 * String commands: GET, SET (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL), SETEX, PSETEX, SETNX,
 * GETDEL, GETEX, MGET, MSET and the INCR family. Values are bytes as sent (flags 0); a value
 * written as JSON through another front reads back as its JSON text.
 *
 * Not atomic, unlike Redis: SET ... GET and GETDEL read then write; GETEX reads then changes the
 * TTL; MSET writes key by key. Reads that precede a write go to the primary.
 */
const INT64_MIN = -(2n ** 63n);

const valueOrNull = (r: GetResult): Buffer | null => (r.hit ? r.value : null);

const bulkOfRead = (r: GetResult): Buffer => bulk(valueOrNull(r));

/** GET: one `then` (the hottest command; no async wrapper). */
function get(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  return ctx.door.get(ctx.session.ns, keyArg(args[1])).then(bulkOfRead);
}

const okUnlessRefused = (written: WriteResult | undefined): Buffer => (written === undefined ? Replies.NULL_BULK : Replies.OK);

function set(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  if (args.length === 3) return ctx.door.set(ns, key, args[2]).then(okUnlessRefused); // plain SET: no options, one `then`
  return setWithOptions(ctx, ns, key, args);
}

async function setWithOptions(ctx: RespContext, ns: string, key: string, args: Buffer[]): Promise<Buffer> {
  const o = setOptions(args.slice(3), ctx.now());
  const ttlMs = o.keepTtl ? KEEP_TTL : o.ttlMs;
  const old = o.get ? await ctx.door.get(ns, key, 'primary') : undefined;
  const written = o.cond === undefined
    ? await ctx.door.set(ns, key, args[2], ttlMs)
    : await ctx.door.setWhen(ns, key, args[2], o.cond === 'NX' ? SetCond.NX : SetCond.XX, ttlMs);
  if (old !== undefined) return bulk(valueOrNull(old));
  return written === undefined ? Replies.NULL_BULK : Replies.OK;
}

/** SETEX / PSETEX: `key ttl value`. */
const setWithTtl = (name: string, unit: 'EX' | 'PX') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const key = keyArg(args[1]);
  const ttl = int64Arg(args[2]);
  const ms = unit === 'EX' ? ttl * 1000n : ttl;
  if (ttl <= 0n || ms > BigInt(Number.MAX_SAFE_INTEGER)) throw new RespCommandError(RespMessages.invalidExpire(name));
  await ctx.door.set(ctx.session.ns, key, args[3], Number(ms));
  return Replies.OK;
};

async function setnx(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const written = await ctx.door.setWhen(ctx.session.ns, keyArg(args[1]), args[2], SetCond.NX);
  return written === undefined ? Replies.ZERO : Replies.ONE;
}

async function getdel(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const key = keyArg(args[1]);
  const read = await ctx.door.get(ctx.session.ns, key, 'primary');
  if (read.hit) await ctx.door.delete(ctx.session.ns, key);
  return bulk(valueOrNull(read));
}

async function getex(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  const action = getExOptions(args.slice(2), ctx.now());
  if (action.kind === 'persist') return bulk(valueOrNull((await removeTtl(ctx.door, ns, key)).read));
  const read = await ctx.door.get(ns, key, action.kind === 'none' ? undefined : 'primary');
  if (read.hit && action.kind === 'expire') await ctx.door.expire(ns, key, action.ttlMs);
  return bulk(valueOrNull(read));
}

async function mget(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const keys = keysArg(args.slice(1));
  const parts = await Promise.all(batches(keys, Limits.MAX_BATCH_KEYS).map((b) => ctx.door.mget(ctx.session.ns, b)));
  return bulkArray(parts.flat().map(valueOrNull));
}

async function mset(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  if (args.length % 2 === 0) throw new RespCommandError(RespMessages.wrongArgs('mset'));
  const pairs: Array<[string, Buffer]> = [];
  for (let i = 1; i < args.length; i += 2) pairs.push([keyArg(args[i]), args[i + 1]]);
  valuesOrThrow(await settleAll(pairs, ([key, value]) => ctx.door.set(ctx.session.ns, key, value)));
  return Replies.OK;
}

/** INCR, DECR, INCRBY, DECRBY: a missing key counts from 0 (the node creates it). */
const incrBy = (sign: 1 | -1, fixed?: bigint) => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const key = keyArg(args[1]);
  const by = fixed ?? int64Arg(args[2]);
  if (sign < 0 && by === INT64_MIN) throw new RespCommandError(RespMessages.decrementOverflow);
  return integer(await ctx.door.incr(ctx.session.ns, key, toDelta(sign < 0 ? -by : by)));
};

const W = ['write'] as const;
const WD = ['write', 'denyoom'] as const;
const RF = ['readonly', 'fast'] as const;
const ONE_KEY = [1, 1, 1] as const;

/** The string commands, as COMMAND INFO describes them. */
export const STRING_COMMANDS: readonly CommandSpec[] = [
  { name: 'get', arity: 2, flags: RF, keys: ONE_KEY, run: get },
  { name: 'set', arity: -3, flags: WD, keys: ONE_KEY, run: set },
  { name: 'setex', arity: 4, flags: WD, keys: ONE_KEY, run: setWithTtl('setex', 'EX') },
  { name: 'psetex', arity: 4, flags: WD, keys: ONE_KEY, run: setWithTtl('psetex', 'PX') },
  { name: 'setnx', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: setnx },
  { name: 'getdel', arity: 2, flags: [...W, 'fast'], keys: ONE_KEY, run: getdel },
  { name: 'getex', arity: -2, flags: [...W, 'fast'], keys: ONE_KEY, run: getex },
  { name: 'mget', arity: -2, flags: RF, keys: [1, -1, 1], run: mget },
  { name: 'mset', arity: -3, flags: WD, keys: [1, -1, 2], run: mset },
  { name: 'incr', arity: 2, flags: [...WD, 'fast'], keys: ONE_KEY, run: incrBy(1, 1n) },
  { name: 'decr', arity: 2, flags: [...WD, 'fast'], keys: ONE_KEY, run: incrBy(-1, 1n) },
  { name: 'incrby', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: incrBy(1) },
  { name: 'decrby', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: incrBy(-1) },
];
