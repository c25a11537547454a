/**
 * A msgpack encoder into one growing buffer, for the proxy's hottest encoders: the frames a link
 * sends a node in one turn (FrameWriter) and the replies a WebSocket connection sends in one turn.
 * Written by hand because every request passes through both: msgpackr's `pack` returns a new
 * buffer per call, and each buffer then costs a write request or a message of its own.
 *
 * It encodes numbers (as msgpackr does: 32-bit ints, else float64), strings, bytes, null, booleans,
 * bigints (int64/uint64, as msgpackr with useBigInt64), arrays and plain objects (maps with string
 * keys); anything else (`undefined`, a class instance, a string with a lone surrogate) makes
 * `append` return false so the caller can use msgpackr for that value. A msgpack decoder reads
 * the same values, of the same types, out of its output as out of msgpackr's. Strings use
 * str8/16/32 headers sized from an upper bound of their UTF-8 length (not always the shortest
 * form, which msgpack allows).
 * guards: the buffer and its fill.
 */
/** A type's tags for an 8-, 16- and 32-bit length (arrays and maps have no 8-bit form: -1). */
type Tags = readonly [number, number, number];
const ARRAY_TAGS: Tags = [-1, 0xdc, 0xdd];
const MAP_TAGS: Tags = [-1, 0xde, 0xdf];
const STR_TAGS: Tags = [0xd9, 0xda, 0xdb];
const BIN_TAGS: Tags = [0xc4, 0xc5, 0xc6];

/** `String.prototype.isWellFormed` (Node 20; the TypeScript lib this project targets predates it). */
type WellFormedCheck = string & { isWellFormed(): boolean };

/** Header bytes for a length up to `n`: tag + 8-, 16- or 32-bit length. */
const widthOf = (n: number): 2 | 3 | 5 => (n < 0x100 ? 2 : n < 0x10000 ? 3 : 5);

export class MsgpackWriter {
  #buf: Buffer;
  #used = 0;

  constructor(initialBytes = 4096) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes held. */
  get size(): number {
    return this.#used;
  }

  /**
   * Appends `values` as one msgpack array; false, with nothing appended, when it holds a value
   * this encoder leaves to msgpackr (the caller encodes that one another way).
   */
  append(values: readonly unknown[]): boolean {
    const start = this.#used;
    if (this.#array(values)) return true;
    this.#used = start;
    return false;
  }

  /** Appends bytes as they are (an already encoded value, or room for a header). */
  appendRaw(bytes: Uint8Array): void {
    this.#reserve(bytes.length);
    this.#buf.set(bytes, this.#used);
    this.#used += bytes.length;
  }

  /** Writes a 32-bit big-endian number over bytes already appended, at `offset`. */
  setUInt32(offset: number, value: number): void {
    this.#buf.writeUInt32BE(value, offset);
  }

  /** Bytes `start` to `end` of what is held, as a view: valid until the next append or clear. */
  view(start: number, end: number): Buffer {
    return this.#buf.subarray(start, end);
  }

  /** Room for this many bytes without growing. */
  get capacity(): number {
    return this.#buf.length;
  }

  /** Drops everything after the first `size` bytes (a frame that was refused). */
  truncate(size: number): void {
    if (size < this.#used) this.#used = size;
  }

  /** The bytes held, as a buffer of their own (the writer goes on with its own), and empties. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.#used);
    this.#buf.copy(out, 0, 0, this.#used);
    this.#used = 0;
    return out;
  }

  clear(): void {
    this.#used = 0;
  }

  #reserve(bytes: number): void {
    const needed = this.#used + bytes;
    if (needed <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.#buf.length * 2));
    this.#buf.copy(bigger, 0, 0, this.#used);
    this.#buf = bigger;
  }

  /** Encodes an array; false (nothing usable written) when it holds a value this encoder leaves to msgpackr. */
  #array(values: readonly unknown[]): boolean {
    const n = values.length;
    this.#reserve(5);
    if (n < 16) this.#buf[this.#used++] = 0x90 | n;
    else this.#appendHeader(n < 0x10000 ? 3 : 5, n, ARRAY_TAGS);
    for (let i = 0; i < n; i++) if (!this.#value(values[i])) return false;
    return true;
  }

  /**
   * A tag and a length at `at`, `width` bytes in all: 2 (8-bit length), 3 (16-bit) or 5 (32-bit);
   * `tags` are the type's tags for those widths. Writes over room already reserved; a string's
   * header goes in after its body, once the body's length is known.
   */
  #header(at: number, width: 2 | 3 | 5, n: number, tags: Tags): void {
    const buf = this.#buf;
    if (width === 2) {
      buf[at] = tags[0];
      buf[at + 1] = n;
    } else if (width === 3) {
      buf[at] = tags[1];
      buf.writeUInt16BE(n, at + 1);
    } else {
      buf[at] = tags[2];
      buf.writeUInt32BE(n, at + 1);
    }
  }

  /** Appends a tag and a length (see #header); the caller reserved the room. */
  #appendHeader(width: 2 | 3 | 5, n: number, tags: Tags): void {
    this.#header(this.#used, width, n, tags);
    this.#used += width;
  }

