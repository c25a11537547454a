import { Buffer } from 'node:buffer';

/**
 * `Buffer`'s own one-byte-string methods, which its typings leave out: `latin1Slice` copies bytes
 * into a V8 one-byte string (one char per byte, no decoding), `latin1Write` the other way.
 * `Buffer` is imported rather than read from the global object: under a `vm` context (jest) every
 * global lookup goes through an interceptor.
 */
export interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

/** `bytes[start, end)` as a new flat one-byte string, one char per byte. */
export function latin1(bytes: Buffer, start: number, end: number): string {
  return (bytes as Latin1Buffer).latin1Slice(start, end);
}
