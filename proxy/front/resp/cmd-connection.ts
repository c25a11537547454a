import { DEFAULT_USER, respNamespaceOf } from '../../../shared/credentials';
import { NAMESPACE_PATTERN } from '../../../shared/protocol';
import { int64Arg, word } from './args';
import { CLIENT_OBSERVE_SUBCOMMANDS } from './cmd-observe';
import { arityAccepts, type CommandSpec, type Handler, type ReplyBytes, type RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import { array, bulk, integer, map, Replies } from './reply';

/**
 * Connection commands: PING, ECHO, QUIT, HELLO, AUTH, SELECT, CLIENT. RESP2, and RESP3 after HELLO 3.
 *
 * While the cluster requires auth (`shardctl auth on`), AUTH and HELLO's AUTH option check a user
 * and password (`AUTH <password>` is the user "default"), as Redis 6+ does; the connection's keys
 * then live in the user's namespace (`shardctl user add --namespace`, else its first grant naming
 * one), and every command but AUTH, HELLO and QUIT gets `-NOAUTH` before that. With auth off,
 * AUTH only selects the namespace: `AUTH <namespace>` or `AUTH <namespace> <anything>`, and, as
 * Redis takes `AUTH default pw` for `AUTH pw`, `AUTH default <namespace>` (what node-redis sends
 * for a password alone: `HELLO 3 AUTH default <password>`).
 */

/** The Redis version whose commands and replies the RESP front follows (HELLO, INFO). */
export const REDIS_COMPAT_VERSION = '7.0.0';

/** Makes the namespace `user` names (the password's for the user `default`) the connection's, or refuses as Redis refuses a bad password. */
function authenticate(ctx: RespContext, user: Buffer, password: Buffer): void {
  const name = (user.equals(DEFAULT_USER_BYTES) ? password : user).toString('latin1');
  if (!NAMESPACE_PATTERN.test(name)) throw new RespCommandError(RespMessages.wrongPass);
  ctx.session.ns = name;
}

/**
 * Checks `user`/`password` while auth is on; on success the connection acts as that user in its
 * namespace. Rejects with the RespCommandError to answer (WRONGPASS, or busy).
 */
function login(ctx: RespContext, user: Buffer, password: Buffer): Promise<void> {
  const auth = ctx.door.auth!;
  const session = ctx.session;
  const run = auth.authenticate(user.toString('utf8'), password.toString('utf8')).then((r) => {
    if (!r.ok) throw new RespCommandError(r.reason === 'BUSY' ? RespMessages.authBusy : RespMessages.wrongPass);
    const record = auth.record(r.principal);
    session.principal = r.principal;
    const ns = record === undefined ? undefined : respNamespaceOf(record);
    if (ns !== undefined) session.ns = ns;
  });
  const settled = run.then(() => undefined, () => undefined);
  session.authenticating = settled;
  void settled.then(() => {
    if (session.authenticating === settled) session.authenticating = undefined;
  });
  return run;
}

const DEFAULT_USER_BYTES = Buffer.from(DEFAULT_USER);

/** Redis's rule for client names and library info: printable ASCII without spaces. */
const printableWord = (arg: Buffer): boolean => arg.every((c) => c >= 0x21 && c <= 0x7e);

/** CLIENT SETNAME's rule: printable ASCII without spaces; empty clears the name. */
function clientName(arg: Buffer): string | null {
  if (!printableWord(arg)) throw new RespCommandError(RespMessages.clientName);
  return arg.length === 0 ? null : arg.toString('latin1');
}

/** Longest CLIENT SETINFO value kept (Redis has no bound; this keeps 10,000 connections' libraries small). */
export const MAX_LIB_INFO_BYTES = 128;

/** CLIENT SETINFO LIB-NAME|LIB-VER value: shown by CLIENT LIST; printable ASCII without spaces, as Redis checks. */
function setInfo(ctx: RespContext, args: Buffer[]): Buffer {
  const attr = args[2].toString('latin1').toLowerCase();
  if (attr !== 'lib-name' && attr !== 'lib-ver') throw new RespCommandError(RespMessages.setinfoOption(args[2].toString('utf8')));
  const value = args[3];
  if (!printableWord(value)) throw new RespCommandError(RespMessages.setinfoValue(attr));
  if (value.length > MAX_LIB_INFO_BYTES) throw new RespCommandError(RespMessages.setinfoTooLong(attr, MAX_LIB_INFO_BYTES));
  const text = value.length === 0 ? null : value.toString('latin1');
  if (attr === 'lib-name') ctx.session.libName = text;
  else ctx.session.libVer = text;
  return Replies.OK;
}

function ping(_ctx: RespContext, args: Buffer[]): Buffer {
  if (args.length > 2) throw new RespCommandError(RespMessages.wrongArgs('ping'));
  return args.length === 2 ? bulk(args[1]) : Replies.PONG;
}

function helloReply(ctx: RespContext): Buffer {
  const pairs: Array<[string, Buffer]> = [
    ['server', bulk('shardcache')], ['version', bulk(REDIS_COMPAT_VERSION)], ['proto', integer(ctx.session.protocol)], ['id', integer(ctx.session.id)],
    ['mode', bulk('standalone')], ['role', bulk('master')], ['modules', Replies.EMPTY_ARRAY],
  ];
  return map(pairs.map(([name, value]) => [bulk(name), value] as const), ctx.session.protocol);
}

/**
 * HELLO [2|3 [AUTH user pass] [SETNAME name]]: protocol 2 or 3 (RESP3: maps and one null, see
 * reply.ts), chosen once the command succeeds; any other version is NOPROTO.
 */
function hello(ctx: RespContext, args: Buffer[]): ReplyBytes {
  let protocol = ctx.session.protocol;
  if (args.length > 1) {
    let version: bigint;
    try {
      version = int64Arg(args[1]);
    } catch {
      throw new RespCommandError(RespMessages.protoVersion);
    }
    if (version !== 2n && version !== 3n) throw new RespCommandError(RespMessages.noProto);
    protocol = version === 3n ? 3 : 2;
  }
  let name: string | null | undefined;
  let creds: [Buffer, Buffer] | undefined;
  for (let i = 2; i < args.length; i++) {
    const opt = word(args[i]);
    if (opt === 'AUTH' && i + 2 < args.length) {
      creds = [args[i + 1], args[i + 2]];
      i += 2;
    } else if (opt === 'SETNAME' && i + 1 < args.length) {
      name = clientName(args[++i]);
    } else {
      throw new RespCommandError(RespMessages.helloOption(args[i].toString('utf8')));
    }
  }
  const finish = (): Buffer => {
    if (name !== undefined) ctx.session.name = name;
    ctx.session.protocol = protocol;
    return helloReply(ctx);
  };
  if (ctx.door.authRequired) {
    if (creds !== undefined) return login(ctx, creds[0], creds[1]).then(finish);
    if (ctx.session.principal === undefined) throw new RespCommandError(RespMessages.helloNoAuth);
    return finish();
  }
  if (creds !== undefined) authenticate(ctx, creds[0], creds[1]);
  return finish();
}

function auth(ctx: RespContext, args: Buffer[]): ReplyBytes {
  if (args.length > 3) throw new RespCommandError(RespMessages.syntax);
  if (ctx.door.authRequired) {
    const [user, password] = args.length === 3 ? [args[1], args[2]] : [DEFAULT_USER_BYTES, args[1]];
    return login(ctx, user, password).then(() => Replies.OK);
  }
  authenticate(ctx, args[1], args[args.length - 1]);
  return Replies.OK;
}

/** QUIT: +OK, then the connection closes once the replies before it are written. */
function quit(ctx: RespContext): Buffer {
  ctx.session.quit = true;
  return Replies.OK;
}

function select(_ctx: RespContext, args: Buffer[]): Buffer {
  if (int64Arg(args[1]) !== 0n) throw new RespCommandError(RespMessages.dbIndex);
  return Replies.OK;
}

/** A sub-command of CLIENT, CONFIG or COMMAND: `name` is lower case, `arity` counts the parent. */
export interface Subcommand {
  name: string;
  arity: number;
  run: (ctx: RespContext, args: Buffer[]) => ReplyBytes;
}

/** Runs the sub-command named by `args[1]`, with Redis's errors for unknown ones and bad arity. */
export function runSubcommand(parent: string, subs: readonly Subcommand[], ctx: RespContext, args: Buffer[]): ReplyBytes {
  const name = args[1].toString('latin1').toLowerCase();
  const sub = subs.find((s) => s.name === name);
  if (sub === undefined) throw new RespCommandError(RespMessages.unknownSubcommand(args[1].toString('utf8'), parent.toUpperCase()));
  if (!arityAccepts(sub.arity, args.length)) throw new RespCommandError(RespMessages.wrongArgs(`${parent}|${sub.name}`));
  ctx.session.lastCommand = `${parent}|${sub.name}`;
  return sub.run(ctx, args);
}

const CLIENT_SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'setname', arity: 3,
    run: (ctx, args) => {
      ctx.session.name = clientName(args[2]);
      return Replies.OK;
    },
  },
  { name: 'getname', arity: 2, run: (ctx) => bulk(ctx.session.name) },
  { name: 'setinfo', arity: 4, run: setInfo },
  { name: 'id', arity: 2, run: (ctx) => integer(ctx.session.id) },
  ...CLIENT_OBSERVE_SUBCOMMANDS,
];

const FAST = ['fast'] as const;
const NO_KEYS = [0, 0, 0] as const;

/** The connection commands, as COMMAND INFO describes them. */
export const CONNECTION_COMMANDS: readonly CommandSpec[] = [
  { name: 'ping', arity: -1, flags: FAST, keys: NO_KEYS, run: ping },
  { name: 'echo', arity: 2, flags: FAST, keys: NO_KEYS, run: (_ctx, args) => bulk(args[1]) },
  { name: 'quit', arity: -1, flags: FAST, keys: NO_KEYS, run: quit },
  { name: 'hello', arity: -1, flags: ['noscript', 'fast', 'no_auth'], keys: NO_KEYS, run: hello },
  { name: 'auth', arity: -2, flags: ['noscript', 'fast', 'no_auth'], keys: NO_KEYS, run: auth },
  { name: 'select', arity: 2, flags: FAST, keys: NO_KEYS, run: select },
  { name: 'client', arity: -2, flags: [], keys: NO_KEYS, run: (ctx, args) => runSubcommand('client', CLIENT_SUBCOMMANDS, ctx, args) },
];