  #value(v: unknown): boolean {
    switch (typeof v) {
      case 'number':
        this.#number(v);
        return true;
      case 'string':
        return this.#string(v);
      case 'boolean':
        this.#reserve(1);
        this.#buf[this.#used++] = v ? 0xc3 : 0xc2;
        return true;
      case 'bigint':
        return this.#bigint(v);
      case 'object':
        if (v === null) {
          this.#reserve(1);
          this.#buf[this.#used++] = 0xc0;
          return true;
        }
        if (v instanceof Uint8Array) {
          this.#bytes(v);
          return true;
        }
        if (Array.isArray(v)) return this.#array(v);
        const proto: unknown = Object.getPrototypeOf(v);
        return (proto === Object.prototype || proto === null) && this.#map(v as Record<string, unknown>);
      default:
        return false;
    }
  }

  /** A plain object as a map with string keys (a key whose value is undefined is left to msgpackr). */
  #map(o: Record<string, unknown>): boolean {
    const keys = Object.keys(o);
    const n = keys.length;
    this.#reserve(5);
    if (n < 16) this.#buf[this.#used++] = 0x80 | n;
    else this.#appendHeader(n < 0x10000 ? 3 : 5, n, MAP_TAGS);
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      if (!this.#string(key) || !this.#value(o[key])) return false;
    }
    return true;
  }

  /**
   * As msgpackr writes a number: whole numbers in the 32-bit ranges as the shortest int form, every
   * other number (fractions, and whole numbers beyond 32 bits) as float64, so a decoder reads the
   * same value and type out of either (a 64-bit int would come back as a BigInt to many decoders).
   * The unsigned and signed ladders stay written out: folding them into one with Buffer's
   * writeUIntBE/writeIntBE measured 20–35 % slower per frame (7 numbers, 4 alternated runs).
   */
  #number(n: number): void {
    this.#reserve(9);
    const buf = this.#buf;
    const at = this.#used;
    if (n >>> 0 === n) {
      if (n < 0x80) {
        buf[at] = n;
        this.#used = at + 1;
      } else if (n < 0x100) {
        buf[at] = 0xcc;
        buf[at + 1] = n;
        this.#used = at + 2;
      } else if (n < 0x10000) {
        buf[at] = 0xcd;
        buf.writeUInt16BE(n, at + 1);
        this.#used = at + 3;
      } else {
        buf[at] = 0xce;
        buf.writeUInt32BE(n, at + 1);
        this.#used = at + 5;
      }
    } else if (n >> 0 === n) {
      if (n >= -0x20) {
        buf[at] = n & 0xff;
        this.#used = at + 1;
      } else if (n >= -0x80) {
        buf[at] = 0xd0;
        buf.writeInt8(n, at + 1);
        this.#used = at + 2;
      } else if (n >= -0x8000) {
        buf[at] = 0xd1;
        buf.writeInt16BE(n, at + 1);
        this.#used = at + 3;
      } else {
        buf[at] = 0xd2;
        buf.writeInt32BE(n, at + 1);
        this.#used = at + 5;
      }
    } else {
      buf[at] = 0xcb;
      buf.writeDoubleBE(n, at + 1);
      this.#used = at + 9;
    }
  }

  #bigint(n: bigint): boolean {
    if (n < -(2n ** 63n) || n >= 2n ** 64n) return false;
    this.#reserve(9);
    const at = this.#used;
    if (n < 2n ** 63n) {
      this.#buf[at] = 0xd3;
      this.#buf.writeBigInt64BE(n, at + 1);
    } else {
      this.#buf[at] = 0xcf;
      this.#buf.writeBigUInt64BE(n, at + 1);
    }
    this.#used = at + 9;
    return true;
  }

  /**
   * A string as UTF-8; false for one with a lone surrogate, which msgpackr and Buffer encode
   * differently (the caller falls back to msgpackr, so such a key stays the key it was).
   */
  #string(s: string): boolean {
    const max = s.length * 3; // UTF-8 bytes of a UTF-16 string: at most 3 per code unit
    this.#reserve(5 + max);
    const buf = this.#buf;
    const header = widthOf(max);
    const body = this.#used + header;
    // Short ASCII strings (namespaces, keys) are copied by hand: a native call costs more.
    let i = 0;
    if (s.length < 64) {
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[body + i] = c;
      }
    }
    if (i < s.length && !(s as WellFormedCheck).isWellFormed()) return false;
    const length = i === s.length ? i : buf.write(s, body, 'utf8');
    this.#header(this.#used, header, length, STR_TAGS);
    this.#used = body + length;
    return true;
  }

  #bytes(b: Uint8Array): void {
    const n = b.length;
    this.#reserve(5 + n);
    this.#appendHeader(widthOf(n), n, BIN_TAGS);
    this.#buf.set(b, this.#used);
    this.#used += n;
  }
}
