import { Status } from '../../shared/protocol';
import { ENTRY_OVERHEAD, entrySize } from '../../storage-node/store';
import { EvictionPool } from '../../storage-node/store/eviction-pool';
import { LFU_INIT_VAL, lfuDecay, lfuElapsed, lfuIncrement, lfuMinutes } from '../../storage-node/store/lfu';
import { b, makeStore, opError, seeded, text } from './store-helpers';

/** Room for exactly `n` entries of key `kNNNN` (5 chars) and a 10-byte value. */
const SIZE = entrySize(5, 10, 0);
const key = (i: number): string => `k${String(i).padStart(4, '0')}`;
const value = b('0123456789');

describe('size limits', () => {
  test('TOO_LARGE when key + value exceed maxItemBytes; the limit itself is fine', () => {
    const { store } = makeStore({ defaultMaxItemBytes: 100 });
    store.set('ns', 'keep', b('x'));
    expect(store.set('ns', 'k', Buffer.alloc(99))).toBeDefined();
    const err = opError(() => store.set('ns', 'k', Buffer.alloc(100)));
    expect(err.status).toBe(Status.TOO_LARGE);
    expect(err.message).toContain('101 bytes');
    expect(err.message).toContain('100 bytes');
    expect(store.get('ns', 'k')?.value.length).toBe(99);
    expect(store.get('ns', 'keep')).toBeDefined();
  });

  test('the namespace policy overrides the default item limit', () => {
    const { store } = makeStore();
    store.setNamespacePolicy('small', { maxItemBytes: 10 });
    expect(opError(() => store.set('small', 'key', Buffer.alloc(8))).status).toBe(Status.TOO_LARGE);
    expect(store.set('other', 'key', Buffer.alloc(8))).toBeDefined();
    expect(opError(() => store.set('other', 'key', Buffer.alloc(1024 * 1024)))).toMatchObject({
      status: Status.TOO_LARGE,
    });
  });

  test('OVER_QUOTA when one item is bigger than the namespace quota', () => {
    const { store } = makeStore();
    store.setNamespacePolicy('q', { quotaBytes: ENTRY_OVERHEAD + 50 });
    store.set('q', 'a', b('1'));
    const err = opError(() => store.set('q', 'big', Buffer.alloc(60)));
    expect(err.status).toBe(Status.OVER_QUOTA);
    expect(store.get('q', 'a')).toBeDefined();
  });

  test('OUT_OF_MEMORY when one item cannot fit even in an empty store; nothing is evicted', () => {
    const { store } = makeStore({ maxMemoryBytes: 10 * SIZE });
    for (let i = 0; i < 5; i++) store.set('ns', key(i), value);
    const err = opError(() => store.set('ns', 'huge', Buffer.alloc(10 * SIZE)));
    expect(err.status).toBe(Status.OUT_OF_MEMORY);
    expect(store.size).toBe(5);
  });
});

