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
  readonly #tails = new Map<string, Promise<void>>();

  /** Keys still held by unfinished commands (for tests). */
  get held(): number {
    return this.#tails.size;
  }

  /** Runs `fn` once every earlier command naming one of `keys` has completed. */
  run(keys: readonly string[], ctx: RespContext, fn: (ctx: RespContext) => ReplyBytes): ReplyBytes {
    const waits: Array<Promise<void>> = [];
    for (const key of keys) {
      const tail = this.#tails.get(key);
      if (tail !== undefined) waits.push(tail);
    }
    const frozen = waits.length === 0 ? ctx : { ...ctx, session: { ...ctx.session } };
    const reply = waits.length === 0 ? fn(ctx) : Promise.all(waits).then(() => fn(frozen));
    if (reply instanceof Promise && keys.length > 0) this.#hold(keys, reply);
    return reply;
  }

  #hold(keys: readonly string[], reply: Promise<Buffer>): void {
    const done = reply.then(() => undefined, () => undefined);
    for (const key of keys) this.#tails.set(key, done);
    void done.then(() => {
      for (const key of keys) if (this.#tails.get(key) === done) this.#tails.delete(key);
    });
  }
}

/** The keys a command names, from its COMMAND INFO key positions (first, last, step). */
export function keysOf(spec: CommandSpec, args: readonly Buffer[]): string[] {
  const [first, last, step] = spec.keys;
  if (first === 0 || step <= 0) return [];
  const end = last < 0 ? args.length + last : Math.min(last, args.length - 1);
  const keys = new Set<string>();
  for (let i = first; i <= end; i += step) keys.add(args[i].toString('latin1'));
  return [...keys];
}
