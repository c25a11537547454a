import fc from 'fast-check';
import { decodePayload } from '../../shared/frame';
import { Op } from '../../shared/protocol';
import { SetRecordEncoder } from '../../storage-node/replication/encoder';

describe('REPL_SET encoder', () => {
  const encoder = new SetRecordEncoder();
  const decode = (frame: Buffer): unknown[] => {
    expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
    return decodePayload(frame.subarray(4));
  };

  test('any namespace, key, value, numbers and tags decode back as a msgpack decoder reads them', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }), fc.string({ minLength: 1, maxLength: 400, unit: 'binary' }), fc.uint8Array({ maxLength: 70_000 }),
        fc.maxSafeNat(), fc.maxSafeNat(), fc.nat({ max: 0xffffffff }), fc.option(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 })),
        (ns, key, value, version, expiresAt, flags, tags) => {
          const scratch = encoder.scratch(encoder.bound(ns, key, value, tags) + 3);
          const length = encoder.encodeInto(scratch, 3, ns, key, value, version, expiresAt, flags);
          const m = decode(Buffer.from(scratch.subarray(3, 3 + length)));
          expect(m).toEqual([0, Op.REPL_SET, ns, key, Buffer.from(value), version, expiresAt, flags, tags === null || tags.length === 0 ? null : tags]);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a value given as the store keeps it (a latin1 string) encodes the same bytes as its Buffer, short and long', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.constantFrom(0, 2), (bytes, type) => {
        const value = Buffer.from(bytes);
        const text = value.toString('latin1');
        const a = encoder.scratch(encoder.bound('ns', 'k', value, null) + 1);
        const asBytes = Buffer.from(a.subarray(0, encoder.encodeInto(a, 0, 'ns', 'k', value, 7, 0, 1, type)));
        const b = encoder.scratch(encoder.bound('ns', 'k', text, null) + 1);
        const asText = Buffer.from(b.subarray(0, encoder.encodeInto(b, 0, 'ns', 'k', text, 7, 0, 1, type)));
        expect(asText).toEqual(asBytes);
      }),
      { numRuns: 300 },
    );
  });
});
