import { Limits } from '../../../shared/protocol';
import { copyOptions, expireOptions, int64Arg, keyArg, keysArg } from './args';
import { runSubcommand, type Subcommand } from './cmd-connection';
import { checkOneSlot } from './cmd-strings';
import type { CommandSpec, ReplyBytes, RespContext } from './context';
import { RespCommandError, RespMessages, RespRefusals } from './errors';
import { batches, settleAll, valuesOrThrow } from './fanout';
import { type Encode } from './door';
import type { ReplySink } from './reply-queue';
import { array, bulk, bulkArray, integer, Replies, simple } from './reply';
import { SLOT_COUNT } from '../../../shared/slot';
import { matchArg, matching, scanArgs } from './scan-args';

/**
 * Key commands: DEL, UNLINK, EXISTS, TOUCH, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (with NX XX GT
 * LT), EXPIRETIME, PEXPIRETIME, PERSIST, TTL, PTTL, TYPE, RENAME, RENAMENX, COPY, OBJECT, and the key-space
 * walks SCAN, KEYS, RANDOMKEY. TTLs are read from the entry's absolute expiry (the node's clock)
 * against the proxy's clock.
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

/**
 * EXISTS (and TOUCH) counts a key named twice twice, as Redis does, whatever each key holds: the
 * nodes' EXISTS, one per shard (per batch of keys).
 */
/** EXISTS, or TOUCH (`touch`: each key found counts as accessed on its node). */
const existing = (touch: boolean) => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const keys = keysArg(args.slice(1));
  const counts = await Promise.all(batches(keys, Limits.MAX_BATCH_KEYS).map((b) => ctx.door.exists(ctx.session.ns, b, touch)));
  return integer(counts.reduce((a, b) => a + b, 0));
};
const exists = existing(false);
const touch = existing(true);

const SAFE_MS = BigInt(Number.MAX_SAFE_INTEGER);
const expireReply = ({ updated }: { updated: boolean }): Buffer => flagReply(updated);

/**
 * EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT, in Redis 7's order: options (NX XX GT LT), the number,
 * its range. Plain EXPIRE / PEXPIRE are the node's EXPIRE (a TTL on the node's clock); with
 * options, and the AT forms, the node's EXPIREAT (an absolute time; the relative forms add the
 * proxy's clock), so the comparison with the current expiry is one step on the node. A time not
 * in the future deletes the key. 1 when the key existed and the options held.
 */
const expire = (name: string, unit: 's' | 'ms', absolute: boolean) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined => {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  const cond = expireOptions(args.slice(3));
  const value = int64Arg(args[2]);
  const ms = unit === 's' ? value * 1000n : value;
  const at = absolute ? ms : ms + BigInt(ctx.now());
  if (ms > SAFE_MS || ms < -SAFE_MS || at > SAFE_MS || at < -SAFE_MS) throw new RespCommandError(RespMessages.invalidExpire(name));
  if (!absolute && cond === 0) ctx.door.call({ op: 'expire', ns, key, ttlMs: Number(ms) }, slot, expireReply);
  else ctx.door.call({ op: 'expireat', ns, key, at: Number(at), cond }, slot, expireReply);
  return undefined;
};

/**
 * EXPIRETIME / PEXPIRETIME: the absolute expiry (Unix seconds, truncated, or ms); -1 none, -2
 * missing. A string's is read exactly from its entry; a hash's or set's (which GET refuses with
 * WRONGTYPE) is its node's time left added to the proxy's clock.
 */
const expireTime = (unit: 's' | 'ms') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  let at: number;
  try {
    const result = await ctx.door.get(ns, key);
    if (!result.hit) return integer(-2);
    if (result.expiresAt === 0) return integer(-1);
    at = result.expiresAt;
  } catch (err) {
    if (!(err instanceof RespCommandError && err.code === 'WRONG_TYPE')) throw err;
    const ms = await ctx.door.ttl(ns, key);
    if (ms < 0) return integer(ms);
    at = ctx.now() + ms;
  }
  return integer(unit === 'ms' ? at : Math.floor(at / 1000));
};

/**
 * RENAME / RENAMENX: one node operation, so both keys must share a slot (CROSSSLOT otherwise, as
 * Redis Cluster answers). The new key takes the value and the TTL; a missing key is Redis's error.
 */
const rename = (nx: boolean) => (ctx: RespContext, args: Buffer[], slot: ReplySink): undefined => {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  const dst = keyArg(args[2]);
  checkOneSlot(ns, [key, dst]);
  ctx.door.call({ op: 'rename', ns, key, dst, nx }, slot, ({ renamed }) => {
    if (renamed < 0) throw new RespCommandError(RespMessages.noSuchKey);
    return nx ? flagReply(renamed === 1) : Replies.OK;
  });
  return undefined;
};

