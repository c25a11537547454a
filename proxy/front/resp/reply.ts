/**
 * RESP2 reply encoding: every reply is one Buffer holding its exact wire bytes, so a connection
 * can queue replies that complete out of order and write a run of them at once. Pure.
 *
 *   +OK\r\n   -ERR message\r\n   :42\r\n   $3\r\nfoo\r\n   $-1\r\n   *2\r\n<reply><reply>   *-1\r\n
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
  return Buffer.from(`:${typeof n === 'bigint' ? n.toString() : Math.trunc(n).toString()}${CRLF}`);
}

/** `$len` + bytes (binary safe), or the null bulk for null. Strings are sent as UTF-8. */
export function bulk(value: Buffer | string | null): Buffer {
  if (value === null) return Replies.NULL_BULK;
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const header = `$${bytes.length}${CRLF}`;
  const out = Buffer.allocUnsafe(header.length + bytes.length + 2);
  out.write(header, 0, 'latin1');
  bytes.copy(out, header.length);
  out.write(CRLF, header.length + bytes.length, 'latin1');
  return out;
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
  let size = `*${bytes.length}${CRLF}`.length;
  for (const b of bytes) size += b === null ? 5 : `$${b.length}${CRLF}`.length + b.length + 2;
  const out = Buffer.allocUnsafe(size);
  let at = out.write(`*${bytes.length}${CRLF}`, 0, 'latin1');
  for (const b of bytes) {
    if (b === null) {
      at += out.write('$-1\r\n', at, 'latin1');
      continue;
    }
    at += out.write(`$${b.length}${CRLF}`, at, 'latin1');
    at += b.copy(out, at);
    at += out.write(CRLF, at, 'latin1');
  }
  return out;
}
