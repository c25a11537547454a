import { decodePayload, encodeFrame, FrameDecoder } from '../../shared/frame';
import { FrameTooLargeError, ProtocolError } from '../../shared/errors';

function collect(max?: number): { decoder: FrameDecoder; frames: unknown[][] } {
  const frames: unknown[][] = [];
  return { decoder: new FrameDecoder((m) => void frames.push(m), max), frames };
}

describe('frame codec', () => {
  test('known answer: [1, 10, "ns", "k"] is a 4-byte length then a msgpack fixarray', () => {
    const frame = encodeFrame([1, 10, 'ns', 'k']);
    expect(frame.toString('hex')).toBe('00000008' + '94' + '01' + '0a' + 'a26e73' + 'a16b');
  });

  test('round-trips values of every wire type, binary as bytes', () => {
    const message = [7, 12, 3, 'ns', 'key', Buffer.from([0, 255, 1]), 1500, 0xffffffff, 1, 0, ['a', 'b'], null];
    const { decoder, frames } = collect();
    decoder.push(encodeFrame(message));
    expect(frames).toHaveLength(1);
    const [decoded] = frames;
    expect(decoded.slice(0, 5)).toEqual([7, 12, 3, 'ns', 'key']);
    expect(Buffer.from(decoded[5] as Uint8Array)).toEqual(Buffer.from([0, 255, 1]));
    expect(decoded.slice(6)).toEqual([1500, 0xffffffff, 1, 0, ['a', 'b'], null]);
  });

  test('64-bit integers survive: safe ones as numbers, larger ones as bigints', () => {
    const { decoder, frames } = collect();
    decoder.push(encodeFrame([1, 0, 9007199254740991, 9223372036854775807n, -9223372036854775808n]));
    expect(frames[0]).toEqual([1, 0, 9007199254740991, 9223372036854775807n, -9223372036854775808n]);
  });

  test('decodes frames packed into one chunk and frames split at every byte boundary', () => {
    const messages = [[1, 1], [2, 10, 'ns', 'a'.repeat(300)], [3, 12, 0, 'ns', 'k', Buffer.alloc(70000, 7)]];
    const stream = Buffer.concat(messages.map((m) => encodeFrame(m)));
    for (let cut = 0; cut <= stream.length; cut += cut < 400 ? 1 : 997) {
      const { decoder, frames } = collect();
      decoder.push(stream.subarray(0, cut));
      decoder.push(stream.subarray(cut));
      expect(frames.map((f) => f[0])).toEqual([1, 2, 3]);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  test('decodes a stream delivered one byte at a time', () => {
    const stream = Buffer.concat([encodeFrame([1, 'x']), encodeFrame([2, 'y'])]);
    const { decoder, frames } = collect();
    for (const byte of stream) decoder.push(Buffer.from([byte]));
    expect(frames).toEqual([[1, 'x'], [2, 'y']]);
  });

  test('refuses a frame over the limit from its header alone, before buffering it', () => {
    const { decoder } = collect(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    expect(() => decoder.push(header)).toThrow(FrameTooLargeError);
    const split = collect(1024);
    split.decoder.push(header.subarray(0, 2));
    expect(() => split.decoder.push(header.subarray(2))).toThrow(FrameTooLargeError);
    expect(split.decoder.bufferedBytes).toBeLessThanOrEqual(4);
  });

  test('refuses an empty frame, a payload that is not an array, and malformed msgpack', () => {
    expect(() => collect().decoder.push(Buffer.from('00000000', 'hex'))).toThrow(ProtocolError);
    expect(() => decodePayload(Buffer.from('a3616263', 'hex'))).toThrow(/msgpack array/);
    expect(() => decodePayload(Buffer.from('c1', 'hex'))).toThrow(ProtocolError);
    expect(() => decodePayload(Buffer.from('dc0005', 'hex'))).toThrow(ProtocolError);
  });

  test('a reset forgets a partial frame', () => {
    const { decoder, frames } = collect();
    const frame = encodeFrame([9, 'partial']);
    decoder.push(frame.subarray(0, 6));
    decoder.reset();
    decoder.push(encodeFrame([10]));
    expect(frames).toEqual([[10]]);
  });
});

describe('frame decoder backpressure', () => {
  test('a handler returning false holds the rest of the input until resume()', () => {
    const seen: unknown[] = [];
    let hold = true;
    const decoder = new FrameDecoder((m) => {
      seen.push(m[0]);
      return !hold;
    });
    const stream = Buffer.concat([1, 2, 3].map((id) => encodeFrame([id])));
    expect(decoder.push(stream)).toBe(false);
    expect(seen).toEqual([1]);
    expect(decoder.holding).toBe(true);
    expect(() => decoder.push(encodeFrame([9]))).toThrow(/holding/);
    expect(decoder.resume()).toBe(false);
    expect(seen).toEqual([1, 2]);
    hold = false;
    expect(decoder.resume()).toBe(true);
    expect(seen).toEqual([1, 2, 3]);
  });

  test('holding works when the frame that asks for it completed a partial one', () => {
    const seen: unknown[] = [];
    const decoder = new FrameDecoder((m) => {
      seen.push(m[0]);
      return m[0] !== 1;
    });
    const stream = Buffer.concat([1, 2].map((id) => encodeFrame([id, 'x'.repeat(20)])));
    expect(decoder.push(stream.subarray(0, 10))).toBe(true);
    expect(decoder.push(stream.subarray(10))).toBe(false);
    expect(seen).toEqual([1]);
    expect(decoder.resume()).toBe(true);
    expect(seen).toEqual([1, 2]);
  });
});

describe('frame decoder: bytes handed out stay as they were', () => {
  test('views a raw handler keeps of whole and of cut frames are unchanged by later input', () => {
    const kept: Array<{ view: Buffer; want: Buffer }> = [];
    const decoder = new FrameDecoder(() => undefined, undefined, (bytes, start, end) => {
      kept.push({ view: bytes.subarray(start, end), want: Buffer.from(bytes.subarray(start, end)) });
      return true;
    });
    const frames = Array.from({ length: 40 }, (_, i) => encodeFrame([i, Buffer.alloc(1 + ((i * 37) % 300), i)]));
    const stream = Buffer.concat(frames);
    // Chunks of odd sizes, so frames are cut at every kind of place, header included.
    for (let at = 0, size = 1; at < stream.length; at += size, size = (size * 7) % 97 + 1) {
      decoder.push(Buffer.from(stream.subarray(at, Math.min(stream.length, at + size))));
    }
    expect(kept).toHaveLength(frames.length);
    kept.forEach(({ view, want }, i) => {
      expect(view.equals(want)).toBe(true);
      expect(view.equals(frames[i].subarray(4))).toBe(true);
    });
  });
});

describe('frame decoder memory', () => {
  test('a declared length costs nothing until its bytes arrive: memory follows what was received', () => {
    const frames: unknown[][] = [];
    const decoder = new FrameDecoder((m) => void frames.push(m), 32 * 1024 * 1024);
    const value = Buffer.alloc(16 * 1024 * 1024, 7);
    const frame = encodeFrame([1, 2, value]);
    decoder.push(frame.subarray(0, 14)); // the header announces ~16 MiB; 10 bytes of it came
    expect(decoder.bufferedBytes).toBe(14);
    expect(decoder.reservedBytes).toBeLessThanOrEqual(4 + 4096);
    let received = 14;
    for (let at = 14; at < frame.length; at += 1024 * 1024) {
      const chunk = frame.subarray(at, Math.min(frame.length, at + 1024 * 1024));
      decoder.push(chunk);
      received += chunk.length;
      if (received < frame.length) expect(decoder.reservedBytes).toBeLessThanOrEqual(2 * received + 4096);
    }
    expect(frames).toHaveLength(1);
    expect(Buffer.compare(frames[0][2] as Buffer, value)).toBe(0);
    expect(decoder.reservedBytes).toBe(0);
  });

  test('frames split at every byte boundary decode the same', () => {
    const frame = Buffer.concat([encodeFrame([1, 'get', 'ns', 'k'.repeat(5000)]), encodeFrame([2, 'ping'])]);
    for (const step of [1, 3, 4, 5, 4097, 9000]) {
      const frames: unknown[][] = [];
      const decoder = new FrameDecoder((m) => void frames.push(m));
      for (let at = 0; at < frame.length; at += step) decoder.push(frame.subarray(at, at + step));
      expect([step, frames.map((f) => f[0])]).toEqual([step, [1, 2]]);
      expect((frames[0][3] as string).length).toBe(5000);
    }
  });
});
