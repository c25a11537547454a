import { Limits, Status } from '../../shared/protocol';
import { buildReply, ENTRY, MGET } from '../../shared/ops';
import { read, readArrayHeader, readBinHeader, readUint } from '../../shared/msgpack-read';

/**
 * MGET's OK reply read in place from the node's frame, instead of through msgpackr: msgpackr
 * makes an array and a Buffer for each key's entry (`[value, version, expiresAt, flags]`), and an
 * MGET costs its keys' objects twice over, once decoded and once collected. Here each group's
 * entries are one `MgetView`: the frame's bytes and one Float64Array of five numbers per key; the
 * RESP reply copies each value straight from them (`copyValue`). The view keeps the socket chunk
 * the frame came in (or the buffer a frame cut by a chunk border was assembled in) until the MGET
 * is answered, as msgpackr's value Buffers did for a group with a hit; the decoder never writes
 * into bytes it has handed out (`shared/frame.ts`).
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

/**
 * The MGET OK reply in `bytes[start, end)` as `[id, OK, MgetView]` (and a trailing `true` when a
 * resyncing replica answered), the shape msgpackr gives with the view in place of the entries
 * array; undefined for any other frame (it is then decoded generically). Never throws.
 */
export function readMgetReply(bytes: Buffer, start: number, end: number): unknown[] | undefined {
  const head = bytes[start];
  if ((head !== 0x93 && head !== 0x94) || !readUint(bytes, start + 1, end)) return undefined;
  const id = read.n;
  let pos = read.at;
  if (pos >= end || bytes[pos] !== Status.OK || !readArrayHeader(bytes, pos + 1, end)) return undefined;
  const count = read.n;
  pos = read.at;
  // No MGET asks a node for more than MAX_BATCH_KEYS keys, and each entry takes at least one byte:
  // a count past either is left to msgpackr (and the count check of `parseMget`), before any allocation.
  if (count > Limits.MAX_BATCH_KEYS || count > end - pos) return undefined;
  const fields = new Float64Array(PER_KEY * count);
  for (let k = 0; k < count; k++) {
    const at = PER_KEY * k;
    if (pos >= end) return undefined;
    if (bytes[pos] === 0xc0) {
      pos++;
      fields[at] = -1;
      continue;
    }
    if (bytes[pos] !== 0x94 || !readBinHeader(bytes, pos + 1, end)) return undefined;
    fields[at] = read.at;
    fields[at + 1] = pos = read.at + read.n;
    for (let f = 2; f < PER_KEY; f++) {
      if (!readUint(bytes, pos, end)) return undefined; // version, expiresAt, flags
      fields[at + f] = read.n;
      pos = read.at;
    }
  }
  let stale = false;
  if (head === 0x94) {
    if (pos >= end || bytes[pos++] !== 0xc3) return undefined;
    stale = true;
  }
  if (pos !== end) return undefined;
  const view = new MgetView(bytes, fields, count, stale);
  // The view stands where msgpackr would put the entries array (`parseMget` takes either).
  const entries = view as unknown as Parameters<typeof buildReply<typeof MGET.ok>>[2];
  return stale ? buildReply(MGET.ok, id, entries, true) : buildReply(MGET.ok, id, entries);
}
