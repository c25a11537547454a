/** A monitored key: its over-estimate of the true count is at most `error`. */
interface Item {
  key: string;
  error: number;
  bucket: Bucket;
  prev: Item | null;
  next: Item | null;
}

/** All items with one count, in a list of buckets ordered by count (the stream-summary). */
interface Bucket {
  count: number;
  head: Item | null;
  prev: Bucket | null;
  next: Bucket | null;
}

/**
 * Space-saving top-K (Metwally et al.) over a sliding window of rotating buckets. Pure: no
 * clocks, no timers; the owner calls `rotate()` once per bucket period.
 *
 *   observe(key) ─► current summary: one Map lookup; the item moves to the bucket of count + 1
 *                    (O(1): the stream-summary of equal-count buckets, no heap to sift)
 *   rotate()     ─► the oldest summary is cleared and becomes the current one
 *   top(n)       ─► merge of every summary (off the request path: admin, metrics, promotion)
 *
 * Guarantees per summary of capacity `k` after `n` observations: every key seen more than n/k
 * times is monitored, and a monitored key's `count` over-estimates its true count by at most its
 * `error` (≤ the summary's minimum count ≤ n/k). Over the window the bounds add up.
 */
export class SpaceSaving {
  readonly capacity: number;
  readonly #items = new Map<string, Item>();
  /** The bucket of the smallest count; its `next` chain is in increasing count. */
  #min: Bucket | null = null;
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`capacity must be a whole number ≥ 1, not ${capacity}`);
    this.capacity = capacity;
  }

  /** Observations since the last clear. */
  get total(): number {
    return this.#total;
  }

  /** Keys monitored. */
  get size(): number {
    return this.#items.size;
  }

  /** The smallest monitored count (0 until full): the most an unmonitored key can have been seen. */
  get floor(): number {
    return this.#items.size < this.capacity || this.#min === null ? 0 : this.#min.count;
  }

  observe(key: string): void {
    this.#total++;
    const item = this.#items.get(key);
    if (item !== undefined) {
      this.#bump(item);
      return;
    }
    if (this.#items.size < this.capacity) {
      const fresh: Item = { key, error: 0, bucket: null as unknown as Bucket, prev: null, next: null };
      this.#items.set(key, fresh);
      let min = this.#min;
      if (min === null || min.count !== 1) {
        min = { count: 1, head: null, prev: null, next: min };
        if (this.#min !== null) this.#min.prev = min;
        this.#min = min;
      }
      attach(min, fresh);
      return;
    }
    // Replace an item of the smallest count: the newcomer inherits that count as its error.
    const victim = (this.#min as Bucket).head as Item;
    this.#items.delete(victim.key);
    victim.key = key;
    victim.error = victim.bucket.count;
    this.#items.set(key, victim);
    this.#bump(victim);
  }

  /** Count and error of a monitored key, or undefined. */
  get(key: string): { count: number; error: number } | undefined {
    const item = this.#items.get(key);
    return item === undefined ? undefined : { count: item.bucket.count, error: item.error };
  }

  /** Every monitored key with its count and error (unordered). */
  *entries(): IterableIterator<[string, number, number]> {
    for (const item of this.#items.values()) yield [item.key, item.bucket.count, item.error];
  }

  clear(): void {
    this.#items.clear();
    this.#min = null;
    this.#total = 0;
  }

  /** Moves `item` from its bucket to the bucket of count + 1. */
  #bump(item: Item): void {
    const from = item.bucket;
    const count = from.count + 1;
    const next = from.next;
    if (from.head === item && item.next === null && (next === null || next.count !== count)) {
      from.count = count; // alone in its bucket, and no bucket of count + 1: renumber in place
      return;
    }
    detach(item);
    let to = next;
    if (to === null || to.count !== count) {
      to = { count, head: null, prev: from, next };
      from.next = to;
      if (next !== null) next.prev = to;
    }
    attach(to, item);
    if (from.head === null) this.#unlinkBucket(from);
  }

  #unlinkBucket(b: Bucket): void {
    if (b.prev !== null) b.prev.next = b.next;
    else this.#min = b.next;
    if (b.next !== null) b.next.prev = b.prev;
  }
}

function attach(bucket: Bucket, item: Item): void {
  item.bucket = bucket;
  item.prev = null;
  item.next = bucket.head;
  if (bucket.head !== null) bucket.head.prev = item;
  bucket.head = item;
}

function detach(item: Item): void {
  if (item.prev !== null) item.prev.next = item.next;
  else item.bucket.head = item.next;
  if (item.next !== null) item.next.prev = item.prev;
  item.prev = item.next = null;
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
