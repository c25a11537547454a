/**
 * Entry metadata as a structure of arrays indexed by a small integer id, behind accessors.
 *
 *   id ──► version   Float64  store-wide write counter (CAS token, generation check)
 *          tick      Uint32   logical access clock at last access (LRU, wraps)
 *          flags     Uint32   opaque client flags
 *          size      Uint32   accounted bytes (`entrySize`)
 *          ttlPos    Uint32   1 + position in the expiry set, 0 = never expires
 *          lfu       Uint8    Redis-style logarithmic access counter
 *          lfuTime   Uint16   minute (mod 65536) of the last LFU decay
 *          ns        Uint16   namespace index
 *          nsPos     Uint32   position in the namespace member set
 *          slot      Uint16   hash slot of `namespace:key` (slot-index.ts)
 *          slotNext  Int32    next id of the same slot, -1 at the end (slot-index.ts)
 *          slotPrev  Int32    previous id of the same slot, -1 at the head
 *          type      Uint8    what the value holds: `EntryType` (string, or a packed hash or set)
 *          kv        string   kv[2 id] the key, kv[2 id + 1] the value as a latin1 string (a large
 *                             hash or set: its `Indexed` object, `collections.ts`)
 *          tags      Map      id -> tags, only for tagged entries
 *
 * 44 bytes of columns per id besides the strings (the key's hash is in the key index). The expiry time lives in the expiry set
 * (`expiry-set.ts`), so an entry that never expires pays nothing for it. (Interleaving the hot
 * columns into one 32-byte record per id was measured too: no difference, as the CPU fetches
 * the columns of one id in parallel once it has the id.)
 *
 * The typed arrays are allocated once for `capacity` ids, the most entries the memory limit
 * admits (see `Keyspace`). A large typed array is zero-filled memory the OS maps on first touch,
 * so the pages of ids not used yet are reserved address space, not resident memory: the arrays
 * cost what the ids in use touch, never move, and leave no old copy for the garbage collector to
 * free. (They still grow by 1.5x if ids ever pass `capacity`.)
 *
 * Guards: a live id has `key(id) !== undefined`; a freed id goes on a LIFO free list so the ids
 * in use stay dense (eviction samples random ids below `highWater`).
 */

/** The entry table (see the file comment). */
export class EntryTable {
  /** Ids ever handed out; every live id is below it. */
  highWater = 0;
  /** Live entries. */
  live = 0;
  capacity: number;
  /** Namespace index per id. */
  ns: Uint16Array;
  /** Position in the namespace member set per id (an `IdSet` position column). */
  nsPos: Uint32Array;
  /** Hash slot per id, and the links of each slot's list (`SlotIndex`). */
  slot: Uint16Array;
  slotNext: Int32Array;
  slotPrev: Int32Array;
  readonly tags = new Map<number, readonly string[]>();
  private versions: Float64Array;
  private ticks: Uint32Array;
  private flagWords: Uint32Array;
  private sizes: Uint32Array;
  private ttlPositions: Uint32Array;
  private lfuCounters: Uint8Array;
  private lfuMinutes: Uint16Array;
  private types: Uint8Array;
  private readonly kv: (string | object | undefined)[] = [];
  private readonly free: number[] = [];

  constructor(capacity = 1024) {
    const n = Math.max(16, capacity);
    this.capacity = n;
    this.versions = new Float64Array(n);
    this.ticks = new Uint32Array(n);
    this.flagWords = new Uint32Array(n);
    this.sizes = new Uint32Array(n);
    this.ttlPositions = new Uint32Array(n);
    this.lfuCounters = new Uint8Array(n);
    this.lfuMinutes = new Uint16Array(n);
    this.types = new Uint8Array(n);
    this.ns = new Uint16Array(n);
    this.nsPos = new Uint32Array(n);
    this.slot = new Uint16Array(n);
    this.slotNext = new Int32Array(n);
    this.slotPrev = new Int32Array(n);
  }

