/**
 * A hash table for the request path: open addressing (linear probing, load ≤ 1/2, grown by
 * doubling) over a typed array of hashes and two arrays of keys and values, with backward-shift
 * deletion (no tombstones). The caller passes each key's hash (`hashString`, or a hash it already
 * has), so a key is hashed once per request however many tables it visits.
 *
 * Written by hand because a long-lived `Map` that the request path changes (set and delete per
 * request) makes V8's young-generation collections slow: every rehash leaves the old backing
 * table pointing at its successor for live iterators, so dead tables promoted to the old
 * generation keep the next ones' young entries, and those entries' whole request graphs, alive
 * through each scavenge. Measured on the HTTP GET phase of `npm run bench -- proxy` (the flights
 * of `SingleFlight`): ~7 MB survived per scavenge, 12 ms pauses, p99 14 ms with a Map; ~0.1 MB,
 * under 1 ms, p99 ~3 ms without (docs/performance.md, docs/decisions.md). This table's arrays are
 * replaced only when it grows, and a removed entry's key and value are cleared at once.
 *
 * Keys are compared with `===` (strings by content): two keys of one hash are two entries.
 */
export class OpenTable<K, V> {
  /** Hash + 1 of each place's key; 0 marks an empty place. */
  #hashes: Float64Array;
  #keys: Array<K | undefined>;
  #values: Array<V | undefined>;
  #mask: number;
  #size = 0;

  constructor(initialCapacity = 16) {
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(4, initialCapacity)));
    this.#hashes = new Float64Array(capacity);
    this.#keys = new Array<K | undefined>(capacity).fill(undefined);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
  }

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** The value of `key` (whose hash is `hash`), or undefined. */
  get(hash: number, key: K): V | undefined {
    const i = this.#find(hash, key);
    return i < 0 ? undefined : this.#values[i];
  }

  /** Sets `key`'s value, replacing any. */
  set(hash: number, key: K, value: V): void {
    if (2 * (this.#size + 1) > this.#hashes.length) this.#grow();
    const hashes = this.#hashes;
    const keys = this.#keys;
    const mask = this.#mask;
    const h = hash + 1;
    let i = hash & mask;
    while (hashes[i] !== 0 && (hashes[i] !== h || keys[i] !== key)) i = (i + 1) & mask;
    if (hashes[i] === 0) {
      this.#size++;
      hashes[i] = h;
      keys[i] = key;
    }
    this.#values[i] = value;
  }

  /** Removes `key`; when `only` is given, only while `key`'s value is `only`. True when removed. */
  delete(hash: number, key: K, only?: V): boolean {
    let hole = this.#find(hash, key);
    if (hole < 0 || (only !== undefined && this.#values[hole] !== only)) return false;
    const hashes = this.#hashes;
    const keys = this.#keys;
    const values = this.#values;
    const mask = this.#mask;
    this.#size--;
    for (let j = (hole + 1) & mask; hashes[j] !== 0; j = (j + 1) & mask) {
      const home = (hashes[j] - 1) & mask;
      // Entry j stays unless its home lies cyclically outside (hole, j].
      if (hole < j ? home > hole && home <= j : home > hole || home <= j) continue;
      hashes[hole] = hashes[j];
      keys[hole] = keys[j];
      values[hole] = values[j];
      hole = j;
    }
    hashes[hole] = 0;
    keys[hole] = undefined;
    values[hole] = undefined;
    return true;
  }

  /** Removes every entry (keeps the capacity). */
  clear(): void {
    if (this.#size === 0) return;
    this.#hashes.fill(0);
    this.#keys.fill(undefined);
    this.#values.fill(undefined);
    this.#size = 0;
  }

  /** Every entry's value (unordered). */
  *values(): IterableIterator<V> {
    for (let i = 0; i < this.#hashes.length; i++) if (this.#hashes[i] !== 0) yield this.#values[i]!;
  }

  #find(hash: number, key: K): number {
    const hashes = this.#hashes;
    const keys = this.#keys;
    const mask = this.#mask;
    const h = hash + 1;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const at = hashes[i];
      if (at === 0) return -1;
      if (at === h && keys[i] === key) return i;
    }
  }

  #grow(): void {
    const hashes = this.#hashes;
    const keys = this.#keys;
    const values = this.#values;
    const capacity = hashes.length * 2;
    this.#hashes = new Float64Array(capacity);
    this.#keys = new Array<K | undefined>(capacity).fill(undefined);
    this.#values = new Array<V | undefined>(capacity).fill(undefined);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (let i = 0; i < hashes.length; i++) if (hashes[i] !== 0) this.set(hashes[i] - 1, keys[i]!, values[i]!);
  }
}

/**
 * A string's 31-bit FNV-1a hash over its UTF-16 code units (non-negative, so `hash + 1` stays
 * exact in a Float64Array and `hash & mask` is a place). Written by hand: it runs per request.
 */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 1;
}
