import { RESERVE_START_SPACE } from 'msgpackr';
import { packr, unpackPlain } from './msgpack';
import { FrameTooLargeError, ProtocolError } from './errors';
import { Limits } from './protocol';

/**
 * Frame codec (contract): a frame is a 4-byte big-endian payload length followed by one msgpack
 * array. The decoder is incremental: TCP chunks may split a frame anywhere or carry many frames.
 *
 *   chunk:  [len][payload....][len][pay|     next chunk:  |load][len][...
 *            \__ decoded in place __/  \__ copied into one buffer of exactly `len` bytes __/
 *
 * Whole frames are decoded straight from the chunk (no copy); only a frame cut by a chunk border
 * is assembled, into a buffer allocated after its length was checked against the limit, so a peer
 * can never make the decoder allocate more than `maxFrameBytes` (+4) at once.
 */
export const FRAME_HEADER_BYTES = 4;


/** Encodes one message into a frame. The returned buffer stays valid (msgpackr never reuses it). */
export function encodeFrame(message: readonly unknown[]): Buffer {
  const frame = packr.pack(message, RESERVE_START_SPACE | FRAME_HEADER_BYTES) as Buffer;
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

/**
 * Decodes one payload (without its header): all of `payload`, or its bytes `start` to `end`.
 * Throws ProtocolError unless they are one msgpack array. Decoding a range in place, rather than
 * a `subarray` per frame, lets msgpackr make one DataView per chunk instead of one per frame
 * (and spares the view): ~10 % of the decode path.
 */
export function decodePayload(payload: Uint8Array, start = 0, end = payload.length): unknown[] {
  const message = unpackPlain(payload, start, end); // plain msgpack only (shared/msgpack.ts)
  if (!Array.isArray(message)) throw new ProtocolError('a frame must carry a msgpack array');
  return message;
}

/**
 * Called per frame with the decoded message; its payload is `bytes[start, end)`. The decoder never
 * writes into bytes it has handed out (a chunk is the caller's; the buffer a cut frame was
 * assembled in is dropped once handed out), so a handler may keep views of them, at the cost of
 * keeping the whole chunk alive (replication keeps stream frames byte for byte and takes its view
 * only then, so other readers pay no allocation for it). Returning `false` holds the rest of the
 * input until `resume()`.
 */
export type FrameHandler = (message: unknown[], bytes: Uint8Array, start: number, end: number) => void | boolean;

/**
 * Optional first look at each frame's payload `bytes[start, end)` (kept as a FrameHandler may keep
 * them), before it is decoded: returns true or false when it took the frame (as a FrameHandler
 * would), undefined to have it decoded and passed to the FrameHandler. A server answers its
 * hottest requests from the bytes in place this way, and the proxy's node link its MGET replies.
 * A reader that decodes any part with msgpackr runs `checkPlain` first; one that takes only a
 * strict subset of plain msgpack by hand and never reads past `end` (`shared/msgpack-read.ts`)
 * is its own guard.
 */
export type RawFrameHandler = (bytes: Buffer, start: number, end: number) => boolean | undefined;

/** Smallest buffer of a partial frame's body (a frame's body fits in one when it is this small). */
const MIN_BODY_BYTES = 4096;

/** Streaming decoder. `push` throws ProtocolError on a bad frame; the connection must then close. */
export class FrameDecoder {
  /** Largest frame accepted; a server may raise it once a peer has authenticated. */
  maxFrameBytes: number;
  readonly #onFrame: FrameHandler;
  readonly #onRaw: RawFrameHandler | null;
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFill = 0;
  /** The partial frame's body so far: grown as its bytes arrive, never to more than twice what came (see `#fill`). */
  #body: Buffer | null = null;
  #bodyFill = 0;
  /** Declared length of the partial frame's body. */
  #bodyLength = 0;
  /** Input not yet looked at because the handler asked to hold (backpressure). */
  #held: Buffer | null = null;

  constructor(onFrame: FrameHandler, maxFrameBytes: number = Limits.DEFAULT_MAX_FRAME_BYTES, onRaw: RawFrameHandler | null = null) {
    this.#onFrame = onFrame;
    this.#onRaw = onRaw;
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /** Memory held for the partial frame (its buffers' sizes): at most twice `bufferedBytes` plus 4 KiB. */
  get reservedBytes(): number {
    return this.#headerFill + (this.#body?.length ?? 0);
  }

  /** True while the handler's `false` holds input back. */
  get holding(): boolean {
    return this.#held !== null;
  }

  /**
   * Decodes every complete frame in `chunk` (after any partial one). Returns false when the
   * handler asked to hold: the rest of the chunk waits for `resume()`, and pushing more input
   * before that is an error (the caller pauses its source).
   */
  push(chunk: Buffer): boolean {
    if (this.#held) throw new Error('FrameDecoder.push while holding input; call resume() first');
    let offset = this.#headerFill > 0 ? this.#continuePartial(chunk) : 0;
    while (offset >= 0 && chunk.length - offset >= FRAME_HEADER_BYTES) {
      const length = this.#checkLength(chunk.readUInt32BE(offset));
      const end = offset + FRAME_HEADER_BYTES + length;
      if (end > chunk.length) break;
      const start = offset + FRAME_HEADER_BYTES;
      const raw = this.#onRaw;
      let more: boolean | void = raw === null ? undefined : raw(chunk, start, end);
      if (more === undefined) more = this.#onFrame(decodePayload(chunk, start, end), chunk, start, end);
      offset = end;
      if (more === false && offset < chunk.length) {
        this.#held = chunk.subarray(offset);
        return false;
      }
    }
    if (offset >= 0 && offset < chunk.length) this.#startPartial(chunk, offset);
    return offset !== -2;
  }

  /** Continues with held input; returns false if the handler holds again. */
  resume(): boolean {
    const held = this.#held;
    if (!held) return true;
    this.#held = null;
    return this.push(held);
  }

  /** Forget any partial frame (after a connection closed). */
  reset(): void {
    this.#held = null;
    this.#headerFill = 0;
    this.#body = null;
    this.#bodyFill = 0;
    this.#bodyLength = 0;
  }

  #checkLength(length: number): number {
    if (length > this.maxFrameBytes) throw new FrameTooLargeError(length, this.maxFrameBytes);
    if (length === 0) throw new ProtocolError('empty frame');
    return length;
  }

  #startPartial(chunk: Buffer, offset: number): void {
    const rest = chunk.length - offset;
    if (rest < FRAME_HEADER_BYTES) {
      chunk.copy(this.#header, 0, offset);
      this.#headerFill = rest;
      return;
    }
    this.#bodyLength = chunk.readUInt32BE(offset); // already checked by the loop
    this.#bodyFill = 0;
    this.#headerFill = FRAME_HEADER_BYTES;
    this.#fill(chunk, offset + FRAME_HEADER_BYTES);
  }

  /**
   * Appends `chunk[from, ...)` (up to the declared length) to the partial body; returns the bytes
   * taken. The buffer grows by doubling from what has arrived, not to the declared length at
   * once: a peer that announces 16 MiB and sends 4 bytes makes the decoder hold 4 KiB, not 16 MiB,
   * so memory follows the bytes received (at most twice them, plus 4 KiB).
   */
  #fill(chunk: Buffer, from: number): number {
    const take = Math.min(this.#bodyLength - this.#bodyFill, chunk.length - from);
    if (take === 0) return 0;
    const need = this.#bodyFill + take;
    let body = this.#body;
    if (body === null || body.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(this.#bodyLength, Math.max(need, MIN_BODY_BYTES, 2 * (body?.length ?? 0))));
      if (body !== null) body.copy(grown, 0, 0, this.#bodyFill);
      this.#body = body = grown;
    }
    chunk.copy(body, this.#bodyFill, from, from + take);
    this.#bodyFill = need;
    return take;
  }

  /**
   * Feeds the start of `chunk` to the partial frame; returns where whole frames resume, -1 when
   * the chunk was all consumed, or -2 when the handler asked to hold (the rest is held).
   */
  #continuePartial(chunk: Buffer): number {
    let offset = 0;
    if (this.#headerFill < FRAME_HEADER_BYTES) {
      const take = Math.min(FRAME_HEADER_BYTES - this.#headerFill, chunk.length);
      chunk.copy(this.#header, this.#headerFill, 0, take);
      this.#headerFill += take;
      offset = take;
      if (this.#headerFill < FRAME_HEADER_BYTES) return -1;
      this.#bodyLength = this.#checkLength(this.#header.readUInt32BE(0));
      this.#bodyFill = 0;
    }
    offset += this.#fill(chunk, offset);
    if (this.#bodyFill < this.#bodyLength) return -1;
    const body = this.#body as Buffer; // exactly the declared length once full
    this.reset();
    const raw = this.#onRaw;
    let more: boolean | void = raw === null ? undefined : raw(body, 0, body.length);
    if (more === undefined) more = this.#onFrame(decodePayload(body), body, 0, body.length);
    if (more === false && offset < chunk.length) {
      this.#held = chunk.subarray(offset);
      return -2;
    }
    return offset;
  }
}