  /** Hands out an id for `key`/`value` of `type` (`EntryType`); other fields are the caller's to fill. */
  alloc(key: string, value: string | object, type = 0): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.highWater++;
      if (id === this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
      this.kv.push(key, value);
    } else {
      this.kv[2 * id] = key;
      this.kv[2 * id + 1] = value;
    }
    this.types[id] = type;
    this.live++;
    return id;
  }

  /**
   * Frees `id`: drops its strings and tags so the garbage collector can take them. The caller
   * has taken it out of the expiry set (`ttlPos(id)` is 0).
   */
  release(id: number): void {
    this.kv[2 * id] = undefined;
    this.kv[2 * id + 1] = undefined;
    if (this.tags.size !== 0) this.tags.delete(id);
    this.free.push(id);
    this.live--;
  }

  /** True when `id` holds an entry. */
  isLive(id: number): boolean {
    return this.kv[2 * id] !== undefined;
  }

  /** Sum of the tag lengths of `id` (0 when untagged). */
  tagBytes(id: number): number {
    const tags = this.tags.size === 0 ? undefined : this.tags.get(id);
    return tags === undefined ? 0 : sumLengths(tags);
  }

  /** The key of `id` (undefined when free). */
  key(id: number): string | undefined {
    return this.kv[2 * id] as string | undefined;
  }

  /** The value of live `id` holding a string or a packed hash or set, one char per byte (`stored` for any entry). */
  value(id: number): string {
    return this.kv[2 * id + 1] as string;
  }

  /** What live `id` holds: a latin1 string, or a large hash's or set's object (`collections.ts`). */
  stored(id: number): string | object {
    return this.kv[2 * id + 1] as string | object;
  }

  /** Replaces the value of live `id`, which now holds `type` (`EntryType`). */
  setValue(id: number, value: string | object, type = 0): void {
    this.kv[2 * id + 1] = value;
    this.types[id] = type;
  }

  /** What live `id` holds: an `EntryType`. */
  type(id: number): number {
    return this.types[id];
  }

  /** Version of `id`. */
  version(id: number): number {
    return this.versions[id];
  }

  /** Sets the version of `id`. */
  setVersion(id: number, version: number): void {
    this.versions[id] = version;
  }

  /** Access tick of `id`. */
  tick(id: number): number {
    return this.ticks[id];
  }

  /** Sets the access tick of `id`. */
  setTick(id: number, tick: number): void {
    this.ticks[id] = tick;
  }

  /** Client flags of `id`. */
  flags(id: number): number {
    return this.flagWords[id];
  }

  /** Sets the client flags of `id`. */
  setFlags(id: number, flags: number): void {
    this.flagWords[id] = flags;
  }

  /** Accounted size of `id`. */
  size(id: number): number {
    return this.sizes[id];
  }

  /** Sets the accounted size of `id`. */
  setSize(id: number, size: number): void {
    this.sizes[id] = size;
  }

  /** 1 + position of `id` in the expiry set, 0 = never expires. */
  ttlPos(id: number): number {
    return this.ttlPositions[id];
  }

  /** Sets the expiry-set position of `id` (see `ttlPos`). */
  setTtlPos(id: number, pos: number): void {
    this.ttlPositions[id] = pos;
  }

  /** LFU counter of `id`. */
  lfu(id: number): number {
    return this.lfuCounters[id];
  }

  /** Minute of the last LFU decay of `id`. */
  lfuTime(id: number): number {
    return this.lfuMinutes[id];
  }

  /** Sets the LFU counter of `id` and the minute it was decayed to. */
  setLfu(id: number, counter: number, minute: number): void {
    this.lfuCounters[id] = counter;
    this.lfuMinutes[id] = minute;
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.versions = grown(this.versions, new Float64Array(capacity));
    this.ticks = grown(this.ticks, new Uint32Array(capacity));
    this.flagWords = grown(this.flagWords, new Uint32Array(capacity));
    this.sizes = grown(this.sizes, new Uint32Array(capacity));
    this.ttlPositions = grown(this.ttlPositions, new Uint32Array(capacity));
    this.lfuCounters = grown(this.lfuCounters, new Uint8Array(capacity));
    this.lfuMinutes = grown(this.lfuMinutes, new Uint16Array(capacity));
    this.types = grown(this.types, new Uint8Array(capacity));
    this.ns = grown(this.ns, new Uint16Array(capacity));
    this.nsPos = grown(this.nsPos, new Uint32Array(capacity));
    this.slot = grown(this.slot, new Uint16Array(capacity));
    this.slotNext = grown(this.slotNext, new Int32Array(capacity));
    this.slotPrev = grown(this.slotPrev, new Int32Array(capacity));
  }
}

/** `to` after copying `from` into its start. */
function grown<T extends Float64Array | Uint32Array | Int32Array | Uint16Array | Uint8Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/** Sum of the lengths of `strings`. */
export function sumLengths(strings: readonly string[]): number {
  let n = 0;
  for (const s of strings) n += s.length;
  return n;
}
