import fc from 'fast-check';
import { keySlot, slotOf, slotOfBytes, SLOT_COUNT } from '../../shared/slot';
import { SlotOwnership } from '../../storage-node/migration/ownership';

// Known answers from a real redis-server (`CLUSTER KEYSLOT "<namespace>:<key>"`), so a change that
// breaks agreement with Redis Cluster clients fails here.
const REDIS_VECTORS: Array<[string, string, number]> = [
  ['default', 'foo', 2080],
  ['ns', 'bar', 15208],
  ['users', '{user1000}.following', 3443],
  ['users', '{user1000}.followers', 3443],
  ['a', '{}b', 11735],
  ['a', '{{x}}', 11068],
  ['a', 'x{}{y}', 6142],
  ['ns', 'héllo', 13021],
  ['ns', '', 2681],
  ['ns', '{', 8050],
  ['x', '}{a}', 15495],
  ['cart', '{42}', 8000],
  ['session', 'abc123', 11692],
];

describe('slotOf', () => {
  test.each(REDIS_VECTORS)('slotOf(%p, %p) = %p as Redis computes it', (ns, key, slot) => {
    expect(slotOf(ns, key)).toBe(slot);
  });

  test('only the {tag} is hashed, so tagged keys of one namespace share a slot', () => {
    expect(slotOf('orders', '{cust:7}:open')).toBe(slotOf('orders', '{cust:7}:closed'));
    expect(slotOf('orders', 'plain-a')).not.toBe(slotOf('orders', 'plain-b'));
  });

  test('is keySlot of "namespace:key" for any namespace and key, braces and multi-byte characters included, in any order of namespaces', () => {
    const unit = fc.constantFrom('a', 'b', '{', '}', ':', 'é', '€', '😀', 'z', '0');
    const ns = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/), fc.string({ unit, maxLength: 6 }));
    const key = fc.string({ unit, maxLength: 12 });
    fc.assert(fc.property(fc.array(fc.tuple(ns, key), { minLength: 1, maxLength: 8 }), (pairs) => {
      for (const [n, k] of pairs) expect(slotOf(n, k)).toBe(keySlot(`${n}:${k}`));
    }), { numRuns: 2000 });
  });

  test('slots stay in range', () => {
    for (let i = 0; i < 5000; i++) {
      const slot = slotOf('ns', `k${i}`);
      expect(slot).toBeGreaterThanOrEqual(0);
      expect(slot).toBeLessThan(SLOT_COUNT);
    }
  });
});

describe('keySlot', () => {
  test('the CRC16 check value of "123456789" gives the slot Redis reports', () => {
    expect(keySlot('123456789')).toBe(12739);
  });
});

describe('slotOfBytes (a key read in place from a request)', () => {
  const inPlace = (ns: string, key: string): number => {
    const bytes = Buffer.concat([Buffer.from('xx'), Buffer.from(key, 'utf8'), Buffer.from('yy')]);
    return slotOfBytes(ns, bytes, 2, bytes.length - 2);
  };

  test.each(REDIS_VECTORS)('slotOfBytes(%p, bytes of %p) = %p', (ns, key, slot) => {
    expect(inPlace(ns, key)).toBe(slot);
  });

  test('agrees with slotOf on any key, braces and multi-byte characters included', () => {
    const key = fc.string({ unit: fc.constantFrom('a', 'b', '{', '}', ':', 'é', '€', '😀', 'z', '0'), maxLength: 12 });
    const ns = fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/);
    fc.assert(fc.property(ns, key, (n, k) => inPlace(n, k) === slotOf(n, k)), { numRuns: 3000 });
  });

  test("the ownership check by bytes answers as the check by string (MOVED names the same slot)", () => {
    const owner = new SlotOwnership(1);
    owner.apply(3, [[0, 8191, 1], [8192, 16383, 2]]);
    let moved = 0;
    for (let i = 0; i < 2000; i++) {
      const key = i % 7 === 0 ? `{t${i % 13}}:${i}` : `key:${i}`;
      const bytes = Buffer.from(key);
      let byString: unknown = null;
      let byBytes: unknown = null;
      try {
        owner.check('ns', key);
      } catch (err) {
        byString = (err as { detail?: unknown; message: string }).message;
      }
      try {
        owner.checkAscii('ns', bytes, 0, bytes.length, false);
      } catch (err) {
        byBytes = (err as { message: string }).message;
      }
      expect([key, byBytes]).toEqual([key, byString]);
      if (byBytes !== null) moved++;
    }
    expect(moved).toBeGreaterThan(500); // about half the keys belong to shard 2
    expect(moved).toBeLessThan(1500);
  });

  test('a write by bytes is refused BUSY before the slot map is read, as checkWrite is; a node owning every slot checks nothing', () => {
    const key = Buffer.from('k');
    const strict = new SlotOwnership(0);
    strict.strict = true;
    expect(() => strict.checkAscii('ns', key, 0, 1, true)).toThrow(/has not read the slot map/);
    expect(() => strict.checkWrite('ns', 'k')).toThrow(/has not read the slot map/);
    expect(() => strict.checkAscii('ns', key, 0, 1, false)).not.toThrow(); // a read is not refused, as check
    strict.apply(1, [[0, 16383, 0]]);
    expect(strict.all).toBe(true);
    expect(() => strict.checkAscii('ns', key, 0, 1, true)).not.toThrow();
    strict.apply(2, [[0, 16383, 1]]);
    expect(() => strict.checkAscii('ns', key, 0, 1, true)).toThrow(/owned by shard 1/);
  });
});
