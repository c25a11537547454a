/**
 * Space-saving top-K (Metwally et al.) over a sliding window of rotating buckets. Pure: no
 * clocks, no timers; the owner calls `rotate()` once per bucket period.
 *
 *   observe(key) ─► current bucket: Map lookup, count++, sift down a min-heap (O(1) for keys that
 *                    are already heavy: they sit at the leaves)
 *   rotate()     ─► the oldest bucket is cleared and becomes the current one
 *   top(n)       ─► merge of every bucket (off the request path: admin, metrics, promotion)
 *
 * Guarantees per bucket of capacity `k` after `n` observations: every key seen more than n/k
 * times is monitored, and a monitored key's `count` over-estimates its true count by at most its
 * `error` (≤ the bucket's minimum count ≤ n/k). Over the window the bounds add up.
 */
export class SpaceSaving {
  readonly capacity: number;
  /** Heap position of each monitored key. */
  readonly #pos = new Map<string, number>();
  readonly #keys: string[] = [];
  readonly #counts: Float64Array;
  readonly #errors: Float64Array;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a whole number ≥ 1, not ${capacity}`);
    this.capacity = capacity;
    this.#counts = new Float64Array(capacity);
    this.#errors = new Float64Array(capacity);
  }

  /** Observations since the last clear. */
  get total(): number {
    return this.#total;
  }

  /** Keys monitored. */
  get size(): number {
    return this.#keys.length;
  }

  /** The smallest monitored count (0 until full): the most an unmonitored key can have been seen. */
  get floor(): number {
    return this.#keys.length < this.capacity ? 0 : this.#counts[0];
  }

  observe(key: string): void {
    this.#total++;
    const at = this.#pos.get(key);
    if (at !== undefined) {
      this.#counts[at]++;
      this.#siftDown(at);
      return;
    }
    const size = this.#keys.length;
    if (size < this.capacity) {
      this.#keys.push(key);
      this.#counts[size] = 1;
      this.#errors[size] = 0;
      this.#pos.set(key, size);
      this.#siftUp(size);
      return;
    }
    // Replace the minimum: the newcomer inherits its count as its error.
    const min = this.#counts[0];
    this.#pos.delete(this.#keys[0]);
    this.#keys[0] = key;
    this.#pos.set(key, 0);
    this.#errors[0] = min;
    this.#counts[0] = min + 1;
    this.#siftDown(0);
  }

  /** Count and error of a monitored key, or undefined. */
  get(key: string): { count: number; error: number } | undefined {
    const at = this.#pos.get(key);
    return at === undefined ? undefined : { count: this.#counts[at], error: this.#errors[at] };
  }

  /** Every monitored key with its count and error (unordered). */
  *entries(): IterableIterator<[string, number, number]> {
    for (let i = 0; i < this.#keys.length; i++) yield [this.#keys[i], this.#counts[i], this.#errors[i]];
  }

  clear(): void {
    this.#pos.clear();
    this.#keys.length = 0;
    this.#total = 0;
  }

  #siftUp(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.#counts[parent] <= this.#counts[i]) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #siftDown(i: number): void {
    const n = this.#keys.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      const child = right < n && this.#counts[right] < this.#counts[left] ? right : left;
      if (this.#counts[i] <= this.#counts[child]) return;
      this.#swap(i, child);
      i = child;
    }
  }

  #swap(a: number, b: number): void {
    const keys = this.#keys;
    const ka = keys[a];
    const kb = keys[b];
    keys[a] = kb;
    keys[b] = ka;
    this.#pos.set(kb, a);
    this.#pos.set(ka, b);
    const c = this.#counts[a];
    this.#counts[a] = this.#counts[b];
    this.#counts[b] = c;
    const e = this.#errors[a];
    this.#errors[a] = this.#errors[b];
    this.#errors[b] = e;
  }
}

/** One heavy hitter over the window: `count` over-estimates the true count by at most `error`. */
export interface HeavyHitter {
  key: string;
  count: number;
  error: number;
}

/**
 * Space-saving over a sliding window of `buckets` summaries of `capacity` keys each. A key's
 * window count is the sum of its bucket counts; in a bucket that does not monitor it, it can
 * have been seen at most that bucket's floor times, which is added to its error.
 */
export class WindowedTopK {
  readonly #buckets: SpaceSaving[];
  #current = 0;

  constructor(capacity: number, buckets: number) {
    if (!Number.isInteger(buckets) || buckets < 1) throw new Error(`buckets must be a whole number ≥ 1, not ${buckets}`);
    this.#buckets = Array.from({ length: buckets }, () => new SpaceSaving(capacity));
  }

  observe(key: string): void {
    this.#buckets[this.#current].observe(key);
  }

  /** Starts a new bucket; the oldest one's observations leave the window. */
  rotate(): void {
    this.#current = (this.#current + 1) % this.#buckets.length;
    this.#buckets[this.#current].clear();
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
