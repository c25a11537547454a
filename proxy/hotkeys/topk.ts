import { hashString, OpenTable } from '../open-table';

/**
 * Space-saving top-K (Metwally et al.) over a sliding window of rotating buckets. Pure: no
 * clocks, no timers; the owner calls `rotate()` once per bucket period.
 *
 *   observe(key) ─► current summary: one Map lookup; the key's count + 1, sifted down a min-heap
 *                    of counts (typed arrays: nothing allocated per observation)
 *   rotate()     ─► the oldest summary is cleared and becomes the current one
 *   top(n)       ─► merge of every summary (off the request path: admin, metrics, promotion)
 *
 * Guarantees per summary of capacity `k` after `n` observations: every key seen more than n/k
 * times is monitored, and a monitored key's `count` over-estimates its true count by at most its
 * `error` (≤ the summary's minimum count ≤ n/k). Over the window the bounds add up.
 *
 * Counts live in typed arrays, with a min-heap of slots and an OpenTable of slots by key
 * (open-table.ts), and no Map: under a stream of distinct keys (every GET of a large keyspace) a
 * long-lived Map looked up and changed per observation made the proxy's young-generation
 * collections take 15-30 ms instead of 1-2 ms, with old-space collections every half second
 * (GET -P 16, `node --trace-gc`; even `Map.get` alone did it), and the linked stream-summary
 * before it also made a bucket object per observation (docs/performance.md).
 */
export class SpaceSaving {
  readonly capacity: number;
  /** key → its slot. */
  readonly #table: OpenTable<string, number>;
  /** The hash of each slot's key. */
  readonly #ids: Float64Array;
  readonly #keys: Array<string | undefined>;
  readonly #counts: Float64Array;
  readonly #errors: Float64Array;
  /** Min-heap of slots by count: `#heap[0]` is a slot of the smallest count. */
  readonly #heap: Int32Array;
  /** slot → its position in the heap. */
  readonly #at: Int32Array;
  #size = 0;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a whole number ≥ 1, not ${capacity}`);
    this.capacity = capacity;
    this.#keys = new Array<string | undefined>(capacity).fill(undefined);
    this.#ids = new Float64Array(capacity);
    this.#table = new OpenTable(2 * capacity); // never grows: it holds at most `capacity` keys
    this.#counts = new Float64Array(capacity);
    this.#errors = new Float64Array(capacity);
    this.#heap = new Int32Array(capacity);
    this.#at = new Int32Array(capacity);
  }

  /** Observations since the last clear. */
  get total(): number {
    return this.#total;
  }

  /** Keys monitored. */
  get size(): number {
    return this.#size;
  }

  /** The smallest monitored count (0 until full): the most an unmonitored key can have been seen. */
  get floor(): number {
    return this.#size < this.capacity ? 0 : this.#counts[this.#heap[0]];
  }

  /** Counts `weight` observations of `key` (more than 1 when the caller samples: WindowedTopK). */
  observe(key: string, weight = 1): void {
    this.#total += weight;
    const id = hashString(key);
    let slot = this.#table.get(id, key) ?? -1;
    if (slot < 0) {
      if (this.#size < this.capacity) {
        slot = this.#size++;
        this.#keys[slot] = key;
        this.#ids[slot] = id;
        this.#table.set(id, key, slot);
        this.#errors[slot] = 0;
        this.#counts[slot] = weight;
        this.#siftUp(slot, slot);
        return;
      } else {
        // Replace a key of the smallest count: the newcomer inherits that count as its error.
        slot = this.#heap[0];
        this.#table.delete(this.#ids[slot], this.#keys[slot]!);
        this.#errors[slot] = this.#counts[slot];
      }
      this.#keys[slot] = key;
      this.#ids[slot] = id;
      this.#table.set(id, key, slot);
    }
    this.#counts[slot] += weight;
    this.#siftDown(this.#at[slot]);
  }

  /** Count and error of a monitored key, or undefined. */
  get(key: string): { count: number; error: number } | undefined {
    const slot = this.#table.get(hashString(key), key);
    return slot === undefined ? undefined : { count: this.#counts[slot], error: this.#errors[slot] };
  }

  /** Every monitored key with its count and error (unordered). */
  *entries(): IterableIterator<[string, number, number]> {
    for (let slot = 0; slot < this.#size; slot++) yield [this.#keys[slot]!, this.#counts[slot], this.#errors[slot]];
  }

  clear(): void {
    this.#table.clear();
    this.#keys.fill(undefined);
    this.#size = 0;
    this.#total = 0;
  }

  /** Places `slot` at heap position `start` and moves it up while its parent has a larger count. */
  #siftUp(slot: number, start: number): void {
    const heap = this.#heap;
    const at = this.#at;
    const count = this.#counts[slot];
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#counts[heap[parent]] <= count) break;
      heap[i] = heap[parent];
      at[heap[i]] = i;
      i = parent;
    }
    heap[i] = slot;
    at[slot] = i;
  }

  /** Moves the slot at heap position `start` down while a child has a smaller count (counts only grow). */
  #siftDown(start: number): void {
    const heap = this.#heap;
    const at = this.#at;
    const counts = this.#counts;
    const n = this.#size;
    let i = start;
    const slot = heap[i];
    const count = counts[slot];
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && counts[heap[child + 1]] < counts[heap[child]]) child++;
      if (counts[heap[child]] >= count) break;
      heap[i] = heap[child];
      at[heap[i]] = i;
      i = child;
    }
    heap[i] = slot;
    at[slot] = i;
  }
}


