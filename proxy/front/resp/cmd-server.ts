import { REDIS_COMPAT_VERSION, runSubcommand, type Subcommand } from './cmd-connection';
import type { CommandSpec, RespContext } from './context';
import { RespCommandError, RespMessages, RespRefusals } from './errors';
import { word } from './args';
import { compileGlob, globMatches, type Glob } from './glob';
import { infoSections, infoText, type InfoFacts, type KeyspaceFigures, type MemoryFigures } from './info';
import type { NodeStats } from '../../backend';
import { configSet, timerConfig } from './cmd-observe';
import { commandDocs } from './command-docs';
import { array, bulk, bulkArray, integer, map, Replies, simple } from './reply';

/**
 * Server commands: COMMAND (COUNT, DOCS, INFO, LIST), INFO, CONFIG GET, DBSIZE, FLUSHDB,
 * FLUSHALL. Enough for clients and tools that probe a server (redis-cli, redis-benchmark,
 * ioredis's ready check). DBSIZE and the flushes are about the connection's namespace only
 * (namespaces are tenants): DBSIZE adds up every shard's live count of it, FLUSHDB and FLUSHALL
 * invalidate it on every shard.
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
  { name: 'docs', arity: -2, run: (ctx, args) => commandDocs(args.slice(2).map((a) => a.toString('latin1')), ctx.commands, ctx.session.protocol) },
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
    ...timerConfig(ctx),
  ];
}

/** Longest CONFIG GET pattern taken, in bytes (Redis has no bound; every parameter name is far shorter). */
export const MAX_CONFIG_PATTERN_BYTES = 256;

/**
 * A CONFIG GET pattern compiled for matching without case (glob.ts: linear in pattern × name,
 * whatever the pattern); one longer than MAX_CONFIG_PATTERN_BYTES is refused.
 */
export function configPattern(arg: Buffer): Glob {
  return patternArg(arg, true);
}

/**
 * A glob pattern a client sent (CONFIG GET, SCAN MATCH, KEYS), compiled: one longer than
 * MAX_CONFIG_PATTERN_BYTES is refused, so a match costs at most that many steps per byte of text.
 */
export function patternArg(arg: Buffer, nocase: boolean): Glob {
  if (arg.length > MAX_CONFIG_PATTERN_BYTES) throw new RespCommandError(RespRefusals.patternTooLong(MAX_CONFIG_PATTERN_BYTES));
  return compileGlob(arg, nocase);
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

const CONFIG_SUBCOMMANDS: readonly Subcommand[] = [{ name: 'get', arity: -3, run: configGet }, { name: 'set', arity: -4, run: configSet }];

/** The nodes' STATS added up (bytes and maxMemoryBytes of each store); a node without figures counts as failed. */
export function memoryFigures(nodes: readonly NodeStats[]): MemoryFigures {
  const figures: MemoryFigures = { usedBytes: 0, maxBytes: 0, nodes: 0, failed: 0 };
  for (const n of nodes) {
    const { bytes, maxMemoryBytes } = n.stats ?? {};
    if (typeof bytes !== 'number') {
      figures.failed++;
      continue;
    }
    figures.nodes++;
    figures.usedBytes += bytes;
    if (typeof maxMemoryBytes === 'number') figures.maxBytes += maxMemoryBytes;
  }
  return figures;
}

/**
 * INFO keyspace's `db0` figures of the connection's namespace (DBSIZE's, over every shard; shared
 * by the INFOs of the namespace within a second), or undefined, leaving the line out: while auth
 * is on, for a connection without the `read` grant on the namespace; and when a shard did not answer.
 */
async function keyspaceFigures(ctx: RespContext): Promise<KeyspaceFigures | undefined> {
  const ns = ctx.session.ns;
  try {
    ctx.door.require('read', ns, 'info'); // before the shared figures: they are the namespace's readers'
    return await ctx.server.keyspace(ns, () => ctx.server.countKeys(ns));
  } catch {
    return undefined;
  }
}

/**
 * INFO [section ...]: the memory section asks every live node for its STATS first, the keyspace
 * section every shard's primary for the namespace's DBSIZE (INFO's only waits, both at once).
 */
function info(ctx: RespContext, args: Buffer[]): Buffer | Promise<Buffer> {
  const { server } = ctx;
  const asked = args.slice(1).map((a) => a.toString('latin1'));
  const facts: InfoFacts = {
    redisVersion: REDIS_COMPAT_VERSION, port: server.port(), uptimeSeconds: Math.floor((ctx.now() - server.startedAt) / 1000),
    namespace: ctx.session.ns, stats: server.stats, snapshot: server.snapshot(), maxClients: server.limits.maxClients,
    opsPerSec: server.opsPerSec(), cpu: process.cpuUsage(),
  };
  const sections = infoSections(asked);
  const memory = sections.includes('memory') ? server.nodeStats().then(memoryFigures) : undefined;
  const keyspace = sections.includes('keyspace') ? keyspaceFigures(ctx) : undefined;
  if (memory === undefined && keyspace === undefined) return bulk(infoText(facts, asked));
  return Promise.all([memory, keyspace]).then(([m, k]) => {
    if (m !== undefined) facts.memory = m;
    if (k !== undefined) facts.keyspace = k;
    return bulk(infoText(facts, asked));
  });
}

const NO_KEYS = [0, 0, 0] as const;

/**
 * FLUSHDB / FLUSHALL [ASYNC|SYNC]: the namespace's invalidation on every shard, O(1) on each node
 * (entries are reclaimed in the background), so both modes answer once every shard took it. It
 * needs `admin` on the namespace while auth is on, refused as Redis refuses a command by ACL.
 */
async function flush(ctx: RespContext, args: Buffer[]): Promise<Buffer> {
  ctx.door.require('admin', ctx.session.ns, word(args[0]).toLowerCase()); // before the arguments, as Redis checks ACLs first
  if (args.length > 2 || (args.length === 2 && word(args[1]) !== 'ASYNC' && word(args[1]) !== 'SYNC')) throw new RespCommandError(RespMessages.syntax);
  await ctx.door.flush(ctx.session.ns);
  return Replies.OK;
}

/** The server commands, as COMMAND INFO describes them. */
export const SERVER_COMMANDS: readonly CommandSpec[] = [
  {
    name: 'command', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS,
    run: (ctx, args) => (args.length === 1 ? allInfo(ctx) : runSubcommand('command', COMMAND_SUBCOMMANDS, ctx, args)),
  },
  { name: 'info', arity: -1, flags: ['loading', 'stale'], keys: NO_KEYS, run: info },
  { name: 'config', arity: -2, flags: [], keys: NO_KEYS, run: (ctx, args) => runSubcommand('config', CONFIG_SUBCOMMANDS, ctx, args) },
  { name: 'dbsize', keyspace: true, arity: 1, flags: ['readonly', 'fast'], keys: NO_KEYS, run: async (ctx) => integer(await ctx.door.dbsize(ctx.session.ns)) },
  { name: 'flushdb', keyspace: true, arity: -1, flags: ['write'], keys: NO_KEYS, run: flush },
  { name: 'flushall', keyspace: true, arity: -1, flags: ['write'], keys: NO_KEYS, run: flush },
];
