import { encodeFrame } from '../../shared/frame';
import { Op } from '../../shared/protocol';

/**
 * Encodes REPL_SET records by hand into one reused scratch buffer (the hot path: every write on a
 * primary). The bytes are plain msgpack, `[0, REPL_SET, ns, key, bin value, version, expiresAt,
 * flags, tags | nil]` in a frame; tags go through msgpackr (rare). The returned view is valid
 * until the next call; the backlog copies it.
 */
/** Buffer's own UTF-8 writer (what `buf.write(s, offset, 'utf8')` ends in, without its argument parsing). */
interface Utf8Buffer extends Buffer {
  utf8Write(s: string, offset: number): number;
}

export class SetRecordEncoder {
  #buf = Buffer.allocUnsafeSlow(64 * 1024) as Utf8Buffer;
  #pos = 0;

  encode(ns: string, key: string, value: Uint8Array, version: number, expiresAt: number, flags: number, tags: readonly string[] | null | undefined): Buffer {
    const withTags = tags !== undefined && tags !== null && tags.length > 0;
    const tagBytes = withTags ? encodeFrame(tags).subarray(4) : undefined;
    // Worst case: header 4, fixarray + id + op 3, strings (3 bytes per UTF-16 unit + 5), bin 5, three uint64 27.
    const max = 4 + 3 + 3 * (ns.length + key.length) + 10 + 5 + value.length + 27 + (tagBytes?.length ?? 1);
    if (max > this.#buf.length) this.#buf = Buffer.allocUnsafeSlow(Math.max(max, 2 * this.#buf.length)) as Utf8Buffer;
    const b = this.#buf;
    this.#pos = 4;
    b[this.#pos++] = 0x99;
    b[this.#pos++] = 0x00;
    b[this.#pos++] = Op.REPL_SET;
    this.#str(ns);
    this.#str(key);
    this.#bin(value);
    this.#uint(version);
    this.#uint(expiresAt);
    this.#uint(flags);
    if (tagBytes === undefined) b[this.#pos++] = 0xc0;
    else {
      b.set(tagBytes, this.#pos);
      this.#pos += tagBytes.length;
    }
    b.writeUInt32BE(this.#pos - 4, 0);
    return b.subarray(0, this.#pos);
  }

  /**
   * A msgpack str whose header width is chosen from an upper bound of its UTF-8 length (3 bytes
   * per UTF-16 unit), so the bytes are written once and never moved; a header wider than needed
   * is still valid msgpack.
   */
  #str(s: string): void {
    const b = this.#buf;
    const bound = s.length * 3;
    const at = this.#pos;
    if (bound < 32) {
      const n = b.utf8Write(s, at + 1);
      b[at] = 0xa0 | n;
      this.#pos = at + 1 + n;
    } else if (bound < 0x100) {
      const n = b.utf8Write(s, at + 2);
      b[at] = 0xd9;
      b[at + 1] = n;
      this.#pos = at + 2 + n;
    } else {
      const n = b.utf8Write(s, at + 3);
      b[at] = 0xda;
      b.writeUInt16BE(n, at + 1);
      this.#pos = at + 3 + n;
    }
  }

  #bin(v: Uint8Array): void {
    const b = this.#buf;
    const n = v.length;
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
    b.set(v, this.#pos);
    this.#pos += n;
  }

  /** A non-negative safe integer in msgpack's shortest form. */
  #uint(n: number): void {
    const b = this.#buf;
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
}