/** One heavy hitter over the window: `count` over-estimates the true count by at most `error`. */
export interface HeavyHitter {
  key: string;
  count: number;
  error: number;
}

/** How WindowedTopK samples a busy bucket. */
export interface TopKSampling {
  /** Observations of each bucket counted one by one (default 16,384); past them, sampling starts. */
  exactPerBucket?: number;
  /** Past them, one observation in this many on average is counted, weighted by the gap it closes (default 8). */
  sampleEvery?: number;
  /** Draws the gaps, uniform in [0, 1) (default Math.random; the proxy passes its injected one, tests a seeded one). */
  random?: () => number;
}

/**
 * Space-saving over a sliding window of `buckets` summaries of `capacity` keys each. A key's
 * window count is the sum of its bucket counts; in a bucket that does not monitor it, it can
 * have been seen at most that bucket's floor times, which is added to its error.
 *
 * A bucket counts its first `exactPerBucket` observations one by one, with the space-saving
 * bounds above. Past them it samples: it counts one observation after a random gap of 1 to
 * 2 × `sampleEvery` - 1 (a hash and a heap sift per counted one, nothing per skipped one), with the
 * gap as its weight, so totals stay exact (but for the gap still open at a rotation) and a key's
 * count is an unbiased estimate (one standard deviation is ~3 / √n of a key seen n times: ~4 % for
 * a key of 1 % of 100,000 GETs a second over a 5 s window). The gap is random
 * so a client cannot hide a key by aiming its requests between the counted ones. Counting every
 * GET was ~5 % of the proxy's CPU under a pipelined GET load of 100,000 distinct keys.
 */
export class WindowedTopK {
  readonly #buckets: SpaceSaving[];
  readonly #exactPerBucket: number;
  readonly #sampleEvery: number;
  #current = 0;
  /** Observations the current bucket still counts one by one. */
  #exactLeft: number;
  /** Observations since the last counted one, and how many the current gap holds. */
  #skipped = 0;
  #gap = 1;
  readonly #random: () => number;

  constructor(capacity: number, buckets: number, sampling: TopKSampling = {}) {
    if (!Number.isInteger(buckets) || buckets < 1) throw new Error(`buckets must be a whole number ≥ 1, not ${buckets}`);
    this.#buckets = Array.from({ length: buckets }, () => new SpaceSaving(capacity));
    this.#exactPerBucket = sampling.exactPerBucket ?? 16_384;
    this.#sampleEvery = Math.max(1, Math.floor(sampling.sampleEvery ?? 8));
    this.#exactLeft = this.#exactPerBucket;
    this.#random = sampling.random ?? Math.random;
  }

  observe(key: string): void {
    if (this.#exactLeft > 0) {
      this.#exactLeft--;
      this.#buckets[this.#current].observe(key);
      return;
    }
    if (++this.#skipped < this.#gap) return;
    this.#buckets[this.#current].observe(key, this.#gap);
    this.#skipped = 0;
    this.#gap = this.#nextGap();
  }

  /** Starts a new bucket; the oldest one's observations leave the window. */
  rotate(): void {
    this.#current = (this.#current + 1) % this.#buckets.length;
    this.#buckets[this.#current].clear();
    this.#exactLeft = this.#exactPerBucket;
    this.#skipped = 0;
    this.#gap = 1;
  }

  /** A gap of 1 to 2 × sampleEvery - 1 observations (mean sampleEvery). */
  #nextGap(): number {
    return 1 + Math.floor(this.#random() * (2 * this.#sampleEvery - 1));
  }

  /** Observations in the window. */
  get total(): number {
    let total = 0;
    for (const b of this.#buckets) total += b.total;
    return total;
  }

  /** The `n` keys with the highest window counts, highest first. */
  top(n: number): HeavyHitter[] {
    const merged = new Map<string, HeavyHitter>();
    for (const bucket of this.#buckets) {
      for (const [key, count, error] of bucket.entries()) {
        const hit = merged.get(key);
        if (hit === undefined) merged.set(key, { key, count, error });
        else {
          hit.count += count;
          hit.error += error;
        }
      }
    }
    for (const hit of merged.values()) {
      for (const bucket of this.#buckets) {
        if (bucket.floor > 0 && bucket.get(hit.key) === undefined) {
          hit.count += bucket.floor;
          hit.error += bucket.floor;
        }
      }
    }
    return [...merged.values()].sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1)).slice(0, n);
  }
}
