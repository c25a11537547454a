import type { Logger } from '../../../shared/log';
import { CONNECTION_COMMANDS } from './cmd-connection';
import { KEY_COMMANDS } from './cmd-keys';
import { SERVER_COMMANDS } from './cmd-server';
import { STRING_COMMANDS } from './cmd-strings';
import { arityAccepts, type CommandSpec, type ReplyBytes, type RespContext } from './context';
import { RespCommandError, RespMessages, unknownCommandLine } from './errors';
import { keysOf, type KeyOrder } from './key-order';
import { error } from './reply';

/**
 * The RESP command table and the one place a command runs:
 *
 *   args ─► look up (case-insensitive) ─► arity check ─► key order ─► handler ─► reply bytes
 *                 └ unknown: Redis's error                          └ RespCommandError ─► its line; anything else ─► logged, ERR internal
 *
 * Never throws and never rejects: every failure is an error reply.
 */
export const RESP_COMMANDS: ReadonlyMap<string, CommandSpec> = new Map(
  [...STRING_COMMANDS, ...KEY_COMMANDS, ...CONNECTION_COMMANDS, ...SERVER_COMMANDS].map((spec) => [spec.name, spec]),
);

/** The reply to a handler's failure. */
function failureReply(err: unknown, log: Logger, name: string): Buffer {
  if (err instanceof RespCommandError) return error(err.line);
  log.error({ err, command: name }, 'unexpected failure serving a RESP command');
  return error(RespMessages.internal);
}

/** Runs one command (`args[0]` is its name) after earlier commands of the connection on its keys. */
export function runCommand(ctx: RespContext, args: Buffer[], order: KeyOrder, log: Logger): ReplyBytes {
  const name = args[0].toString('latin1').toLowerCase();
  const spec = ctx.commands.get(name);
  if (spec === undefined) return error(unknownCommandLine(args[0].toString('utf8'), args));
  if (!arityAccepts(spec.arity, args.length)) return error(RespMessages.wrongArgs(spec.name));
  // Commands pipelined behind an AUTH run once it is decided, as Redis runs them in order.
  const authenticating = ctx.session.authenticating;
  if (authenticating !== undefined) return authenticating.then(() => runCommand(ctx, args, order, log));
  if (ctx.session.principal === undefined && !OPEN_BEFORE_AUTH.has(spec.name) && ctx.door.authRequired) return error(RespMessages.noAuth);
  return order.run(keysOf(spec, args), ctx, invoke, { spec, args, log });
}

/** Commands a client may send before it authenticates, as in Redis (HELLO checks its own AUTH option). */
const OPEN_BEFORE_AUTH: ReadonlySet<string> = new Set(['auth', 'hello', 'quit']);

/** What `invoke` needs besides the context (one object per command instead of a closure). */
interface Invocation {
  spec: CommandSpec;
  args: Buffer[];
  log: Logger;
}

function invoke(ctx: RespContext, { spec, args, log }: Invocation): ReplyBytes {
  try {
    const reply = spec.run(ctx, args);
    return reply instanceof Promise ? reply.catch((err: unknown) => failureReply(err, log, spec.name)) : reply;
  } catch (err) {
    return failureReply(err, log, spec.name);
  }
}
