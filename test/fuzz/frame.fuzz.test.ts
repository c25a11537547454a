import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { ProtocolError } from '../../shared/errors';

const LIMIT = 4096;

/** Feeds `bytes` cut into `cuts` pieces; returns the frames, or the ProtocolError that ended it. */
function feed(bytes: Uint8Array, cuts: number[]): { frames: unknown[][]; error?: ProtocolError; maxBuffered: number } {
  const frames: unknown[][] = [];
  const decoder = new FrameDecoder((m) => void frames.push(m), LIMIT);
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  let maxBuffered = 0;
  for (const end of [...points, bytes.length]) {
    try {
      decoder.push(Buffer.from(bytes.subarray(start, end)));
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      return { frames, error: err, maxBuffered };
    }
    maxBuffered = Math.max(maxBuffered, decoder.bufferedBytes);
    start = end;
  }
  return { frames, maxBuffered };
}

describe('frame decoder fuzzing', () => {
  test('arbitrary bytes in arbitrary chunks never crash it, and it never buffers past the limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3 * LIMIT }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const { maxBuffered } = feed(bytes, cuts);
        expect(maxBuffered).toBeLessThanOrEqual(LIMIT + 4);
      }),
      { numRuns: 3000 },
    );
  });

  test('headers with arbitrary lengths followed by arbitrary bodies are refused or decoded, never more', () => {
    const frameish = fc.tuple(fc.nat({ max: 2 * LIMIT }), fc.uint8Array({ maxLength: 512 })).map(([len, body]) => {
      const out = Buffer.alloc(4 + body.length);
      out.writeUInt32BE(len);
      out.set(body, 4);
      return out;
    });
    fc.assert(
      fc.property(fc.array(frameish, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 10 }), (parts, cuts) => {
        const { frames, maxBuffered } = feed(Buffer.concat(parts), cuts);
        expect(maxBuffered).toBeLessThanOrEqual(LIMIT + 4);
        for (const frame of frames) expect(Array.isArray(frame)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  test('valid frames with garbage mixed in: every frame before the garbage is delivered intact', () => {
    const message = fc.array(fc.oneof(fc.integer(), fc.string(), fc.uint8Array({ maxLength: 64 }), fc.constant(null)), {
      maxLength: 8,
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.array(fc.nat(), { maxLength: 10 }), (messages, garbage, cuts) => {
        const good = Buffer.concat(messages.map((m) => encodeFrame(m)));
        const { frames } = feed(Buffer.concat([good, garbage]), cuts);
        expect(frames.length).toBeGreaterThanOrEqual(messages.length);
        expect(frames.slice(0, messages.length).map((f) => f.length)).toEqual(messages.map((m) => m.length));
      }),
      { numRuns: 1000 },
    );
  });

  test('deeply nested payloads are a ProtocolError, not a stack overflow', () => {
    const body = Buffer.alloc(LIMIT - 1, 0x91);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt32BE(body.length);
    body.copy(frame, 4);
    expect(feed(frame, []).error).toBeInstanceOf(ProtocolError);
  });
});
