import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { decodePayload, encodeFrame, FrameDecoder } from '../../shared/frame';
import { FrameWriter } from '../../proxy/upstream/frame-writer';
import { MsgpackWriter } from '../../proxy/msgpack-writer';

/** Every frame in `bytes`, decoded. */
function frames(bytes: Buffer): unknown[][] {
  const out: unknown[][] = [];
  new FrameDecoder((m) => void out.push(m)).push(bytes);
  return out;
}

const scalar = fc.oneof(
  fc.integer({ min: -(2 ** 31) - 5, max: 2 ** 32 + 5 }),
  fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, -32, -33, -128, -129, -32768, -32769, 2 ** 53 - 1, -(2 ** 53) + 1, 0.5, -1.25, 1e300, Infinity, NaN),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.constantFrom(null, true, false),
);
const value = fc.oneof(scalar, fc.array(scalar, { maxLength: 20 }));

describe('FrameWriter', () => {
  test('frames decode to what encodeFrame\'s decode to, back to back', () => {
    fc.assert(
      fc.property(fc.array(fc.array(value, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }), (messages) => {
        const writer = new FrameWriter(8); // tiny, so growing is exercised
        const lengths = messages.map((m) => writer.append(m));
        const decoded = frames(writer.take());
        expect(writer.size).toBe(0);
        expect(decoded).toEqual(messages.map((m) => decodePayload(encodeFrame(m).subarray(4))));
        lengths.forEach((n, i) => expect(n).toBeGreaterThanOrEqual(encodeFrame(messages[i]).length - 4));
      }),
      { numRuns: 500 },
    );
  });

  test('values it leaves to msgpackr (objects, undefined) come out as encodeFrame\'s bytes', () => {
    const writer = new FrameWriter();
    const message = [7, 10, 'ns', { a: 1 }, undefined];
    writer.append([1, 'before']);
    const at = writer.size;
    writer.append(message);
    const bytes = writer.take();
    expect(bytes.subarray(at)).toEqual(encodeFrame(message));
    expect(frames(bytes)).toEqual([[1, 'before'], decodePayload(encodeFrame(message).subarray(4))]);
  });

  test('long strings and big byte strings pick the wider headers; truncate drops a refused frame', () => {
    const writer = new FrameWriter(16);
    const big = Buffer.alloc(70_000, 7);
    const long = 'é'.repeat(30_000);
    writer.append([1, big, long, 'x'.repeat(100)]);
    const keep = writer.size;
    writer.append([2, 'refused']);
    writer.truncate(keep);
    const [only, ...rest] = frames(writer.take());
    expect(rest).toEqual([]);
    expect(only).toEqual([1, big, long, 'x'.repeat(100)]);
  });
});

describe('MsgpackWriter', () => {
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as ConstructorParameters<typeof Unpackr>[0]);
  const entry = fc.oneof(value, fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'), value, { maxKeys: 18 }));

  test('arrays with maps decode as msgpackr\'s do; an undefined anywhere is refused and leaves nothing behind', () => {
    fc.assert(
      fc.property(fc.array(fc.array(entry, { maxLength: 6 }), { minLength: 1, maxLength: 5 }), (messages) => {
        const w = new MsgpackWriter(4);
        const ends: number[] = [];
        for (const m of messages) {
          expect(w.append(m)).toBe(true);
          ends.push(w.size);
        }
        expect(w.append([1, { a: 1, b: undefined }])).toBe(false);
        expect(w.size).toBe(ends[ends.length - 1]);
        const bytes = w.take();
        messages.forEach((m, i) => expect(unpackr.unpack(bytes.subarray(i === 0 ? 0 : ends[i - 1], ends[i]))).toEqual(unpackr.unpack(encodeFrame(m).subarray(4))));
      }),
      { numRuns: 400 },
    );
  });
});

describe('MsgpackWriter against msgpackr, byte for byte', () => {
  const packr = new Packr({ useRecords: false, variableMapSize: true, useBigInt64: true } as ConstructorParameters<typeof Packr>[0]);
  const bytesOf = (values: unknown[]): Buffer | undefined => {
    const w = new MsgpackWriter(4);
    return w.append(values) ? w.take() : undefined;
  };

  test('numbers: 32-bit ints in the shortest form, everything else float64, as msgpackr writes them', () => {
    const edges = [0, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 1.7e12, 2 ** 53, -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0, NaN, Infinity];
    for (const n of edges) expect(bytesOf([n])).toEqual(packr.pack([n]));
    fc.assert(fc.property(fc.oneof(fc.integer(), fc.double(), fc.maxSafeInteger(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), (n) => {
      expect(bytesOf([n])).toEqual(packr.pack([n]));
    }), { numRuns: 2000 });
  });

  test('a string with a lone surrogate is left to msgpackr (Buffer would write U+FFFD instead)', () => {
    expect(bytesOf(['ok', 'a\uD800b'])).toBeUndefined();
    expect(bytesOf([{ ['k\uDC00']: 1 }])).toBeUndefined();
    expect(bytesOf(['pair \uD83D\uDE00 ok'])).toBeDefined();
  });
});
