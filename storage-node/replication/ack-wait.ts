import { encodeFrame } from '../../shared/frame';
import { Status } from '../../shared/protocol';

/**
 * One reply held back on a connection: a write waiting for `offset` (0: a plain reply behind
 * one), or a reply not made yet (`pending`: a write-through write waiting for its store).
 */
export interface Held {
  offset: number;
  deadline: number;
  id: number;
  bytes: Buffer;
  pending: boolean;
}

const NOT_YET = Buffer.alloc(0);

/** One connection's held replies, in request order, and their size. */
interface Queue {
  items: Held[];
  bytes: number;
}

/**
 * Replies held until a replica acknowledges a write (`writeAck: replica`), per connection, in
 * request order. Pure apart from the `write` callback; the node's one sweep timer calls
 * `release` with the acknowledged offset and the time.
 *
 *   conn ─► [ write@1200 (waits) | reply | reply | write@1500 (waits) | reply ]
 *            released from the head once acked >= 1200, or as WRITE_ACK_TIMEOUT after its deadline
 *
 * Guards: a connection with a queue gets every later reply appended to it (never written past
 * it), so the client sees replies in request order; deadlines along a queue never decrease, so
 * only heads are looked at; a queue holds at most `maxHeldBytes`: past that, its waiting writes
 * are answered WRITE_ACK_TIMEOUT at once (as if their deadline had come) and the queue is written
 * out, so a client pipelining behind a write that cannot be acknowledged cannot grow it without bound.
 */
export class AckWaiters<C> {
  readonly #queues = new Map<C, Queue>();
  readonly #write: (conn: C, bytes: Buffer) => void;
  readonly #maxHeldBytes: number;
  timeouts = 0;
  /** The highest offset `release` was told of. */
  #acked = 0;

  constructor(write: (conn: C, bytes: Buffer) => void, maxHeldBytes: number) {
    this.#write = write;
    this.#maxHeldBytes = maxHeldBytes;
  }

  /** Connections with held replies. */
  get size(): number {
    return this.#queues.size;
  }

  /** True when replies on `conn` must queue. */
  holds(conn: C): boolean {
    return this.#queues.size !== 0 && this.#queues.has(conn);
  }

  /** Holds the reply `bytes` of write `id` until `offset` is acknowledged or `deadline` passes. */
  wait(conn: C, id: number, offset: number, deadline: number, bytes: Buffer): void {
    let queue = this.#queues.get(conn);
    if (queue === undefined) this.#queues.set(conn, (queue = { items: [], bytes: 0 }));
    this.#push(conn, queue, { offset, deadline, id, bytes, pending: false });
  }

  /**
   * Keeps the place of a reply that comes later (a write-through write's, once its store
   * answered): replies after it queue behind it until `fill`.
   */
  reserve(conn: C, id: number): Held {
    let queue = this.#queues.get(conn);
    if (queue === undefined) this.#queues.set(conn, (queue = { items: [], bytes: 0 }));
    const held: Held = { offset: 0, deadline: Number.POSITIVE_INFINITY, id, bytes: NOT_YET, pending: true };
    queue.items.push(held);
    return held;
  }

  /** The reply of a `reserve`d place (waiting for `offset` until `deadline` when offset > 0); writes out what is now ready. */
  fill(conn: C, held: Held, bytes: Buffer, offset = 0, deadline = 0): void {
    if (!held.pending) return;
    held.pending = false;
    held.bytes = bytes;
    held.offset = offset;
    held.deadline = deadline;
    const queue = this.#queues.get(conn);
    if (queue === undefined || !queue.items.includes(held)) return; // the connection closed, or failAll answered it
    queue.bytes += bytes.length;
    this.#flush(conn, queue, this.#acked, Date.now(), 'in time');
  }

  /** Queues plain replies behind the held ones of `conn` (call only when `holds(conn)`). */
  append(conn: C, bytes: Buffer): void {
    const queue = this.#queues.get(conn);
    if (queue !== undefined) this.#push(conn, queue, { offset: 0, deadline: 0, id: 0, bytes, pending: false });
  }

  #push(conn: C, queue: Queue, held: Held): void {
    queue.items.push(held);
    queue.bytes += held.bytes.length;
    // Past the bound, waits for acknowledgements end at once; a reply not made yet still holds its place (its store's deadline bounds it).
    if (queue.bytes > this.#maxHeldBytes) {
      this.#flush(conn, queue, this.#acked, Number.POSITIVE_INFINITY, `while this connection's replies behind it passed ${this.#maxHeldBytes} bytes`);
    }
  }

  /** Writes, per connection, every reply at the head that is now acknowledged, plain or timed out. */
  release(acked: number, now: number): void {
    this.#acked = Math.max(this.#acked, acked);
    for (const [conn, queue] of this.#queues) this.#flush(conn, queue, acked, now, 'in time');
  }

  /** Writes the head of `queue` up to the first write neither acknowledged nor past its deadline. */
  #flush(conn: C, queue: Queue, acked: number, now: number, why: string): void {
    const items = queue.items;
    const out: Buffer[] = [];
    let i = 0;
    for (; i < items.length; i++) {
      const h = items[i];
      if (h.pending) break;
      if (h.offset === 0 || h.offset <= acked) out.push(h.bytes);
      else if (h.deadline <= now) {
        this.timeouts++;
        out.push(encodeFrame([h.id, Status.WRITE_ACK_TIMEOUT, `no replica acknowledged offset ${h.offset} ${why}; the write stays on the primary`, h.offset]));
      } else break;
      queue.bytes -= h.bytes.length;
    }
    if (i === 0) return;
    if (i === items.length) this.#queues.delete(conn);
    else items.splice(0, i);
    if (out.length !== 0) this.#write(conn, out.length === 1 ? out[0] : Buffer.concat(out));
  }

  /**
   * Answers every write still waiting with `[id, status, message, offset]` and writes out the
   * replies behind it, emptying every queue (the node is shutting down: no acknowledgement will
   * come). Writes already acknowledged go out as they are.
   */
  failAll(status: number, message: string): void {
    for (const [conn, queue] of this.#queues) {
      const out = queue.items.map((h) => {
        if (h.pending) {
          h.pending = false;
          return encodeFrame([h.id, status, 'node shutting down before the store answered this write; it may or may not have reached the store']);
        }
        return h.offset === 0 || h.offset <= this.#acked ? h.bytes : encodeFrame([h.id, status, message, h.offset]);
      });
      this.#queues.delete(conn);
      this.#write(conn, Buffer.concat(out));
    }
  }

  /** Forgets a closed connection. */
  drop(conn: C): void {
    this.#queues.delete(conn);
  }
}
