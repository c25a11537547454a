/** Where a command's reply goes once it is known: its slot in the queue. */
export interface ReplySink {
  fill(reply: Buffer): void;
}

/** One command's place in the queue. */
export class ReplySlot implements ReplySink {
  readonly #queue: ReplyQueue;
  #reply: Buffer | undefined;
  /** Hashes of the keys the slot's command holds in its connection's KeyOrder until it is filled (one key: `heldOne`). */
  held: readonly number[] | undefined = undefined;
  heldOne = -1;
  /** The KeyOrder run that last listed this slot among those a command waits for. */
  waitMark = 0;
  /** Commands waiting for this one (KeyOrder; rare: a key named again while in flight). */
  #waiters: Array<() => void> | undefined;

  constructor(queue: ReplyQueue) {
    this.#queue = queue;
  }

  get reply(): Buffer | undefined {
    return this.#reply;
  }

  /** Sets the reply (once; later calls are ignored), then tells the queue's owner and the waiters. */
  fill(reply: Buffer): void {
    if (this.#reply !== undefined) return;
    this.#reply = reply;
    this.#queue.filled(this, reply.length);
    const waiters = this.#waiters;
    if (waiters === undefined) return;
    this.#waiters = undefined;
    for (let i = 0; i < waiters.length; i++) waiters[i]();
  }

  /** Calls `fn` once the slot is filled (now if it is). */
  whenFilled(fn: () => void): void {
    if (this.#reply !== undefined) fn();
    else (this.#waiters ??= []).push(fn);
  }
}

/**
 * Replies of one connection in request order. Commands may complete out of order at the data
 * plane; each reserves a slot when it is read, fills it when done, and `takeReady` hands out the
 * run of filled slots at the head, so replies always leave in the order their requests came.
 * Pure.
 *
 *   slots: [filled][filled][pending][filled] ...   takeReady() ─► the first two
 */
export class ReplyQueue {
  #slots: ReplySlot[] = [];
  #head = 0;
  #filledBytes = 0;
  readonly #onFill: ((slot: ReplySlot) => void) | undefined;

  /** `onFill` is told of every slot filled, after the queue counted it (the connection flushes). */
  constructor(onFill?: (slot: ReplySlot) => void) {
    this.#onFill = onFill;
  }

  /** A slot of this queue was filled with `bytes` (ReplySlot.fill). */
  filled(slot: ReplySlot, bytes: number): void {
    this.#filledBytes += bytes;
    this.#onFill?.(slot);
  }

  /** Slots reserved and not yet taken (the connection's unanswered commands plus unsent replies). */
  get size(): number {
    return this.#slots.length - this.#head;
  }

  /** Bytes of replies filled but not yet taken. */
  get filledBytes(): number {
    return this.#filledBytes;
  }

  /** Whether the head slot is filled (a reply can be taken now). */
  get readyAtHead(): boolean {
    return this.#head < this.#slots.length && this.#slots[this.#head].reply !== undefined;
  }

  /** A slot at the tail, to fill when its command completes. */
  reserve(): ReplySlot {
    const slot = new ReplySlot(this);
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Removes and returns the filled replies at the head, in order, stopping once they add up to
   * `budget` bytes (the first reply is always taken, however large).
   */
  takeReady(budget = Infinity): Buffer[] {
    const out: Buffer[] = [];
    let bytes = 0;
    while (this.#head < this.#slots.length && (out.length === 0 || bytes < budget)) {
      const reply = this.#slots[this.#head].reply;
      if (reply === undefined) break;
      out.push(reply);
      bytes += reply.length;
      this.#head++;
    }
    this.#filledBytes -= bytes;
    this.#compact();
    return out;
  }

  #compact(): void {
    if (this.#head === this.#slots.length) {
      this.#slots = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
  }
}
