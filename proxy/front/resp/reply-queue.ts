/** One command's place in the queue. */
export class ReplySlot {
  readonly #onFill: (bytes: number) => void;
  #reply: Buffer | undefined;

  constructor(onFill: (bytes: number) => void) {
    this.#onFill = onFill;
  }

  get reply(): Buffer | undefined {
    return this.#reply;
  }

  /** Sets the reply (once; later calls are ignored). */
  fill(reply: Buffer): void {
    if (this.#reply !== undefined) return;
    this.#reply = reply;
    this.#onFill(reply.length);
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
  readonly #onFill = (bytes: number): void => {
    this.#filledBytes += bytes;
  };

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
    const slot = new ReplySlot(this.#onFill);
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
