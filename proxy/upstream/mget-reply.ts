import { Status } from '../../shared/protocol';
import { ENTRY, MGET } from '../../shared/ops';

/**
 * MGET's OK reply read in place from the node's frame, instead of through msgpackr: msgpackr
 * makes an array and a Buffer for each key's entry (`[value, version, expiresAt, flags]`), and an
 * MGET costs its keys' objects twice over, once decoded and once collected. Here each group's
 * entries are one `MgetView`: the frame's bytes (the socket chunk they arrived in, which msgpackr's
 * value Buffers kept alive too) and one Float64Array of five numbers per key; the RESP reply
 * copies each value straight from the chunk (`copyValue`).
 *
 *   [id, OK, [entry | nil, ...], resync?]     entry = [bin value, uint version, uint expiresAt, uint flags]
 *
 * The reader takes only what a node writes (`storage-node/reply-writer.ts`): a strict subset of
 * plain msgpack (no maps, strings, floats, extensions), so `checkPlain`'s guard holds for what it
 * takes, and every read stays inside the frame. Anything else, an error status for one, returns
 * undefined and the frame goes to msgpackr as before: same result, slower. Written by hand: it is
 * the decoder of every MGET reply.
 */

// The reader walks the fields in this order: a change to the table must change it too.
if (MGET.ok.fields.join() !== 'entries,resync' || ENTRY.fields.join() !== 'value,version,expiresAt,flags') {
  throw new Error('proxy/upstream/mget-reply.ts: readMgetReply reads MGET replies in an order the op table no longer has');
}

/** Numbers kept per key: value start (-1: missing), value end, version, expiresAt, flags. */
const PER_KEY = 5;

/** The entries of one MGET reply, by key position; no object per key. */
export class MgetView {
  /** The frame's bytes; each value is a range of them. */
  readonly bytes: Buffer;
  readonly count: number;
  /** A resyncing replica answered (MGET.ok's trailing `true`). */
  readonly stale: boolean;
  readonly #fields: Float64Array;

  constructor(bytes: Buffer, fields: Float64Array, count: number, stale: boolean) {
    this.bytes = bytes;
    this.#fields = fields;
    this.count = count;
    this.stale = stale;
  }

  /** Bytes of key `k`'s value, or -1 when the key was missing. */
  valueLength(k: number): number {
    const f = this.#fields;
    const start = f[PER_KEY * k];
    return start < 0 ? -1 : f[PER_KEY * k + 1] - start;
  }

  /** Copies key `k`'s value (present) into `out` at `at`; returns the end. */
  copyValue(k: number, out: Uint8Array, at: number): number {
    const f = this.#fields;
    return at + this.bytes.copy(out, at, f[PER_KEY * k], f[PER_KEY * k + 1]);
  }

  /** Key `k`'s value as a view of the frame's bytes, or null when it was missing. */
  value(k: number): Buffer | null {
    const f = this.#fields;
    const start = f[PER_KEY * k];
    return start < 0 ? null : this.bytes.subarray(start, f[PER_KEY * k + 1]);
  }

  version(k: number): number {
    return this.#fields[PER_KEY * k + 2];
  }

  expiresAt(k: number): number {
    return this.#fields[PER_KEY * k + 3];
  }

  flags(k: number): number {
    return this.#fields[PER_KEY * k + 4];
  }
}

/** Where the reader is in the frame; -1 once it gave up. */
let pos = 0;

/** A msgpack unsigned integer at `pos` (as the node writes it) that is a safe number; -1 when it is not one. */
function readUint(b: Uint8Array, end: number): number {
  if (pos >= end) return -1;
  const t = b[pos];
  if (t <= 0x7f) {
    pos += 1;
    return t;
  }
  let size: number;
  if (t === 0xcc) size = 1;
  else if (t === 0xcd) size = 2;
  else if (t === 0xce) size = 4;
  else if (t === 0xcf) size = 8;
  else return -1;
  if (pos + 1 + size > end) return -1;
  let p = pos + 1;
  pos = p + size;
  if (size === 1) return b[p];
  if (size === 2) return b[p] * 0x100 + b[p + 1];
  const hi = b[p] * 0x1000000 + b[p + 1] * 0x10000 + b[p + 2] * 0x100 + b[p + 3];
  if (size === 4) return hi;
  if (hi >= 0x200000) return -1; // past 2^53: msgpackr makes a bigint, which the generic path keeps
  p += 4;
  return hi * 0x100000000 + b[p] * 0x1000000 + b[p + 1] * 0x10000 + b[p + 2] * 0x100 + b[p + 3];
}

