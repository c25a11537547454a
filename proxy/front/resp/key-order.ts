import type { CommandSpec, RespContext } from './context';
import { OpenTable } from '../../open-table';
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
 * A key-space command (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHDB) waits for every earlier keyed
 * command, and every later command on keys, or on the key space, waits for it: `SET a 1`,
 * `FLUSHDB`, `SET b 2` pipelined leave b alone and a gone, as in Redis.
 *
 * A delayed command sees the connection's session as it was when the command arrived (a later
 * AUTH does not change the namespace of a command read before it). Owns one map of a key's hash
 * → the reply slot of the last command naming it; entries leave when that slot is filled (`release`,
 * from the connection's reply queue). No promise: a command waits on slots, not on replies.
 */
export class KeyOrder {
  /**
   * hash of a key → slot of the last unfinished command naming it (the hash is the table's key
   * too). An OpenTable, not a Map: it changes on every command (open-table.ts).
   */
  readonly #tails = new OpenTable<number, ReplySlot>();
  /** Numbers each `run`, so a slot a command waits for is listed once (`ReplySlot.waitMark`). */
  #runs = 0;
  /** The slot of the last unfinished key-space command (`CommandSpec.keyspace`): every later command waits for it. */
  #barrier: ReplySlot | undefined;

  /** Keys still held by unfinished commands (for tests). */
  get held(): number {
    return this.#tails.size;
  }

  /**
   * Runs `fn(ctx, arg, slot)` once every earlier command naming one of the keys of `spec` in
   * `args` has filled its slot, and holds those keys until `slot` is filled (`release`). `fn`
   * must not throw and must fill `slot` once. (`fn` and `arg` instead of a closure: this runs once
   * per command.)
   */
  run<A>(spec: CommandSpec, args: readonly Buffer[], ctx: RespContext, fn: (ctx: RespContext, arg: A, slot: ReplySlot) => void, arg: A, slot: ReplySlot): void {
    const [first, last, step] = spec.keys;
    const tails = this.#tails;
    let one = -1;
    let hashes: number[] | undefined;
    let waits: ReplySlot[] | undefined;
    if (first > 0 && step > 0 && first < args.length) {
      const end = last < 0 ? args.length + last : Math.min(last, args.length - 1);
      if (end === first) one = hashKey(args[first]);
      else {
        hashes = [];
        for (let i = first; i <= end; i += step) hashes.push(hashKey(args[i]));
      }
      if (hashes === undefined) {
        const tail = tails.get(one, one);
        if (tail !== undefined && tail.reply === undefined) waits = [tail];
      } else {
        // Each slot once, in O(keys): a command may name 10,000s of keys held by as many commands.
        const mark = ++this.#runs;
        for (let i = 0; i < hashes.length; i++) {
          const tail = tails.get(hashes[i], hashes[i]);
          if (tail === undefined || tail.reply !== undefined || tail.waitMark === mark) continue;
          tail.waitMark = mark;
          (waits ??= []).push(tail);
        }
      }
    }
    // Commands that touch data wait for an unfinished key-space command; the others (AUTH, HELLO,
    // CLIENT, PING, ...) run at once: they change the live session, which a waiting command
    // would only see a copy of.
    const barrier = this.#barrier;
    if (barrier !== undefined && barrier.reply === undefined && (first > 0 || spec.keyspace === true) && !(waits?.includes(barrier) ?? false)) (waits ??= []).push(barrier);
    if (spec.keyspace === true) {
      // After every earlier keyed command still in flight (each key's last one: earlier ones on
      // that key finish before it).
      const mark = ++this.#runs;
      if (waits !== undefined) for (const w of waits) w.waitMark = mark;
      for (const tail of tails.values()) {
        if (tail.reply !== undefined || tail.waitMark === mark) continue;
        tail.waitMark = mark;
        (waits ??= []).push(tail);
      }
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
    if (slot.reply !== undefined) return;
    if (spec.keyspace === true) this.#barrier = slot;
    if (hashes !== undefined) {
      slot.held = hashes;
      for (let i = 0; i < hashes.length; i++) tails.set(hashes[i], hashes[i], slot);
    } else if (one >= 0) {
      slot.heldOne = one;
      tails.set(one, one, slot);
    }
  }

  /** `slot` was filled: the keys it held are free (unless a later command holds them). */
  release(slot: ReplySlot): void {
    if (this.#barrier === slot) this.#barrier = undefined;
    const tails = this.#tails;
    const one = slot.heldOne;
    if (one >= 0) {
      slot.heldOne = -1;
      tails.delete(one, one, slot);
    }
    const hashes = slot.held;
    if (hashes === undefined) return;
    slot.held = undefined;
    for (let i = 0; i < hashes.length; i++) tails.delete(hashes[i], hashes[i], slot);
  }
}

/**
 * A key's 31-bit FNV-1a hash, read from its bytes (no string is made). Two keys that share a hash
 * only wait for each other: ordering is kept, never broken. Written by hand: it runs once per key
 * of every command, and a Map keyed by small integers skips hashing a fresh string per lookup.
 */
export function hashKey(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i], 0x01000193);
  return h >>> 1;
}