describe('memory-limit eviction', () => {
  test('accounted bytes never exceed the limit after a set', () => {
    const limit = 50_000;
    const { store, removed } = makeStore({ maxMemoryBytes: limit });
    const random = seeded(1);
    for (let i = 0; i < 5000; i++) {
      const len = Math.floor(random() * 2000);
      store.set(`ns${i % 3}`, `key${Math.floor(random() * 800)}`, Buffer.alloc(len, 1));
      const s = store.stats();
      expect(s.bytes).toBeLessThanOrEqual(limit);
      const sum = Object.values(s.namespaces).reduce((acc, n) => acc + n.bytes, 0);
      expect(sum).toBe(s.bytes);
    }
    const stats = store.stats();
    expect(stats.evictedMemory).toBeGreaterThan(0);
    expect(removed.filter(([, , r]) => r === 'evicted').length).toBe(stats.evictedMemory);
  });

  test('a rewrite never evicts the entry being written', () => {
    const { store } = makeStore({ maxMemoryBytes: 2 * SIZE });
    store.set('ns', key(0), value);
    store.set('ns', key(1), value);
    store.set('ns', key(1), Buffer.alloc(SIZE + 10 - ENTRY_OVERHEAD - 5, 7));
    expect(store.get('ns', key(1))).toBeDefined();
    expect(store.get('ns', key(0))).toBeUndefined();
  });

  test('expired and invalidated entries are reclaimed before live ones are evicted', () => {
    const { store, clock } = makeStore({ maxMemoryBytes: 100 * SIZE });
    for (let i = 0; i < 50; i++) store.set('ns', key(i), value, { ttlMs: 10 });
    for (let i = 50; i < 100; i++) store.set('ns', key(i), value);
    clock.advance(10);
    for (let i = 100; i < 140; i++) store.set('ns', key(i), value);
    const s = store.stats();
    expect(s.evictedMemory).toBe(0);
    expect(s.expired).toBe(40);
    for (let i = 50; i < 140; i++) expect(store.get('ns', key(i))).toBeDefined();
  });

  test('sampled LRU keeps the recently used keys', () => {
    const { store } = makeStore({ maxMemoryBytes: 200 * SIZE });
    for (let i = 0; i < 200; i++) store.set('ns', key(i), value);
    for (let round = 0; round < 400; round++) {
      for (let h = 0; h < 20; h++) store.get('ns', key(h));
      store.set('ns', key(1000 + round), value);
    }
    let hot = 0;
    for (let h = 0; h < 20; h++) if (store.get('ns', key(h))) hot++;
    expect(hot).toBeGreaterThanOrEqual(19);
  });

  test('LFU keeps frequently used keys through a scan of one-off keys', () => {
    const { store } = makeStore({ maxMemoryBytes: 100 * SIZE, defaultEviction: 'lfu' });
    for (let i = 0; i < 100; i++) store.set('ns', key(i), value);
    for (let n = 0; n < 30; n++) for (let h = 0; h < 30; h++) store.get('ns', key(h));
    for (let i = 0; i < 1000; i++) store.set('ns', key(2000 + i), value);
    let kept = 0;
    for (let h = 0; h < 30; h++) if (store.get('ns', key(h))) kept++;
    expect(kept).toBeGreaterThanOrEqual(28);
  });

  test('mixed LRU and LFU namespaces share the memory limit', () => {
    const { store } = makeStore({ maxMemoryBytes: 300 * SIZE });
    store.setNamespacePolicy('f', { eviction: 'lfu' });
    for (let i = 0; i < 2000; i++) {
      store.set(i % 2 ? 'f' : 'r', key(i), value);
      expect(store.stats().bytes).toBeLessThanOrEqual(300 * SIZE);
    }
    const { namespaces } = store.stats();
    expect(namespaces['f'].items).toBeGreaterThan(50);
    expect(namespaces['r'].items).toBeGreaterThan(50);
  });
});

describe('quota eviction', () => {
  test('a namespace over its quota evicts its own entries; others keep their data', () => {
    const { store, removed } = makeStore({ maxMemoryBytes: 1000 * SIZE });
    store.setNamespacePolicy('q', { quotaBytes: 20 * SIZE });
    for (let i = 0; i < 100; i++) store.set('other', key(i), value);
    for (let i = 0; i < 200; i++) {
      store.set('q', key(i), value);
      expect(store.stats().namespaces['q'].bytes).toBeLessThanOrEqual(20 * SIZE);
    }
    const s = store.stats();
    expect(s.namespaces['q'].items).toBe(20);
    expect(s.namespaces['other'].items).toBe(100);
    expect(s.evictedQuota).toBe(180);
    expect(s.evictedMemory).toBe(0);
    expect(removed.every(([ns, , reason]) => ns === 'q' && reason === 'evicted')).toBe(true);
  });

  test('under global pressure a namespace over its (lowered) quota is evicted first', () => {
    const { store } = makeStore({ maxMemoryBytes: 100 * SIZE });
    for (let i = 0; i < 50; i++) store.set('big', key(i), value);
    for (let i = 0; i < 50; i++) store.set('small', key(i), value);
    store.setNamespacePolicy('big', { quotaBytes: 10 * SIZE });
    for (let i = 50; i < 90; i++) store.set('small', key(i), value);
    const s = store.stats();
    expect(s.namespaces['small'].items).toBe(90);
    expect(s.namespaces['big'].items).toBe(10);
    expect(s.evictedQuota).toBe(40);
    for (let i = 0; i < 90; i++) expect(text(store.get('small', key(i)))).toBe('0123456789');
  });
});

