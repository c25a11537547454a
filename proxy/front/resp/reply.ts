/**
 * Reply encoding: every reply is one Buffer holding its exact wire bytes, so a connection can
 * queue replies that complete out of order and write a run of them at once. Pure.
 *
 *   +OK\r\n   -ERR message\r\n   :42\r\n   $3\r\nfoo\r\n   $-1\r\n   *2\r\n<reply><reply>   *-1\r\n
 *
 * Replies are encoded in RESP2. A connection that chose RESP3 (HELLO 3) gets them through
 * `resp3Nulls`, which rewrites RESP2's two null forms into RESP3's one (`_`); the commands whose
 * RESP3 reply is a map (HELLO, CONFIG GET) encode it with `map`, which knows the protocol. The
 * other RESP2 replies these commands give are valid RESP3 as they are.
 */
const CRLF = '\r\n';

/** Replies that never change, encoded once. */
export const Replies = {
  OK: Buffer.from('+OK\r\n'),
  PONG: Buffer.from('+PONG\r\n'),
  NULL_BULK: Buffer.from('$-1\r\n'),
  NULL_ARRAY: Buffer.from('*-1\r\n'),
  EMPTY_ARRAY: Buffer.from('*0\r\n'),
  ZERO: Buffer.from(':0\r\n'),
  ONE: Buffer.from(':1\r\n'),
} as const;

/** CR and LF cannot appear inside a status or error line: Redis turns them into spaces. */
const oneLine = (text: string): string => text.replace(/[\r\n]/g, ' ');

/** `+text` (a status reply such as OK or PONG). */
export function simple(text: string): Buffer {
  return Buffer.from(`+${oneLine(text)}${CRLF}`);
}

/** `-CODE message`: `line` starts with the error code (`ERR`, `WRONGPASS`, ...). */
export function error(line: string): Buffer {
  return Buffer.from(`-${oneLine(line)}${CRLF}`);
}

/** `:n` for any integer, up to signed 64 bits. */
export function integer(n: number | bigint): Buffer {
  if (n === 0) return Replies.ZERO;
  if (n === 1) return Replies.ONE;
  if (typeof n === 'number' && Number.isSafeInteger(n)) {
    // INCR's reply, among others: its digits written into the one allocation (a template string
    // and its encoding cost twice as much).
    if (n > 0) {
      const out = Buffer.allocUnsafe(digits(n) + 3);
      writeHeader(out, 0, 0x3a, n);
      return out;
    }
    const out = Buffer.allocUnsafe(digits(-n) + 4);
    out[0] = 0x3a;
    writeHeader(out, 1, 0x2d, -n);
    return out;
  }
  return Buffer.from(`:${typeof n === 'bigint' ? n.toString() : Math.trunc(n).toString()}${CRLF}`);
}

/** `$len` + bytes (binary safe), or the null bulk for null. Strings are sent as UTF-8. */
export function bulk(value: Buffer | string | null): Buffer {
  if (value === null) return Replies.NULL_BULK;
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const out = Buffer.allocUnsafe(bulkSize(bytes.length));
  writeBulk(out, 0, bytes);
  return out;
}

/*
 * Headers are written digit by digit into the reply's one allocation: GET and MGET replies are
 * made once per request, and a template string per header was a string and a copy each.
 */

/** Decimal digits of a length (a non-negative integer below 2^53). */
function digits(n: number): number {
  let d = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) d++;
  return d;
}

/** Bytes of `$len\r\n` + `len` bytes + `\r\n`. */
const bulkSize = (len: number): number => len + digits(len) + 5;

/** Writes `marker` `n` CRLF at `at` (n ≥ 0); returns the end. */
function writeHeader(out: Buffer, at: number, marker: number, n: number): number {
  out[at] = marker;
  let end = at + 1 + digits(n);
  for (let i = end - 1, x = n; i > at; i--, x = Math.floor(x / 10)) out[i] = 48 + (x % 10);
  out[end++] = 13;
  out[end++] = 10;
  return end;
}

/** Writes one bulk string (`$len`, the bytes, CRLF) at `at`; returns the end. */
function writeBulk(out: Buffer, at: number, bytes: Uint8Array): number {
  let end = writeHeader(out, at, 0x24, bytes.length);
  out.set(bytes, end);
  end += bytes.length;
  out[end++] = 13;
  out[end++] = 10;
  return end;
}

/** Values read by position (collection replies, SCAN keys). */
export interface BulkValues {
  readonly length: number;
  valueAt(i: number): Buffer | null;
}

/** Values read by position that copy themselves (MGET results: each value is copied straight from the node's reply bytes). */
export interface CopiedValues {
  readonly length: number;
  /** Bytes of value `i`, or -1 for null. */
  valueLength(i: number): number;
  /** Copies value `i` (not null) into `out` at `at`; returns the end. */
  copyValue(i: number, out: Uint8Array, at: number): number;
}

