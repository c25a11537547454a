import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from './errors';

/**
 * The one msgpack configuration of every wire (node frames, the WebSocket API, the client), and
 * the guard every decoder of peer bytes runs first.
 *
 * The wire is plain msgpack: no records, no structured clones, no extension types (but msgpackr's
 * `undefined`, fixext 1 of type 0, which decodes to nothing larger). msgpackr
 * decodes its own extensions whatever the options say (a record definition `d4 72`, shared
 * references `69`/`70` that make a DAG whose walk doubles per level, bigints `42` of any length, a
 * Set, a RegExp, an Error, bundled strings), and each lets a few bytes cost far more time or memory
 * than they weigh. `checkPlain` walks the bytes once before msgpackr sees them and refuses every
 * extension, reserved byte, truncated value and nesting deeper than `MAX_DEPTH`. It is written by
 * hand because it runs on every frame: a loop over the type bytes, without allocation, skipping
 * strings and binaries by their length: ~26 ns for a GET frame, 15-20 % of msgpackr's decode of the
 * same bytes (`npm run bench -- codec`).
 * Maps decode to plain objects (msgpackr renames `__proto__` keys); 64-bit integers decode to a
 * number when exact, else a bigint (`useBigInt64` and `int64AsType` are msgpackr options its type
 * declarations lag behind).
 */
export const packr = new Packr({ useRecords: false, variableMapSize: true, useBigInt64: true } as ConstructorParameters<typeof Packr>[0]);
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as ConstructorParameters<typeof Unpackr>[0]);

/** Deepest nesting of arrays and maps a peer may send. */
export const MAX_DEPTH = 32;

const extension = (): ProtocolError => new ProtocolError('msgpack extension types (records, references, bigints, timestamps ...) are not accepted');
const truncated = (): ProtocolError => new ProtocolError('malformed msgpack payload: it ends inside a value');

/**
 * Checks that `bytes[start, end)` begins with one plain msgpack value; returns where it ends.
 * Throws ProtocolError naming what was refused (never echoing the bytes).
 */
export function checkPlain(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let pos = start;
  let remaining = 1; // values still to read at the current level
  let depth = 0;
  const outer = STACK; // values left at each enclosing level
  for (;;) {
    if (remaining === 0) {
      if (depth === 0) return pos;
      remaining = outer[--depth];
      continue;
    }
    remaining--;
    if (pos >= end) throw truncated();
    const b = bytes[pos++];
    let items = -1;
    let skip = 0;
    if (b <= 0x7f || b >= 0xe0) continue; // fixint
    if (b <= 0x8f) items = 2 * (b & 0x0f); // fixmap
    else if (b <= 0x9f) items = b & 0x0f; // fixarray
    else if (b <= 0xbf) skip = b & 0x1f; // fixstr
    else {
      switch (b) {
        case 0xc0: case 0xc2: case 0xc3: continue; // nil, false, true
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xc4: case 0xd9: // bin 8, str 8
          if (pos + 1 > end) throw truncated();
          skip = 1 + bytes[pos];
          break;
        case 0xc5: case 0xda: // bin 16, str 16
          if (pos + 2 > end) throw truncated();
          skip = 2 + ((bytes[pos] << 8) | bytes[pos + 1]);
          break;
        case 0xc6: case 0xdb: // bin 32, str 32
          if (pos + 4 > end) throw truncated();
          skip = 4 + u32(bytes, pos);
          break;
        case 0xdc: // array 16
          if (pos + 2 > end) throw truncated();
          items = (bytes[pos] << 8) | bytes[pos + 1];
          pos += 2;
          break;
        case 0xdd: // array 32
          if (pos + 4 > end) throw truncated();
          items = u32(bytes, pos);
          pos += 4;
          break;
        case 0xde: // map 16
          if (pos + 2 > end) throw truncated();
          items = 2 * ((bytes[pos] << 8) | bytes[pos + 1]);
          pos += 2;
          break;
        case 0xdf: // map 32
          if (pos + 4 > end) throw truncated();
          items = 2 * u32(bytes, pos);
          pos += 4;
          break;
        case 0xd4: // fixext 1: only type 0, msgpackr's `undefined` (what it packs for one), is plain enough
          if (pos + 2 > end) throw truncated();
          if (bytes[pos] !== 0) throw extension();
          skip = 2;
          break;
        default: // 0xc1 (never used), ext 8/16/32 (0xc7-0xc9), fixext 2-16 (0xd5-0xd8)
          throw b === 0xc1 ? new ProtocolError('malformed msgpack payload: reserved type byte 0xc1') : extension();
      }
    }
    if (items < 0) {
      pos += skip;
      if (pos > end) throw truncated();
      continue;
    }
    if (items === 0) continue;
    // Every value takes at least one byte: a count beyond the bytes left is a lie, refused before any work.
    if (items > end - pos) throw truncated();
    if (depth === MAX_DEPTH) throw new ProtocolError(`msgpack nesting deeper than ${MAX_DEPTH} levels is not accepted`);
    outer[depth++] = remaining;
    remaining = items;
  }
}

/** Shared scratch for `checkPlain` (it never re-enters, and never yields). */
const STACK = new Array<number>(MAX_DEPTH).fill(0);

const u32 = (b: Uint8Array, at: number): number => ((b[at] << 24) >>> 0) + ((b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]);

/** Decodes `bytes[start, end)`, which `checkPlain` found to be one plain value. */
function decodeChecked(bytes: Uint8Array, start: number, end: number): unknown {
  try {
    return start === 0 && end === bytes.length ? unpackr.unpack(bytes) : unpackr.unpack(bytes, { start, end });
  } catch {
    // msgpackr's own messages can quote the decoded value: never passed on.
    throw new ProtocolError('malformed msgpack payload: a value could not be decoded');
  }
}

/** Checks and decodes the plain msgpack value that starts at `start`; returns it and where it ends (ProtocolError otherwise). */
export function unpackPlainAt(bytes: Uint8Array, start: number, end = bytes.length): { value: unknown; end: number } {
  const valueEnd = checkPlain(bytes, start, end);
  return { value: decodeChecked(bytes, start, valueEnd), end: valueEnd };
}

/** Checks and decodes exactly one plain msgpack value filling `bytes[start, end)` (ProtocolError otherwise); one per node frame, so no result object. */
export function unpackPlain(bytes: Uint8Array, start = 0, end = bytes.length): unknown {
  if (checkPlain(bytes, start, end) !== end) throw new ProtocolError('malformed msgpack payload: bytes after the value');
  return decodeChecked(bytes, start, end);
}

/** Checks and decodes plain msgpack values back to back filling `bytes` (ProtocolError otherwise). */
export function unpackPlainMultiple(bytes: Uint8Array): unknown[] {
  const out: unknown[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const next = unpackPlainAt(bytes, pos);
    out.push(next.value);
    pos = next.end;
  }
  return out;
}
