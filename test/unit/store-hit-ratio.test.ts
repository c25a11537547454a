import { entrySize, type EvictionPolicy, Store } from '../../storage-node/store';
import { FakeClock, seeded } from './store-helpers';

/**
 * Hit ratio of the sampled eviction on a Zipf(0.99) trace against an exact LRU of the same
 * capacity: look-aside caching (GET, and SET on a miss) of 100,000 keys through room for 10,000.
 */
const KEYS = 100_000;
const REQUESTS = 1_000_000;
const CAPACITY = 10_000;
const SKEW = 0.99;
const VALUE = Buffer.alloc(32, 0x76);
const keyOf = (i: number): string => `k${String(i).padStart(6, '0')}`;

/** Ranks drawn from Zipf(`skew`) over `n` items with a precomputed CDF and binary search. */
function zipfTrace(n: number, skew: number, length: number, random: () => number): Int32Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, skew);
  for (let i = 0; i < n; i++) cdf[i] /= sum;
  const trace = new Int32Array(length);
  for (let r = 0; r < length; r++) {
    const u = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    trace[r] = lo;
  }
  return trace;
}

/** Exact LRU: a Map kept in recency order. */
function exactLru(trace: Int32Array, keys: readonly string[], capacity: number): number {
  const cache = new Map<string, true>();
  let hits = 0;
  for (let r = 0; r < trace.length; r++) {
    const key = keys[trace[r]];
    if (cache.delete(key)) {
      hits++;
    } else if (cache.size === capacity) {
      cache.delete(cache.keys().next().value as string);
    }
    cache.set(key, true);
  }
  return hits / trace.length;
}

/** The store with room for exactly `capacity` entries, replaying the trace look-aside. */
function storeRatio(
  trace: Int32Array,
  keys: readonly string[],
  capacity: number,
  eviction: EvictionPolicy,
): number {
  const clock = new FakeClock();
  const size = entrySize(keys[0].length, VALUE.length, 0);
  const store = new Store({
    maxMemoryBytes: capacity * size,
    defaultEviction: eviction,
    now: clock.now,
    random: seeded(1234),
  });
  for (let r = 0; r < trace.length; r++) {
    const key = keys[trace[r]];
    if (store.get('ns', key) === undefined) store.set('ns', key, VALUE);
    clock.advance(1);
  }
  const stats = store.stats();
  expect(stats.items).toBe(capacity);
  expect(stats.bytes).toBeLessThanOrEqual(capacity * size);
  return stats.hits / trace.length;
}

test('sampled LRU is within 3 points of exact LRU and LFU beats LRU on Zipf(0.99)', () => {
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  const trace = zipfTrace(KEYS, SKEW, REQUESTS, seeded(2024));
  const exact = exactLru(trace, keys, CAPACITY);
  const lru = storeRatio(trace, keys, CAPACITY, 'lru');
  const lfu = storeRatio(trace, keys, CAPACITY, 'lfu');
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  console.log(
    `hit ratio on Zipf(${SKEW}), ${KEYS} keys, room for ${CAPACITY}: ` +
      `exact LRU ${pct(exact)}, sampled LRU ${pct(lru)}, sampled LFU ${pct(lfu)}`,
  );
  expect(Math.abs(lru - exact)).toBeLessThanOrEqual(0.03);
  expect(lfu).toBeGreaterThan(lru);
});
