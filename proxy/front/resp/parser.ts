import { ChunkQueue } from './chunks';
import { splitInline } from './inline';

/** Limits of one connection's parser; every one is checked before the bytes it announces arrive. */
export interface ParserLimits {
  /** Longest bulk string (Redis `proto-max-bulk-len`). */
  maxBulkBytes: number;
  /** Most elements in one request array. */
  maxMultibulk: number;
  /** Most bytes held for one incomplete command (Redis `client-query-buffer-limit`). */
  maxQueryBytes: number;
  /** Longest inline command or length line (Redis PROTO_INLINE_MAX_SIZE, 64 KiB). */
  maxInlineBytes?: number;
}

/** What `next()` returns: a command's arguments, or the protocol error that ends the connection. */
export type ParseItem = { kind: 'command'; args: Buffer[] } | { kind: 'error'; message: string };

/** Protocol errors, worded as Redis words them (the connection prefixes `ERR `). */
export const ProtocolErrors = {
  bulkLength: 'Protocol error: invalid bulk length',
  multibulkLength: 'Protocol error: invalid multibulk length',
  bigBulkCount: 'Protocol error: too big bulk count string',
  bigMultibulkCount: 'Protocol error: too big mbulk count string',
  bigInline: 'Protocol error: too big inline request',
  unbalancedQuotes: 'Protocol error: unbalanced quotes in request',
  queryBuffer: 'Protocol error: query buffer limit exceeded',
  expectedDollar: (got: number): string => `Protocol error: expected '$', got '${String.fromCharCode(got)}'`,
} as const;

const STAR = 0x2a;
const DOLLAR = 0x24;
const CR = 0x0d;
const DEFAULT_INLINE_BYTES = 64 * 1024;
/** Digits beyond this cannot be a valid length under any limit we accept (< 2^53). */
const MAX_LENGTH_DIGITS = 15;

/**
 * The value of a length line's digits after its type byte, Redis `string2ll` style: `0` or an
 * optional `-` and digits without a leading zero. NaN when malformed, Infinity when too long.
 */
export function parseLength(line: Buffer, from: number, end: number = line.length): number {
  let i = from;
  const negative = line[i] === 0x2d;
  if (negative) i++;
  const digits = end - i;
  if (digits <= 0 || (line[i] === 0x30 && (digits > 1 || negative))) return NaN;
  let value = 0;
  for (let j = i; j < end; j++) {
    const d = line[j] - 0x30;
    if (d < 0 || d > 9) return NaN;
    value = value * 10 + d;
  }
  if (digits > MAX_LENGTH_DIGITS) return negative ? -Infinity : Infinity;
  return negative ? -value : value;
}

/**
 * The length of a `*<n>` or `$<n>` header line (bytes `start` to `end`, CR LF excluded), read in
 * place: no view of the line is made (two per header line before, three header lines per GET).
 */
const parseHeaderLength = (bytes: Buffer, start: number, end: number): number => parseLength(bytes, start + 1, end);

/**
 * Incremental RESP2 request parser: arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and
 * inline commands (`GET k\r\n`), fed TCP chunks as they come and pulled one command at a time, so
 * the caller decides how many commands it takes on (backpressure). Pure: no sockets, no clocks.
 *
 *   push(chunk) ─► ChunkQueue ─► next(): { command, args } | { error } | undefined (needs more)
 *
 * What stays true:
 * - A length header is checked against its limit before anything is done with it; nothing is ever
 *   allocated from a header, only from bytes already received (a bulk's bytes are copied once,
 *   when complete, or not at all when they lie in one chunk).
 * - The bytes held for an incomplete command never exceed `maxQueryBytes` plus one chunk: past
 *   it, `next()` answers a protocol error.
 * - After an error the parser drops its input and answers `undefined` forever: the connection
 *   must send the error and close, as Redis does.
 * Arguments may be views of the pushed chunks; they stay valid as long as the caller keeps them.
 */
export class RespParser {
  readonly #input = new ChunkQueue();
  readonly #limits: Required<ParserLimits>;
  /** Elements of the array being read, or 0 when between commands. */
  #count = 0;
  #args: Buffer[] = [];
  /** Length of the bulk being read, or -1 while its header is awaited. */
  #bulkLength = -1;
  /** Bytes of the arguments already read for the current command. */
  #argBytes = 0;
  #failed = false;
  #lastInline = false;

  constructor(limits: ParserLimits) {
    this.#limits = { maxInlineBytes: DEFAULT_INLINE_BYTES, ...limits };
  }

