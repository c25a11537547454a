import { hashKey, KeyIndex, type KeySource } from '../../storage-node/store/key-index';
import { seeded } from './store-helpers';

/** Keys and hashes by id, as the entry table holds them; `hashOf` picks the hash of a new key. */
class Source implements KeySource {
  readonly keys: (string | undefined)[] = [];
  readonly hashes: number[] = [];
  private readonly free: number[] = [];

  constructor(readonly hashOf: (key: string) => number) {}

  key(id: number): string | undefined {
    return this.keys[id];
  }

  hash(id: number): number {
    return this.hashes[id];
  }

  add(key: string): number {
    const id = this.free.pop() ?? this.keys.length;
    this.keys[id] = key;
    this.hashes[id] = this.hashOf(key);
    return id;
  }

  drop(id: number): void {
    this.keys[id] = undefined;
    this.free.push(id);
  }
}

/** An index over a source, with the three operations spelled by key. */
function setup(hashOf: (key: string) => number = (k) => hashKey(k, 1)) {
  const source = new Source(hashOf);
  const index = new KeyIndex(source);
  return {
    source,
    index,
    insert(key: string): number {
      const id = source.add(key);
      index.insert(id, source.hash(id));
      return id;
    },
    find: (key: string): number => index.find(key, hashOf(key)),
    remove(key: string): void {
      const id = index.find(key, hashOf(key));
      if (id < 0) throw new Error(`${key} is not indexed`);
      index.remove(id, source.hash(id));
      source.drop(id);
    },
  };
}

describe('hashKey', () => {
  test('is a deterministic uint32 that depends on the seed and on every character', () => {
    const h = hashKey('key:0000001', 7);
    expect(h).toBe(hashKey('key:0000001', 7));
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    expect(hashKey('key:0000001', 8)).not.toBe(h);
    expect(hashKey('key:0000002', 7)).not.toBe(h);
    expect(hashKey('Key:0000001', 7)).not.toBe(h);
    expect(hashKey('', 7)).toBe(hashKey('', 7));
    expect(hashKey('é€😀', 7)).not.toBe(hashKey('é€😁', 7));
  });

  test('spreads sequential keys evenly over the low bits', () => {
    const buckets = new Array<number>(256).fill(0);
    for (let i = 0; i < 256 * 100; i++) buckets[hashKey(`key:${i}`, 3) & 255]++;
    expect(Math.min(...buckets)).toBeGreaterThan(50);
    expect(Math.max(...buckets)).toBeLessThan(160);
  });
});

describe('KeyIndex', () => {
  test('insert, find and remove', () => {
    const t = setup();
    const a = t.insert('a');
    const b = t.insert('b');
    expect(t.find('a')).toBe(a);
    expect(t.find('b')).toBe(b);
    expect(t.find('c')).toBe(-1);
    expect(t.index.size).toBe(2);
    t.remove('a');
    expect(t.find('a')).toBe(-1);
    expect(t.find('b')).toBe(b);
    expect(t.index.size).toBe(1);
  });

  test('keys sharing one hash are told apart by the key itself', () => {
    const t = setup(() => 5);
    const ids = ['x', 'y', 'z', 'w'].map((k) => t.insert(k));
    expect(['x', 'y', 'z', 'w'].map(t.find)).toEqual(ids);
    expect(t.find('v')).toBe(-1);
    t.remove('y');
    expect(t.find('x')).toBe(ids[0]);
    expect(t.find('y')).toBe(-1);
    expect(t.find('z')).toBe(ids[2]);
    expect(t.find('w')).toBe(ids[3]);
  });

  test('removal closes the gap in a run that wraps past the end of the table', () => {
    // Capacity 16: homes 14 and 15 make the run 14, 15, 0, 1, 2 wrap around.
    const homes: Record<string, number> = { p: 14, q: 15, r: 14, s: 15, t: 0 };
    const t = setup((k) => homes[k] ?? 3);
    for (const k of Object.keys(homes)) t.insert(k);
    expect(t.index.capacity).toBe(16);
    t.remove('p');
    for (const k of ['q', 'r', 's', 't']) expect(t.find(k)).toBeGreaterThanOrEqual(0);
    t.remove('q');
    for (const k of ['r', 's', 't']) expect(t.find(k)).toBeGreaterThanOrEqual(0);
    t.remove('s');
    expect(t.find('r')).toBeGreaterThanOrEqual(0);
    expect(t.find('t')).toBeGreaterThanOrEqual(0);
    expect(t.find('p')).toBe(-1);
  });

  test('grows past 3/4 load and shrinks below 3/16, keeping every key', () => {
    const t = setup();
    for (let i = 0; i < 12; i++) t.insert(`k${i}`);
    expect(t.index.capacity).toBe(16);
    t.insert('k12');
    expect(t.index.capacity).toBe(32);
    for (let i = 13; i < 1000; i++) t.insert(`k${i}`);
    expect(t.index.capacity).toBe(2048);
    for (let i = 0; i < 1000; i++) expect(t.source.key(t.find(`k${i}`))).toBe(`k${i}`);
    for (let i = 0; i < 990; i++) t.remove(`k${i}`);
    expect(t.index.size).toBe(10);
    expect(t.index.capacity).toBeLessThanOrEqual(64);
    for (let i = 990; i < 1000; i++) expect(t.source.key(t.find(`k${i}`))).toBe(`k${i}`);
    for (let i = 0; i < 990; i++) expect(t.find(`k${i}`)).toBe(-1);
  });

  test.each([
    ['a good hash', (k: string) => hashKey(k, 99)],
    ['a hash with 256 values', (k: string) => hashKey(k, 99) & 255],
  ])('100,000 random operations agree with a Map (%s)', (_name, hashOf) => {
    const t = setup(hashOf);
    const reference = new Map<string, number>();
    const random = seeded(11);
    const mismatches: string[] = [];
    for (let op = 0; op < 100_000; op++) {
      const key = `key:${Math.floor(random() * 2000)}`;
      const roll = random();
      if (roll < 0.45 && !reference.has(key)) reference.set(key, t.insert(key));
      else if (roll < 0.8 && reference.has(key)) {
        t.remove(key);
        reference.delete(key);
      } else if (t.find(key) !== (reference.get(key) ?? -1)) mismatches.push(`op ${op}: find ${key}`);
      if (t.index.size !== reference.size) mismatches.push(`op ${op}: size ${t.index.size}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
    expect(reference.size).toBeGreaterThan(500);
    for (let i = 0; i < 2000; i++) expect(t.find(`key:${i}`)).toBe(reference.get(`key:${i}`) ?? -1);
  });
});
