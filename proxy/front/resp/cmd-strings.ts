import { KEEP_TTL, Limits, SetCond } from '../../../shared/protocol';
import { parseLongDouble } from '../../../shared/long-double';
import { slotOf } from '../../../shared/slot';
import type { GetResult } from '../../backend';
import { getExOptions, int64Arg, keyArg, keysArg, setOptions, toDelta } from './args';
import type { CommandSpec, ReplyBytes, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import { batches, settleAll, valuesOrThrow } from './fanout';
import { countedHits, type Encode } from './door';
import type { ReplySink } from './reply-queue';
import { bulk, bulkArray, copiedBulkValues, integer, Replies } from './reply';

/**
 * String commands: GET, SET (NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL), SETEX, PSETEX, SETNX,
 * GETDEL, GETEX, GETSET, MGET, MSET, MSETNX, the INCR family, INCRBYFLOAT, APPEND, SETRANGE,
 * STRLEN, GETRANGE / SUBSTR. Values are bytes as sent (flags 0); a value written as JSON through
 * another front reads back as its JSON text.
 *
 * Read-modify-writes (SET ... GET, GETSET, APPEND, SETRANGE, INCRBYFLOAT, MSETNX) are one node
 * operation each, atomic as in Redis. Not atomic, unlike Redis: GETDEL reads then deletes; GETEX
 * reads then changes the TTL; MSET writes key by key. Reads that precede a write go to the primary.
 */
const INT64_MIN = -(2n ** 63n);

const valueOrNull = (r: GetResult): Buffer | null => (r.hit ? r.value : null);

/** GET's reply; counts the read for INFO. */
const getReply: Encode<'get'> = ({ result }, door) => {
  door.count(result.hit ? 1 : 0, result.hit ? 0 : 1);
  return bulk(result.hit ? result.value : null);
};

/** GET: the hottest command; the dispatcher's callback fills the slot (no promise). */
function get(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'get', ns: ctx.session.ns, key: keyArg(args[1]) }, slot, getReply);
  return undefined;
}

const setReply: Encode<'set'> = ({ result }) => (result === undefined ? Replies.NULL_BULK : Replies.OK);

function set(ctx: RespContext, args: Buffer[], slot: ReplySink): ReplyBytes | undefined {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  if (args.length > 3) return setWithOptions(ctx, ns, key, args, slot);
  ctx.door.call({ op: 'set', ns, key, value: args[2], flags: 0 }, slot, setReply); // plain SET: no options, no promise
  return undefined;
}

/** The replaced value of SET ... GET and GETSET (the node's SETGET: one step, as in Redis). */
const setGetReply: Encode<'setget'> = ({ old }) => bulk(old);

function setWithOptions(ctx: RespContext, ns: string, key: string, args: Buffer[], slot: ReplySink): ReplyBytes | undefined {
  const o = setOptions(args.slice(3), ctx.now());
  const ttlMs = o.keepTtl ? KEEP_TTL : o.ttlMs;
  const cond = o.cond === undefined ? undefined : o.cond === 'NX' ? SetCond.NX : SetCond.XX;
  if (o.get) {
    ctx.door.call({ op: 'setget', ns, key, value: args[2], ttlMs, cond }, slot, setGetReply);
    return undefined;
  }
  // One callback from the dispatcher, as plain SET (SET ... EX is common): no promise.
  ctx.door.call({ op: 'set', ns, key, value: args[2], flags: 0, ttlMs, cond }, slot, setReply);
  return undefined;
}

/** GETSET: SET ... GET without options (the expiry goes, or becomes the namespace default, as a plain SET's). */
function getset(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'setget', ns: ctx.session.ns, key: keyArg(args[1]), value: args[2] }, slot, setGetReply);
  return undefined;
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
  const written = await ctx.door.set(ctx.session.ns, keyArg(args[1]), args[2], undefined, SetCond.NX);
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
  const read = await ctx.door.get(ns, key, action.kind === 'none' ? undefined : 'primary');
  if (read.hit && action.kind === 'expire') await ctx.door.expire(ns, key, action.ttlMs);
  if (read.hit && action.kind === 'persist' && read.expiresAt !== 0) await ctx.door.persist(ns, key);
  return bulk(valueOrNull(read));
}

const mgetReply: Encode<'mget'> = ({ results }, door) => copiedBulkValues(countedHits(results, door));

/** MGET: one dispatch (split per shard below it) up to a batch of keys; larger ones in batches. */
function mget(ctx: RespContext, args: Buffer[], slot: ReplySink): ReplyBytes | undefined {
  const keys = keysArg(args.slice(1));
  if (keys.length > Limits.MAX_BATCH_KEYS) return mgetBatches(ctx, keys);
  ctx.door.call({ op: 'mget', ns: ctx.session.ns, keys }, slot, mgetReply);
  return undefined;
}

