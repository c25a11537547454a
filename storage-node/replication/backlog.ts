/**
 * The replication backlog: the last `capacity` bytes of the replication stream, addressed by
 * absolute byte offsets. Pure (no sockets, no timers).
 *
 *   offsets:   start ............................ end
 *   ring:      [ ...tail of stream | oldest held ... ]   byte at offset o lives at o % capacity
 *
 * Guards: `start <= end`, `end - start <= capacity`; the bytes of offsets [start, end) are held
 * exactly as appended. Appending past the capacity drops the oldest bytes (start moves up). A
 * frame longer than the whole ring leaves nothing held (`start = end`): the stream is then only
 * reachable by a full sync.
 */
export class Backlog {
  readonly capacity: number;
  readonly #ring: Buffer;
  #start: number;
  #end: number;

  /** An empty backlog whose stream begins (and ends) at `offset`. */
  constructor(capacity: number, offset = 0) {
    if (!Number.isSafeInteger(capacity) || capacity < 16) throw new RangeError(`backlog capacity must be at least 16 bytes, got ${capacity}`);
    this.capacity = capacity;
    this.#ring = Buffer.allocUnsafeSlow(capacity);
    this.#start = offset;
    this.#end = offset;
  }

  /** Oldest offset still held. */
  get start(): number {
    return this.#start;
  }

  /** Offset after the last byte appended: the stream's current offset. */
  get end(): number {
    return this.#end;
  }

  /** True when a reader at `offset` can continue from here (it may be exactly at the end). */
  holds(offset: number): boolean {
    return offset >= this.#start && offset <= this.#end;
  }

  /** The ring itself, for `reserve`/`commit` writers. */
  get ring(): Buffer {
    return this.#ring;
  }

  /**
   * Where `max` bytes can be written straight into the ring without wrapping (then `commit` the
   * bytes written), or -1: the caller appends from a buffer of its own instead.
   */
  reserve(max: number): number {
    const at = this.#end % this.capacity;
    return at + max <= this.capacity ? at : -1;
  }

  /** Makes `n` bytes written at `reserve()`'s position part of the stream; returns the new end. */
  commit(n: number): number {
    this.#end += n;
    if (this.#end - this.#start > this.capacity) this.#start = this.#end - this.capacity;
    return this.#end;
  }

  /** Forgets every byte and restarts the stream at `offset` (after a full sync). */
  reset(offset: number): void {
    this.#start = offset;
    this.#end = offset;
  }

  /** Appends `bytes` (its first `length` bytes when given); returns the new end offset. */
  append(bytes: Uint8Array, length = bytes.length): number {
    const n = length;
    const cap = this.capacity;
    if (n >= cap) {
      this.#end += n;
      this.#start = this.#end;
      return this.#end;
    }
    const at = this.#end % cap;
    const first = Math.min(n, cap - at);
    if (first === bytes.length) this.#ring.set(bytes, at);
    else copyBytes(bytes, 0, first, this.#ring, at);
    if (first < n) copyBytes(bytes, first, n, this.#ring, 0);
    this.#end += n;
    if (this.#end - this.#start > cap) this.#start = this.#end - cap;
    return this.#end;
  }

  /**
   * Copies the held bytes of [from, min(end, from + maxBytes)) into a new buffer (the ring is
   * overwritten later, so a socket must never hold a view of it). Throws RangeError when `from`
   * is not held.
   */
  read(from: number, maxBytes = Number.MAX_SAFE_INTEGER): Buffer {
    if (!this.holds(from)) throw new RangeError(`offset ${from} is not in the backlog [${this.#start}, ${this.#end}]`);
    const n = Math.min(this.#end - from, maxBytes);
    const out = Buffer.allocUnsafe(n);
    const cap = this.capacity;
    const at = from % cap;
    const first = Math.min(n, cap - at);
    this.#ring.copy(out, 0, at, at + first);
    if (first < n) this.#ring.copy(out, first, 0, n - first);
    return out;
  }
}

/** Copies `from[start, end)` to `to` at `at` without making a view object for short copies. */
function copyBytes(from: Uint8Array, start: number, end: number, to: Buffer, at: number): void {
  if (end - start > 64) {
    to.set(from.subarray(start, end), at);
    return;
  }
  for (let i = start; i < end; i++) to[at++] = from[i];
}

/** Where a replica that asks to continue from (`replId`, `offset`) stands. */
export interface SyncRequest {
  replId: string;
  offset: number;
}

/** The primary's replication identity (PSYNC2): its own id, and the id it took over from. */
export interface SyncIdentity {
  replId: string;
  /** The replication id of the primary this node followed before it was promoted ('' if none). */
  replId2: string;
  /** Offsets of `replId2`'s history this node shares: those at or below `offset2`. */
  offset2: number;
}

/** `continue`: stream from `offset`; `full`: snapshot first. */
export type SyncDecision = { kind: 'continue'; offset: number } | { kind: 'full'; reason: string };

/**
 * The PSYNC decision (Redis PSYNC2): a replica continues when it followed this stream (same
 * id), or the stream this node followed before its promotion up to the point of the promotion,
 * and the backlog still holds its offset; anything else takes a full sync. A replica ahead of
 * what this node shares (an old primary with writes nobody saw) gets a full sync, which discards
 * those writes.
 */
export function decideSync(request: SyncRequest, me: SyncIdentity, backlog: { holds(offset: number): boolean }): SyncDecision {
  const { replId, offset } = request;
  if (replId === '' || !Number.isSafeInteger(offset) || offset < 0) return { kind: 'full', reason: 'no replication history' };
  const known = replId === me.replId || (me.replId2 !== '' && replId === me.replId2 && offset <= me.offset2);
  if (!known) return { kind: 'full', reason: replId === me.replId2 ? 'ahead of the point this primary took over' : 'unknown replication id' };
  if (!backlog.holds(offset)) return { kind: 'full', reason: 'offset no longer in the backlog' };
  return { kind: 'continue', offset };
}
