import { type ExpiryPositions, ExpirySet } from '../../storage-node/store/expiry-set';
import { seeded } from './store-helpers';

/** Positions by id, as the entry table keeps them. */
class Positions implements ExpiryPositions {
  readonly pos = new Map<number, number>();

  ttlPos(id: number): number {
    return this.pos.get(id) ?? 0;
  }

  setTtlPos(id: number, pos: number): void {
    this.pos.set(id, pos);
  }
}

describe('ExpirySet', () => {
  test('set, update, clear and look up expiries', () => {
    const positions = new Positions();
    const set = new ExpirySet(positions);
    set.set(3, 1000);
    set.set(7, 2000);
    set.set(9, 0);
    expect(set.count).toBe(2);
    expect([set.expiresAt(3), set.expiresAt(7), set.expiresAt(9)]).toEqual([1000, 2000, 0]);
    set.set(3, 1500);
    expect(set.count).toBe(2);
    expect(set.expiresAt(3)).toBe(1500);
    set.set(3, 0);
    expect(set.count).toBe(1);
    expect(set.expiresAt(3)).toBe(0);
    expect(positions.ttlPos(3)).toBe(0);
    expect(set.expiresAt(7)).toBe(2000);
    set.remove(7);
    expect(set.count).toBe(0);
    expect(positions.ttlPos(7)).toBe(0);
  });

  test('removing the last member or a middle one keeps every position right', () => {
    const set = new ExpirySet(new Positions());
    for (let id = 0; id < 5; id++) set.set(id, 100 + id);
    set.remove(4);
    set.remove(1);
    set.remove(0);
    expect(set.count).toBe(2);
    const members = [0, 1].map((i) => [set.idAt(i), set.timeAt(i)]).sort((a, b) => a[0] - b[0]);
    expect(members).toEqual([
      [2, 102],
      [3, 103],
    ]);
    expect([set.expiresAt(2), set.expiresAt(3), set.expiresAt(4)]).toEqual([102, 103, 0]);
  });

  test('pick covers every position uniformly enough', () => {
    const set = new ExpirySet(new Positions());
    for (let id = 0; id < 10; id++) set.set(id, 1 + id);
    const seen = new Array<number>(10).fill(0);
    const random = seeded(5);
    for (let i = 0; i < 10_000; i++) seen[set.idAt(set.pick(random()))]++;
    expect(Math.min(...seen)).toBeGreaterThan(800);
    expect(set.pick(0.999_999_999)).toBe(9);
  });

  test('20,000 random operations agree with a Map, through growth and shrinking', () => {
    const positions = new Positions();
    const set = new ExpirySet(positions);
    const reference = new Map<number, number>();
    const random = seeded(8);
    const mismatches: string[] = [];
    for (let op = 0; op < 20_000; op++) {
      if (op === 10_000) {
        // Shrink: drop all but a few members, then keep going over those few ids.
        for (const id of [...reference.keys()].filter((id) => id >= 50)) set.remove(id);
        for (const id of [...reference.keys()]) if (id >= 50) reference.delete(id);
      }
      const id = Math.floor(random() * (op < 10_000 ? 5000 : 50));
      const roll = random();
      if (roll < 0.5) {
        const t = roll < 0.1 ? 0 : 1 + Math.floor(random() * 1e6);
        set.set(id, t);
        if (t === 0) reference.delete(id);
        else reference.set(id, t);
      } else if (roll < 0.7 && reference.has(id)) {
        set.remove(id);
        reference.delete(id);
      } else if (set.expiresAt(id) !== (reference.get(id) ?? 0)) mismatches.push(`op ${op}: id ${id}`);
      if (set.count !== reference.size) mismatches.push(`op ${op}: count ${set.count}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    for (let i = 0; i < set.count; i++) expect(reference.get(set.idAt(i))).toBe(set.timeAt(i));
  });
});
