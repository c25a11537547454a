import { encodeFrame, FRAME_HEADER_BYTES } from '../shared/frame';
import { Op, Status } from '../shared/protocol';

/**
 * What the load generator says on the wire, for each protocol it speaks: request encoders and a
 * reply counter. Pure: no sockets, no clocks.
 *
 *   frame:  [len][msgpack [id, op, ...]]          replies [len][msgpack [id, status, ...]]
 *   resp:   *3\r\n$3\r\nSET\r\n$n\r\nkey\r\n...   replies +OK / $n body / $-1 / -ERR / :n
 *
 * A reply counter reads only what it needs to tell replies apart and classify them (ok, miss,
 * error); it never decodes values, so counting costs no allocation beyond a carried partial frame.
 */
export type Protocol = 'frame' | 'resp';

/** Counts complete replies in a byte stream; chunks may split replies anywhere. */
export interface ReplyCounter {
  /** Feeds one chunk; returns how many replies it completed. Throws on bytes it cannot read. */
  push(chunk: Buffer): number;
  /** Replies that were a miss (GET of a missing key). */
  readonly misses: number;
  /** Replies that were an error. */
  readonly errors: number;
}

/** Request encoders and reply counter of one protocol. */
export interface Codec {
  encodeSet(id: number, key: string, value: Buffer): Buffer;
  encodeGet(id: number, key: string): Buffer;
  newReplyCounter(): ReplyCounter;
}

/** Namespace the benchmark writes to on a storage node. */
export const BENCH_NAMESPACE = 'bench';

/** Key of item `i` (from 1): `key:0000001`. */
export function benchKey(i: number): string {
  return `key:${String(i).padStart(7, '0')}`;
}

/** The codec speaking `protocol`. */
export function codecFor(protocol: Protocol): Codec {
  return protocol === 'frame' ? FRAME_CODEC : RESP_CODEC;
}

const FRAME_CODEC: Codec = {
  encodeSet: (id, key, value) => encodeFrame([id, Op.SET, 0, BENCH_NAMESPACE, key, value, 0, 0, 0, 0, null]),
  encodeGet: (id, key) => encodeFrame([id, Op.GET, BENCH_NAMESPACE, key]),
  newReplyCounter: () => new FrameReplyCounter(),
};

/** Bytes taken by a msgpack number (int or float) whose first byte is `tag`, or -1 if it is not one. */
function msgpackNumberBytes(tag: number): number {
  if (tag < 0x80 || tag >= 0xe0) return 1; // positive / negative fixint
  if (tag === 0xcc || tag === 0xd0) return 2;
  if (tag === 0xcd || tag === 0xd1) return 3;
  if (tag === 0xce || tag === 0xd2 || tag === 0xca) return 5;
  if (tag === 0xcf || tag === 0xd3 || tag === 0xcb) return 9;
  return -1;
}

/**
 * Counts node replies `[len][fixarray, id, status, ...]` by their length prefix and reads the
 * status byte; keeps the tail of a frame cut by a chunk border until the next chunk.
 */
export class FrameReplyCounter implements ReplyCounter {
  misses = 0;
  errors = 0;
  #carry: Buffer | null = null;

  push(input: Buffer): number {
    const chunk = this.#carry ? Buffer.concat([this.#carry, input]) : input;
    this.#carry = null;
    let offset = 0;
    let replies = 0;
    while (chunk.length - offset >= FRAME_HEADER_BYTES) {
      const end = offset + FRAME_HEADER_BYTES + chunk.readUInt32BE(offset);
      if (end > chunk.length) break;
      this.#classify(chunk, offset + FRAME_HEADER_BYTES, end);
      replies++;
      offset = end;
    }
    if (offset < chunk.length) this.#carry = chunk.subarray(offset);
    return replies;
  }

  #classify(chunk: Buffer, start: number, end: number): void {
    const arrayTag = chunk[start];
    const idBytes = start + 1 < end ? msgpackNumberBytes(chunk[start + 1]) : -1;
    const statusAt = start + 1 + idBytes;
    if ((arrayTag & 0xf0) !== 0x90 || idBytes < 0 || statusAt >= end) throw new Error('unreadable reply frame');
    const status = chunk[statusAt];
    if (status === Status.MISS) this.misses++;
    else if (status !== Status.OK) this.errors++;
  }
}

const CR = 0x0d;
const LF = 0x0a;

