import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodeMessage } from '../../proxy/front/ws-protocol';

const packr = new Packr({ useRecords: false, useBigInt64: true } as ConstructorParameters<typeof Packr>[0]);
const MAX_ID = 0xffffffff;

/** What every decoded message must satisfy, whatever its bytes. */
function wellFormed(bytes: Uint8Array): ReturnType<typeof decodeMessage> {
  const out = decodeMessage(bytes);
  expect(out.length).toBeGreaterThanOrEqual(1);
  // Every outcome but a last id-0 error is an array [id, op, ...]: at least 3 bytes each.
  expect(out.length).toBeLessThanOrEqual(Math.floor(bytes.length / 3) + 1);
  for (const d of out) {
    expect(Number.isInteger(d.id) && d.id >= 0 && d.id <= MAX_ID).toBe(true);
    if (d.ok) expect(d.id).toBeGreaterThan(0);
    else expect(typeof d.error.code === 'string' && typeof d.error.message === 'string').toBe(true);
  }
  // Only the last outcome may be an id-0 error: it ends the message.
  expect(out.slice(0, -1).some((d) => !d.ok && d.id === 0)).toBe(false);
  return out;
}

const op = fc.constantFrom('get', 'mget', 'set', 'delete', 'incr', 'expire', 'invalidate', 'ping', 'nope');
const arg = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.uint8Array({ maxLength: 16 }), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.dictionary(fc.constantFrom('ttlMs', 'flags', 'tags', 'ifVersion', 'x'), fc.oneof(fc.integer(), fc.string({ maxLength: 4 }))));
const request = fc.tuple(fc.integer({ min: -2, max: 2 ** 33 }), op, fc.array(arg, { maxLength: 4 })).map(([id, name, args]) => [id, name, ...args]);

describe('WebSocket message decoder fuzzing', () => {
  test('arbitrary bytes never throw and give well-formed outcomes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => void wellFormed(bytes)), { numRuns: 3000 });
  });

  test('batches of request-shaped values, cut or corrupted anywhere, keep the order of the requests before the damage', () => {
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 12 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 }), (requests, cutAt, flipAt, byte) => {
        const parts = requests.map((r) => packr.pack(r));
        const whole = Buffer.concat(parts);
        const intact = wellFormed(whole);
        // Undamaged: one outcome per request until the first value without a readable id.
        const firstBad = requests.findIndex((r) => !(Number.isInteger(r[0]) && (r[0] as number) >= 1 && (r[0] as number) <= MAX_ID));
        expect(intact).toHaveLength(firstBad < 0 ? requests.length : firstBad + 1);
        intact.forEach((d, i) => expect(d.id).toBe(firstBad === i ? 0 : requests[i][0]));
        // Cut short, or one byte changed: still well formed, and whole requests before the damage decode the same.
        const cut = whole.subarray(0, cutAt % (whole.length + 1));
        const damaged = Buffer.from(whole);
        damaged[flipAt % whole.length] = byte;
        for (const bytes of [cut, damaged]) {
          const out = wellFormed(bytes);
          const at = bytes === cut ? cut.length : flipAt % whole.length;
          let end = 0;
          for (let i = 0; i < parts.length && i < intact.length; i++) {
            end += parts[i].length;
            if (end > at) break;
            expect(out[i]).toEqual(intact[i]);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});

describe('WebSocket message decoder fuzzing with msgpack extension types', () => {
  const hostile = new Packr({ structuredClone: true, useRecords: true, moreTypes: true } as ConstructorParameters<typeof Packr>[0]);
  test('requests carrying shared references, records, sets or bigints end the message with one id-0 BAD_REQUEST', () => {
    const value = fc.oneof(fc.constant('shared'), fc.constant('set'), fc.constant('record'), fc.constant('bigint'), fc.constant('date'));
    const ping = fc.integer({ min: 1, max: 2 ** 20 }).map((n) => [n, 'ping']);
    fc.assert(
      fc.property(fc.array(ping, { maxLength: 3 }), value, fc.nat({ max: 2 ** 20 }), (before, kind, id) => {
        const shared = { a: 1 };
        const arg = kind === 'shared' ? [shared, shared] : kind === 'set' ? new Set([1, 2]) : kind === 'record' ? [{ x: 1 }, { x: 2 }] : kind === 'bigint' ? 2n ** 70n : new Date(0);
        const bad = hostile.pack([id + 1, 'get', 'ns', arg]);
        const out = wellFormed(Buffer.concat([...before.map((r) => packr.pack(r)), bad]));
        expect(out.slice(0, before.length).every((d) => d.ok)).toBe(true);
        expect(out).toHaveLength(before.length + 1);
        const last = out[before.length];
        expect(last.ok ? 'ok' : [last.id, last.error.code]).toEqual([0, 'BAD_REQUEST']);
        if (!last.ok) expect(last.error.message).toMatch(/extension types .* are not accepted/);
      }),
      { numRuns: 1000 },
    );
  });
});