/** COPY src dst [DB 0] [REPLACE]: within one slot, with the TTL; 0 when src is missing or dst exists without REPLACE. */
function copy(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  const { ns } = ctx.session;
  const key = keyArg(args[1]);
  const dst = keyArg(args[2]);
  checkOneSlot(ns, [key, dst]);
  const { replace } = copyOptions(args.slice(3));
  if (key === dst) throw new RespCommandError(RespMessages.sameObject);
  ctx.door.call({ op: 'copy', ns, key, dst, replace }, slot, ({ copied }) => flagReply(copied));
  return undefined;
}

const persistReply: Encode<'persist'> = ({ updated }) => flagReply(updated);

/** PERSIST: the node's own operation (the entry keeps its version and tags). */
function persist(ctx: RespContext, args: Buffer[], slot: ReplySink): undefined {
  ctx.door.call({ op: 'persist', ns: ctx.session.ns, key: keyArg(args[1]) }, slot, persistReply);
  return undefined;
}

/**
 * TTL / PTTL: -2 missing, -1 no expiry, else the time left (seconds rounded as Redis rounds
 * them), whatever the key holds: the node's TTL, counted on the node's clock.
 */
const ttl = (unit: 's' | 'ms') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const ms = await ctx.door.ttl(ctx.session.ns, keyArg(args[1]));
  if (ms < 0) return integer(ms);
  return integer(unit === 'ms' ? ms : Math.floor((ms + 500) / 1000));
};

/** TYPE's answers, encoded once. */
const TYPE_REPLIES: ReadonlyMap<string, Buffer> = new Map(['none', 'string', 'hash', 'set'].map((name) => [name, simple(name)]));

/** TYPE: the node's own answer (`none`, `string`, `hash` or `set`). */
async function type(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const name = await ctx.door.type(ctx.session.ns, keyArg(args[1]));
  return TYPE_REPLIES.get(name) ?? simple(name);
}

/** SCAN's reply once the cursor is past the last slot. */
const SCAN_DONE = array([bulk('0'), Replies.EMPTY_ARRAY]);

/**
 * SCAN: one page from the node owning the cursor's slot, which returns every key of each slot it
 * visits (of TYPE's type only, when given) and the next slot (the reply's cursor; `0` after slot
 * 16383). MATCH filters what the node returned, as Redis filters after reading, so a page may
 * hold fewer keys than COUNT. A TYPE shardcache holds no key of (list, zset, stream, none)
 * answers the end of the scan at once.
 */
async function scan(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const a = scanArgs(args);
  if (a.slot >= SLOT_COUNT || a.noType) return SCAN_DONE;
  const page = await ctx.door.scan(ctx.session.ns, a.slot, a.count, a.type);
  return array([bulk(page.next >= SLOT_COUNT ? '0' : String(page.next)), bulkArray(matching(page.keys, a.match))]);
}

/** Most keys KEYS answers with; past it the command fails (docs/resp.md: a walk of every key, use SCAN). */
export const KEYS_MAX = 100_000;
/** Keys asked per page of a KEYS walk (a node gives at most 1,000 per call). */
const KEYS_PAGE = 1000;

/** KEYS pattern: SCAN's walk over every slot inside the proxy, one page after the other. */
async function keys(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  const match = matchArg(args[1]);
  const ns = ctx.session.ns;
  const found: string[] = [];
  for (let slot = 0; slot < SLOT_COUNT;) {
    const page = await ctx.door.scan(ns, slot, KEYS_PAGE);
    // A node always takes the slot it is asked for; a page that does not move on would loop forever.
    if (page.next <= slot) throw new RespCommandError(RespMessages.internal);
    for (const key of matching(page.keys, match)) {
      if (found.length === KEYS_MAX) throw new RespCommandError(RespRefusals.keysTooMany(KEYS_MAX));
      found.push(key);
    }
    slot = page.next;
  }
  return bulkArray(found);
}

/**
 * OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT key: one node operation (OBJECT) at the key's
 * primary, which neither refreshes the key's recency nor counts a hit; nil for a missing key
 * (before the policy errors, as Redis looks the key up first). FREQ needs a namespace that evicts
 * by LFU and IDLETIME one that does not, else Redis's errors. REFCOUNT is 1 (no value is shared).
 */
