import { int64Arg, int64ArgOr, keyArg, word } from './args';
import { clientLine, filterMatches, killFilter, listFilter, type ClientFacts, type ClientFilter } from './clients';
import type { CommandSpec, RespClient, RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import { SLOWLOG_MAX_LEN_LIMIT, unpackArgs, type SlowEntry } from './monitor';
import { array, bulk, bulkArray, integer, Replies } from './reply';
import type { Subcommand } from './cmd-connection';

/**
 * Commands that observe the proxy and its clients: CLIENT LIST / INFO / KILL / NO-EVICT /
 * NO-TOUCH (sub-commands of CLIENT, joined to the others in cmd-connection.ts), SLOWLOG,
 * LATENCY and MEMORY USAGE.
 *
 * Tenants (docs/resp.md, "Observing the proxy"): while the cluster requires auth, a client sees
 * and kills only the connections authenticated in its own namespace (and itself), killing needs
 * the `admin` grant on that namespace, SLOWLOG shows only its namespace's commands, and what
 * changes the whole process (SLOWLOG RESET, LATENCY RESET, CONFIG SET) needs `admin` on `*`.
 * With auth off there are no tenants (AUTH only picks a namespace), so every client sees all.
 */

/** The connections `ctx`'s client may see (see the module comment). */
function visibleClients(ctx: RespContext): RespClient[] {
  const me = ctx.session;
  const all = [...ctx.server.clients()];
  if (!ctx.door.authRequired) return all;
  return all.filter((c) => c.session.id === me.id || (c.session.principal !== undefined && c.session.ns === me.ns));
}

/** CLIENT LIST / CLIENT INFO's text: one line per client, each ending with a newline (Redis's). */
function clientLines(clients: readonly ClientFacts[]): Buffer {
  return bulk(clients.map((f) => `${clientLine(f)}\n`).join(''));
}

function clientList(ctx: RespContext, args: Buffer[]): Buffer {
  const filter = listFilter(args, 2);
  const now = Date.now();
  return clientLines(visibleClients(ctx).map((c) => c.clientFacts(now)).filter((f) => filterMatches(filter, f, false)));
}

/** Closes the clients `filter` matches; the caller itself (SKIPME no) closes once this reply is written. */
function kill(ctx: RespContext, filter: ClientFilter): number {
  const now = Date.now();
  let killed = 0;
  for (const c of visibleClients(ctx)) {
    const self = c.session.id === ctx.session.id;
    if (!filterMatches(filter, c.clientFacts(now), self)) continue;
    killed++;
    if (self) c.session.quit = true; // the connection's own session (a delayed command's context holds a copy)
    else c.kill();
  }
  return killed;
}

/** CLIENT KILL addr:port (the old form: +OK or an error) or CLIENT KILL <filter> <value> ... (the count). */
function clientKill(ctx: RespContext, args: Buffer[]): Buffer {
  ctx.door.require('admin', ctx.session.ns, 'client|kill'); // before the arguments, as Redis checks ACLs first
  if (args.length === 3) {
    const killed = kill(ctx, { addr: args[2].toString('latin1'), skipMe: false });
    if (killed === 0) throw new RespCommandError(RespMessages.noSuchClient);
    return Replies.OK;
  }
  return integer(kill(ctx, killFilter(args, 2)));
}

/** CLIENT NO-EVICT / NO-TOUCH on|off: accepted for clients that send them; the proxy holds no data to evict or touch. */
function onOff(_ctx: RespContext, args: Buffer[]): Buffer {
  const v = word(args[2]);
  if (v !== 'ON' && v !== 'OFF') throw new RespCommandError(RespMessages.syntax);
  return Replies.OK;
}

/** The CLIENT sub-commands of this module (cmd-connection.ts serves SETNAME, GETNAME, SETINFO, ID). */
export const CLIENT_OBSERVE_SUBCOMMANDS: readonly Subcommand[] = [
  { name: 'list', arity: -2, run: clientList },
  {
    name: 'info', arity: 2,
    run: (ctx) => {
      const me = [...ctx.server.clients()].find((c) => c.session.id === ctx.session.id);
      return clientLines(me === undefined ? [] : [me.clientFacts(Date.now())]);
    },
  },
  { name: 'kill', arity: -3, run: clientKill },
  { name: 'no-evict', arity: 3, run: onOff },
  { name: 'no-touch', arity: 3, run: onOff },
];

/** SLOWLOG GET's default count (Redis's). */
const SLOWLOG_GET_DEFAULT = 10;

function slowEntry(e: SlowEntry): Buffer {
  return array([integer(e.id), integer(e.time), integer(e.micros), bulkArray(unpackArgs(e.args)), bulk(e.addr), bulk(e.name)]);
}

/** The slow-log entries `ctx`'s client may see: its namespace's while auth is on. */
const slowVisible = (ctx: RespContext): ((e: SlowEntry) => boolean) => (ctx.door.authRequired ? (e) => e.ns === ctx.session.ns : () => true);

/** cmd-connection.ts's runSubcommand, passed in: that module imports this one, so this one takes no value from it. */
type Runner = (parent: string, subs: readonly Subcommand[], ctx: RespContext, args: Buffer[]) => ReturnType<Subcommand['run']>;

const SLOWLOG_SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'get', arity: -2,
    run: (ctx, args) => {
      if (args.length > 3) throw new RespCommandError(RespMessages.wrongArgs('slowlog|get'));
      let count = SLOWLOG_GET_DEFAULT;
      if (args.length === 3) {
        const n = int64ArgOr(args[2], RespMessages.slowlogCount);
        if (n < -1n) throw new RespCommandError(RespMessages.slowlogCount);
        count = Number(n);
      }
      return array(ctx.server.timer.slowlog.get(count, slowVisible(ctx)).map(slowEntry));
    },
  },
  { name: 'len', arity: 2, run: (ctx) => integer(ctx.server.timer.slowlog.len(slowVisible(ctx))) },
  {
    name: 'reset', arity: 2,
    run: (ctx) => {
      ctx.door.require('admin', '*', 'slowlog|reset');
      ctx.server.timer.slowlog.reset();
      return Replies.OK;
    },
  },
];