/** `bulkValues` for values that copy themselves: no Buffer or object per value. */
export function copiedBulkValues(values: CopiedValues): Buffer {
  const n = values.length;
  let size = digits(n) + 3;
  for (let i = 0; i < n; i++) {
    const length = values.valueLength(i);
    size += length < 0 ? 5 : bulkSize(length);
  }
  const out = Buffer.allocUnsafe(size);
  let at = writeHeader(out, 0, 0x2a, n);
  for (let i = 0; i < n; i++) {
    const length = values.valueLength(i);
    if (length < 0) {
      at += Replies.NULL_BULK.copy(out, at);
      continue;
    }
    at = writeHeader(out, at, 0x24, length);
    at = values.copyValue(i, out, at);
    out[at++] = 13;
    out[at++] = 10;
  }
  return out;
}

/** `*n` then each value as a bulk string or the null bulk, in one allocation and without an object per value. */
export function bulkValues(values: BulkValues): Buffer {
  return copiedBulkValues({
    length: values.length,
    valueLength: (i) => values.valueAt(i)?.length ?? -1,
    copyValue: (i, out, at) => {
      const v = values.valueAt(i) as Buffer;
      out.set(v, at);
      return at + v.length;
    },
  });
}

/** A set of encoded replies: `~n` + each in RESP3 (SMEMBERS, SINTER ...), an array in RESP2. */
export function setOf(items: readonly Buffer[], protocol: 2 | 3): Buffer {
  if (protocol === 2) return array(items);
  return Buffer.concat([Buffer.from(`~${items.length}${CRLF}`), ...items]);
}

/** A map of encoded replies: `%n` + key, value ... in RESP3, a flat array of 2n in RESP2. */
export function map(pairs: ReadonlyArray<readonly [Buffer, Buffer]>, protocol: 2 | 3): Buffer {
  const head = Buffer.from(protocol === 3 ? `%${pairs.length}${CRLF}` : `*${2 * pairs.length}${CRLF}`);
  return Buffer.concat([head, ...pairs.flat()]);
}

const RESP3_NULL = Buffer.from('_\r\n');
/** What every null reply ends with (`$-1\r\n`, `*-1\r\n`): a reply without it has no null. */
const NULL_TAIL = Buffer.from('-1\r\n');

/**
 * The RESP3 form of one RESP2-encoded reply: each `$-1` and `*-1`, at any depth, becomes `_`.
 * Walks the reply's structure (bulk bodies are skipped by their lengths, so bytes inside a value
 * are never taken for a null); returns `reply` itself when it holds no null. O(reply length).
 */
export function resp3Nulls(reply: Buffer): Buffer {
  if (reply.indexOf(NULL_TAIL) < 0) return reply;
  const parts: Buffer[] = [];
  let copied = 0;
  let at = 0;
  let pending = 1;
  while (pending > 0 && at < reply.length) {
    pending--;
    const type = reply[at];
    const eol = reply.indexOf(13, at);
    if (eol < 0) break; // not a whole reply: leave the rest as it is
    const sized = type === 0x24 || type === 0x3d || type === 0x21; // $ bulk, = verbatim, ! bulk error: a length, then the body
    const counted = type === 0x2a || type === 0x7e || type === 0x3e; // * array, ~ set, > push: a count of replies
    const paired = type === 0x25 || type === 0x7c; // % map, | attribute: a count of pairs
    if (sized || counted || paired) {
      let n = 0;
      const negative = reply[at + 1] === 0x2d;
      let i = at + (negative ? 2 : 1);
      for (; i < eol && reply[i] >= 48 && reply[i] <= 57; i++) n = n * 10 + (reply[i] - 48);
      if (i !== eol) break; // not a length: not a reply this front wrote; leave the rest as it is
      if (negative) {
        parts.push(reply.subarray(copied, at), RESP3_NULL);
        copied = at = eol + 2;
      } else if (sized) {
        at = eol + 2 + n + 2;
      } else {
        pending += paired ? 2 * n : n;
        at = eol + 2;
      }
    } else {
      at = eol + 2; // a one-line reply: + - : and RESP3's , # _ (
    }
  }
  if (parts.length === 0) return reply;
  parts.push(reply.subarray(copied));
  return Buffer.concat(parts);
}

/** `*n` followed by `items`, each already an encoded reply; null is the null array. */
export function array(items: readonly Buffer[] | null): Buffer {
  if (items === null) return Replies.NULL_ARRAY;
  if (items.length === 0) return Replies.EMPTY_ARRAY;
  return Buffer.concat([Buffer.from(`*${items.length}${CRLF}`), ...items]);
}

/** An array of bulk strings (null elements are null bulks), encoded in one allocation. */
export function bulkArray(values: ReadonlyArray<Buffer | string | null>): Buffer {
  const bytes = values.map((v) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v));
  return bulkValues({ length: bytes.length, valueAt: (i) => bytes[i] });
}
