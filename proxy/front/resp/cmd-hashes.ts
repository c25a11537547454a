import { CollCmd } from '../../../shared/collections';
import { parseLongDouble } from '../../../shared/long-double';
import { int64Arg, word } from './args';
import { asBulk, asInteger, asList, asMap, asPairs, bytesOf, checkPairs, hashScanItems, runColl, scanReply, type CollEncode } from './coll';
import type { CommandSpec, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import type { ReplySink } from './reply-queue';
import { Replies } from './reply';
import { collScanArgs } from './scan-args';

/**
 * Hash commands: HSET, HMSET, HSETNX, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS,
 * HINCRBY, HINCRBYFLOAT, HSTRLEN, HRANDFIELD, HSCAN. Each is one node operation (COLL at the
 * node the read preference picks, COLL_WRITE at the primary; `shared/collections.ts`), atomic as
 * in Redis; a key holding another type answers WRONGTYPE. Arguments Redis checks before it reads
 * the key are checked here, with its words; the node checks them again and answers the rest
 * (`hash value is not an integer` ...). A hash the node creates gets the namespace's default TTL.
 */

/** Redis's LONG_MAX (a count's bound: HRANDFIELD, SRANDMEMBER take -LONG_MAX..LONG_MAX). */
export const LONG_MAX = 2n ** 63n - 1n;

/** A command that sends its arguments after the key as they came and encodes the reply with `encode`. */
const plain = (cmd: (typeof CollCmd)[keyof typeof CollCmd], encode: CollEncode) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined =>
  runColl(ctx, args, slot, cmd, args.slice(2), encode);

/** HSET key field value [field value ...]: the number of fields added. */
function hset(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  checkPairs(args, 2, 'hset');
  return runColl(ctx, args, slot, CollCmd.HSET, args.slice(2), asInteger);
}

/** HMSET: HSET answering OK (deprecated in Redis, still served). */
function hmset(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  checkPairs(args, 2, 'hmset');
  return runColl(ctx, args, slot, CollCmd.HSET, args.slice(2), () => Replies.OK);
}

/** HINCRBY key field increment: the increment must be a 64-bit integer (Redis checks it before the key). */
function hincrby(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  int64Arg(args[3]);
  return runColl(ctx, args, slot, CollCmd.HINCRBY, args.slice(2), asInteger);
}

/** HINCRBYFLOAT key field increment: a float Redis reads (no hexadecimal), neither NaN nor infinite. */
function hincrbyfloat(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const incr = parseLongDouble(args[3].toString('latin1'));
  if (incr === undefined) throw new RespCommandError(RespMessages.notFloat);
  if (incr === 'inf' || incr === '-inf') throw new RespCommandError(RespMessages.nanOrInfinity);
  return runColl(ctx, args, slot, CollCmd.HINCRBYFLOAT, args.slice(2), asBulk);
}

/** A count HRANDFIELD and SRANDMEMBER take: -LONG_MAX..LONG_MAX, as Redis's getRangeLongFromObjectOrReply. */
export function randomCountArg(arg: Buffer): bigint {
  const count = int64Arg(arg);
  if (count < -LONG_MAX) throw new RespCommandError(RespMessages.longRange);
  return count;
}

const WITHVALUES = Buffer.from('WITHVALUES');

/**
 * HRANDFIELD key [count [WITHVALUES]], Redis 7's checks in its order: the count's range, then
 * the syntax, then WITHVALUES's tighter range. Without a count a field or nil; with one a list
 * (negative: repeats allowed), with WITHVALUES field-value pairs.
 */
function hrandfield(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  if (args.length === 2) return runColl(ctx, args, slot, CollCmd.HRANDFIELD, [], asBulk);
  const count = randomCountArg(args[2]);
  if (args.length > 4 || (args.length === 4 && word(args[3]) !== 'WITHVALUES')) throw new RespCommandError(RespMessages.syntax);
  if (args.length === 3) return runColl(ctx, args, slot, CollCmd.HRANDFIELD, [args[2]], asList);
  if (count < -(LONG_MAX / 2n) || count > LONG_MAX / 2n) throw new RespCommandError(RespMessages.outOfRange);
  return runColl(ctx, args, slot, CollCmd.HRANDFIELD, [args[2], WITHVALUES], asPairs);
}

/**
 * HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]: the whole hash in one page (cursor 0),
 * as Redis answers for a small hash; MATCH filters the fields here, COUNT is accepted.
 */
function hscan(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const { match, noValues } = collScanArgs(args, true);
  return runColl(ctx, args, slot, CollCmd.HGETALL, [], (reply) => scanReply(hashScanItems(bytesOf(reply), match, noValues)));
}

const WDF = ['write', 'denyoom', 'fast'] as const;
const WF = ['write', 'fast'] as const;
const RF = ['readonly', 'fast'] as const;
const R = ['readonly'] as const;
const ONE_KEY = [1, 1, 1] as const;

/** The hash commands, as COMMAND INFO describes them (Redis 7's arity and flags). */
export const HASH_COMMANDS: readonly CommandSpec[] = [
  { name: 'hset', arity: -4, flags: WDF, keys: ONE_KEY, run: hset },
  { name: 'hmset', arity: -4, flags: WDF, keys: ONE_KEY, run: hmset },
  { name: 'hsetnx', arity: 4, flags: WDF, keys: ONE_KEY, run: plain(CollCmd.HSETNX, asInteger) },
  { name: 'hget', arity: 3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.HGET, asBulk) },
  { name: 'hmget', arity: -3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.HMGET, asList) },
  { name: 'hgetall', arity: 2, flags: R, keys: ONE_KEY, run: plain(CollCmd.HGETALL, asMap) },
  { name: 'hdel', arity: -3, flags: WF, keys: ONE_KEY, run: plain(CollCmd.HDEL, asInteger) },
  { name: 'hexists', arity: 3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.HEXISTS, asInteger) },
  { name: 'hlen', arity: 2, flags: RF, keys: ONE_KEY, run: plain(CollCmd.HLEN, asInteger) },
  { name: 'hkeys', arity: 2, flags: R, keys: ONE_KEY, run: plain(CollCmd.HKEYS, asList) },
  { name: 'hvals', arity: 2, flags: R, keys: ONE_KEY, run: plain(CollCmd.HVALS, asList) },
  { name: 'hincrby', arity: 4, flags: WDF, keys: ONE_KEY, run: hincrby },
  { name: 'hincrbyfloat', arity: 4, flags: WDF, keys: ONE_KEY, run: hincrbyfloat },
  { name: 'hstrlen', arity: 3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.HSTRLEN, asInteger) },
  { name: 'hrandfield', arity: -2, flags: R, keys: ONE_KEY, run: hrandfield },
  { name: 'hscan', arity: -3, flags: R, keys: ONE_KEY, run: hscan },
];