  /** Whether the last command returned came as an inline line (not an array of bulks). */
  get lastInline(): boolean {
    return this.#lastInline;
  }

  /** Bytes held for commands not yet returned. */
  get bufferedBytes(): number {
    return this.#input.length + this.#argBytes;
  }

  push(chunk: Buffer): void {
    if (!this.#failed) this.#input.push(chunk);
  }

  /** The next complete command, a protocol error, or undefined when more input is needed. */
  next(): ParseItem | undefined {
    while (!this.#failed) {
      const item = this.#count > 0 ? this.#continueArray() : this.#startCommand();
      if (item !== null) return item;
    }
    return undefined;
  }

  /** Drops everything held (the connection is closing). */
  reset(): void {
    this.#input.clear();
    this.#args = [];
    this.#count = 0;
    this.#argBytes = 0;
    this.#bulkLength = -1;
  }

  /** An item, undefined (needs more input) or null (an empty command was skipped: go on). */
  #startCommand(): ParseItem | undefined | null {
    if (this.#input.length === 0) return undefined;
    if (this.#input.peek() !== STAR) return this.#inline();
    const at = this.#lineEnd(ProtocolErrors.bigMultibulkCount);
    if (typeof at !== 'number') return at;
    const count = this.#input.consumeLine(at, parseHeaderLength);
    if (Number.isNaN(count) || count > this.#limits.maxMultibulk) return this.#fail(ProtocolErrors.multibulkLength);
    this.#count = Math.max(0, count); // `*0` and `*-1` are skipped, as Redis does
    return null;
  }

  /** Reads bulks until the array is complete; undefined when more input is needed. */
  #continueArray(): ParseItem | undefined {
    while (this.#args.length < this.#count) {
      if (this.#bulkLength < 0) {
        const failure = this.#readBulkHeader();
        if (failure !== null) return failure;
      }
      if (this.#input.length < this.#bulkLength + 2) return this.#needMore();
      this.#args.push(this.#input.take(this.#bulkLength));
      this.#input.skip(2); // the CRLF after the bulk, not checked (as Redis)
      this.#argBytes += this.#bulkLength;
      this.#bulkLength = -1;
    }
    const args = this.#args;
    this.#args = [];
    this.#count = 0;
    this.#argBytes = 0;
    this.#lastInline = false;
    return { kind: 'command', args };
  }

  /** Sets `#bulkLength` from the next `$<n>` line; returns null on success, else what to answer. */
  #readBulkHeader(): ParseItem | undefined | null {
    if (this.#input.length === 0) return this.#needMore();
    const type = this.#input.peek();
    if (type !== DOLLAR) return this.#fail(ProtocolErrors.expectedDollar(type));
    const at = this.#lineEnd(ProtocolErrors.bigBulkCount);
    if (typeof at !== 'number') return at;
    const length = this.#input.consumeLine(at, parseHeaderLength);
    if (Number.isNaN(length) || length < 0 || length > this.#limits.maxBulkBytes) return this.#fail(ProtocolErrors.bulkLength);
    if (this.#argBytes + length > this.#limits.maxQueryBytes) return this.#fail(ProtocolErrors.queryBuffer);
    this.#bulkLength = length;
    return null;
  }

  /** An inline command (`GET k\r\n`): its arguments, undefined when incomplete, null when empty. */
  #inline(): ParseItem | undefined | null {
    const at = this.#lineEnd(ProtocolErrors.bigInline);
    if (typeof at !== 'number') return at;
    const raw = this.#input.take(at + 1);
    const end = at > 0 && raw[at - 1] === CR ? at - 1 : at;
    const args = splitInline(raw.subarray(0, end));
    if (args === null) return this.#fail(ProtocolErrors.unbalancedQuotes);
    if (args.length === 0) return null;
    this.#lastInline = true;
    return { kind: 'command', args };
  }

  /** Where the next line's '\n' is (from the first unread byte); undefined when incomplete, or an error when too long. */
  #lineEnd(tooLong: string): number | { kind: 'error'; message: string } | undefined {
    const at = this.#input.indexOfNewline(this.#limits.maxInlineBytes);
    if (at === -2) return this.#fail(tooLong);
    if (at === -1) return this.#needMore();
    return at;
  }

  #needMore(): undefined | { kind: 'error'; message: string } {
    return this.bufferedBytes > this.#limits.maxQueryBytes ? this.#fail(ProtocolErrors.queryBuffer) : undefined;
  }

  #fail(message: string): { kind: 'error'; message: string } {
    this.#failed = true;
    this.reset();
    return { kind: 'error', message };
  }
}
