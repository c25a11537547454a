import type { CommandSpec, ReplyBytes, RespContext } from './context';

/**
 * Read-your-writes on one connection while its commands run concurrently. Redis runs a
 * connection's commands one after the other; the proxy runs them at once (each may go to another
 * node), so a pipelined `SET k v` then `GET k` could otherwise overtake each other. A command
 * therefore waits for every earlier command of the same connection that names one of its keys;
 * commands on other keys, and commands without keys, start at once. Replies are ordered
 * separately (ReplyQueue).
 *
 *   SET a ─────────────►|
 *   GET b ───►|            (independent: runs at once)
 *   GET a       waits ──►|─────►|
 *
 * A delayed command sees the connection's session as it was when the command arrived (a later
 * AUTH does not change the namespace of a command read before it). Owns one map of key → the
 * completion of the last command naming it; entries leave when that command completes.
 */
export class KeyOrder {
  /** key → reply of the last command naming it (replies never reject: see runCommand). */
  readonly #tails = new Map<string, Promise<Buffer>>();

  /** Keys still held by unfinished commands (for tests). */
  get held(): number {
    return this.#tails.size;
  }

  /**
   * Runs `fn(ctx, arg)` once every earlier command naming one of `keys` has completed. `fn` must
   * not throw, and its promise must not reject. (`fn` and `arg` instead of a closure: this runs
   * once per command.)
   */
  run<A>(keys: readonly string[], ctx: RespContext, fn: (ctx: RespContext, arg: A) => ReplyBytes, arg: A): ReplyBytes {
    let waits: Array<Promise<Buffer>> | undefined;
    for (let i = 0; i < keys.length; i++) {
      const tail = this.#tails.get(keys[i]);
      if (tail !== undefined) (waits ??= []).push(tail);
    }
    let reply: ReplyBytes;
    if (waits === undefined) reply = fn(ctx, arg);
    else {
      const frozen = { ...ctx, session: { ...ctx.session } };
      reply = (waits.length === 1 ? waits[0] : Promise.all(waits)).then(() => fn(frozen, arg));
    }
    if (reply instanceof Promise && keys.length > 0) this.#hold(keys, reply);
    return reply;
  }

  /** Holds `keys` until `reply` settles: one continuation per command, whatever its key count. */
  #hold(keys: readonly string[], reply: Promise<Buffer>): void {
    const tails = this.#tails;
    for (let i = 0; i < keys.length; i++) tails.set(keys[i], reply);
    void reply.then(() => {
      for (let i = 0; i < keys.length; i++) if (tails.get(keys[i]) === reply) tails.delete(keys[i]);
    });
  }
}

/** The keys a command names, from its COMMAND INFO key positions (first, last, step). */
export function keysOf(spec: CommandSpec, args: readonly Buffer[]): string[] {
  const [first, last, step] = spec.keys;
  if (first === 0 || step <= 0) return [];
  if (first === last) return first < args.length ? [args[first].toString('latin1')] : [];
  const end = last < 0 ? args.length + last : Math.min(last, args.length - 1);
  const keys = new Set<string>();
  for (let i = first; i <= end; i += step) keys.add(args[i].toString('latin1'));
  return [...keys];
}
