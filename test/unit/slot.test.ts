import { keySlot, slotOf, SLOT_COUNT } from '../../shared/slot';

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