const LATENCY_SUBCOMMANDS: readonly Subcommand[] = [
  {
    name: 'latest', arity: 2,
    run: (ctx) => array(ctx.server.timer.latency.latest().map(([name, time, ms, max]) => array([bulk(name), integer(time), integer(ms), integer(max)]))),
  },
  {
    name: 'history', arity: 3,
    run: (ctx, args) => array(ctx.server.timer.latency.history(args[2].toString('latin1')).map(([time, ms]) => array([integer(time), integer(ms)]))),
  },
  {
    name: 'reset', arity: -2,
    run: (ctx, args) => {
      ctx.door.require('admin', '*', 'latency|reset');
      return integer(ctx.server.timer.latency.reset(args.slice(2).map((a) => a.toString('latin1'))));
    },
  },
  { name: 'doctor', arity: 2, run: (ctx) => bulk(ctx.server.timer.latency.doctor()) },
];

/** MEMORY USAGE key [SAMPLES n]: the entry's accounted bytes on its node (SAMPLES is checked, then moot: a string's size is exact). */
async function memoryUsage(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  if (args.length !== 3 && args.length !== 5) throw new RespCommandError(RespMessages.syntax);
  if (args.length === 5) {
    if (word(args[3]) !== 'SAMPLES') throw new RespCommandError(RespMessages.syntax);
    if (int64Arg(args[4]) < 0n) throw new RespCommandError(RespMessages.syntax);
  }
  const bytes = await ctx.door.memoryUsage(ctx.session.ns, keyArg(args[2]));
  return bytes === null ? Replies.NULL_BULK : integer(bytes);
}

