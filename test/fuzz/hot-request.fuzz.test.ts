import fc from 'fast-check';
import { decodePayload, encodeFrame } from '../../shared/frame';
import { ProtocolError } from '../../shared/errors';
import { Op } from '../../shared/protocol';
import { handle, STANDALONE, type HandlerContext } from '../../storage-node/handlers';
import { ReplyWriter } from '../../storage-node/reply-writer';
import { answerHot, readHot } from '../../storage-node/server';
import { Store } from '../../storage-node/store';
import {
  condArg, epochArg, flagsArg, hotRequest, keyArg, namespaceArg, tagsArg, ttlArg, valueArg, versionArg,
} from '../../storage-node/validate';

/**
 * The node reads GET and SET frames in place (`readHot` / `parseHotRequest`) instead of through
 * msgpackr. Whatever bytes a peer sends, that reader must never throw, and whenever it takes a
 * frame it must see exactly what the generic path (checkPlain + msgpackr + the argument checks)
 * sees; and the replies must be the same bytes.
 */

const payloadOf = (message: unknown[]): Buffer => encodeFrame(message).subarray(4);
const text = (b: Uint8Array, start: number, end: number): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1', start, end);

/** Checks that the generic path decodes `payload` to the request `hotRequest` holds. */
function agreesWithGeneric(payload: Buffer): void {
  const r = { ...hotRequest };
  const m = decodePayload(payload); // throws if checkPlain or msgpackr refuse: the test then fails
  expect(m[0]).toBe(r.id);
  expect(m[1]).toBe(r.op);
  if (r.op === Op.GET) {
    expect(m.length).toBe(4);
    expect(namespaceArg(m[2])).toBe(text(payload, r.nsStart, r.nsEnd));
    expect(keyArg(m[3])).toBe(text(payload, r.keyStart, r.keyEnd));
    return;
  }
  expect(r.op).toBe(Op.SET);
  expect(m.length).toBe(11);
  expect(epochArg(m[2])).toBe(r.epoch);
  expect(namespaceArg(m[3])).toBe(text(payload, r.nsStart, r.nsEnd));
  expect(keyArg(m[4])).toBe(text(payload, r.keyStart, r.keyEnd));
  expect(Buffer.from(valueArg(m[5])).equals(payload.subarray(r.valueStart, r.valueEnd))).toBe(true);
  expect(ttlArg(m[6])).toBe(r.ttlMs);
  expect(flagsArg(m[7])).toBe(r.flags);
  expect(condArg(m[8])).toBe(r.cond);
  expect(versionArg(m[9])).toBe(r.ifVersion);
  expect(tagsArg(m[10])).toBeUndefined();
}

/**
 * Reads `payload` in place; when taken, checks it against the generic path. Returns whether it
 * was taken. The reader throws only the ProtocolError of `checkPlain`, which the generic path
 * throws too (the connection is then refused either way).
 */
function check(payload: Buffer): boolean {
  let taken: boolean;
  try {
    taken = readHot(payload, 0, payload.length);
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    expect(() => decodePayload(payload)).toThrow(ProtocolError);
    return false;
  }
  if (taken) agreesWithGeneric(payload);
  return taken;
}

const anyNumber = fc.oneof(
  fc.nat(), fc.integer(), fc.constantFrom(-1, -2, 0, 1, 2, 3, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER, 2 ** 60, 1.5, -0.5),
  fc.double(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
);
const anyValue = fc.oneof(anyNumber, fc.string({ maxLength: 12 }), fc.constant(null), fc.uint8Array({ maxLength: 40 }), fc.boolean(), fc.array(fc.string({ maxLength: 4 }), { maxLength: 3 }));
const nsName = fc.oneof(fc.constantFrom('bench', 'a', 'ns.1-_x', 'x'.repeat(64), 'x'.repeat(65), '', 'bad ns', 'é'), fc.stringMatching(/^[A-Za-z0-9_.-]{1,70}$/), fc.string({ maxLength: 10 }));
const keyName = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('', 'k', 'k'.repeat(1024), 'k'.repeat(1025), 'clé', '\u0000', 'key:000000000001'),
  fc.string({ unit: 'binary', maxLength: 20 }), fc.stringMatching(/^[\x20-\x7e]{1,300}$/),
);
const idOf = fc.oneof(fc.nat(), fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 2 ** 32, Number.MAX_SAFE_INTEGER), anyNumber);

/** GET and SET messages with arguments of every kind: valid, invalid, and of the wrong type. */
const getMessage = fc.tuple(idOf, nsName, fc.oneof(keyName, anyValue)).map(([id, ns, key]) => [id, Op.GET, ns, key]);
const setMessage = fc.record({
  id: idOf, epoch: fc.oneof(fc.constant(0), fc.nat(), anyNumber), ns: nsName, key: fc.oneof(keyName, anyValue),
  value: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.constant(new Uint8Array(70_000)), anyValue),
  ttl: fc.oneof(fc.constantFrom(0, -1, -2, 60_000, null), anyNumber), flags: fc.oneof(fc.constantFrom(0, null, 0xffffffff, 2 ** 32), anyNumber),
  cond: fc.oneof(fc.constantFrom(0, 1, 2, 3, null), anyNumber), ifVersion: fc.oneof(fc.constantFrom(0, null, 7), anyNumber),
  tags: fc.oneof(fc.constant(null), fc.constant(['t']), anyValue), length: fc.constantFrom(11, 11, 11, 10, 12),
}).map((s) => [s.id, Op.SET, s.epoch, s.ns, s.key, s.value, s.ttl, s.flags, s.cond, s.ifVersion, s.tags, 'extra'].slice(0, s.length));

