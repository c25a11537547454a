import fc from 'fast-check';
import { decodePayload, encodeFrame, FrameDecoder } from '../../shared/frame';
import { OpError, ProtocolError } from '../../shared/errors';
import { Op, Status } from '../../shared/protocol';
import { handle, STANDALONE, type HandlerContext, type MutationLog, type SlotGuard, type WriteListener } from '../../storage-node/handlers';
import { ReplyWriter } from '../../storage-node/reply-writer';
import { answerHot, readHot } from '../../storage-node/server';
import { Store } from '../../storage-node/store';
import {
  condArg, deltaArg, epochArg, flagsArg, hotKeys, hotRequest, keyArg, keysArg, namespaceArg, tagsArg, ttlArg, valueArg, versionArg,
} from '../../storage-node/validate';

/**
 * The node reads GET, SET, INCR and MGET frames in place (`readHot` / `parseHotRequest`) instead
 * of through msgpackr. Whatever bytes a peer sends, that reader must never throw, and whenever it
 * takes a frame it must see exactly what the generic path (checkPlain + msgpackr + the argument
 * checks) sees; and the replies, statuses, counters, replication log calls and write
 * notifications must be the same.
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
  if (r.op === Op.MGET) {
    expect(m.length).toBe(4);
    expect(namespaceArg(m[2])).toBe(text(payload, r.nsStart, r.nsEnd));
    const keys = Array.from({ length: r.keyCount }, (_, i) => text(payload, hotKeys[2 * i], hotKeys[2 * i + 1]));
    expect(keysArg(m[3])).toEqual(keys);
    return;
  }
  if (r.op === Op.INCR) {
    expect(m.length).toBe(7);
    expect(epochArg(m[2])).toBe(r.epoch);
    expect(namespaceArg(m[3])).toBe(text(payload, r.nsStart, r.nsEnd));
    expect(keyArg(m[4])).toBe(text(payload, r.keyStart, r.keyEnd));
    expect(deltaArg(m[5])).toBe(r.delta);
    expect(ttlArg(m[6] ?? 0)).toBe(r.ttlMs);
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
/** INCR and MGET messages likewise (deltas of every msgpack integer width, keys lists of every length class). */
const deltaOf = fc.oneof(
  fc.integer(), fc.constantFrom(0, 1, -1, -32, -33, -128, -129, -32768, -32769, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1, -(2 ** 53), 2 ** 53, 2 ** 63),
  fc.constantFrom(2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n, -(2n ** 53n), 5n), anyValue,
);
const incrMessage = fc.record({
  id: idOf, epoch: fc.oneof(fc.constant(0), fc.nat(), anyNumber), ns: nsName, key: fc.oneof(keyName, anyValue), delta: deltaOf,
  ttl: fc.oneof(fc.constantFrom(0, -1, -2, 60_000, null, undefined), anyNumber), length: fc.constantFrom(7, 7, 7, 6, 8),
}).map((s) => [s.id, Op.INCR, s.epoch, s.ns, s.key, s.delta, s.ttl, 'extra'].slice(0, s.length));
const keyList = fc.oneof(
  { arbitrary: fc.array(keyName, { minLength: 1, maxLength: 20 }), weight: 8 }, { arbitrary: fc.array(fc.oneof(keyName, anyValue), { maxLength: 20 }), weight: 4 },
  { arbitrary: fc.constantFrom(10_000, 10_001).map((n) => Array.from({ length: n }, (_, i) => `k${i}`)), weight: 1 }, { arbitrary: fc.constant([]), weight: 1 },
  { arbitrary: anyValue, weight: 2 },
);
const mgetMessage = fc.record({ id: idOf, ns: nsName, keys: keyList, length: fc.constantFrom(4, 4, 4, 3, 5) })
  .map((s) => [s.id, Op.MGET, s.ns, s.keys, 'extra'].slice(0, s.length));
const anyMessage = fc.oneof(getMessage, setMessage, incrMessage, mgetMessage);

