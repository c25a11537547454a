import { encodeFrame, FRAME_HEADER_BYTES } from '../shared/frame';
import { Status } from '../shared/protocol';

interface Latin1Buffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
}

const SLAB_BYTES = 256 * 1024;

/**
 * Where the node's replies are encoded: one slab shared by every connection, carved into
 * consecutive regions. A connection writes all the replies of one incoming chunk into the slab,
 * then hands the region to `socket.write` in one call (`flush`), so a pipelined burst costs one
 * syscall and no Buffer per reply. A region is never reused (the socket may still hold it); when
 * the slab is used up a new one is taken and the old one is freed once its writes are done.
 *
 * The hot replies (GET hit and miss, SET, status-only and status + integer) are encoded by hand
 * as msgpack, which is several times cheaper than packing an array and lets a GET copy the stored
 * latin1 value straight into the reply. Everything else goes through msgpackr (`message`). Both
 * produce the same bytes a msgpack encoder would for these shapes (the codec tests check it).
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
    this.#binHeader(value.length);
    this.#pos += b.latin1Write(value, this.#pos, value.length);
    this.#uint(version);
    this.#uint(expiresAt);
    this.#uint(flags);
    this.#end(begin);
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
    } else if (n < 0x10000) {
      b[this.#pos++] = 0xc5;
      b.writeUInt16BE(n, this.#pos);
      this.#pos += 2;
    } else {
      b[this.#pos++] = 0xc6;
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
    } else {
      b[this.#pos++] = 0xd3;
      b.writeBigInt64BE(BigInt(n), this.#pos);
      this.#pos += 8;
    }
  }
}