const MEMORY_SUBCOMMANDS: readonly Subcommand[] = [{ name: 'usage', arity: -3, run: memoryUsage }];

const NO_KEYS = [0, 0, 0] as const;

/** SLOWLOG, LATENCY and MEMORY, as COMMAND INFO describes them; `run` is cmd-connection.ts's runSubcommand. */
export function observeCommands(run: Runner): CommandSpec[] {
  return [
    { name: 'slowlog', arity: -2, flags: ['admin', 'random', 'loading', 'stale'], keys: NO_KEYS, run: (ctx, args) => run('slowlog', SLOWLOG_SUBCOMMANDS, ctx, args) },
    { name: 'latency', arity: -2, flags: ['admin', 'noscript', 'loading', 'stale'], keys: NO_KEYS, run: (ctx, args) => run('latency', LATENCY_SUBCOMMANDS, ctx, args) },
    // Keys at 2: MEMORY USAGE k runs after the connection's earlier commands on k (key-order.ts).
    { name: 'memory', arity: -2, flags: ['readonly'], keys: [2, 2, 1], run: (ctx, args) => run('memory', MEMORY_SUBCOMMANDS, ctx, args) },
  ];
}

/** The CONFIG parameters of the slow log and the latency monitor, as CONFIG GET lists them. */
export function timerConfig(ctx: RespContext): Array<[string, string]> {
  const { slowlog, latency } = ctx.server.timer;
  return [
    ['slowlog-log-slower-than', String(slowlog.thresholdMicros)], ['slowlog-max-len', String(slowlog.maxLen)],
    ['latency-monitor-threshold', String(latency.thresholdMs)],
  ];
}

/** What CONFIG SET may change: each parameter's range (Redis's, but slowlog-max-len's, bounded so the log stays small). */
const SETTABLE: ReadonlyMap<string, readonly [bigint, bigint]> = new Map([
  ['slowlog-log-slower-than', [-(2n ** 63n), 2n ** 63n - 1n]],
  ['slowlog-max-len', [0n, BigInt(SLOWLOG_MAX_LEN_LIMIT)]],
  ['latency-monitor-threshold', [0n, 2n ** 63n - 1n]],
] as const);

/**
 * CONFIG SET name value [name value ...]: only the slow log's and the latency monitor's
 * parameters, for this proxy process; all are checked before any is set (Redis 7's atomic
 * form). Anything else is an unknown option, as Redis answers one it does not have.
 */
export function configSet(ctx: RespContext, args: Buffer[]): Buffer {
  ctx.door.require('admin', '*', 'config|set');
  if ((args.length - 2) % 2 !== 0) throw new RespCommandError(RespMessages.wrongArgs('config|set'));
  const values = new Map<string, number>();
  for (let i = 2; i < args.length; i += 2) {
    const name = args[i].toString('latin1').toLowerCase();
    const range = SETTABLE.get(name);
    if (range === undefined) throw new RespCommandError(RespMessages.configSetUnknown(args[i].toString('utf8')));
    if (values.has(name)) throw new RespCommandError(RespMessages.configSetFailed(name, 'duplicate parameter'));
    const n = int64ArgOr(args[i + 1], RespMessages.configSetFailed(name, 'argument couldn\'t be parsed into an integer'));
    if (n < range[0] || n > range[1]) throw new RespCommandError(RespMessages.configSetFailed(name, `argument must be between ${range[0]} and ${range[1]} inclusive`));
    values.set(name, Number(n));
  }
  const timer = ctx.server.timer;
  timer.slowlog.maxLen = values.get('slowlog-max-len') ?? timer.slowlog.maxLen;
  timer.configure(values.get('slowlog-log-slower-than') ?? timer.slowlog.thresholdMicros, values.get('latency-monitor-threshold') ?? timer.latency.thresholdMs);
  return Replies.OK;
}
