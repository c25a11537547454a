import { hashString, OpenTable } from '../../proxy/open-table';

/** A small deterministic generator, so a failure replays. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('OpenTable', () => {
  test('agrees with a Map over random sets, gets and deletes, with many keys sharing a hash', () => {
    for (const hashBits of [2, 5, 31]) {
      const random = rng(hashBits);
      const table = new OpenTable<string, number>(4);
      const model = new Map<string, number>();
      // A narrow hash forces long probe runs and equal hashes of distinct keys.
      const hashOf = (k: string): number => hashString(k) & (2 ** hashBits - 1);
      for (let step = 0; step < 20_000; step++) {
        const key = `k${Math.floor(random() * 300)}`;
        const roll = random();
        if (roll < 0.45) {
          table.set(hashOf(key), key, step);
          model.set(key, step);
        } else if (roll < 0.8) {
          expect(table.delete(hashOf(key), key)).toBe(model.delete(key));
        } else {
          expect(table.get(hashOf(key), key)).toBe(model.get(key));
        }
        expect(table.size).toBe(model.size);
      }
      for (const [key, value] of model) expect(table.get(hashOf(key), key)).toBe(value);
      expect([...table.values()].sort((a, b) => a - b)).toEqual([...model.values()].sort((a, b) => a - b));
    }
  });

  test('delete with `only` removes the entry only while it holds that value', () => {
    const table = new OpenTable<string, object>();
    const first = {};
    const second = {};
    table.set(7, 'a', first);
    table.set(7, 'a', second);
    expect(table.delete(7, 'a', first)).toBe(false);
    expect(table.get(7, 'a')).toBe(second);
    expect(table.delete(7, 'a', second)).toBe(true);
    expect(table.get(7, 'a')).toBeUndefined();
    expect(table.size).toBe(0);
  });

  test('clear empties the table and it fills again', () => {
    const table = new OpenTable<number, string>();
    for (let i = 0; i < 100; i++) table.set(i, i, `v${i}`);
    table.clear();
    expect(table.size).toBe(0);
    expect(table.get(5, 5)).toBeUndefined();
    table.set(5, 5, 'again');
    expect(table.get(5, 5)).toBe('again');
  });

  test('hashString is a non-negative 31-bit number that depends on every code unit', () => {
    const seen = new Set<number>();
    for (const s of ['', 'a', 'b', 'ab', 'ba', 'ns\nkey', 'ns\nkez', '\u{1F600}']) {
      const h = hashString(s);
      expect(Number.isInteger(h) && h >= 0 && h < 2 ** 31).toBe(true);
      seen.add(h);
    }
    expect(seen.size).toBe(8);
  });
});
