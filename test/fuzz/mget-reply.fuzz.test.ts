import fc from 'fast-check';
import { decodePayload, encodeFrame } from '../../shared/frame';
import { Status } from '../../shared/protocol';
import { MGET } from '../../shared/ops';
import { MgetView, readMgetReply } from '../../proxy/upstream/mget-reply';
import { parseMget } from '../../proxy/routing/messages';
import { assemble, MgetResults } from '../../proxy/routing/mget';
import { copiedBulkValues } from '../../proxy/front/resp/reply';
import { ReplyWriter } from '../../storage-node/reply-writer';
import type { RawEntry } from '../../storage-node/store';

/**
 * The proxy reads MGET's OK reply in place (`readMgetReply`) instead of through msgpackr. Whatever
 * bytes a node sends, the reader must never throw, must stay inside the frame, and whenever it
 * takes a frame it must see exactly what the generic path (checkPlain + msgpackr) sees; a frame it
 * leaves goes to the generic path, which then decides.
 */

type Entry = { value: Buffer; version: number; expiresAt: number; flags: number } | null;

/** The payload of one frame `writer` holds (the node's own encoding). */
function payloadOf(frames: Buffer): Buffer {
  return frames.subarray(4, 4 + frames.readUInt32BE(0));
}

/** MGET's reply as the node writes it (`ReplyWriter.beginEntries / entry / endEntries`). */
function nodeReply(id: number, entries: readonly Entry[], resync: boolean): Buffer {
  const writer = new ReplyWriter();
  const started = writer.beginEntries(id, entries.length, resync);
  for (const e of entries) {
    const raw: RawEntry | undefined = e === null ? undefined : { value: e.value.toString('latin1'), version: e.version, expiresAt: e.expiresAt, flags: e.flags };
    writer.entry(raw);
  }
  writer.endEntries(started);
  return Buffer.from(payloadOf(writer.flush() as Buffer));
}

/** The view's entries in the shape msgpackr gives (`[value, version, expiresAt, flags]` or null). */
function entriesOf(view: MgetView): unknown[] {
  return Array.from({ length: view.count }, (_, k) => {
    const value = view.value(k);
    return value === null ? null : [Buffer.from(value), view.version(k), view.expiresAt(k), view.flags(k)];
  });
}

/** Reads `payload` in place; when taken, checks it against the generic decode. Returns whether it was taken. */
function check(payload: Buffer): boolean {
  const taken = readMgetReply(payload, 0, payload.length); // never throws: a throw fails the test
  if (taken === undefined) return false;
  const generic = decodePayload(payload); // throws if checkPlain or msgpackr refuse: the test then fails
  const view = taken[MGET.reply.entries] as MgetView;
  expect(view).toBeInstanceOf(MgetView);
  expect(taken.length).toBe(generic.length);
  expect([taken[0], taken[1], taken[MGET.reply.resync]]).toEqual([generic[0], generic[1], generic[MGET.reply.resync]]);
  expect(view.stale).toBe(generic[MGET.reply.resync] === true);
  const entries = (generic[MGET.reply.entries] as unknown[]).map((e) => (e === null ? null : [Buffer.from((e as unknown[])[0] as Uint8Array), ...(e as unknown[]).slice(1)]));
  expect(entriesOf(view)).toEqual(entries);
  return true;
}

const safe = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.maxSafeNat());
const entry: fc.Arbitrary<Entry> = fc.option(
  fc.record({
    value: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    version: safe,
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 1_700_000_000_000, max: 2_000_000_000_000 }), safe),
    flags: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
  }),
  { nil: null, freq: 3 },
);
const reply = fc.tuple(fc.integer({ min: 1, max: 0x7fffffff }), fc.array(entry, { maxLength: 40 }), fc.boolean());