describe('GET, SET, INCR and MGET frames read in place', () => {
  test('messages of every shape: whatever the in-place reader takes, the generic path decodes the same', () => {
    fc.assert(fc.property(anyMessage, (message) => void check(payloadOf(message))), { numRuns: 8000 });
  });

  test('the requests clients send are taken (ASCII key, bin value, whole numbers)', () => {
    const get = fc.tuple(fc.nat(), fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), fc.stringMatching(/^[\x00-\x7f]{1,1024}$/));
    const set = fc.tuple(get, fc.uint8Array({ maxLength: 2000 }), fc.oneof(fc.constant(-1), fc.nat()), fc.nat({ max: 0xffffffff }), fc.constantFrom(0, 1, 2), fc.nat());
    fc.assert(fc.property(get, ([id, ns, key]) => void expect(check(payloadOf([id, Op.GET, ns, key]))).toBe(true)), { numRuns: 1000 });
    fc.assert(fc.property(set, ([[id, ns, key], value, ttl, flags, cond, version]) => {
      expect(check(payloadOf([id, Op.SET, 0, ns, key, value, ttl, flags, cond, version, null]))).toBe(true);
    }), { numRuns: 1000 });
    const delta = fc.oneof(fc.integer(), fc.constantFrom(-(2 ** 53) + 1, 2 ** 53 - 1, -129, 200, -40000, 2 ** 40));
    fc.assert(fc.property(get, delta, fc.oneof(fc.constant(null), fc.nat()), ([id, ns, key], d, ttl) => {
      expect(check(payloadOf([id, Op.INCR, 0, ns, key, d, ttl]))).toBe(true);
    }), { numRuns: 1000 });
    const keys = fc.array(fc.stringMatching(/^[\x00-\x7f]{1,40}$/), { minLength: 1, maxLength: 40 });
    fc.assert(fc.property(get, keys, ([id, ns], k) => void expect(check(payloadOf([id, Op.MGET, ns, k]))).toBe(true)), { numRuns: 1000 });
  });

  test('mutated frames (bytes flipped, cut, inserted): what is taken agrees with the generic path, what is refused is refused by both', () => {
    const mutation = fc.tuple(fc.nat(), fc.nat({ max: 255 }), fc.constantFrom('flip', 'cut', 'insert', 'truncate'));
    fc.assert(fc.property(anyMessage, fc.array(mutation, { minLength: 1, maxLength: 4 }), (message, mutations) => {
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

  test('arbitrary bytes behind a GET, SET, INCR or MGET header: refused as the generic path refuses them, or read alike', () => {
    const body = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // an id and an opcode the reader takes, then anything
      fc.tuple(fc.constantFrom(Op.GET, Op.SET, Op.INCR, Op.MGET), fc.uint8Array({ maxLength: 200 })).map(([op, rest]) => Uint8Array.from([7, op, ...rest])),
    );
    fc.assert(fc.property(fc.constantFrom(0x94, 0x9b, 0x97), body, (head, rest) => {
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
    const key = fc.constantFrom('a', 'b', 'k'.repeat(20), 'clé', '', 'c', 'n');
    const value = fc.oneof(
      fc.uint8Array({ maxLength: 1200 }),
      fc.constantFrom('41', '-7', '9223372036854775806', '-9223372036854775807', '9007199254740991', '007', 'x').map((t) => new Uint8Array(Buffer.from(t))),
    );
    const message = fc.oneof(
      fc.tuple(fc.nat(1000), fc.constantFrom('ns', 'n2', 'bad ns'), key).map(([id, ns, k]) => [id, Op.GET, ns, k]),
      fc.record({
        id: fc.nat(1000), epoch: fc.constantFrom(0, 0, 0, 3), ns: fc.constantFrom('ns', 'n2'), key, value,
        ttl: fc.constantFrom(0, -1, 5, 100_000), flags: fc.constantFrom(0, 9), cond: fc.constantFrom(0, 0, 1, 2), ifVersion: fc.constantFrom(0, 0, 1, 2, 5),
      }).map((s) => [s.id, Op.SET, s.epoch, s.ns, s.key, s.value, s.ttl, s.flags, s.cond, s.ifVersion, null]),
      fc.record({
        id: fc.nat(1000), epoch: fc.constantFrom(0, 0, 0, 3), ns: fc.constantFrom('ns', 'n2', 'bad ns'), key,
        delta: fc.constantFrom(1, -1, 1000, 2 ** 53 - 1, -(2 ** 40), 2n ** 62n, 2n ** 63n - 1n, 1.5), ttl: fc.constantFrom(0, 0, 5, 100_000, -1, null),
      }).map((s) => [s.id, Op.INCR, s.epoch, s.ns, s.key, s.delta, s.ttl]),
      fc.tuple(fc.nat(1000), fc.constantFrom('ns', 'n2', 'bad ns'), fc.oneof(fc.array(key, { maxLength: 20 }), fc.array(fc.constantFrom('a', 'b', 'c', 'n', 'k'.repeat(20)), { minLength: 1, maxLength: 20 })))
        .map(([id, ns, keys]) => [id, Op.MGET, ns, keys]),
    );
    /** A cluster node's context: a slot guard (keys `b`: MOVED; writes to `n`: MOVED), a replication log and a write listener, all recorded. */
    const clustered = (log: string[]): Partial<HandlerContext> => {
      const moved = (ns: string, key: string): OpError => new OpError(Status.MOVED, `moved ${ns}/${key}`, [7, 2, 1]);
      const slots: SlotGuard = {
        check: (ns, key) => {
          log.push(`check ${ns}/${key}`);
          if (key === 'b') throw moved(ns, key);
        },
        checkWrite: (ns, key) => {
          log.push(`checkWrite ${ns}/${key}`);
          if (key === 'b' || key === 'n') throw moved(ns, key);
        },
        // The in-place paths check the key's bytes: the same check, so the two logs compare.
        checkAscii: (ns, bytes, start, end, write) => {
          const key = Buffer.from(bytes.subarray(start, end)).toString('latin1');
          if (write) slots.checkWrite(ns, key);
          else slots.check(ns, key);
        },
        owns: () => true,
        moved: (slot) => new OpError(Status.MOVED, `moved slot ${slot}`, [slot, 2, 1]),
        checkWalk: () => undefined,
      };
      const repl: MutationLog = {
        set: (ns, key, v, version, expiresAt, flags, tags) => void log.push(`set ${ns}/${key} ${Buffer.from(v).toString('hex')} ${version} ${expiresAt} ${flags} ${String(tags)}`),
        changed: (ns, key) => void log.push(`changed ${ns}/${key}`),
        collChanged: (ns, key) => void log.push(`coll ${ns}/${key}`),
        deleted: (ns, key) => void log.push(`deleted ${ns}/${key}`),
        invalidated: (ns, tag) => void log.push(`invalidated ${ns} ${String(tag)}`),
      };
      const writes: WriteListener = { written: (ns, key) => void log.push(`written ${ns}/${key}`), invalidated: (ns) => void log.push(`invalidated ${ns}`) };
      return { slots, repl, writes };
    };
    const taken = new Map<unknown, number>();
    fc.assert(fc.property(fc.array(message, { maxLength: 60 }), fc.boolean(), (messages, cluster) => {
      const logA: string[] = [];
      const logB: string[] = [];
      const generic = { store: store(), gate: STANDALONE, stats: () => ({}), ...(cluster ? clustered(logA) : {}) } as HandlerContext;
      const inPlace = { store: store(), gate: STANDALONE, stats: () => ({}), ...(cluster ? clustered(logB) : {}) } as HandlerContext;
      const a = new ReplyWriter();
      const b = new ReplyWriter();
      const fail = (err: unknown): never => {
        throw err;
      };
      for (const m of messages) {
        const payload = payloadOf(m);
        const statusA = handle(decodePayload(payload), generic, a, fail);
        const hot = readHot(payload, 0, payload.length);
        if (hot) taken.set(m[1], (taken.get(m[1]) ?? 0) + 1);
        const statusB = hot ? answerHot(payload, inPlace, b, fail) : handle(decodePayload(payload), inPlace, b, fail);
        expect(statusB).toBe(statusA);
        const replyA = a.flush() ?? Buffer.alloc(0);
        expect(Buffer.from(b.flush() ?? []).toString('hex')).toBe(Buffer.from(replyA).toString('hex'));
        // and the reply is one frame that decodes, with the request's id
        const decoded: unknown[][] = [];
        new FrameDecoder((r) => void decoded.push(r), 1 << 24).push(Buffer.from(replyA));
        expect(decoded.map((r) => r[0])).toEqual([m[0]]);
        expect(logB).toEqual(logA);
      }
      expect(inPlace.store.stats()).toEqual(generic.store.stats());
    }), { numRuns: 500 });
    // the in-place path did run, for every op
    for (const op of [Op.GET, Op.SET, Op.INCR, Op.MGET]) expect(taken.get(op)).toBeGreaterThan(20);
  });

  test('INCR and MGET replies written by hand decode to the values msgpackr would encode', () => {
    /** The one reply in `bytes`, decoded and encoded again by msgpackr: equal bytes, equal values. */
    const decodeOne = (bytes: Buffer): string => {
      const out: unknown[][] = [];
      new FrameDecoder((r) => void out.push(r), 1 << 26).push(bytes);
      expect(out).toHaveLength(1);
      return encodeFrame(out[0]).toString('hex');
    };
    const viaMsgpackr = (reply: unknown[]): string => encodeFrame(decodePayload(payloadOf(reply))).toString('hex');
    const int64 = fc.oneof(fc.integer(), fc.constantFrom(0, -1, -32, -33, -128, -129, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 53 - 1, -(2 ** 53) + 1),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).filter((v) => v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)));
    fc.assert(fc.property(fc.nat(), int64, fc.nat(), (id, value, version) => {
      const out = new ReplyWriter();
      out.incr(id, value, version);
      expect(decodeOne(out.flush()!)).toBe(viaMsgpackr([id, Status.OK, value, version]));
    }), { numRuns: 2000 });
    const entry = fc.option(fc.record({
      value: fc.oneof({ arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 300 }), weight: 30 }, { arbitrary: fc.constant('v'.repeat(70_000)), weight: 1 }),
      version: fc.nat(), expiresAt: fc.oneof(fc.constant(0), fc.nat(), fc.constant(1_700_000_000_000)), flags: fc.nat({ max: 0xffffffff }),
    }), { nil: undefined });
    fc.assert(fc.property(fc.nat(), fc.array(entry, { minLength: 1, maxLength: 40 }), fc.boolean(), (id, entries, resync) => {
      const out = new ReplyWriter();
      const started = out.beginEntries(id, entries.length, resync);
      for (const e of entries) out.entry(e);
      out.endEntries(started);
      const tuples = entries.map((e) => (e === undefined ? null : [Buffer.from(e.value, 'latin1'), e.version, e.expiresAt, e.flags]));
      expect(decodeOne(out.flush()!) === viaMsgpackr(resync ? [id, Status.OK, tuples, true] : [id, Status.OK, tuples])).toBe(true);
    }), { numRuns: 300 });
  });
});
