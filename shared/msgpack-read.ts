/**
 * Plain msgpack read in place, for the decoders that take the commonest frames without msgpackr:
 * the storage node's GET/SET/INCR/MGET requests (`storage-node/validate.ts`) and the proxy's MGET
 * replies (`proxy/upstream/mget-reply.ts`). Each reader looks at `b[p]`, never reads at or past
 * `end`, and on success leaves what it read in `read.n` and the position after it in `read.at`
 * (one shared result: no object per call); on anything else it returns false and the caller hands
 * the frame to msgpackr. Written by hand: these run per field of every such frame.
 */

/** The last reader's result: its number (a value, a length, a count) and the position after what it read. */
export const read = { n: 0, at: 0 };

/** A msgpack unsigned integer (positive fixint, uint 8/16/32/64) at `p` that is a safe integer. */
export function readUint(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  if (t <= 0x7f) {
    read.n = t;
    read.at = p + 1;
    return true;
  }
  if (t === 0xcc && p + 2 <= end) {
    read.n = b[p + 1];
    read.at = p + 2;
  } else if (t === 0xcd && p + 3 <= end) {
    read.n = (b[p + 1] << 8) | b[p + 2];
    read.at = p + 3;
  } else if (t === 0xce && p + 5 <= end) {
    read.n = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    read.at = p + 5;
  } else if (t === 0xcf && p + 9 <= end) {
    const high = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    if (high > 0x1fffff) return false; // past Number.MAX_SAFE_INTEGER: msgpackr makes a bigint
    read.n = high * 0x100000000 + b[p + 5] * 0x1000000 + ((b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]);
    read.at = p + 9;
  } else return false;
  return true;
}

/** A bin 8/16/32 header at `p` whose bytes end before `end`: `read.n` is their length, `read.at` where they start. */
export function readBinHeader(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  let length: number;
  let at: number;
  if (t === 0xc4 && p + 2 <= end) {
    length = b[p + 1];
    at = p + 2;
  } else if (t === 0xc5 && p + 3 <= end) {
    length = (b[p + 1] << 8) | b[p + 2];
    at = p + 3;
  } else if (t === 0xc6 && p + 5 <= end) {
    length = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    at = p + 5;
  } else return false;
  if (at + length > end) return false;
  read.n = length;
  read.at = at;
  return true;
}

/** An array header (fixarray, array 16/32) at `p`: `read.n` is its count. */
export function readArrayHeader(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  if (t >= 0x90 && t <= 0x9f) {
    read.n = t & 0x0f;
    read.at = p + 1;
  } else if (t === 0xdc && p + 3 <= end) {
    read.n = (b[p + 1] << 8) | b[p + 2];
    read.at = p + 3;
  } else if (t === 0xdd && p + 5 <= end) {
    read.n = b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
    read.at = p + 5;
  } else return false;
  return true;
}
