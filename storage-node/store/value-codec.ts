/**
 * How values and keys are held in memory.
 *
 * Values are stored as latin1 strings: `latin1Slice` copies the bytes into a V8 one-byte string
 * (16 bytes of header, no separate backing store), and `Buffer.from(s, 'latin1')` turns it back
 * byte for byte. Measured on Node 20 with 1M values of 100 bytes: ~130 B/item of heap as strings
 * against ~170 B heap + ~210 B off-heap as one Buffer each (a Buffer is a JS object plus an
 * ArrayBuffer plus a tracked backing store); copying in is ~100 ns either way. The copy also
 * guarantees the store never keeps the caller's buffer, which is usually a slice of a socket
 * chunk and would pin the whole chunk.
 *
 * Keys, namespace names and tags from a decoder can be slices of a larger string (msgpackr
 * slices many short strings out of one); `ownString` copies the ones that may be slices so a
 * stored key never pins its frame.
 *
 * `Buffer` is imported rather than read from the global object: under a `vm` context (jest)
 * every global lookup goes through an interceptor and costs hundreds of nanoseconds.
 */

import { Buffer } from 'node:buffer';
import { latin1 as latin1Of, type Latin1Buffer } from '../../shared/latin1';

interface NodeBuffer extends Latin1Buffer {
  ucs2Slice(start: number, end: number): string;
  ucs2Write(s: string, offset: number, length: number): number;
}

/** V8 never makes a sliced or cons string shorter than this, so shorter strings are flat. */
const MIN_SLICED_LENGTH = 13;
const NOT_LATIN1 = /[^\x00-\xff]/;
const scratch = Buffer.allocUnsafeSlow(4096) as NodeBuffer;

/** Copies `bytes` into a compact latin1 string. */
export function bytesToString(bytes: Uint8Array): string {
  const buf = (
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  ) as NodeBuffer;
  return buf.latin1Slice(0, buf.length);
}

/** `bytes[start, end)` as a new flat latin1 string (one char per byte). */
export const latin1 = latin1Of;

/** The bytes a string made by `bytesToString` (or any ASCII string) holds, in a new Buffer. */
export function stringToBytes(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** `s` as a flat string of its own (equal content), so it retains no larger parent string. */
export function ownString(s: string): string {
  if (s.length < MIN_SLICED_LENGTH) return s;
  const latin1 = !NOT_LATIN1.test(s);
  const bytes = latin1 ? s.length : s.length * 2;
  const buf = bytes <= scratch.length ? scratch : (Buffer.allocUnsafeSlow(bytes) as NodeBuffer);
  if (latin1) return buf.latin1Slice(0, buf.latin1Write(s, 0, bytes));
  return buf.ucs2Slice(0, buf.ucs2Write(s, 0, bytes));
}
