import { CollCmd } from '../../../shared/collections';
import { int64ArgOr, keysArg } from './args';
import { randomCountArg } from './cmd-hashes';
import { checkOneSlot } from './cmd-strings';
import { asBulk, asInteger, asList, asSet, bytesOf, runColl, scanReply, setScanItems, type CollEncode } from './coll';
import type { CommandSpec, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import type { ReplySink } from './reply-queue';
import { collScanArgs } from './scan-args';

/**
 * Set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD, SPOP, SRANDMEMBER, SSCAN,
 * SINTER, SUNION, SDIFF. Each is one node operation (COLL / COLL_WRITE; `shared/collections.ts`),
 * atomic as in Redis; a key holding another type answers WRONGTYPE. SINTER, SUNION and SDIFF read
 * their keys on one node, so the keys must share a slot (CROSSSLOT otherwise, as Redis Cluster).
 * RESP3 connections get sets (`~`) where Redis 7 answers them.
 */

const plain = (cmd: (typeof CollCmd)[keyof typeof CollCmd], encode: CollEncode) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined =>
  runColl(ctx, args, slot, cmd, args.slice(2), encode);

/**
 * SPOP key [count]: a member or nil; with a count a set of at most that many. The count is
 * Redis's getPositiveLong: anything but an integer ≥ 0 is "must be positive", even a word.
 */
function spop(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  if (args.length === 2) return runColl(ctx, args, slot, CollCmd.SPOP, [], asBulk);
  if (args.length > 3) throw new RespCommandError(RespMessages.syntax);
  if (int64ArgOr(args[2], RespMessages.mustBePositive) < 0n) throw new RespCommandError(RespMessages.mustBePositive);
  return runColl(ctx, args, slot, CollCmd.SPOP, [args[2]], asSet);
}

/** SRANDMEMBER key [count]: a member or nil; with a count a list (negative: repeats allowed). */
function srandmember(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  if (args.length === 2) return runColl(ctx, args, slot, CollCmd.SRANDMEMBER, [], asBulk);
  if (args.length > 3) throw new RespCommandError(RespMessages.syntax);
  randomCountArg(args[2]);
  return runColl(ctx, args, slot, CollCmd.SRANDMEMBER, [args[2]], asList);
}

/** SSCAN key cursor [MATCH pattern] [COUNT n]: the whole set in one page (cursor 0); MATCH filters here. */
function sscan(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const { match } = collScanArgs(args, false);
  return runColl(ctx, args, slot, CollCmd.SMEMBERS, [], (reply) => scanReply(setScanItems(bytesOf(reply), match)));
}

/** SINTER / SUNION / SDIFF key [key ...]: the first key routes, the others ride along (one slot). */
const setAlgebra = (cmd: (typeof CollCmd)['SINTER' | 'SUNION' | 'SDIFF']) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined => {
  const keys = keysArg(args.slice(1));
  checkOneSlot(ctx.session.ns, keys);
  return runColl(ctx, args, slot, cmd, [], asSet, keys.slice(1));
};

const WDF = ['write', 'denyoom', 'fast'] as const;
const WF = ['write', 'fast'] as const;
const RF = ['readonly', 'fast'] as const;
const R = ['readonly'] as const;
const ONE_KEY = [1, 1, 1] as const;
const ALL_KEYS = [1, -1, 1] as const;

/** The set commands, as COMMAND INFO describes them (Redis 7's arity and flags). */
export const SET_COMMANDS: readonly CommandSpec[] = [
  { name: 'sadd', arity: -3, flags: WDF, keys: ONE_KEY, run: plain(CollCmd.SADD, asInteger) },
  { name: 'srem', arity: -3, flags: WF, keys: ONE_KEY, run: plain(CollCmd.SREM, asInteger) },
  { name: 'sismember', arity: 3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.SISMEMBER, asInteger) },
  { name: 'smismember', arity: -3, flags: RF, keys: ONE_KEY, run: plain(CollCmd.SMISMEMBER, asList) },
  { name: 'smembers', arity: 2, flags: R, keys: ONE_KEY, run: plain(CollCmd.SMEMBERS, asSet) },
  { name: 'scard', arity: 2, flags: RF, keys: ONE_KEY, run: plain(CollCmd.SCARD, asInteger) },
  { name: 'spop', arity: -2, flags: WF, keys: ONE_KEY, run: spop },
  { name: 'srandmember', arity: -2, flags: R, keys: ONE_KEY, run: srandmember },
  { name: 'sscan', arity: -3, flags: R, keys: ONE_KEY, run: sscan },
  { name: 'sinter', arity: -2, flags: R, keys: ALL_KEYS, run: setAlgebra(CollCmd.SINTER) },
  { name: 'sunion', arity: -2, flags: R, keys: ALL_KEYS, run: setAlgebra(CollCmd.SUNION) },
  { name: 'sdiff', arity: -2, flags: R, keys: ALL_KEYS, run: setAlgebra(CollCmd.SDIFF) },
];
