import { encodeFrame, FRAME_HEADER_BYTES } from '../shared/frame';
import { Status } from '../shared/protocol';
import { ENTRY, FRAME, INCR, MGET } from '../shared/ops';
import type { RawEntry } from './store';
import type { Latin1Buffer } from '../shared/latin1';

const SLAB_BYTES = 256 * 1024;

/** msgpack fixarray headers of the replies written by hand below, from the op table. */
const ENTRY_HEAD = 0x90 | ENTRY.length;
const INCR_OK_HEAD = 0x90 | (FRAME.firstField + INCR.ok.fields.length);
/** MGET's OK reply without the optional trailing `resync` (a stale replica adds it). */
const MGET_OK_HEAD = 0x90 | (FRAME.firstField + MGET.ok.fields.length - 1);
// The writers below put the fields in this order: a change to the table must change them too.
if (ENTRY.fields.join() !== 'value,version,expiresAt,flags' || INCR.ok.fields.join() !== 'value,version' || MGET.ok.fields.join() !== 'entries,resync') {
  throw new Error('storage-node/reply-writer.ts: the hand-written INCR / MGET replies follow a layout the op table no longer has');
}

/**
 * Where the node's replies are encoded: one slab shared by every connection, carved into
 * consecutive regions. A connection writes all the replies of one incoming chunk into the slab,
 * then hands the region to `socket.write` in one call (`flush`), so a pipelined burst costs one
 * syscall and no Buffer per reply. A region is never reused (the socket may still hold it); when
 * the slab is used up a new one is taken and the old one is freed once its writes are done.
 *
 * The hot replies (GET hit and miss, SET, status-only and status + integer, INCR, MGET) are
 * encoded by hand as msgpack, which is several times cheaper than packing an array and lets a GET
 * or an MGET copy the stored latin1 values straight into the reply (an MGET through msgpackr made
 * a Buffer and a tuple per key, then packed them). Everything else goes through msgpackr
 * (`message`). Both produce msgpack a decoder reads to the same values (the codec tests check it;
 * integers past 32 bits are written as (u)int64 where msgpackr writes float64).
 */
export class ReplyWriter {
  #slab: Latin1Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES) as Latin1Buffer;
  #start = 0;
  #pos = 0;

  /** Bytes written since the last flush. */
  get pending(): number {
    return this.#pos - this.#start;
  }

