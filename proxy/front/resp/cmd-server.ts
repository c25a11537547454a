import { REDIS_COMPAT_VERSION, runSubcommand, type Subcommand } from './cmd-connection';
import type { CommandSpec, RespContext } from './context';
import { RespCommandError, RespRefusals } from './errors';
import { compileGlob, globMatches, type Glob } from './glob';
import { infoText } from './info';
import { array, bulk, bulkArray, integer, map, Replies, simple } from './reply';

/**
 * Server commands: COMMAND (COUNT, DOCS, INFO, LIST), INFO, CONFIG GET, DBSIZE. Enough for
 * clients and tools that probe a server (redis-cli, redis-benchmark, ioredis's ready check).
 *
 * DBSIZE answers 0: the proxy has no count of the cluster's keys (item counts are on each
 * storage node's admin /metrics), and Redis clients take 0 better than an error.
 */

/** COMMAND INFO's entry: name, arity, flags, first/last key, step, then empty ACL categories, tips, key specs, sub-commands. */
function commandInfo(spec: CommandSpec): Buffer {
  const [first, last, step] = spec.keys;
  return array([
    bulk(spec.name), integer(spec.arity), array(spec.flags.map(simple)), integer(first), integer(last), integer(step),
    Replies.EMPTY_ARRAY, Replies.EMPTY_ARRAY, Replies.EMPTY_ARRAY, Replies.EMPTY_ARRAY,
  ]);
}

const allInfo = (ctx: RespContext): Buffer => array([...ctx.commands.values()].map(commandInfo));

const COMMAND_SUBCOMMANDS: readonly Subcommand[] = [
  { name: 'count', arity: 2, run: (ctx) => integer(ctx.commands.size) },
  { name: 'docs', arity: -2, run: (ctx) => map([], ctx.session.protocol) },
  { name: 'list', arity: -2, run: (ctx) => bulkArray([...ctx.commands.keys()]) },
  {
    name: 'info', arity: -2,
    run: (ctx, args) => {
      if (args.length === 2) return allInfo(ctx);
      return array(args.slice(2).map((a) => {
        const spec = ctx.commands.get(a.toString('latin1').toLowerCase());
        return spec === undefined ? Replies.NULL_ARRAY : commandInfo(spec);
      }));
    },
  },
];

/** CONFIG GET's parameters: what a tool may ask (redis-benchmark asks `save` and `appendonly`). */
function configTable(ctx: RespContext): Array<[string, string]> {
  const { limits } = ctx.server;
  return [
    ['appendonly', 'no'], ['save', ''], ['databases', '1'], ['port', String(ctx.server.port())],
    ['proto-max-bulk-len', String(limits.maxBulkBytes)], ['client-query-buffer-limit', String(limits.maxQueryBytes)],
    ['maxclients', String(limits.maxClients)], ['timeout', String(Math.floor(limits.idleTimeoutMs / 1000))],
  ];
}

/** Longest CONFIG GET pattern taken, in bytes (Redis has no bound; every parameter name is far shorter). */
export const MAX_CONFIG_PATTERN_BYTES = 256;

/**
 * A CONFIG GET pattern compiled for matching without case (glob.ts: linear in pattern × name,
 * whatever the pattern); one longer than MAX_CONFIG_PATTERN_BYTES is refused.
 */
export function configPattern(arg: Buffer): Glob {
  if (arg.length > MAX_CONFIG_PATTERN_BYTES) throw new RespCommandError(RespRefusals.patternTooLong(MAX_CONFIG_PATTERN_BYTES));
  return compileGlob(arg, true);
}

/** Most patterns one CONFIG GET may carry: each costs a compile and a match per parameter. */
export const MAX_CONFIG_PATTERNS = 64;

/** CONFIG GET pattern...: patterns are compiled one at a time, so one call holds one compiled pattern. */
function configGet(ctx: RespContext, args: Buffer[]): Buffer {
  if (args.length - 2 > MAX_CONFIG_PATTERNS) throw new RespCommandError(RespRefusals.tooManyPatterns(MAX_CONFIG_PATTERNS));
  const table = configTable(ctx);
  const names = table.map(([name]) => Buffer.from(name, 'latin1'));
  const hit = new Array<boolean>(table.length).fill(false);
  for (let i = 2; i < args.length; i++) {
    const glob = configPattern(args[i]);
    for (let j = 0; j < names.length; j++) hit[j] ||= globMatches(glob, names[j]);
  }
  return map(table.filter((_, j) => hit[j]).map(([name, value]) => [bulk(name), bulk(value)] as const), ctx.session.protocol);
}

const CONFIG_SUBCOMMANDS: readonly Subcommand[] = [{ name: 'get', arity: -3, run: configGet }];

function info(ctx: RespContext, args: Buffer[]): Buffer {
  const { server } = ctx;
  return bulk(infoText({
    redisVersion: REDIS_COMPAT_VERSION, port: server.port(), uptimeSeconds: Math.floor((ctx.now() - server.startedAt) / 1000),
    namespace: ctx.session.ns, stats: server.stats, snapshot: server.snapshot(),
  }, args.slice(1).map((a) => a.toString('latin1'))));
}

const NO_KEYS = [0, 0, 0] as const;

/** The server commands, as COMMAND INFO describes them. */
export const SERVER_COMMANDS: readonly CommandSpec[] = [
  {
    name: 'command', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS,
    run: (ctx, args) => (args.length === 1 ? allInfo(ctx) : runSubcommand('command', COMMAND_SUBCOMMANDS, ctx, args)),
  },
  { name: 'info', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS, run: info },
  { name: 'config', arity: -2, flags: [], keys: NO_KEYS, run: (ctx, args) => runSubcommand('config', CONFIG_SUBCOMMANDS, ctx, args) },
  { name: 'dbsize', arity: 1, flags: ['readonly', 'fast'], keys: NO_KEYS, run: () => Replies.ZERO },
];
