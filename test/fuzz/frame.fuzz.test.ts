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

/** msgpack extension values as a hostile encoder writes them: fixext 1-16 and ext 8/16/32 of any type (0x69/0x70 references, 0x42 bigints, 0x72 records ...). */
const extension = fc.tuple(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xc7, 0xc8, 0xc9), fc.constantFrom(0x69, 0x70, 0x42, 0x72, 0x00, 0xff, 0x01), fc.uint8Array({ maxLength: 40 }))
  .filter(([head, type]) => !(head === 0xd4 && type === 0x00)) // fixext 1 of type 0 is msgpackr's `undefined`, accepted
  .map(([head, type, data]) => {
    const fixed: Record<number, number> = { 0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16 };
    if (head in fixed) return Buffer.concat([Buffer.from([head, type]), Buffer.alloc(fixed[head], 7)]);
    const len = head === 0xc7 ? Buffer.from([data.length]) : head === 0xc8 ? Buffer.from([0, data.length]) : Buffer.from([0, 0, 0, data.length]);
    return Buffer.concat([Buffer.from([head]), len, Buffer.from([type]), Buffer.from(data)]);
  });

describe('frame decoder fuzzing with msgpack extension types', () => {
  test('a frame carrying an extension anywhere is refused with a ProtocolError, after the frames before it', () => {
    const plain = fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant(null)), { maxLength: 4 });
    fc.assert(
      fc.property(fc.array(plain, { maxLength: 4 }), plain, fc.nat(), extension, fc.array(fc.nat(), { maxLength: 6 }), (before, body, at, ext, cuts) => {
        const items = body.map((v) => encodeFrame([v]).subarray(5)); // each value's msgpack bytes
        const where = at % (items.length + 1);
        const values = [...items.slice(0, where), ext, ...items.slice(where)];
        const payload = Buffer.concat([Buffer.from([0x90 + values.length]), ...values]);
        const bad = Buffer.alloc(4 + payload.length);
        bad.writeUInt32BE(payload.length);
        payload.copy(bad, 4);
        const out = feed(Buffer.concat([...before.map((m) => encodeFrame(m)), bad]), cuts);
        expect(out.frames.length).toBe(before.length);
        expect(out.error?.message).toMatch(/extension types|ends inside a value/);
      }),
      { numRuns: 2000 },
    );
  });
});