async function mgetBatches(ctx: RespContext, keys: string[]): Promise<Buffer> {
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

const incrReply: Encode<'incr'> = ({ value }) => integer(value);

/** INCR, DECR, INCRBY, DECRBY: a missing key counts from 0 (the node creates it). */
const incrBy = (sign: 1 | -1, fixed?: bigint) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined => {
  const key = keyArg(args[1]);
  const by = fixed ?? int64Arg(args[2]);
  if (sign < 0 && by === INT64_MIN) throw new RespCommandError(RespMessages.decrementOverflow);
  ctx.door.call({ op: 'incr', ns: ctx.session.ns, key, delta: toDelta(sign < 0 ? -by : by) }, slot, incrReply);
  return undefined;
};

const lengthReply = ({ length }: { length: number }): Buffer => integer(length);

/** APPEND: the node adds the bytes (a missing key is created, an existing one keeps its TTL); the new length. */
function append(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'append', ns: ctx.session.ns, key: keyArg(args[1]), value: args[2] }, slot, lengthReply);
  return undefined;
}

/**
 * SETRANGE: offset < 0 is Redis's error; an offset no item limit could admit (past 2^53) gets
 * Redis's size error here, any other too large result the namespace's TOO_LARGE from the node.
 */
function setrange(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const key = keyArg(args[1]);
  const offset = int64Arg(args[2]);
  if (offset < 0n) throw new RespCommandError(RespMessages.offsetRange);
  const value = args[3];
  if (offset + BigInt(value.length) > BigInt(Number.MAX_SAFE_INTEGER)) {
    if (value.length > 0) throw new RespCommandError(RespMessages.maxBulk);
  }
  // An empty value writes nothing and answers the length whatever the offset, as Redis does.
  const at = value.length === 0 ? 0 : Number(offset);
  ctx.door.call({ op: 'setrange', ns: ctx.session.ns, key, offset: at, value }, slot, lengthReply);
  return undefined;
}

/** STRLEN: the stored value's length in bytes, 0 when missing. */
function strlen(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'get', ns: ctx.session.ns, key: keyArg(args[1]) }, slot, ({ result }, door) => {
    door.count(result.hit ? 1 : 0, result.hit ? 0 : 1);
    return integer(result.hit ? result.value.length : 0);
  });
  return undefined;
}

/** The bytes of `value` from `start` to `end` inclusive, negative indexes from the end: Redis 7's GETRANGE arithmetic. */
export function byteRange(value: Buffer, start: bigint, end: bigint): Buffer {
  const length = BigInt(value.length);
  if (start < 0n && end < 0n && start > end) return EMPTY;
  let from = start < 0n ? length + start : start;
  let to = end < 0n ? length + end : end;
  if (from < 0n) from = 0n;
  if (to < 0n) to = 0n;
  if (to >= length) to = length - 1n;
  if (from > to || length === 0n) return EMPTY;
  return value.subarray(Number(from), Number(to) + 1);
}

const EMPTY = Buffer.alloc(0);

/** GETRANGE / SUBSTR: a missing key is the empty string. The whole value is read, then cut here. */
function getrange(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const key = keyArg(args[1]);
  const start = int64Arg(args[2]);
  const end = int64Arg(args[3]);
  ctx.door.call({ op: 'get', ns: ctx.session.ns, key }, slot, ({ result }, door) => {
    door.count(result.hit ? 1 : 0, result.hit ? 0 : 1);
    return bulk(result.hit ? byteRange(result.value, start, end) : EMPTY);
  });
  return undefined;
}

/** INCRBYFLOAT: the increment is checked here as the node reads it (`shared/long-double.ts`); the node adds. */
function incrbyfloat(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const key = keyArg(args[1]);
  const delta = args[2].toString('latin1');
  if (parseLongDouble(delta) === undefined) throw new RespCommandError(RespMessages.notFloat);
  ctx.door.call({ op: 'incrbyfloat', ns: ctx.session.ns, key, delta }, slot, ({ value }) => bulk(value));
  return undefined;
}

/** Redis Cluster's refusal of keys in more than one slot (the node runs these commands within one slot). */
export function checkOneSlot(ns: string, keys: readonly string[]): void {
  const slot = slotOf(ns, keys[0]);
  for (let i = 1; i < keys.length; i++) if (slotOf(ns, keys[i]) !== slot) throw new RespCommandError(RespMessages.crossSlot);
}

/** MSETNX: all or nothing on one node, so every key must share a slot (`{tag}`s make them). */
function msetnx(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  if (args.length % 2 === 0) throw new RespCommandError(RespMessages.wrongArgs('msetnx'));
  const keys: string[] = [];
  const values: Buffer[] = [];
  for (let i = 1; i < args.length; i += 2) {
    keys.push(keyArg(args[i]));
    values.push(args[i + 1]);
  }
  checkOneSlot(ctx.session.ns, keys);
  ctx.door.call({ op: 'msetnx', ns: ctx.session.ns, keys, values }, slot, ({ stored }) => (stored ? Replies.ONE : Replies.ZERO));
  return undefined;
}

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
  { name: 'incrbyfloat', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: incrbyfloat },
  { name: 'append', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: append },
  { name: 'setrange', arity: 4, flags: WD, keys: ONE_KEY, run: setrange },
  { name: 'strlen', arity: 2, flags: RF, keys: ONE_KEY, run: strlen },
  { name: 'getrange', arity: 4, flags: ['readonly'], keys: ONE_KEY, run: getrange },
  { name: 'substr', arity: 4, flags: ['readonly'], keys: ONE_KEY, run: getrange },
  { name: 'getset', arity: 3, flags: [...WD, 'fast'], keys: ONE_KEY, run: getset },
  { name: 'msetnx', arity: -3, flags: WD, keys: [1, -1, 2], run: msetnx },
];
