/**
 * Key -> entry id for one namespace: an open-addressing hash table of ids in an Int32Array.
 *
 *   slots  Int32Array (power of two)   id, or EMPTY (-1)
 *   probe  linear from `hash & mask`   compares hash(id) first, then key(id) === key
 *
 * The index keeps ids only; the keys and their hashes live in the entry table (`KeySource`), so
 * an entry costs 4 bytes / load (~5-11 B) here, against ~28-56 B for a V8 `Map<string, number>`
 * entry, and the index has no 2^24-entry ceiling. The load stays at or below 0.75 (the table
 * doubles past it) and above 3/16 (it halves below, so mass deletes give memory back). Removal
 * shifts the following run of the probe sequence back into the hole (no tombstones), so a
 * lookup never walks past a deleted slot.
 *
 * Guards: every indexed id sits in the run that starts at its home slot `hash(id) & mask`
 * with no EMPTY slot between home and it; `size` counts the ids held; the caller passes the
 * same hash for an id on `insert` and `remove` as `hash(id)` returns, and inserts only
 * keys not present. Hashes come from `hashKey` with a per-store random seed, so clients cannot
 * aim many keys at one run without knowing the seed.
 */

/** Where the index reads an id's key and cached hash (the entry table). */
export interface KeySource {
  key(id: number): string | undefined;
  hash(id: number): number;
}

/** Read once: under a `vm` context (jest) every global lookup is slow (see `value-codec.ts`). */
const { imul } = Math;
const EMPTY = -1;
const MIN_CAPACITY = 16;
/** Largest table: 2^30 slots (4 GiB); past 3/4 of it the index refuses to grow. */
const MAX_CAPACITY = 2 ** 30;

/** Most keys one index holds (3/4 of the largest table). */
export const MAX_INDEX_KEYS = MAX_CAPACITY * 0.75;

/**
 * 32-bit hash of `key` (its UTF-16 code units): FNV-1a from a seeded start, then the murmur3
 * finaliser so the low bits the table masks with depend on every character.
 */
export function hashKey(key: string, seed: number): number {
  let h = (seed ^ 0x811c9dc5) | 0;
  for (let i = 0; i < key.length; i++) h = imul(h ^ key.charCodeAt(i), 0x01000193);
  return mix(h);
}

/** The murmur3 finaliser: spreads FNV-1a's low bits over the word. */
function mix(hash: number): number {
  let h = hash;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * `hashKey` of the ASCII key whose bytes are `bytes[start, end)`, read in place from a request
 * frame: the same value `hashKey` gives its string (one char per byte), without making the string.
 */
export function hashAscii(bytes: Uint8Array, start: number, end: number, seed: number): number {
  let h = (seed ^ 0x811c9dc5) | 0;
  for (let i = start; i < end; i++) h = imul(h ^ bytes[i], 0x01000193);
  return mix(h);
}

/** True when `s` is the ASCII text of `bytes[start, end)`. */
export function sameAscii(s: string, bytes: Uint8Array, start: number, end: number): boolean {
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

/** An open-addressing index of entry ids by key (see the file comment). */
export class KeyIndex {
  /** Ids held. */
  size = 0;
  private slots: Int32Array;
  private mask: number;

  constructor(
    private readonly source: KeySource,
    initialCapacity = MIN_CAPACITY,
  ) {
    let capacity = MIN_CAPACITY;
    while (capacity < initialCapacity) capacity *= 2;
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
  }

  /** Slots in the table (for tests and memory figures). */
  get capacity(): number {
    return this.slots.length;
  }

  /** The id whose key is `key` (`hash` = its hash), or -1. */
  find(key: string, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const source = this.source;
    for (let p = hash & mask; ; p = (p + 1) & mask) {
      const id = slots[p];
      if (id === EMPTY) return -1;
      if (source.hash(id) === hash && source.key(id) === key) return id;
    }
  }

  /** `find` for the ASCII key whose bytes are `bytes[start, end)` (`hash` = `hashAscii` of them), without its string. */
  findAscii(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const source = this.source;
    for (let p = hash & mask; ; p = (p + 1) & mask) {
      const id = slots[p];
      if (id === EMPTY) return -1;
      if (source.hash(id) === hash && sameAscii(source.key(id) as string, bytes, start, end)) return id;
    }
  }

  /** Adds `id`, whose key is not in the index yet and whose hash is `hash`. */
  insert(id: number, hash: number): void {
    if ((this.size + 1) * 4 > this.slots.length * 3) this.resize(this.slots.length * 2);
    this.place(id, hash);
    this.size++;
  }

  /** Removes `id` (held, with hash `hash`) and closes the gap it leaves in its run. */
  remove(id: number, hash: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let hole = hash & mask;
    while (slots[hole] !== id) hole = (hole + 1) & mask;
    const source = this.source;
    for (let q = (hole + 1) & mask; slots[q] !== EMPTY; q = (q + 1) & mask) {
      const other = slots[q];
      // `other` may move back into the hole when the hole is not before its home slot.
      if (((q - (source.hash(other) & mask)) & mask) >= ((q - hole) & mask)) {
        slots[hole] = other;
        hole = q;
      }
    }
    slots[hole] = EMPTY;
    this.size--;
    const capacity = slots.length;
    if (capacity > MIN_CAPACITY && this.size * 16 < capacity * 3) this.resize(capacity / 2);
  }

  private place(id: number, hash: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let p = hash & mask;
    while (slots[p] !== EMPTY) p = (p + 1) & mask;
    slots[p] = id;
  }

  private resize(capacity: number): void {
    if (capacity > MAX_CAPACITY) {
      throw new RangeError(`key index cannot hold more than ${MAX_INDEX_KEYS} keys`);
    }
    const old = this.slots;
    const source = this.source;
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    for (let i = 0; i < old.length; i++) {
      const id = old[i];
      if (id !== EMPTY) this.place(id, source.hash(id));
    }
  }
}