describe('GET and SET frames read in place', () => {
  test('messages of every shape: whatever the in-place reader takes, the generic path decodes the same', () => {
    fc.assert(fc.property(fc.oneof(getMessage, setMessage), (message) => void check(payloadOf(message))), { numRuns: 5000 });
  });

  test('the requests clients send are taken (ASCII key, bin value, whole numbers)', () => {
    const get = fc.tuple(fc.nat(), fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), fc.stringMatching(/^[\x00-\x7f]{1,1024}$/));
    const set = fc.tuple(get, fc.uint8Array({ maxLength: 2000 }), fc.oneof(fc.constant(-1), fc.nat()), fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 1, 2), fc.nat());
    fc.assert(fc.property(get, ([id, ns, key]) => void expect(check(payloadOf([id, Op.GET, ns, key]))).toBe(true)), { numRuns: 1000 });
    fc.assert(fc.property(set, ([[id, ns, key], value, ttl, flags, cond, version]) => {
      expect(check(payloadOf([id, Op.SET, 0, ns, key, value, ttl, flags, cond, version, null]))).toBe(true);
    }), { numRuns: 1000 });
  });

  test('mutated frames (bytes flipped, cut, inserted): what is taken agrees with the generic path, what is refused is refused by both', () => {
    const mutation = fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'cut', 'insert', 'truncate'));
    fc.assert(fc.property(fc.oneof(getMessage, setMessage), fc.array(mutation, { minLength: 1, maxLength: 4 }), (message, mutations) => {
      let bytes = Buffer.from(payloadOf(message));
      for (const [at, byte, kind] of mutations) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'flip' && bytes.length > 0) bytes[i] = byte;
        else if (kind === 'cut') bytes = Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + 1)]);
        else if (kind === 'insert') bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        else bytes = bytes.subarray(0, i);
      }
      try {
        check(bytes);
      } catch (err) {
        if (err instanceof ProtocolError) throw new Error(`taken in place, refused by the generic path: ${bytes.toString('hex')}`);
        throw err;
      }
    }), { numRuns: 5000 });
  });

  test('arbitrary bytes behind a GET or SET header: refused as the generic path refuses them, or read alike', () => {
    fc.assert(fc.property(fc.constantFrom(0x94, 0x9b), fc.uint8Array({ maxLength: 200 }), (head, rest) => {
      const bytes = Buffer.concat([Buffer.from([head]), rest]);
      check(bytes);
      // a range inside a larger buffer reads only that range
      const padded = Buffer.concat([Buffer.from([0x9b, 1, 12]), bytes, Buffer.from([0xc0, 0xc0])]);
      const outcome = (b: Buffer, start: number, end: number): string => {
        try {
          return String(readHot(b, start, end));
        } catch (err) {
          return (err as Error).message;
        }
      };
      expect(outcome(padded, 3, 3 + bytes.length)).toBe(outcome(bytes, 0, bytes.length));
    }), { numRuns: 5000 });
  });

  test('a store served in place gives the same replies, byte for byte, as one served by handle()', () => {
    const store = (): Store => {
      let x = 12345;
      const random = (): number => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      let clock = 1_000_000;
      return new Store({ maxMemoryBytes: 4000, now: () => (clock += 7), random });
    };
    const key = fc.constantFrom('a', 'b', 'k'.repeat(20), 'clé', '', 'c');
    const message = fc.oneof(
      fc.tuple(fc.nat(1000), fc.constantFrom('ns', 'n2', 'bad ns'), key).map(([id, ns, k]) => [id, Op.GET, ns, k]),
      fc.record({
        id: fc.nat(1000), epoch: fc.constantFrom(0, 0, 0, 3), ns: fc.constantFrom('ns', 'n2'), key, value: fc.uint8Array({ maxLength: 1200 }),
        ttl: fc.constantFrom(0, -1, 5, 100_000), flags: fc.constantFrom(0, 9), cond: fc.constantFrom(0, 0, 1, 2), ifVersion: fc.constantFrom(0, 0, 1, 2, 5),
      }).map((s) => [s.id, Op.SET, s.epoch, s.ns, s.key, s.value, s.ttl, s.flags, s.cond, s.ifVersion, null]),
    );
    fc.assert(fc.property(fc.array(message, { maxLength: 60 }), (messages) => {
      const generic = { store: store(), gate: STANDALONE, stats: () => ({}) } as HandlerContext;
      const inPlace = { store: store(), gate: STANDALONE, stats: () => ({}) } as HandlerContext;
      const a = new ReplyWriter();
      const b = new ReplyWriter();
      const fail = (err: unknown): never => {
        throw err;
      };
      for (const m of messages) {
        const payload = payloadOf(m);
        const statusA = handle(decodePayload(payload), generic, a, fail);
        const statusB = readHot(payload, 0, payload.length) ? answerHot(payload, inPlace, b, fail) : handle(decodePayload(payload), inPlace, b, fail);
        expect(statusB).toBe(statusA);
        expect(Buffer.from(b.flush() ?? []).toString('hex')).toBe(Buffer.from(a.flush() ?? []).toString('hex'));
      }
      expect(inPlace.store.stats()).toEqual(generic.store.stats());
    }), { numRuns: 500 });
  });
});