  /** The replies written since the last flush (a view into the slab), or undefined. */
  flush(): Buffer | undefined {
    if (this.#pos === this.#start) return undefined;
    const out = this.#slab.subarray(this.#start, this.#pos);
    this.#start = this.#pos = (this.#pos + 7) & ~7;
    if (this.#start >= this.#slab.length) this.#newSlab(0);
    return out;
  }

  /** `[id, OK, bin(value), version, expiresAt, flags]` where `value` holds one byte per char. */
  hit(id: number, value: string, version: number, expiresAt: number, flags: number): void {
    const begin = this.#frame(value.length + 48);
    const b = this.#slab;
    b[this.#pos++] = 0x96;
    this.#uint(id);
    b[this.#pos++] = Status.OK;
    this.#entryFields(value, version, expiresAt, flags);
    this.#end(begin);
  }

  /** INCR's OK reply `[id, OK, value, version]`: `value` a signed 64-bit integer (a bigint past the safe range). */
  incr(id: number, value: number | bigint, version: number): void {
    const begin = this.#frame(40);
    this.#slab[this.#pos++] = INCR_OK_HEAD;
    this.#uint(id);
    this.#slab[this.#pos++] = Status.OK;
    if (typeof value === 'number') this.#int(value);
    else this.#int64(value);
    this.#uint(version);
    this.#end(begin);
  }

  /**
   * Starts MGET's OK reply `[id, OK, [entry | nil, ...]]` (with a trailing `true` when `resync`):
   * `count` calls of `entry` follow, then `endEntries` with what this returned. The entries are
   * written as the store hands them over, one at a time (its `read` reuses its result).
   */
  beginEntries(id: number, count: number, resync: boolean): number {
    const begin = this.#frame(16);
    const b = this.#slab;
    b[this.#pos++] = resync ? MGET_OK_HEAD + 1 : MGET_OK_HEAD;
    this.#uint(id);
    b[this.#pos++] = Status.OK;
    if (count < 16) b[this.#pos++] = 0x90 | count;
    else this.#length(count, 0xdc); // array 16 / 32
    return (begin - this.#start) * 2 + (resync ? 1 : 0); // relative: a new slab may take the bytes before the end
  }

  /** One of MGET's entries: `[bin(value), version, expiresAt, flags]`, or nil for a missing key. */
  entry(e: RawEntry | undefined): void {
    if (e === undefined) {
      this.#ensure(1);
      this.#slab[this.#pos++] = 0xc0;
      return;
    }
    this.#ensure(e.value.length + 40);
    this.#slab[this.#pos++] = ENTRY_HEAD;
    this.#entryFields(e.value, e.version, e.expiresAt, e.flags);
  }

  /** Ends the reply `beginEntries` started. */
  endEntries(started: number): void {
    if ((started & 1) === 1) {
      this.#ensure(1);
      this.#slab[this.#pos++] = 0xc3; // resync: true
    }
    this.#end(this.#start + (started >>> 1));
  }

  /** `[id, status]`. */
  status(id: number, status: number): void {
    const begin = this.#frame(16);
    this.#slab[this.#pos++] = 0x92;
    this.#uint(id);
    this.#slab[this.#pos++] = status;
    this.#end(begin);
  }

  /** `[id, status, n]` for a safe integer n (negative allowed). */
  statusInt(id: number, status: number, n: number): void {
    const begin = this.#frame(32);
    this.#slab[this.#pos++] = 0x93;
    this.#uint(id);
    this.#slab[this.#pos++] = status;
    this.#int(n);
    this.#end(begin);
  }

  /** `[id, OK, a, b]` for non-negative safe integers (SET's version and expiresAt). */
  ok2(id: number, a: number, b: number): void {
    const begin = this.#frame(32);
    this.#slab[this.#pos++] = 0x94;
    this.#uint(id);
    this.#slab[this.#pos++] = Status.OK;
    this.#uint(a);
    this.#uint(b);
    this.#end(begin);
  }

  /** Any reply, encoded by msgpackr. */
  message(reply: readonly unknown[]): void {
    const frame = encodeFrame(reply);
    this.#ensure(frame.length);
    frame.copy(this.#slab, this.#pos);
    this.#pos += frame.length;
  }

  /** `bin(value), version, expiresAt, flags` of a stored entry (GET's hit, MGET's entries); room already reserved. */
  #entryFields(value: string, version: number, expiresAt: number, flags: number): void {
    this.#binHeader(value.length);
    this.#pos += this.#slab.latin1Write(value, this.#pos, value.length);
    this.#uint(version);
    this.#uint(expiresAt);
    this.#uint(flags);
  }

  /** Reserves room for a frame of at most `max` payload bytes; returns where its header goes. */
  #frame(max: number): number {
    this.#ensure(max + FRAME_HEADER_BYTES);
    const begin = this.#pos;
    this.#pos += FRAME_HEADER_BYTES;
    return begin;
  }

  #end(begin: number): void {
    this.#slab.writeUInt32BE(this.#pos - begin - FRAME_HEADER_BYTES, begin);
  }

  #ensure(bytes: number): void {
    if (this.#pos + bytes <= this.#slab.length) return;
    this.#newSlab(2 * (bytes + (this.#pos - this.#start)));
  }

  /**
   * Moves the unflushed bytes into a fresh slab of at least `min` bytes. Its length is a multiple
   * of 8, so the 8-aligned start `flush` moves to never passes its end.
   */
  #newSlab(min: number): void {
    const old = this.#slab;
    this.#slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, (min + 7) & ~7)) as Latin1Buffer;
    const carried = old.copy(this.#slab, 0, this.#start, this.#pos);
    this.#start = 0;
    this.#pos = carried;
  }

  #binHeader(n: number): void {
    const b = this.#slab;
    if (n < 0x100) {
      b[this.#pos++] = 0xc4;
      b[this.#pos++] = n;
    } else this.#length(n, 0xc5); // bin 16 / 32
  }

  /** A 16-bit length after type byte `type16`, or a 32-bit one after `type16 + 1` (msgpack's bin and array forms). */
  #length(n: number, type16: number): void {
    const b = this.#slab;
    if (n < 0x10000) {
      b[this.#pos++] = type16;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else {
      b[this.#pos++] = type16 + 1;
      b.writeUInt32BE(n, this.#pos);
      this.#pos += 4;
    }
  }

  /** A non-negative safe integer in msgpack's shortest form. */
  #uint(n: number): void {
    const b = this.#slab;
    if (n < 0x80) b[this.#pos++] = n;
    else if (n < 0x100) {
      b[this.#pos++] = 0xcc;
      b[this.#pos++] = n;
    } else if (n < 0x10000) {
      b[this.#pos++] = 0xcd;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else if (n < 0x100000000) {
      b[this.#pos++] = 0xce;
      b.writeUInt32BE(n, this.#pos);
      this.#pos += 4;
    } else {
      b[this.#pos++] = 0xcf;
      b.writeUInt32BE(Math.floor(n / 0x100000000), this.#pos);
      b.writeUInt32BE(n >>> 0, this.#pos + 4);
      this.#pos += 8;
    }
  }

  /** A safe integer, negative ones as negative fixint or int32/int64. */
  #int(n: number): void {
    if (n >= 0) return this.#uint(n);
    const b = this.#slab;
    if (n >= -32) b[this.#pos++] = n & 0xff;
    else if (n >= -0x80000000) {
      b[this.#pos++] = 0xd2;
      b.writeInt32BE(n, this.#pos);
      this.#pos += 4;
    } else this.#int64(BigInt(n));
  }

  /** A signed 64-bit integer as int64. */
  #int64(n: bigint): void {
    this.#slab[this.#pos++] = 0xd3;
    this.#slab.writeBigInt64BE(n, this.#pos);
    this.#pos += 8;
  }
}
