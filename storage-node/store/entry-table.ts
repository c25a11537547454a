/**
 * Entry metadata indexed by a small integer id: a 32-byte record per id for what a read or a
 * write touches, two cold columns, and the key and value strings side by side.
 *
 *   record (32 B) ─ version   Float64  store-wide write counter (CAS token, generation check)
 *                   hash      Uint32   hash of the key (`hashKey`), read by the key index
 *                   tick      Uint32   logical access clock at last access (LRU, wraps)
 *                   flags     Uint32   opaque client flags
 *                   size      Uint32   accounted bytes (`entrySize`)
 *                   ttlPos    Uint32   1 + position in the expiry set, 0 = never expires
 *                   lfu       Uint8    Redis-style logarithmic access counter
 *                   lfuTime   Uint16   minute (mod 65536) of the last LFU decay
 *   ns[id]      Uint16   namespace index                  (cold: removal, sampling)
 *   nsPos[id]   Uint32   position in the namespace member set
 *   kv[2 id]    string   the key; kv[2 id + 1] the value as a latin1 string (`value-codec.ts`)
 *   tags        Map      id -> tags, only for tagged entries
 *
 * 38 bytes per id besides the strings. A lookup and a hit read one record (two share a cache
 * line) and one `kv` slot pair instead of a cache line per column; on this kind of machine each
 * line missed costs about as much as the arithmetic of a whole request. The expiry time lives in
 * the expiry set (`expiry-set.ts`), so an entry that never expires pays nothing for it.
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

/** Bytes of a record; `Float64` index = id * 4, `Uint32` index = id * 8 + word. */
const RECORD_BYTES = 32;
const HASH = 2;
const TICK = 3;
const FLAGS = 4;
const SIZE = 5;
const TTL_POS = 6;
/** Byte of the LFU counter, and `Uint16` index of the LFU decay minute, within a record. */
const LFU_BYTE = 28;
const LFU_TIME_HALF = 15;

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
  readonly tags = new Map<number, readonly string[]>();
  private f64: Float64Array;
  private u32: Uint32Array;
  private u16: Uint16Array;
  private u8: Uint8Array;
  private readonly kv: (string | undefined)[] = [];
  private readonly free: number[] = [];

  constructor(capacity = 1024) {
    const n = Math.max(16, capacity);
    this.capacity = n;
    const records = new ArrayBuffer(n * RECORD_BYTES);
    this.f64 = new Float64Array(records);
    this.u32 = new Uint32Array(records);
    this.u16 = new Uint16Array(records);
    this.u8 = new Uint8Array(records);
    this.ns = new Uint16Array(n);
    this.nsPos = new Uint32Array(n);
  }

  /** Hands out an id for `key`/`value`; other fields are the caller's to fill. */
  alloc(key: string, value: string): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.highWater++;
      if (id === this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
      this.kv.push(key, value);
    } else {
      this.kv[2 * id] = key;
      this.kv[2 * id + 1] = value;
    }
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
    return this.kv[2 * id];
  }

  /** The value of live `id`, one char per byte. */
  value(id: number): string {
    return this.kv[2 * id + 1] as string;
  }

  /** Replaces the value of live `id`. */
  setValue(id: number, value: string): void {
    this.kv[2 * id + 1] = value;
  }

  /** Version of `id`. */
  version(id: number): number {
    return this.f64[id * 4];
  }

  /** Sets the version of `id`. */
  setVersion(id: number, version: number): void {
    this.f64[id * 4] = version;
  }

  /** Key hash of `id`. */
  hash(id: number): number {
    return this.u32[id * 8 + HASH];
  }

  /** Sets the key hash of `id`. */
  setHash(id: number, hash: number): void {
    this.u32[id * 8 + HASH] = hash;
  }

  /** Access tick of `id`. */
  tick(id: number): number {
    return this.u32[id * 8 + TICK];
  }

  /** Sets the access tick of `id`. */
  setTick(id: number, tick: number): void {
    this.u32[id * 8 + TICK] = tick;
  }

  /** Client flags of `id`. */
  flags(id: number): number {
    return this.u32[id * 8 + FLAGS];
  }

  /** Sets the client flags of `id`. */
  setFlags(id: number, flags: number): void {
    this.u32[id * 8 + FLAGS] = flags;
  }

  /** Accounted size of `id`. */
  size(id: number): number {
    return this.u32[id * 8 + SIZE];
  }

  /** Sets the accounted size of `id`. */
  setSize(id: number, size: number): void {
    this.u32[id * 8 + SIZE] = size;
  }

  /** 1 + position of `id` in the expiry set, 0 = never expires. */
  ttlPos(id: number): number {
    return this.u32[id * 8 + TTL_POS];
  }

  /** Sets the expiry-set position of `id` (see `ttlPos`). */
  setTtlPos(id: number, pos: number): void {
    this.u32[id * 8 + TTL_POS] = pos;
  }

  /** LFU counter of `id`. */
  lfu(id: number): number {
    return this.u8[id * RECORD_BYTES + LFU_BYTE];
  }

  /** Minute of the last LFU decay of `id`. */
  lfuTime(id: number): number {
    return this.u16[id * 16 + LFU_TIME_HALF];
  }

  /** Sets the LFU counter of `id` and the minute it was decayed to. */
  setLfu(id: number, counter: number, minute: number): void {
    this.u8[id * RECORD_BYTES + LFU_BYTE] = counter;
    this.u16[id * 16 + LFU_TIME_HALF] = minute;
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    const records = new ArrayBuffer(capacity * RECORD_BYTES);
    new Uint8Array(records).set(this.u8);
    this.f64 = new Float64Array(records);
    this.u32 = new Uint32Array(records);
    this.u16 = new Uint16Array(records);
    this.u8 = new Uint8Array(records);
    const ns = new Uint16Array(capacity);
    ns.set(this.ns);
    this.ns = ns;
    const nsPos = new Uint32Array(capacity);
    nsPos.set(this.nsPos);
    this.nsPos = nsPos;
  }
}

/** Sum of the lengths of `strings`. */
export function sumLengths(strings: readonly string[]): number {
  let n = 0;
  for (const s of strings) n += s.length;
  return n;
}