describe('MGET replies read in place (readMgetReply)', () => {
  test('every reply a node writes is taken, and reads as msgpackr reads it', () => {
    fc.assert(fc.property(reply, ([id, entries, resync]) => {
      expect(check(nodeReply(id, entries, resync))).toBe(true);
    }), { numRuns: 1500 });
  });

  test('the same replies encoded by msgpackr (other integer widths) read alike or are left to msgpackr', () => {
    fc.assert(fc.property(reply, ([id, entries, resync]) => {
      const wire = entries.map((e) => (e === null ? null : [e.value, e.version, e.expiresAt, e.flags]));
      check(encodeFrame(resync ? [id, Status.OK, wire, true] : [id, Status.OK, wire]).subarray(4));
    }), { numRuns: 1000 });
  });

  test('mutated replies (bytes flipped, cut, inserted): never a throw; what is taken agrees with msgpackr', () => {
    const mutated = fc.tuple(reply, fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip', 'cut', 'insert')), { minLength: 1, maxLength: 4 }))
      .map(([[id, entries, resync], edits]) => {
        let bytes = nodeReply(id, entries, resync);
        for (const [at, byte, how] of edits) {
          const i = at % (bytes.length + 1);
          if (how === 'flip' && i < bytes.length) bytes[i] = byte;
          else if (how === 'cut') bytes = bytes.subarray(0, Math.max(1, i));
          else bytes = Buffer.concat([bytes.subarray(0, i), Buffer.from([byte]), bytes.subarray(i)]);
        }
        return Buffer.from(bytes);
      });
    let taken = 0;
    fc.assert(fc.property(mutated, (bytes) => {
      if (check(bytes)) taken++;
    }), { numRuns: 3000 });
    expect(taken).toBeGreaterThan(0); // some mutations (a flipped value byte) stay valid replies
  });

  test('arbitrary bytes behind an MGET reply head: never a throw; what is taken agrees with msgpackr', () => {
    const head = fc.constantFrom(Buffer.from([0x93, 0x01, Status.OK]), Buffer.from([0x94, 0xcd, 0x12, 0x34, Status.OK]));
    fc.assert(fc.property(head, fc.uint8Array({ maxLength: 64 }), (h, tail) => {
      check(Buffer.concat([h, Buffer.from(tail)]));
    }), { numRuns: 3000 });
  });

  test('other replies are left to msgpackr: an error status, other shapes, a count past the frame, a bigint', () => {
    const refused = [
      encodeFrame([1, Status.MOVED, 'slot moved', 12, 3]).subarray(4),
      encodeFrame([1, Status.OK, 5, 6]).subarray(4), // INCR's shape
      encodeFrame([1, Status.OK, [[Buffer.from('v'), 1, 0, 0], 'x']]).subarray(4),
      encodeFrame([1, Status.OK, [[Buffer.from('v'), 2 ** 60, 0, 0]]]).subarray(4), // version past 2^53: msgpackr's bigint
      encodeFrame([1, Status.OK, [[Buffer.from('v'), 1, 0, 0]], false]).subarray(4),
      Buffer.from([0x93, 0x01, Status.OK, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0]), // 4 billion entries declared, one byte sent
      Buffer.concat([Buffer.from([0x93, 0x01, Status.OK, 0xdd, 0x00, 0x01, 0x00, 0x00]), Buffer.alloc(0x10000, 0xc0)]), // 65,536 misses: more keys than an MGET asks one node for
      Buffer.concat([nodeReply(1, [null], false), Buffer.from([0xc0])]), // a byte after the reply
    ];
    for (const bytes of refused) expect(readMgetReply(bytes, 0, bytes.length)).toBeUndefined();
  });

  test('a frame in the middle of a chunk: values are ranges of the chunk, read in place', () => {
    const payload = nodeReply(9, [{ value: Buffer.from('hello'), version: 3, expiresAt: 1_800_000_000_000, flags: 7 }, null], false);
    const chunk = Buffer.concat([Buffer.from('xxxx'), payload, Buffer.from('yyyy')]);
    const r = readMgetReply(chunk, 4, 4 + payload.length)!;
    const view = r[MGET.reply.entries] as MgetView;
    expect(view.bytes).toBe(chunk);
    expect(view.value(0)!.toString()).toBe('hello');
    expect(view.value(0)!.buffer).toBe(chunk.buffer); // a view, not a copy
    expect([view.version(0), view.expiresAt(0), view.flags(0), view.valueLength(1)]).toEqual([3, 1_800_000_000_000, 7, -1]);
  });
});

describe('MGET results over views, decoded arrays and failed groups', () => {
  test('read alike by position whatever each group arrived as; the RESP reply copies from the views', () => {
    const viewBytes = nodeReply(1, [{ value: Buffer.from('A'), version: 1, expiresAt: 0, flags: 2 }, null], true);
    const view = parseMget(readMgetReply(viewBytes, 0, viewBytes.length)!, 2);
    const array = parseMget([2, Status.OK, [null, [Buffer.from('BB'), 5, 9, 0]]], 2);
    const failed = new Error('node gone');
    const groups = [
      { shardId: 0, keys: ['a', 'b'], positions: [0, 3] },
      { shardId: 1, keys: ['c', 'd'], positions: [1, 2] },
      { shardId: 2, keys: ['e'], positions: [4] },
    ];
    const results = assemble(5, groups, [view, array, failed]);
    expect(results.length).toBe(5);
    expect([0, 1, 2, 3, 4].map((i) => results.valueLength(i))).toEqual([1, -1, 2, -1, -1]);
    expect(results.errorAt(4)).toBe(failed);
    expect(results.errorAt(0)).toBeUndefined();
    expect(results.toArray()).toEqual([
      { hit: true, value: Buffer.from('A'), version: 1, expiresAt: 0, flags: 2, stale: 'resync' },
      { hit: false },
      { hit: true, value: Buffer.from('BB'), version: 5, expiresAt: 9, flags: 0 },
      { hit: false, stale: 'resync' },
      failed,
    ]);
    // A group split again after MOVED keeps what each part said: the stale mark of one, the error of another.
    const again = assemble(2, [{ shardId: 0, keys: ['c'], positions: [0] }, { shardId: 3, keys: ['d'], positions: [1] }], [view, failed]);
    const split = assemble(3, [{ shardId: 1, keys: ['c', 'd'], positions: [2, 0] }, { shardId: 2, keys: ['x'], positions: [1] }], [again, array]);
    expect(split.toArray()).toEqual([failed, { hit: false }, { hit: true, value: Buffer.from('A'), version: 1, expiresAt: 0, flags: 2, stale: 'resync' }]);
    const ok = assemble(4, groups.slice(0, 2), [view, array]);
    expect(copiedBulkValues(ok).toString('latin1')).toBe('*4\r\n$1\r\nA\r\n$-1\r\n$2\r\nBB\r\n$-1\r\n');
    expect(MgetResults.of([{ hit: true, value: Buffer.from('z'), version: 1, expiresAt: 0, flags: 0 }, { hit: false }]).valueLength(0)).toBe(1);
  });
});
