import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { ProtocolError } from '../../shared/errors';
import { checkPlain, MAX_DEPTH, packr, unpackPlain, unpackPlainAt, unpackPlainMultiple } from '../../shared/msgpack';
import { decodePayload } from '../../shared/frame';
import { decodeMessage } from '../../proxy/front/ws-protocol';

/**
 * The guard in front of every msgpack decoder: plain msgpack passes untouched; every msgpackr
 * extension (records, structured-clone references, bigints, timestamps, sets ...), reserved bytes,
 * lying lengths and deep nesting are refused with a ProtocolError that quotes nothing of the input.
 */

const refused = (bytes: Uint8Array): string => {
  try {
    checkPlain(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return (err as Error).message;
  }
  throw new Error('accepted');
};

const hex = (s: string): Buffer => Buffer.from(s.replace(/ /g, ''), 'hex');

/** msgpackr with its extensions on, as an attacker's encoder would be. */
const hostile = new Packr({ structuredClone: true, useRecords: true, moreTypes: true } as ConstructorParameters<typeof Packr>[0]);

test('plain msgpack of every type passes and ends where the value ends', () => {
  const plain = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.integer(), fc.double().filter((d) => !Object.is(d, -0)), fc.boolean(), fc.constant(null), fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 40 }),
      fc.uint8Array({ maxLength: 70_000 }).map((a) => Buffer.from(a)), fc.maxSafeInteger(), fc.constant(2 ** 53 + 2),
      fc.array(tie('value'), { maxLength: 20 }),
      // A `__proto__` key does not round-trip on purpose: msgpackr renames it (no prototype pollution); checked below.
      fc.dictionary(fc.string({ maxLength: 10 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 20 }),
    ),
  })).value;
  fc.assert(fc.property(plain, (v) => {
    const bytes = packr.pack(v);
    expect(checkPlain(bytes)).toBe(bytes.length);
    expect(unpackPlain(bytes)).toEqual(v);
  }), { numRuns: 500 });
  const proto = unpackPlain(packr.pack(JSON.parse('{"__proto__":{"polluted":1}}'))) as Record<string, unknown>;
  expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  const big = packr.pack(Array.from({ length: 70_000 }, (_, i) => i)); // array 32, uint 16/32
  expect(checkPlain(big)).toBe(big.length);
  const map16 = packr.pack(Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, 'x'.repeat(i)])));
  expect(checkPlain(map16)).toBe(map16.length);
});

test('every msgpackr extension is refused: records, shared references, bigints, Set, RegExp, Error, Date, typed arrays', () => {
  const shared = { a: 1 };
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const cases: Array<[string, Uint8Array]> = [
    ['record definition (fixext 1, "r")', hex('92 d4 72 40 92 a1 61 a1 62 01 02 40 03 04')],
    ['record definition (fixext 2)', hex('d5 72 40 00 91 a1 61 01')],
    ['structured-clone references', hostile.pack([shared, shared, shared])],
    ['a cycle', hostile.pack(cyclic)],
    ['bigint beyond 64 bits', hex(`c7 10 42 ${'ff'.repeat(16)}`)],
    ['bigint of 200 kB', Buffer.concat([hex('c9 00 03 0d 40 42'), Buffer.alloc(200_000, 1)])],
    ['Set', hostile.pack(new Set([1, 2]))],
    ['RegExp', hostile.pack(/a+$/)],
    ['Error', hostile.pack(new Error('x'))],
    ['Date (timestamp ext -1)', packr.pack(new Date(0))],
    ['typed array', hostile.pack(new Float64Array(4))],
    ['ext 0 of 2 bytes', hex('d5 00 00 00')],
    ['ext inside a map', hex('81 a1 61 d6 69 00 00 00 01')],
  ];
  for (const [name, bytes] of cases) {
    const message = refused(bytes);
    expect([name, message]).toEqual([name, expect.stringMatching(/extension types .* are not accepted/)]);
  }
  expect(refused(hex('c1'))).toMatch(/reserved type byte/);
  expect(unpackPlain(hex('92 01 d4 00 00'))).toEqual([1, undefined]); // msgpackr's undefined stays accepted
});

