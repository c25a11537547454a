import { encodeFrame, FRAME_HEADER_BYTES } from '../../shared/frame';
import { MsgpackWriter } from '../msgpack-writer';

const NO_HEADER = new Uint8Array(FRAME_HEADER_BYTES);

/** A writer grown past this (a backlog, one big value) is replaced by a fresh one once emptied. */
const KEEP_BYTES = 1024 * 1024;

/**
 * The frames a link sends in one event-loop turn, encoded back to back (MsgpackWriter) and handed
 * to the socket as one write. Frames are the contract's (shared/frame.ts: a 4-byte length, then a
 * msgpack array); a message the writer leaves to msgpackr goes through `encodeFrame` and is
 * copied in.
 * guards: its writer.
 */
export class FrameWriter {
  #w: MsgpackWriter;
  readonly #initialBytes: number;

  constructor(initialBytes = 16 * 1024) {
    this.#initialBytes = initialBytes;
    this.#w = new MsgpackWriter(initialBytes);
  }

  /** Bytes held. */
  get size(): number {
    return this.#w.size;
  }

  /** Appends `message` as one frame; returns its payload length (header excluded). */
  append(message: readonly unknown[]): number {
    const w = this.#w;
    const start = w.size;
    w.appendRaw(NO_HEADER);
    if (!w.append(message)) {
      w.truncate(start);
      const frame = encodeFrame(message);
      w.appendRaw(frame);
      return frame.length - FRAME_HEADER_BYTES;
    }
    const length = w.size - start - FRAME_HEADER_BYTES;
    w.setUInt32(start, length);
    return length;
  }

  /** Drops everything after the first `size` bytes (a frame that was refused). */
  truncate(size: number): void {
    this.#w.truncate(size);
  }

  /** The bytes held, as a buffer of their own (the writer goes on with its own), and empties. */
  take(): Buffer {
    const bytes = this.#w.take();
    this.#shrink();
    return bytes;
  }

  clear(): void {
    this.#w.clear();
    this.#shrink();
  }

  #shrink(): void {
    if (this.#w.capacity > KEEP_BYTES) this.#w = new MsgpackWriter(this.#initialBytes);
  }
}