const objectFact = (fact: 'encoding' | 'freq' | 'idletime' | 'refcount') => async (ctx: RespContext, args: Buffer[]): Promise<Buffer> => {
  const facts = await ctx.door.object(ctx.session.ns, keyArg(args[2]));
  if (facts === null) return Replies.NULL_BULK;
  switch (fact) {
    case 'encoding':
      return bulk(facts.encoding);
    case 'refcount':
      return Replies.ONE;
    case 'freq':
      if (facts.freq < 0) throw new RespCommandError(RespMessages.lfuNotSelected);
      return integer(facts.freq);
    case 'idletime':
      if (facts.idleSeconds < 0) throw new RespCommandError(RespMessages.lfuSelected);
      return integer(facts.idleSeconds);
  }
};

/** OBJECT HELP: Redis 7's lines, as status replies. */
const OBJECT_HELP = array([
  'OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:',
  'ENCODING <key>',
  '    Return the kind of internal representation used in order to store the value',
  '    associated with a <key>.',
  'FREQ <key>',
  '    Return the access frequency index of the <key>. The returned integer is',
  '    proportional to the logarithm of the recent access frequency of the key.',
  'IDLETIME <key>',
  '    Return the idle time of the <key>, that is the approximated number of',
  '    seconds elapsed since the last access to the key.',
  'REFCOUNT <key>',
  '    Return the number of references of the value associated with the specified',
  '    <key>.',
  'HELP',
  '    Print this help.',
].map(simple));

const OBJECT_SUBCOMMANDS: readonly Subcommand[] = [
  { name: 'encoding', arity: 3, run: objectFact('encoding') },
  { name: 'freq', arity: 3, run: objectFact('freq') },
  { name: 'idletime', arity: 3, run: objectFact('idletime') },
  { name: 'refcount', arity: 3, run: objectFact('refcount') },
  { name: 'help', arity: 2, run: () => OBJECT_HELP },
];

/** RANDOMKEY: a random live key of the namespace, or nil. */
async function randomKey(ctx: RespContext): Promise<Buffer> {
  return bulk(await ctx.door.randomKey(ctx.session.ns));
}

const ONE_KEY = [1, 1, 1] as const;
const NO_KEYS = [0, 0, 0] as const;
const RF = ['readonly', 'fast'] as const;
const WF = ['write', 'fast'] as const;

/** The key commands, as COMMAND INFO describes them. */
export const KEY_COMMANDS: readonly CommandSpec[] = [
  { name: 'del', arity: -2, flags: ['write'], keys: [1, -1, 1], run: del },
  { name: 'unlink', arity: -2, flags: WF, keys: [1, -1, 1], run: del },
  { name: 'exists', arity: -2, flags: RF, keys: [1, -1, 1], run: exists },
  { name: 'expire', arity: -3, flags: WF, keys: ONE_KEY, run: expire('expire', 's', false) },
  { name: 'pexpire', arity: -3, flags: WF, keys: ONE_KEY, run: expire('pexpire', 'ms', false) },
  { name: 'expireat', arity: -3, flags: WF, keys: ONE_KEY, run: expire('expireat', 's', true) },
  { name: 'pexpireat', arity: -3, flags: WF, keys: ONE_KEY, run: expire('pexpireat', 'ms', true) },
  { name: 'expiretime', arity: 2, flags: RF, keys: ONE_KEY, run: expireTime('s') },
  { name: 'pexpiretime', arity: 2, flags: RF, keys: ONE_KEY, run: expireTime('ms') },
  { name: 'touch', arity: -2, flags: RF, keys: [1, -1, 1], run: touch },
  { name: 'rename', arity: 3, flags: ['write'], keys: [1, 2, 1], run: rename(false) },
  { name: 'renamenx', arity: 3, flags: WF, keys: [1, 2, 1], run: rename(true) },
  { name: 'copy', arity: -3, flags: ['write'], keys: [1, 2, 1], run: copy },
  { name: 'persist', arity: 2, flags: WF, keys: ONE_KEY, run: persist },
  { name: 'ttl', arity: 2, flags: RF, keys: ONE_KEY, run: ttl('s') },
  { name: 'pttl', arity: 2, flags: RF, keys: ONE_KEY, run: ttl('ms') },
  { name: 'type', arity: 2, flags: RF, keys: ONE_KEY, run: type },
  { name: 'scan', keyspace: true, arity: -2, flags: ['readonly'], keys: NO_KEYS, run: scan },
  { name: 'keys', keyspace: true, arity: 2, flags: ['readonly'], keys: NO_KEYS, run: keys },
  { name: 'randomkey', keyspace: true, arity: 1, flags: ['readonly'], keys: NO_KEYS, run: randomKey },
  // Keys at 2: OBJECT ENCODING k runs after the connection's earlier commands on k (key-order.ts).
  { name: 'object', arity: -2, flags: ['readonly'], keys: [2, 2, 1], run: (ctx, args) => runSubcommand('object', OBJECT_SUBCOMMANDS, ctx, args) },
];
