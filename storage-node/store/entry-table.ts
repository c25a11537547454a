/**
 * Entry metadata as a structure of arrays, indexed by a small integer id.
 *
 *   id ──► version[id]   Float64  store-wide write counter (CAS token, generation check)
 *          expiresAt[id] Float64  absolute epoch ms, 0 = never
 *          tick[id]      Uint32   logical access clock at last access (LRU, wraps)
 *          lfu[id]       Uint8    Redis-style logarithmic access counter
 *          lfuTime[id]   Uint16   minute (mod 65536) of the last LFU decay
 *          flags[id]     Uint32   opaque client flags
 *          size[id]      Uint32   accounted bytes
 *          ns[id]        Uint16   namespace index
 *          ttlPos[id]    Uint32   position in the TTL id set (valid iff expiresAt != 0)
 *          nsPos[id]     Uint32   position in the namespace member set
 *          keys[id]      string   the key (the same string object the namespace map holds)
 *          values[id]    string   value bytes as a latin1 string (see `value-codec.ts`)
 *          tags          Map      id -> tags, only for tagged entries
 *
 * Guards: ids. A live id has `keys[id] !== undefined`; a freed id goes on a LIFO free list so
 * the ids in use stay dense (eviction samples random ids below `highWater`). Typed arrays are
 * replaced when they grow (by 1.5x, so at most a third of a column is slack): never hold one
 * across an `alloc`.
 */
export class EntryTable {
  /** Ids ever handed out; every live id is below it. */
  highWater = 0;
  /** Live entries. */
  live = 0;
  capacity: number;
  version: Float64Array;
  expiresAt: Float64Array;
  tick: Uint32Array;
  lfu: Uint8Array;
  lfuTime: Uint16Array;
  flags: Uint32Array;
  size: Uint32Array;
  ns: Uint16Array;
  ttlPos: Uint32Array;
  nsPos: Uint32Array;
  readonly keys: (string | undefined)[] = [];
  readonly values: (string | undefined)[] = [];
  readonly tags = new Map<number, readonly string[]>();
  private readonly free: number[] = [];

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.capacity = n;
    this.version = new Float64Array(n);
    this.expiresAt = new Float64Array(n);
    this.tick = new Uint32Array(n);
    this.lfu = new Uint8Array(n);
    this.lfuTime = new Uint16Array(n);
    this.flags = new Uint32Array(n);
    this.size = new Uint32Array(n);
    this.ns = new Uint16Array(n);
    this.ttlPos = new Uint32Array(n);
    this.nsPos = new Uint32Array(n);
  }

  /** Hands out an id for `key`/`value`; other fields are the caller's to fill. */
  alloc(key: string, value: string): number {
    let id = this.free.pop();
    if (id === undefined) {
      id = this.highWater++;
      if (id === this.capacity) this.grow(Math.ceil(this.capacity * 1.5));
      this.keys.push(key);
      this.values.push(value);
    } else {
      this.keys[id] = key;
      this.values[id] = value;
    }
    this.live++;
    return id;
  }

  /** Frees `id`: drops its strings and tags so the garbage collector can take them. */
  release(id: number): void {
    this.keys[id] = undefined;
    this.values[id] = undefined;
    if (this.tags.size !== 0) this.tags.delete(id);
    this.expiresAt[id] = 0;
    this.free.push(id);
    this.live--;
  }

  /** True when `id` holds an entry. */
  isLive(id: number): boolean {
    return this.keys[id] !== undefined;
  }

  /** Sum of the tag lengths of `id` (0 when untagged). */
  tagBytes(id: number): number {
    const tags = this.tags.size === 0 ? undefined : this.tags.get(id);
    return tags === undefined ? 0 : sumLengths(tags);
  }

  private grow(capacity: number): void {
    this.capacity = capacity;
    this.version = growF64(this.version, capacity);
    this.expiresAt = growF64(this.expiresAt, capacity);
    this.tick = growU32(this.tick, capacity);
    this.lfu = growU8(this.lfu, capacity);
    this.lfuTime = growU16(this.lfuTime, capacity);
    this.flags = growU32(this.flags, capacity);
    this.size = growU32(this.size, capacity);
    this.ns = growU16(this.ns, capacity);
    this.ttlPos = growU32(this.ttlPos, capacity);
    this.nsPos = growU32(this.nsPos, capacity);
  }
}

/** Sum of the lengths of `strings`. */
export function sumLengths(strings: readonly string[]): number {
  let n = 0;
  for (const s of strings) n += s.length;
  return n;
}

function growF64(a: Float64Array, n: number): Float64Array {
  const b = new Float64Array(n);
  b.set(a);
  return b;
}

function growU32(a: Uint32Array, n: number): Uint32Array {
  const b = new Uint32Array(n);
  b.set(a);
  return b;
}

function growU16(a: Uint16Array, n: number): Uint16Array {
  const b = new Uint16Array(n);
  b.set(a);
  return b;
}

function growU8(a: Uint8Array, n: number): Uint8Array {
  const b = new Uint8Array(n);
  b.set(a);
  return b;
}