test('lying lengths are refused before any work, truncated values too', () => {
  expect(refused(hex('dd ff ff ff ff 01'))).toMatch(/ends inside a value/); // array 32 of 4 billion, one byte given
  expect(refused(hex('df 7f ff ff ff'))).toMatch(/ends inside a value/); // map 32
  expect(refused(hex('c6 ff ff ff ff 00'))).toMatch(/ends inside a value/); // bin 32
  expect(refused(hex('db 00 00 01 00 61'))).toMatch(/ends inside a value/); // str 32
  expect(refused(hex('93 01 02'))).toMatch(/ends inside a value/);
  expect(refused(hex('cb 00 00'))).toMatch(/ends inside a value/);
  expect(refused(new Uint8Array(0))).toMatch(/ends inside a value/);
  expect(() => unpackPlain(hex('01 02'))).toThrow(/bytes after the value/);
});

test(`nesting is bounded at ${MAX_DEPTH} levels, whatever the size`, () => {
  const nested = (depth: number): Buffer => Buffer.concat([Buffer.alloc(depth, 0x91), hex('01')]);
  expect(checkPlain(nested(MAX_DEPTH))).toBe(MAX_DEPTH + 1);
  expect(refused(nested(MAX_DEPTH + 1))).toMatch(/nesting deeper than/);
  expect(refused(nested(1_000_000))).toMatch(/nesting deeper than/);
});

test('refusals quote nothing of the input', () => {
  const secret = Buffer.from('TOPSECRET');
  for (const bytes of [Buffer.concat([hex('92 a9'), secret, hex('d4 00')]), Buffer.concat([hex('a9'), secret, hex('01')])]) {
    expect(() => unpackPlain(bytes)).toThrow(ProtocolError);
    try {
      unpackPlain(bytes);
    } catch (err) {
      expect((err as Error).message).not.toContain('TOPSECRET');
    }
  }
});

test('arbitrary bytes: what the guard passes msgpackr decodes to the same value, ending where the guard says, or it is refused as a ProtocolError', () => {
  const plainUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Unpackr>[0]);
  let decodedSome = 0;
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    let end: number;
    try {
      end = checkPlain(bytes);
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      return;
    }
    let decoded: unknown;
    try {
      // Whole values msgpackr still refuses: a map whose key is a map or an array, with maps as objects.
      decoded = plainUnpackr.unpack(bytes, { start: 0, end });
    } catch {
      expect(() => unpackPlainAt(bytes, 0)).toThrow(ProtocolError);
      return;
    }
    decodedSome++;
    expect(unpackPlainAt(bytes, 0).end).toBe(end);
    expect(unpackPlainAt(bytes, 0).value).toEqual(decoded);
  }), { numRuns: 5000 });
  expect(decodedSome).toBeGreaterThan(100);
});

test('a map whose key is a map or an array passes the guard and is refused as a ProtocolError, not msgpackr\'s message', () => {
  for (const bytes of [hex('81 81 01 02 03'), hex('81 91 01 02')]) {
    expect(checkPlain(bytes)).toBe(bytes.length);
    expect(() => unpackPlain(bytes)).toThrow(ProtocolError);
    expect(() => unpackPlain(bytes)).toThrow(/could not be decoded/);
  }
});

test('the node frame decoder and the WebSocket decoder both refuse extensions, with a clear message', () => {
  expect(decodePayload(packr.pack([1, 2, { a: 1 }]))).toEqual([1, 2, { a: 1 }]);
  expect(() => decodePayload(hostile.pack([1, 2, { a: 1 }, { a: 2 }]))).toThrow(/extension types/); // an encoder with records on
  expect(() => decodePayload(hex('93 01 02 d4 72 40'))).toThrow(/extension types/);
  const ws = decodeMessage(Buffer.concat([packr.pack([7, 'ping']), hex('92 08 d5 00 00 00')]));
  expect(ws[0]).toMatchObject({ ok: true, id: 7 });
  expect(ws[1]).toMatchObject({ ok: false, id: 0, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/after its first 1 request\(s\) \(msgpack extension types .* are not accepted\)/) } });
});
