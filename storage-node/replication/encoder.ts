import { encodeFrame } from '../../shared/frame';
import { Op } from '../../shared/protocol';
import type { Latin1Buffer } from '../../shared/latin1';

/** Buffer's own UTF-8 writer (what `buf.write(s, offset, 'utf8')` ends in, without its argument parsing). */
interface Utf8Buffer extends Buffer {
  utf8Write(s: string, offset: number): number;
}

/**
 * A value as bytes, or as the store keeps it: a latin1 string, one char per byte (decision
 * "Values are stored as latin1 strings"), written without a Buffer made for it.
 */
export type RecordValue = Uint8Array | string;

/**
 * Encodes REPL_SET records by hand (the hot path: every write on a primary), straight into the
 * backlog ring when the record fits before its end, else into a reused scratch buffer. The bytes
 * are plain msgpack, `[0, REPL_SET, ns, key, bin value, version, expiresAt, flags, tags | nil]`
 * in a frame, with the entry's type after them when it is not a string; tags go through msgpackr (rare).
 */
export class SetRecordEncoder {
  /** Scratch space for records that do not fit the ring's contiguous room. */
  buffer = Buffer.allocUnsafeSlow(64 * 1024) as Utf8Buffer;
  #tagBytes: Buffer | undefined;

  /**
   * The most bytes the record can take (call first: it also encodes the tags, if any).
   * Header 4, fixarray + id + op 3, strings 3 bytes per UTF-16 unit + 3 each, bin 5, three uint64 27, type 1.
   */
  bound(ns: string, key: string, value: RecordValue, tags: readonly string[] | null | undefined): number {
    this.#tagBytes = tags !== undefined && tags !== null && tags.length > 0 ? encodeFrame(tags).subarray(4) : undefined;
    return 4 + 3 + 3 * (ns.length + key.length) + 6 + 5 + value.length + 27 + (this.#tagBytes === undefined ? 1 : this.#tagBytes.length) + 1;
  }

  /** The scratch buffer, grown to at least `bytes`. */
  scratch(bytes: number): Buffer {
    if (bytes > this.buffer.length) this.buffer = Buffer.allocUnsafeSlow(Math.max(bytes, 2 * this.buffer.length)) as Utf8Buffer;
    return this.buffer;
  }

  /** Writes the frame at `b[at]` (room for `bound(...)` bytes is there); returns its length. */
  encodeInto(target: Buffer, at: number, ns: string, key: string, value: RecordValue, version: number, expiresAt: number, flags: number, type = 0): number {
    const b = target as Utf8Buffer;
    b[at + 4] = type === 0 ? 0x99 : 0x9a;
    b[at + 5] = 0x00;
    b[at + 6] = Op.REPL_SET;
    let pos = writeStr(b, at + 7, ns);
    pos = writeStr(b, pos, key);
    pos = writeBin(b, pos, value);
    pos = writeUint(b, pos, version);
    pos = writeUint(b, pos, expiresAt);
    pos = writeUint(b, pos, flags);
    const tagBytes = this.#tagBytes;
    if (tagBytes === undefined) b[pos++] = 0xc0;
    else {
      b.set(tagBytes, pos);
      pos += tagBytes.length;
    }
    if (type !== 0) b[pos++] = type; // a positive fixint
    b.writeUInt32BE(pos - at - 4, at);
    return pos - at;
  }
}

/**
 * A msgpack str whose header width is chosen from an upper bound of its UTF-8 length (3 bytes
 * per UTF-16 unit), so the bytes are written once and never moved; a header wider than needed
 * is still valid msgpack. Returns the position after it.
 */
function writeStr(b: Utf8Buffer, at: number, s: string): number {
  const len = s.length;
  if (len < 32) {
    // Short ASCII strings (the usual namespace and key) are copied in JS: cheaper than a native call.
    let i = 0;
    for (; i < len; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      b[at + 1 + i] = c;
    }
    if (i === len) {
      b[at] = 0xa0 | len;
      return at + 1 + len;
    }
  }
  const bound = len * 3;
  if (bound < 32) {
    const n = b.utf8Write(s, at + 1);
    b[at] = 0xa0 | n;
    return at + 1 + n;
  }
  if (bound < 0x100) {
    const n = b.utf8Write(s, at + 2);
    b[at] = 0xd9;
    b[at + 1] = n;
    return at + 2 + n;
  }
  const n = b.utf8Write(s, at + 3);
  b[at] = 0xda;
  b.writeUInt16BE(n, at + 1);
  return at + 3 + n;
}

function writeBin(b: Buffer, at: number, v: RecordValue): number {
  const n = v.length;
  let pos = at;
  if (n < 0x100) {
    b[pos++] = 0xc4;
    b[pos++] = n;
  } else if (n < 0x10000) {
    b[pos++] = 0xc5;
    b.writeUInt16BE(n, pos);
    pos += 2;
  } else {
    b[pos++] = 0xc6;
    b.writeUInt32BE(n, pos);
    pos += 4;
  }
  if (typeof v !== 'string') b.set(v, pos);
  else if (n < 32) for (let i = 0; i < n; i++) b[pos + i] = v.charCodeAt(i); // short (a counter): cheaper than a native call
  else (b as Latin1Buffer).latin1Write(v, pos, n);
  return pos + n;
}

/** A non-negative safe integer in msgpack's shortest form. */
function writeUint(b: Buffer, at: number, n: number): number {
  if (n < 0x80) {
    b[at] = n;
    return at + 1;
  }
  if (n < 0x100) {
    b[at] = 0xcc;
    b[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    b[at] = 0xcd;
    b.writeUInt16BE(n, at + 1);
    return at + 3;
  }
  if (n < 0x100000000) {
    b[at] = 0xce;
    b.writeUInt32BE(n, at + 1);
    return at + 5;
  }
  b[at] = 0xcf;
  b.writeUInt32BE(Math.floor(n / 0x100000000), at + 1);
  b.writeUInt32BE(n >>> 0, at + 5);
  return at + 9;
}