/** Where a RESP reply counter is inside the current reply. */
const enum RespState {
  START,
  LINE,
  BULK_LENGTH,
  BULK_BODY,
}

/**
 * Counts RESP2 replies of single commands: simple strings, errors, integers and bulk strings
 * (arrays are not expected from SET/GET and are refused). Bulk bodies are skipped, not read.
 */
export class RespReplyCounter implements ReplyCounter {
  misses = 0;
  errors = 0;
  #state = RespState.START;
  #bulkLength = 0;
  #negative = false;
  #remaining = 0;
  #completed = 0;

  push(chunk: Buffer): number {
    const before = this.#completed;
    let i = 0;
    while (i < chunk.length) {
      switch (this.#state) {
        case RespState.START:
          this.#start(chunk[i++]);
          break;
        case RespState.LINE:
          i = this.#line(chunk, i);
          break;
        case RespState.BULK_LENGTH:
          i = this.#bulkLengthByte(chunk[i], i);
          break;
        case RespState.BULK_BODY:
          i = this.#body(chunk, i);
          break;
      }
    }
    return this.#completed - before;
  }

  #finish(): void {
    this.#state = RespState.START;
    this.#completed++;
  }

  #start(type: number): void {
    if (type === 0x2b || type === 0x3a) this.#state = RespState.LINE; // '+' ':'
    else if (type === 0x2d) {
      this.errors++; // '-'
      this.#state = RespState.LINE;
    } else if (type === 0x24) {
      this.#bulkLength = 0; // '$'
      this.#negative = false;
      this.#state = RespState.BULK_LENGTH;
    } else throw new Error(`unexpected RESP reply type byte 0x${type.toString(16)}`);
  }

  #line(chunk: Buffer, i: number): number {
    const lf = chunk.indexOf(LF, i);
    if (lf < 0) return chunk.length;
    this.#finish();
    return lf + 1;
  }

  #bulkLengthByte(byte: number, i: number): number {
    if (byte >= 0x30 && byte <= 0x39) this.#bulkLength = this.#bulkLength * 10 + (byte - 0x30);
    else if (byte === 0x2d) this.#negative = true;
    else if (byte === LF) this.#endBulkLength();
    else if (byte !== CR) throw new Error('unreadable RESP bulk length');
    return i + 1;
  }

  #endBulkLength(): void {
    if (this.#negative) {
      this.misses++;
      this.#finish();
      return;
    }
    this.#remaining = this.#bulkLength + 2; // body and its CRLF
    this.#state = RespState.BULK_BODY;
  }

  #body(chunk: Buffer, i: number): number {
    const take = Math.min(this.#remaining, chunk.length - i);
    this.#remaining -= take;
    if (this.#remaining === 0) this.#finish();
    return i + take;
  }
}

const SET_HEAD = Buffer.from('*3\r\n$3\r\nSET\r\n$');
const GET_HEAD = Buffer.from('*2\r\n$3\r\nGET\r\n$');

/** Writes `$len\r\n` (after the head's `$`), the ASCII key and CRLF; returns the next offset. */
function writeRespKey(buf: Buffer, offset: number, key: string): number {
  let at = offset + buf.write(`${key.length}\r\n`, offset, 'latin1');
  at += buf.write(key, at, 'latin1');
  buf[at++] = CR;
  buf[at++] = LF;
  return at;
}

/** Encodes `SET key value` as a RESP array of bulk strings (keys are ASCII). */
export function encodeRespSet(key: string, value: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(SET_HEAD.length + 2 * 24 + key.length + value.length);
  let at = SET_HEAD.copy(buf, 0);
  at = writeRespKey(buf, at, key);
  at += buf.write(`$${value.length}\r\n`, at, 'latin1');
  at += value.copy(buf, at);
  buf[at++] = CR;
  buf[at++] = LF;
  return buf.subarray(0, at);
}

/** Encodes `GET key` as a RESP array of bulk strings (keys are ASCII). */
export function encodeRespGet(key: string): Buffer {
  const buf = Buffer.allocUnsafe(GET_HEAD.length + 24 + key.length);
  const end = writeRespKey(buf, GET_HEAD.copy(buf, 0), key);
  return buf.subarray(0, end);
}

const RESP_CODEC: Codec = {
  encodeSet: (_id, key, value) => encodeRespSet(key, value),
  encodeGet: (_id, key) => encodeRespGet(key),
  newReplyCounter: () => new RespReplyCounter(),
};
