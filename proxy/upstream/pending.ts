/**
 * Called once per request: with the reply, or with the error that ended it. With a reply comes
 * `elapsedMs`, from the write that carried the request to the read of the chunk that carried its
 * reply (one clock reading per write and per chunk, not two per request).
 */
export type ReplyCallback = (err: Error | null, reply?: unknown[], elapsedMs?: number) => void;

/**
 * The requests of one pipelined link awaiting their replies, oldest first, with deadlines and no
 * timer per request. Pure: the owner passes the clock reading in.
 *
 *        head            live                       tail
 *   ... [ expired expired | waiting waiting waiting ] ...
 *         └ reply due, caller already told TIMEOUT    └ next push
 *
 * Replies arrive in request order, so an arriving reply always belongs to `head`. Every request
 * of a link has the same timeout, so deadlines never decrease from head to tail and expiring
 * looks only at the first waiting entries: `expire(now)` is O(expired), whatever the queue length.
 * An expired entry stays until its late reply arrives (`shift` then hands back null: the reply is
 * dropped) or the link closes; that is how a link survives a timeout without losing its place.
 * Storage is a ring of typed arrays that doubles when full: pushing allocates nothing.
 * guards: ids, deadlines, opcodes, write times, callbacks of one link.
 */
export class PendingQueue {
  #ids: Float64Array;
  #deadlines: Float64Array;
  /** Opcode of each request (the link reads some replies in place by their request's op). */
  #ops: Uint8Array;
  /** When each request was written (`markWritten`). */
  #writtenAt: Float64Array;
  #cbs: Array<ReplyCallback | null>;
  #mask: number;
  /** Counters, never wrapped (2^53 requests is out of reach); slot = counter & mask. */
  #head = 0;
  #live = 0;
  #tail = 0;
  /** Entries from here to the tail are not written yet. */
  #unwritten = 0;

  constructor(initialCapacity = 64) {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(2, initialCapacity)));
    this.#ids = new Float64Array(capacity);
    this.#deadlines = new Float64Array(capacity);
    this.#ops = new Uint8Array(capacity);
    this.#writtenAt = new Float64Array(capacity);
    this.#cbs = new Array<ReplyCallback | null>(capacity).fill(null);
    this.#mask = capacity - 1;
  }

  /** Entries awaiting a reply, expired ones included (what the node still owes). */
  get size(): number {
    return this.#tail - this.#head;
  }

  /** Entries whose caller still waits (not expired). */
  get waiting(): number {
    return this.#tail - this.#live;
  }

  /** Entries that expired and still await their late reply. */
  get expired(): number {
    return this.#live - this.#head;
  }

  /** Id of the oldest entry (the one the next reply must carry), or -1 when empty. */
  get headId(): number {
    return this.#tail > this.#head ? this.#ids[this.#head & this.#mask] : -1;
  }

  /** Opcode of the oldest entry's request, or -1 when empty. */
  get headOp(): number {
    return this.#tail > this.#head ? this.#ops[this.#head & this.#mask] : -1;
  }

  /** When the oldest entry was written (see `markWritten`); undefined when empty. */
  get headWrittenAt(): number | undefined {
    return this.#tail > this.#head ? this.#writtenAt[this.#head & this.#mask] : undefined;
  }

  /** The entries pushed since the last call were written at `now` (one write carries them all). */
  markWritten(now: number): void {
    for (let c = Math.max(this.#unwritten, this.#head); c < this.#tail; c++) this.#writtenAt[c & this.#mask] = now;
    this.#unwritten = this.#tail;
  }

  /** Deadline of the oldest entry, expired or not; undefined when empty. */
  get oldestDeadline(): number | undefined {
    return this.#tail > this.#head ? this.#deadlines[this.#head & this.#mask] : undefined;
  }

  /** Adds a request of opcode `op`. `deadline` must not be earlier than the last one pushed. */
  push(id: number, deadline: number, cb: ReplyCallback, op = 0): void {
    if (this.#tail - this.#head > this.#mask) this.#grow();
    const slot = this.#tail & this.#mask;
    this.#ids[slot] = id;
    this.#deadlines[slot] = deadline;
    this.#ops[slot] = op;
    this.#cbs[slot] = cb;
    this.#tail++;
  }

  /** Removes the oldest entry for its arriving reply; returns its callback, or null when it had expired. Call only when `size > 0`. */
  shift(): ReplyCallback | null {
    const slot = this.#head & this.#mask;
    const cb = this.#cbs[slot];
    this.#cbs[slot] = null;
    if (this.#live === this.#head) this.#live++;
    this.#head++;
    return cb;
  }

  /** Ends every waiting entry whose deadline is ≤ now with `fail(cb)`; returns how many. */
  expire(now: number, fail: (cb: ReplyCallback) => void): number {
    let count = 0;
    while (this.#live < this.#tail) {
      const slot = this.#live & this.#mask;
      if (this.#deadlines[slot] > now) break;
      const cb = this.#cbs[slot];
      this.#cbs[slot] = null;
      this.#live++;
      count++;
      if (cb !== null) fail(cb);
    }
    return count;
  }

  /** Empties the queue (the link closed); returns the callbacks of the waiting entries, oldest first. */
  clear(): ReplyCallback[] {
    const waiting: ReplyCallback[] = [];
    for (let c = this.#live; c < this.#tail; c++) {
      const cb = this.#cbs[c & this.#mask];
      if (cb !== null) waiting.push(cb);
    }
    this.#cbs.fill(null);
    this.#head = this.#live = this.#unwritten = this.#tail;
    return waiting;
  }

  /** Doubles the ring; counters keep their meaning, so a caller iterating by counter is unaffected. */
  #grow(): void {
    const oldMask = this.#mask;
    const capacity = (oldMask + 1) * 2;
    const ids = new Float64Array(capacity);
    const deadlines = new Float64Array(capacity);
    const ops = new Uint8Array(capacity);
    const writtenAt = new Float64Array(capacity);
    const cbs = new Array<ReplyCallback | null>(capacity).fill(null);
    const mask = capacity - 1;
    for (let c = this.#head; c < this.#tail; c++) {
      ids[c & mask] = this.#ids[c & oldMask];
      deadlines[c & mask] = this.#deadlines[c & oldMask];
      ops[c & mask] = this.#ops[c & oldMask];
      writtenAt[c & mask] = this.#writtenAt[c & oldMask];
      cbs[c & mask] = this.#cbs[c & oldMask];
    }
    this.#ids = ids;
    this.#deadlines = deadlines;
    this.#ops = ops;
    this.#writtenAt = writtenAt;
    this.#cbs = cbs;
    this.#mask = mask;
  }
}
