import { Limits } from '../../../shared/protocol';
import { int64Arg, keyArg, keysArg, word } from './args';
import type { CommandSpec, ReplyBytes, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import { batches, settleAll, valuesOrThrow } from './fanout';
import { type Encode } from './door';
import type { ReplySink } from './reply-queue';
import { integer, Replies, simple } from './reply';

/**
 * Key commands: DEL, UNLINK, EXISTS, EXPIRE, PEXPIRE, PERSIST, TTL, PTTL, TYPE. TTLs are read from
 * the entry's absolute expiry (the node's clock) against the proxy's clock.
 */
const flagReply = (yes: boolean): Buffer => (yes ? Replies.ONE : Replies.ZERO);
const deleteReply: Encode<'delete'> = ({ deleted }) => flagReply(deleted);

/** DEL / UNLINK: one key without a promise; several in a bounded fan-out. */
function del(ctx: RespContext, args: Buffer[], slot: ReplySink): ReplyBytes | undefined {
  if (args.length > 2) return delMany(ctx, args);
  ctx.door.call({ op: 'delete', ns: ctx.session.ns, key: keyArg(args[1]) }, slot, deleteReply);
  return undefined;
}

async function delMany(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const keys = keysArg(args.slice(1));
  const deleted = valuesOrThrow(await settleAll(keys, (key) => ctx.door.delete(ctx.session.ns, key)));
  return integer(deleted.filter(Boolean).length);
}

/** EXISTS counts a key named twice twice, as Redis does. */
async function exists(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const keys = keysArg(args.slice(1));
  const parts = await Promise.all(batches(keys, Limits.MAX_BATCH_KEYS).map((b) => ctx.door.mget(ctx.session.ns, b)));
  return integer(parts.flat().filter((r) => r.hit).length);
}

/** EXPIRE / PEXPIRE: a TTL <= 0 deletes the key; 1 when the key existed. */
const expire = (name: string, unit: 's' | 'ms') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const key = keyArg(args[1]);
  const value = int64Arg(args[2]);
  if (args.length > 3) throw new RespCommandError(RespMessages.unsupportedOption(word(args[3])));
  const ms = unit === 's' ? value * 1000n : value;
  if (ms > BigInt(Number.MAX_SAFE_INTEGER) || ms < BigInt(Number.MIN_SAFE_INTEGER)) throw new RespCommandError(RespMessages.invalidExpire(name));
  return flagReply(await ctx.door.expire(ctx.session.ns, key, Number(ms)));
};

const persistReply: Encode<'persist'> = ({ updated }) => flagReply(updated);

/** PERSIST: the node's own operation (the entry keeps its version and tags). */
function persist(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'persist', ns: ctx.session.ns, key: keyArg(args[1]) }, slot, persistReply);
  return undefined;
}

/** TTL / PTTL: -2 missing, -1 no expiry, else the time left (seconds rounded as Redis rounds them). */
const ttl = (unit: 's' | 'ms') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const read = await ctx.door.get(ctx.session.ns, keyArg(args[1]));
  if (!read.hit) return integer(-2);
  if (read.expiresAt === 0) return integer(-1);
  const ms = Math.max(0, read.expiresAt - ctx.now());
  return integer(unit === 'ms' ? ms : Math.floor((ms + 500) / 1000));
};

const STRING = simple('string');
const NONE = simple('none');

async function type(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  return (await ctx.door.get(ctx.session.ns, keyArg(args[1]))).hit ? STRING : NONE;
}

const ONE_KEY = [1, 1, 1] as const;
const RF = ['readonly', 'fast'] as const;
const WF = ['write', 'fast'] as const;

/** The key commands, as COMMAND INFO describes them. */
export const KEY_COMMANDS: readonly CommandSpec[] = [
  { name: 'del', arity: -2, flags: ['write'], keys: [1, -1, 1], run: del },
  { name: 'unlink', arity: -2, flags: WF, keys: [1, -1, 1], run: del },
  { name: 'exists', arity: -2, flags: RF, keys: [1, -1, 1], run: exists },
  { name: 'expire', arity: -3, flags: WF, keys: ONE_KEY, run: expire('expire', 's') },
  { name: 'pexpire', arity: -3, flags: WF, keys: ONE_KEY, run: expire('pexpire', 'ms') },
  { name: 'persist', arity: 2, flags: WF, keys: ONE_KEY, run: persist },
  { name: 'ttl', arity: 2, flags: RF, keys: ONE_KEY, run: ttl('s') },
  { name: 'pttl', arity: 2, flags: RF, keys: ONE_KEY, run: ttl('ms') },
  { name: 'type', arity: 2, flags: RF, keys: ONE_KEY, run: type },
];