/** An array header at `pos`: its length, or -1 when there is none. */
function readArrayHeader(b: Uint8Array, end: number): number {
  if (pos >= end) return -1;
  const t = b[pos];
  if (t >= 0x90 && t <= 0x9f) {
    pos += 1;
    return t & 0x0f;
  }
  if (t === 0xdc && pos + 3 <= end) {
    pos += 3;
    return b[pos - 2] * 0x100 + b[pos - 1];
  }
  if (t === 0xdd && pos + 5 <= end) {
    pos += 5;
    return b[pos - 4] * 0x1000000 + b[pos - 3] * 0x10000 + b[pos - 2] * 0x100 + b[pos - 1];
  }
  return -1;
}

/** A bin header at `pos`: the value's length, or -1 when there is none or it overruns the frame. */
function readBinHeader(b: Uint8Array, end: number): number {
  if (pos >= end) return -1;
  const t = b[pos];
  let length: number;
  if (t === 0xc4 && pos + 2 <= end) {
    length = b[pos + 1];
    pos += 2;
  } else if (t === 0xc5 && pos + 3 <= end) {
    length = b[pos + 1] * 0x100 + b[pos + 2];
    pos += 3;
  } else if (t === 0xc6 && pos + 5 <= end) {
    length = b[pos + 1] * 0x1000000 + b[pos + 2] * 0x10000 + b[pos + 3] * 0x100 + b[pos + 4];
    pos += 5;
  } else return -1;
  return pos + length <= end ? length : -1;
}

/**
 * The MGET OK reply in `bytes[start, end)` as `[id, OK, MgetView]` (and a trailing `true` when a
 * resyncing replica answered), the shape msgpackr gives with the view in place of the entries
 * array; undefined for any other frame (it is then decoded generically). Never throws.
 */
export function readMgetReply(bytes: Buffer, start: number, end: number): unknown[] | undefined {
  pos = start;
  const head = bytes[pos++];
  if (head !== 0x93 && head !== 0x94) return undefined;
  const id = readUint(bytes, end);
  if (id < 0 || pos >= end || bytes[pos++] !== Status.OK) return undefined;
  const count = readArrayHeader(bytes, end);
  // Each entry takes at least one byte: a count past the bytes left is refused before any allocation.
  if (count < 0 || count > end - pos) return undefined;
  const fields = new Float64Array(PER_KEY * count);
  for (let k = 0; k < count; k++) {
    const at = PER_KEY * k;
    if (pos >= end) return undefined;
    if (bytes[pos] === 0xc0) {
      pos++;
      fields[at] = -1;
      continue;
    }
    if (bytes[pos++] !== 0x94) return undefined;
    const length = readBinHeader(bytes, end);
    if (length < 0) return undefined;
    fields[at] = pos;
    pos += length;
    fields[at + 1] = pos;
    const version = readUint(bytes, end);
    const expiresAt = readUint(bytes, end);
    const flags = readUint(bytes, end);
    if (version < 0 || expiresAt < 0 || flags < 0) return undefined;
    fields[at + 2] = version;
    fields[at + 3] = expiresAt;
    fields[at + 4] = flags;
  }
  let stale = false;
  if (head === 0x94) {
    if (pos >= end || bytes[pos++] !== 0xc3) return undefined;
    stale = true;
  }
  if (pos !== end) return undefined;
  const view = new MgetView(bytes, fields, count, stale);
  return stale ? [id, Status.OK, view, true] : [id, Status.OK, view];
}
