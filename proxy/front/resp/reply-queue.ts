/** Where a command's reply goes once it is known: its slot in the queue. */
export interface ReplySink {
  fill(reply: Buffer): void;
  /** The command's arguments, for the slow log (set by the connection when it reserves the slot). */
  readonly args?: readonly Buffer[];
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
  /** The read batch the slot's command came in (ReplyQueue.nextBatch). */
  batch = 0;
  /** The command's arguments (a reference, no copy), for the slow log. */
  args: readonly Buffer[] | undefined = undefined;
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
 * Bytes of filled replies of one read batch that leave without waiting for the rest of the batch
 * (see `takeReady`): a large pipeline is answered in pieces, a small one in one write.
 */
export const BATCH_HOLD_BYTES = 16 * 1024;

/**
 * Replies of one connection in request order. Commands may complete out of order at the data
 * plane; each reserves a slot when it is read, fills it when done, and `takeReady` hands out the
 * run of filled slots at the head, so replies always leave in the order their requests came.
 * Like Redis, which answers the commands of one read in one write, replies of one read batch
 * (`nextBatch`) wait for each other: a filled run at the head leaves without the part of it that
 * belongs to the batch of the first unfilled slot, unless that part holds BATCH_HOLD_BYTES.
 * At -P 16 over 3 nodes the replies of a batch arrive in up to 3 turns, and writing each turn's
 * part cost ~1.65 writes per batch where one does (docs/performance.md). Pure.
 *
 *   slots: [filled a][filled b][filled b][pending b][filled c] ...   takeReady() ─► a
 */
export class ReplyQueue {
  #slots: ReplySlot[] = [];
  #head = 0;
  #filledBytes = 0;
  #batch = 0;
  readonly #onFill: ((slot: ReplySlot) => void) | undefined;

  /** `onFill` is told of every slot filled, after the queue counted it (the connection flushes). */
  constructor(onFill?: (slot: ReplySlot) => void) {
    this.#onFill = onFill;
  }

  /** Slots reserved from now on belong to a new read batch. */
  nextBatch(): void {
    this.#batch++;
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

  /** Whether a reply can be taken now (`takeReady` would return one). */
  get readyAtHead(): boolean {
    return this.#sendable() > 0;
  }

  /** A slot at the tail, to fill when its command completes. */
  reserve(): ReplySlot {
    const slot = new ReplySlot(this);
    slot.batch = this.#batch;
    this.#slots.push(slot);
    return slot;
  }

  /**
   * Removes and returns the replies that may leave now (see the class), in order, stopping once
   * they add up to `budget` bytes (the first reply is always taken, however large).
   */
  takeReady(budget = Infinity): Buffer[] {
    const out: Buffer[] = [];
    const end = this.#head + this.#sendable();
    let bytes = 0;
    while (this.#head < end && (out.length === 0 || bytes < budget)) {
      const reply = this.#slots[this.#head].reply!;
      out.push(reply);
      bytes += reply.length;
      this.#head++;
    }
    this.#filledBytes -= bytes;
    this.#compact();
    return out;
  }

  /** How many slots from the head may leave now. */
  #sendable(): number {
    const slots = this.#slots;
    const head = this.#head;
    let end = head;
    while (end < slots.length && slots[end].reply !== undefined) end++;
    if (end === slots.length || end === head) return end - head;
    // The run's tail of the first unfilled slot's batch waits for the rest of that batch.
    const batch = slots[end].batch;
    let cut = end;
    let bytes = 0;
    while (cut > head && slots[cut - 1].batch === batch) {
      bytes += slots[cut - 1].reply!.length;
      if (bytes >= BATCH_HOLD_BYTES) return end - head;
      cut--;
    }
    return cut - head;
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
