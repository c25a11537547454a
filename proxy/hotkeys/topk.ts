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
 * Counts live in typed arrays, with a min-heap of slots and an open-addressing table of slots by
 * key hash, and no Map: under a stream of distinct keys (every GET of a large keyspace) a
 * long-lived Map looked up and changed per observation made the proxy's young-generation
 * collections take 15-30 ms instead of 1-2 ms, with old-space collections every half second
 * (GET -P 16, `node --trace-gc`; even `Map.get` alone did it), and the linked stream-summary
 * before it also made a bucket object per observation (docs/performance.md).
 */
export class SpaceSaving {
  readonly capacity: number;
  /** Open-addressing table (linear probing) of slots by the hash of their key (see `idOf`); -1 is empty. */
  readonly #table: Int32Array;
  readonly #mask: number;
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
    const size = 2 ** Math.ceil(Math.log2(4 * capacity)); // load ≤ 1/4
    this.#table = new Int32Array(size).fill(-1);
    this.#mask = size - 1;
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

  observe(key: string): void {
    this.#total++;
    const id = idOf(key);
    let slot = this.#find(id);
    if (slot >= 0 && this.#keys[slot] !== key) return; // another key of the same hash holds the slot: not counted (rare)
    if (slot < 0) {
      if (this.#size < this.capacity) {
        slot = this.#size++;
        this.#keys[slot] = key;
        this.#ids[slot] = id;
        this.#insert(id, slot);
        this.#errors[slot] = 0;
        this.#counts[slot] = 1;
        this.#siftUp(slot, slot); // the newest count, 1, is at most any other
        return;
      } else {
        // Replace a key of the smallest count: the newcomer inherits that count as its error.
        slot = this.#heap[0];
        this.#remove(this.#ids[slot]);
        this.#errors[slot] = this.#counts[slot];
      }
      this.#keys[slot] = key;
      this.#ids[slot] = id;
      this.#insert(id, slot);
    }
    this.#counts[slot]++;
    this.#siftDown(this.#at[slot]);
  }

  /** Count and error of a monitored key, or undefined. */
  get(key: string): { count: number; error: number } | undefined {
    const slot = this.#find(idOf(key));
    return slot < 0 || this.#keys[slot] !== key ? undefined : { count: this.#counts[slot], error: this.#errors[slot] };
  }

  /** Every monitored key with its count and error (unordered). */
  *entries(): IterableIterator<[string, number, number]> {
    for (let slot = 0; slot < this.#size; slot++) yield [this.#keys[slot]!, this.#counts[slot], this.#errors[slot]];
  }

  clear(): void {
    this.#table.fill(-1);
    this.#keys.fill(undefined);
    this.#size = 0;
    this.#total = 0;
  }

  /** The slot whose key hashes to `id`, or -1. */
  #find(id: number): number {
    const table = this.#table;
    const mask = this.#mask;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const slot = table[i];
      if (slot < 0 || this.#ids[slot] === id) return slot;
    }
  }

  #insert(id: number, slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = id & mask;
    while (table[i] >= 0) i = (i + 1) & mask;
    table[i] = slot;
  }

  /** Removes `id`'s entry, shifting later entries of its probe run back (no tombstones). */
  #remove(id: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = id & mask;
    while (table[hole] >= 0 && this.#ids[table[hole]] !== id) hole = (hole + 1) & mask;
    if (table[hole] < 0) return;
    for (let j = (hole + 1) & mask; table[j] >= 0; j = (j + 1) & mask) {
      const home = this.#ids[table[j]] & mask;
      // Move entry j into the hole unless its home lies cyclically in (hole, j].
      if (hole < j ? home > hole && home <= j : home > hole || home <= j) continue;
      table[hole] = table[j];
      hole = j;
    }
    table[hole] = -1;
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

/**
 * A key's 31-bit FNV-1a hash: the summary finds slots in a typed-array table by it, so the GET
 * stream's fresh key strings never enter a long-lived Map; only the monitored keys' strings are
 * kept. Two keys of one hash share nothing: the later one is not counted while the other holds
 * the slot (2^-31 per pair).
 */
function idOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 1;
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
