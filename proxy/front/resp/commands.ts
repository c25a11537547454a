import { performance } from 'node:perf_hooks';
import type { Logger } from '../../../shared/log';
import { CONNECTION_COMMANDS, runSubcommand } from './cmd-connection';
import { observeCommands } from './cmd-observe';
import { KEY_COMMANDS } from './cmd-keys';
import { SERVER_COMMANDS } from './cmd-server';
import { STRING_COMMANDS } from './cmd-strings';
import { HASH_COMMANDS } from './cmd-hashes';
import { SET_COMMANDS } from './cmd-sets';
import { arityAccepts, type CommandSpec, type RespContext } from './context';
import type { ReplySlot } from './reply-queue';
import { RespCommandError, RespMessages, unknownCommandLine } from './errors';
import type { KeyOrder } from './key-order';
import { error } from './reply';

/**
 * The RESP command table and the one place a command runs:
 *
 *   args ─► look up (case-insensitive) ─► arity check ─► key order ─► handler ─► reply slot filled
 *                 └ unknown: Redis's error                          └ RespCommandError ─► its line; anything else ─► logged, ERR internal
 *
 * Never throws: every failure is an error reply. A handler returns its reply bytes (now, or a
 * promise of them), or returns nothing and fills the slot itself (the hot commands: one callback
 * from the data plane, no promise).
 */
export const RESP_COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [...STRING_COMMANDS, ...HASH_COMMANDS, ...SET_COMMANDS, ...KEY_COMMANDS, ...CONNECTION_COMMANDS, ...SERVER_COMMANDS, ...observeCommands(runSubcommand)].map((spec) => [spec.name, spec]),
);

/** The reply to a handler's failure. */
function failureReply(err: unknown, log: Logger, name: string): Buffer {
  if (err instanceof RespCommandError) return error(err.line);
  log.error({ err, command: name }, 'unexpected failure serving a RESP command');
  return error(RespMessages.internal);
}

/**
 * Runs one command (`args[0]` is its name) after earlier commands of the connection on its keys,
 * and fills `slot` with its reply, now or later.
 */
export function runCommand(ctx: RespContext, args: Buffer[], order: KeyOrder, log: Logger, slot: ReplySlot): void {
  const spec = commandOf(ctx.commands, args[0]);
  if (spec === undefined) return slot.fill(error(unknownCommandLine(args[0].toString('utf8'), args)));
  if (!arityAccepts(spec.arity, args.length)) return slot.fill(error(RespMessages.wrongArgs(spec.name)));
  ctx.session.lastCommand = spec.name; // CLIENT LIST's cmd: a constant string, no allocation
  // Commands pipelined behind an AUTH run once it is decided, as Redis runs them in order.
  const authenticating = ctx.session.authenticating;
  if (authenticating !== undefined) {
    void authenticating.then(() => runCommand(ctx, args, order, log, slot));
    return;
  }
  if (ctx.session.principal === undefined && !OPEN_BEFORE_AUTH.has(spec.name) && ctx.door.authRequired) return slot.fill(error(RespMessages.noAuth));
  order.run(spec, args, ctx, invoke, { spec, args, log }, slot);
}

/** The spec of a command name, matched without case; the names of the hot commands without making a string. */
function commandOf(commands: ReadonlyMap<string, CommandSpec>, name: Buffer): CommandSpec | undefined {
  const hot = name.length === 3 ? HOT3 : name.length === 4 ? HOT4 : undefined;
  if (hot !== undefined) {
    for (let i = 0; i < hot.length; i++) if (sameLetters(name, hot[i].bytes)) return commands.get(hot[i].name);
  }
  return commands.get(name.toString('latin1').toLowerCase());
}

const hotNames = (names: string[]): Array<{ name: string; bytes: Buffer }> => names.map((name) => ({ name, bytes: Buffer.from(name) }));
const HOT3 = hotNames(['get', 'set', 'del']);
const HOT4 = hotNames(['incr', 'mget', 'decr']);

/** `name` equals the lower-case ASCII `lower`, ignoring case. */
function sameLetters(name: Buffer, lower: Buffer): boolean {
  for (let i = 0; i < lower.length; i++) if ((name[i] | 0x20) !== lower[i]) return false;
  return true;
}

/** Commands a client may send before it authenticates, as in Redis (HELLO checks its own AUTH option). */
const OPEN_BEFORE_AUTH: ReadonlySet<string> = new Set(['auth', 'hello', 'quit']);

/** What `invoke` needs besides the context (one object per command instead of a closure). */
interface Invocation {
  spec: CommandSpec;
  args: Buffer[];
  log: Logger;
}

/**
 * Runs the handler and fills the slot. Timing for the slow log and the latency monitor
 * (`CommandTimer`), without a clock read on the hot path:
 * - a handler that fills the slot itself went through `RespDoor.call`, which reuses the
 *   dispatcher's measurement (the plain GET, SET, INCR, DEL, MGET...);
 * - a handler answering with a promise (commands of several node operations) is timed from the
 *   promise to its answer: two clock reads, beside the promise and closures it costs anyway;
 * - a handler answering at once (served by the proxy alone: PING, INFO, CLIENT, CONFIG ...) is
 *   timed only while a threshold is 0, when every command is to be logged.
 */
function invoke(ctx: RespContext, { spec, args, log }: Invocation, slot: ReplySlot): void {
  const timer = ctx.server.timer;
  const started = timer.floorSeconds === 0 ? performance.now() : -1;
  try {
    const reply = spec.run(ctx, args, slot);
    if (reply === undefined) return; // the handler fills the slot itself
    if (reply instanceof Promise) {
      const from = started >= 0 ? started : timer.floorSeconds === Infinity ? -1 : performance.now();
      const done = (bytes: Buffer): void => {
        if (from >= 0) observe(ctx, args, from);
        slot.fill(bytes);
      };
      reply.then(done, (err: unknown) => done(failureReply(err, log, spec.name)));
    } else {
      if (started >= 0) observe(ctx, args, started);
      slot.fill(reply);
    }
  } catch (err) {
    if (started >= 0) observe(ctx, args, started);
    slot.fill(failureReply(err, log, spec.name));
  }
}

/** Hands a command timed from `started` (performance.now() ms) to the timer when it reaches its floor. */
function observe(ctx: RespContext, args: readonly Buffer[], started: number): void {
  const seconds = (performance.now() - started) / 1000;
  if (seconds >= ctx.server.timer.floorSeconds) ctx.server.timer.observe(args, seconds, ctx.session, Date.now());
}