describe('LFU counter', () => {
  test('increments are certain up to LFU_INIT_VAL and logarithmic beyond', () => {
    expect(lfuIncrement(0, 10, () => 0.99)).toBe(1);
    expect(lfuIncrement(LFU_INIT_VAL, 10, () => 0.99)).toBe(LFU_INIT_VAL + 1);
    expect(lfuIncrement(LFU_INIT_VAL + 1, 10, () => 0.5)).toBe(LFU_INIT_VAL + 1);
    expect(lfuIncrement(LFU_INIT_VAL + 1, 10, () => 0.05)).toBe(LFU_INIT_VAL + 2);
    expect(lfuIncrement(255, 10, () => 0)).toBe(255);
    const random = seeded(3);
    let c = LFU_INIT_VAL;
    for (let i = 0; i < 100_000; i++) c = lfuIncrement(c, 10, random);
    expect(c).toBeGreaterThan(100);
    expect(c).toBeLessThan(255);
  });

  test('decays one point per decay period, with 16-bit minute wrap-around', () => {
    expect(lfuMinutes(60_000 * 65_536 + 120_000)).toBe(2);
    expect(lfuElapsed(65_530, 4)).toBe(9);
    expect(lfuDecay(10, 0, 3, 1)).toBe(7);
    expect(lfuDecay(10, 0, 4, 2)).toBe(8);
    expect(lfuDecay(3, 0, 100, 1)).toBe(0);
    expect(lfuDecay(10, 0, 100, 0)).toBe(10);
  });

  test('hits protect a key; once idle for long its counter decays and it goes first', () => {
    const survivors = (decayMinutes: number): { a: number; b: number } => {
      const { store, clock } = makeStore({
        maxMemoryBytes: 40 * SIZE,
        defaultEviction: 'lfu',
        lfuDecayMinutes: decayMinutes,
      });
      const touch = (prefix: number): void => {
        for (let i = 0; i < 20; i++) store.set('ns', key(prefix + i), value);
        for (let n = 0; n < 30; n++) for (let i = 0; i < 20; i++) store.get('ns', key(prefix + i));
      };
      touch(0);
      clock.advance(120 * 60_000);
      touch(100);
      for (let i = 0; i < 20; i++) store.set('ns', key(200 + i), value);
      const count = (prefix: number): number =>
        store.exists('ns', Array.from({ length: 20 }, (_, i) => key(prefix + i)));
      return { a: count(0), b: count(100) };
    };
    const decayed = survivors(1);
    expect(decayed.b).toBeGreaterThanOrEqual(19);
    expect(decayed.a).toBeLessThanOrEqual(5);
    const kept = survivors(0);
    expect(kept.a).toBeGreaterThan(decayed.a + 5);
  });
});

describe('EvictionPool', () => {
  test('keeps the 16 best candidates and pops the best first', () => {
    const pool = new EvictionPool();
    for (let i = 0; i < 40; i++) pool.offer(i, (i * 7) % 40, i, 0);
    expect(pool.size).toBe(16);
    const popped: number[] = [];
    for (let id = pool.pop(); id >= 0; id = pool.pop()) popped.push((id * 7) % 40);
    expect(popped).toEqual([39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24]);
  });

  test('re-offering an id replaces its entry and pop reports version and tick', () => {
    const pool = new EvictionPool();
    pool.offer(1, 10, 100, 5);
    pool.offer(2, 20, 200, 6);
    pool.offer(1, 30, 101, 7);
    expect(pool.size).toBe(2);
    expect(pool.pop()).toBe(1);
    expect([pool.poppedVersion, pool.poppedTick]).toEqual([101, 7]);
    expect(pool.pop()).toBe(2);
    expect(pool.pop()).toBe(-1);
  });
});
