import type { CommandSpec, RespContext } from './context';
import type { ReplySlot } from './reply-queue';

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
 * reply slot of the last command naming it; entries leave when that slot is filled (`release`,
 * from the connection's reply queue). No promise: a command waits on slots, not on replies.
 */
export class KeyOrder {
  /** key → slot of the last unfinished command naming it. */
  readonly #tails = new Map<string, ReplySlot>();

  /** Keys still held by unfinished commands (for tests). */
  get held(): number {
    return this.#tails.size;
  }

  /**
   * Runs `fn(ctx, arg, slot)` once every earlier command naming one of `keys` has filled its slot,
   * and holds `keys` until `slot` is filled (`release`). `fn` must not throw and must fill `slot`
   * once. (`fn` and `arg` instead of a closure: this runs once per command.)
   */
  run<A>(keys: readonly string[], ctx: RespContext, fn: (ctx: RespContext, arg: A, slot: ReplySlot) => void, arg: A, slot: ReplySlot): void {
    let waits: ReplySlot[] | undefined;
    for (let i = 0; i < keys.length; i++) {
      const tail = this.#tails.get(keys[i]);
      if (tail !== undefined && tail.reply === undefined) (waits ??= []).push(tail);
    }
    if (waits === undefined) fn(ctx, arg, slot);
    else {
      const frozen = { ...ctx, session: { ...ctx.session } };
      let left = waits.length;
      const go = (): void => {
        if (--left === 0) fn(frozen, arg, slot);
      };
      for (const tail of waits) tail.whenFilled(go);
    }
    if (slot.reply !== undefined || keys.length === 0) return;
    slot.held = keys;
    for (let i = 0; i < keys.length; i++) this.#tails.set(keys[i], slot);
  }

  /** `slot` was filled: the keys it held are free (unless a later command holds them). */
  release(slot: ReplySlot): void {
    const keys = slot.held;
    if (keys === undefined) return;
    slot.held = undefined;
    const tails = this.#tails;
    for (let i = 0; i < keys.length; i++) if (tails.get(keys[i]) === slot) tails.delete(keys[i]);
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
