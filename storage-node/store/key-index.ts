/**
 * Key -> entry id for one namespace: an open-addressing hash table of (id, hash) pairs in one
 * Int32Array.
 *
 *   slots  Int32Array (2 × a power of two)   [id, hash] per slot; id EMPTY (-1) when free
 *   probe  linear from `hash & mask`         compares the hash in the slot first, then key(id) === key
 *
 * The keys live in the entry table (`KeySource`); the hash sits beside its id, so a probe past
 * another key costs no read of the entry table (each such read was a cache miss: ids are spread
 * over it), and the lookup of a present key reads the table once, for the key it compares. An
 * entry costs 8 bytes / load (~11-21 B) here, against ~28-56 B for a V8 `Map<string, number>`
 * entry, and the index has no 2^24-entry ceiling. The load stays at or below 0.75 (the table
 * doubles past it) and above 3/16 (it halves below, so mass deletes give memory back). Removal
 * shifts the following run of the probe sequence back into the hole (no tombstones), so a
 * lookup never walks past a deleted slot.
 *
 * Guards: every indexed id sits in the run that starts at its home slot `hash & mask` with no
 * EMPTY slot between home and it; `size` counts the ids held; the caller passes the same hash
 * for an id on `insert` and `remove`, and inserts only keys not present. Hashes come from
 * `hashKey` with a per-store random seed, so clients cannot aim many keys at one run without
 * knowing the seed.
 */

/** Where the index reads an id's key (the entry table). */
export interface KeySource {
  key(id: number): string | undefined;
}

/** Read once: under a `vm` context (jest) every global lookup is slow (see `value-codec.ts`). */
const { imul } = Math;
const EMPTY = -1;
const MIN_CAPACITY = 16;
/** Largest table: 2^29 slots (4 GiB of pairs); past 3/4 of it the index refuses to grow. */
const MAX_CAPACITY = 2 ** 29;

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
  /** Slot p is `slots[2p]` (its id, or EMPTY) and `slots[2p + 1]` (its id's hash, as an int32). */
  private slots: Int32Array;
  private mask: number;

  constructor(
    private readonly source: KeySource,
    initialCapacity = MIN_CAPACITY,
  ) {
    let capacity = MIN_CAPACITY;
    while (capacity < initialCapacity) capacity *= 2;
    this.slots = emptySlots(capacity);
    this.mask = capacity - 1;
  }

  /** Slots in the table (for tests and memory figures). */
  get capacity(): number {
    return this.slots.length >> 1;
  }

  /** The id whose key is `key` (`hash` = its hash), or -1. */
  find(key: string, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const h = hash | 0;
    for (let p = hash & mask; ; p = (p + 1) & mask) {
      const id = slots[2 * p];
      if (id === EMPTY) return -1;
      if (slots[2 * p + 1] === h && this.source.key(id) === key) return id;
    }
  }

  /** `find` for the ASCII key whose bytes are `bytes[start, end)` (`hash` = `hashAscii` of them), without its string. */
  findAscii(bytes: Uint8Array, start: number, end: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const h = hash | 0;
    for (let p = hash & mask; ; p = (p + 1) & mask) {
      const id = slots[2 * p];
      if (id === EMPTY) return -1;
      if (slots[2 * p + 1] === h && sameAscii(this.source.key(id) as string, bytes, start, end)) return id;
    }
  }

  /** Adds `id`, whose key is not in the index yet and whose hash is `hash`. */
  insert(id: number, hash: number): void {
    if ((this.size + 1) * 4 > this.capacity * 3) this.resize(this.capacity * 2);
    this.place(id, hash | 0);
    this.size++;
  }

  /** Removes `id` (held, with hash `hash`) and closes the gap it leaves in its run. */
  remove(id: number, hash: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let hole = hash & mask;
    while (slots[2 * hole] !== id) hole = (hole + 1) & mask;
    for (let q = (hole + 1) & mask; slots[2 * q] !== EMPTY; q = (q + 1) & mask) {
      // The id at q may move back into the hole when the hole is not before its home slot.
      if (((q - (slots[2 * q + 1] & mask)) & mask) >= ((q - hole) & mask)) {
        slots[2 * hole] = slots[2 * q];
        slots[2 * hole + 1] = slots[2 * q + 1];
        hole = q;
      }
    }
    slots[2 * hole] = EMPTY;
    this.size--;
    const capacity = this.capacity;
    if (capacity > MIN_CAPACITY && this.size * 16 < capacity * 3) this.resize(capacity / 2);
  }

  private place(id: number, h: number): void {
    const slots = this.slots;
    const mask = this.mask;
    let p = h & mask;
    while (slots[2 * p] !== EMPTY) p = (p + 1) & mask;
    slots[2 * p] = id;
    slots[2 * p + 1] = h;
  }

  private resize(capacity: number): void {
    if (capacity > MAX_CAPACITY) {
      throw new RangeError(`key index cannot hold more than ${MAX_INDEX_KEYS} keys`);
    }
    const old = this.slots;
    this.slots = emptySlots(capacity);
    this.mask = capacity - 1;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== EMPTY) this.place(old[i], old[i + 1]);
    }
  }
}

/** A table of `capacity` free slots (ids EMPTY, hashes 0). */
function emptySlots(capacity: number): Int32Array {
  const slots = new Int32Array(2 * capacity);
  for (let i = 0; i < slots.length; i += 2) slots[i] = EMPTY;
  return slots;
}
