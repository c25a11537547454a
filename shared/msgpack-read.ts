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

/**
 * The big-endian unsigned number of `width` bytes (1, 2 or 4; 0: the tag was not the kind asked
 * for) after the tag at `p`, into `read`; false when it is not there.
 */
function sized(b: Uint8Array, p: number, end: number, width: number): boolean {
  const at = p + 1 + width;
  if (width === 0 || at > end) return false;
  read.n = width === 1 ? b[p + 1] : width === 2 ? (b[p + 1] << 8) | b[p + 2] : b[p + 1] * 0x1000000 + ((b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4]);
  read.at = at;
  return true;
}

/** A msgpack unsigned integer (positive fixint, uint 8/16/32/64) at `p` that is a safe integer. */
export function readUint(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  if (t <= 0x7f) {
    read.n = t;
    read.at = p + 1;
    return true;
  }
  if (t !== 0xcf) return sized(b, p, end, t === 0xcc ? 1 : t === 0xcd ? 2 : t === 0xce ? 4 : 0);
  if (!sized(b, p, end - 4, 4)) return false; // the high word, with room for the low one
  const high = read.n;
  if (high > 0x1fffff) return false; // past Number.MAX_SAFE_INTEGER: msgpackr makes a bigint
  read.n = high * 0x100000000 + b[p + 5] * 0x1000000 + ((b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]);
  read.at = p + 9;
  return true;
}

/** A bin 8/16/32 header at `p` whose bytes end before `end`: `read.n` is their length, `read.at` where they start. */
export function readBinHeader(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  return sized(b, p, end, t === 0xc4 ? 1 : t === 0xc5 ? 2 : t === 0xc6 ? 4 : 0) && read.at + read.n <= end;
}

/** An array header (fixarray, array 16/32) at `p`: `read.n` is its count. */
export function readArrayHeader(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  if (t < 0x90 || t > 0x9f) return sized(b, p, end, t === 0xdc ? 2 : t === 0xdd ? 4 : 0);
  read.n = t & 0x0f;
  read.at = p + 1;
  return true;
}
