import fc from 'fast-check';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { ProtocolError } from '../../shared/errors';
import { Op } from '../../shared/protocol';
import { applyRecord } from '../../storage-node/replication/records';
import { makeStore } from '../unit/store-helpers';

/** Feeds frames to a replica's store as the link does; returns the first error, if any. */
function apply(frames: Buffer[]): unknown {
  const { store } = makeStore({ maxMemoryBytes: 4 * 1024 * 1024 });
  store.passive = true;
  const decoder = new FrameDecoder((m) => void applyRecord(store, m), 64 * 1024);
  try {
    for (const f of frames) decoder.push(f);
  } catch (err) {
    return err;
  }
  return undefined;
}

const anyValue = fc.oneof(
  fc.string({ maxLength: 20 }), fc.integer(), fc.double(), fc.constant(null), fc.boolean(),
  fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a)), fc.array(fc.string({ maxLength: 5 }), { maxLength: 4 }),
);
const ops = fc.constantFrom(Op.REPL_SET, Op.REPL_DEL, Op.REPL_INVALIDATE, Op.REPL_SNAPSHOT, Op.REPL_SNAPSHOT_END, Op.REPL_DIRTY, Op.REPL_CLEAN, Op.REPL_SNAPSHOT_DIRTY, 0, 99);

describe('replication stream fuzzing', () => {
  test('records with arbitrary fields are applied or refused with a ProtocolError, never a crash', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(ops, fc.array(anyValue, { maxLength: 10 })), { maxLength: 20 }), (records) => {
        const err = apply(records.map(([op, args]) => encodeFrame([0, op, ...args])));
        if (err !== undefined) expect(err).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 2000 },
    );
  });

  test('well-formed records with arbitrary values are applied', () => {
    const record = fc.tuple(
      fc.stringMatching(/^[a-z]{1,8}$/), fc.string({ minLength: 1, maxLength: 30 }), fc.uint8Array({ maxLength: 64 }),
      fc.nat(), fc.nat(), fc.nat({ max: 0xffffffff }),
    ).map(([ns, key, value, version, expiresAt, flags]) => encodeFrame([0, Op.REPL_SET, ns, key, Buffer.from(value), version, expiresAt, flags, null]));
    fc.assert(fc.property(fc.array(record, { maxLength: 20 }), (frames) => expect(apply(frames)).toBeUndefined()), { numRuns: 500 });
  });

  test('arbitrary bytes never crash the stream decoder', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const err = apply([Buffer.from(bytes)]);
        if (err !== undefined) expect(err).toBeInstanceOf(ProtocolError);
      }),
      { numRuns: 2000 },
    );
  });
});
