const LF = 0x0a;
const CR = 0x0d;

/**
 * The bytes a RESP connection has received and not yet parsed, kept as the TCP chunks they came
 * in (never concatenated on arrival). Pure: no sockets.
 *
 *   chunks: [ ..consumed..|head ][ chunk ][ chunk ][ tail ]
 *                          ^ offset       scan ─────►  (where the search for '\n' resumes)
 *
 * What stays true: every byte is copied at most once (when `take` spans chunks), a search for a
 * line end never looks at a byte twice, and nothing is allocated that was not already received.
 */
export class ChunkQueue {
  #chunks: Buffer[] = [];
  /** Index of the first chunk still holding unconsumed bytes. */
  #head = 0;
  /** Consumed bytes of the head chunk. */
  #offset = 0;
  #length = 0;
  /** Resume point of `indexOfNewline`: chunk index, offset in it, and bytes already scanned. */
  #scanChunk = 0;
  #scanOffset = 0;
  #scanned = 0;

  /** Unconsumed bytes. */
  get length(): number {
    return this.#length;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#length === 0) this.clear();
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** The first unconsumed byte; the caller checks `length > 0` first. */
  peek(): number {
    return this.#chunks[this.#head][this.#offset];
  }

  /**
   * Offset (from the first unconsumed byte) of the first '\n', -1 when there is none yet, or -2
   * when none appears within the first `limit` bytes. Resumes where the previous call stopped.
   */
  indexOfNewline(limit: number): number {
    while (this.#scanChunk < this.#chunks.length) {
      const chunk = this.#chunks[this.#scanChunk];
      const found = chunk.indexOf(LF, this.#scanOffset);
      if (found >= 0) {
        const at = this.#scanned + (found - this.#scanOffset);
        return at > limit ? -2 : at;
      }
      this.#scanned += chunk.length - this.#scanOffset;
      this.#scanChunk++;
      this.#scanOffset = 0;
    }
    return this.#scanned > limit ? -2 : -1;
  }

  /** Removes and returns the next `n` bytes (n <= length): a view when they lie in one chunk, else one copy. */
  take(n: number): Buffer {
    const head = this.#chunks[this.#head];
    if (this.#offset + n <= head.length) {
      const view = head.subarray(this.#offset, this.#offset + n);
      this.skip(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[this.#head];
      const copied = chunk.copy(out, filled, this.#offset, Math.min(chunk.length, this.#offset + n - filled));
      filled += copied;
      this.skip(copied);
    }
    return out;
  }

  /**
   * Consumes the line whose '\n' is `at` bytes ahead and returns `read(bytes, start, end)` over it,
   * `end` excluding the CR LF (or a lone LF). When the line lies in one chunk it is read in place,
   * without a view; across chunks it is copied once, as `take` does.
   */
  consumeLine<T>(at: number, read: (bytes: Buffer, start: number, end: number) => T): T {
    const head = this.#chunks[this.#head];
    let bytes: Buffer;
    let start: number;
    if (this.#offset + at < head.length) {
      bytes = head;
      start = this.#offset;
    } else {
      bytes = this.take(at + 1);
      start = 0;
    }
    const lf = start + at;
    const end = at > 0 && bytes[lf - 1] === CR ? lf - 1 : lf;
    const value = read(bytes, start, end);
    if (bytes === head) this.skip(at + 1);
    return value;
  }

  /** Drops the next `n` bytes (n <= length). */
  skip(n: number): void {
    this.#length -= n;
    let left = n;
    while (left > 0) {
      const room = this.#chunks[this.#head].length - this.#offset;
      if (left < room) {
        this.#offset += left;
        break;
      }
      left -= room;
      this.#head++;
      this.#offset = 0;
    }
    if (this.#length === 0) return this.clear();
    this.#compact();
    this.#resetScan();
  }

  /** Forgets everything. */
  clear(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#offset = 0;
    this.#length = 0;
    this.#resetScan();
  }

  /** Drops consumed chunks from the array once they are most of it (amortised O(1) per chunk). */
  #compact(): void {
    if (this.#head < 64 || this.#head * 2 < this.#chunks.length) return;
    this.#chunks = this.#chunks.slice(this.#head);
    this.#head = 0;
  }

  #resetScan(): void {
    this.#scanChunk = this.#head;
    this.#scanOffset = this.#offset;
    this.#scanned = 0;
  }
}
