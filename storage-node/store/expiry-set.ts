/**
 * The entries that expire, with their expiry times: O(1) add, update, remove, lookup and uniform
 * random pick, and no per-entry cost for entries that never expire.
 *
 *   ids[0..count)    Int32Array    entry id
 *   times[0..count)  Float64Array  its absolute expiry, epoch ms (> 0)
 *   ttlPos(id)       (kept by the entry table) 1 + its position, 0 = no expiry
 *
 * Removal moves the last member into the hole. Guards: for every member `ids[ttlPos(id) - 1]
 * === id`; an entry without expiry has `ttlPos(id) === 0`.
 */

/** Where the set keeps each entry's position (the entry table). */
export interface ExpiryPositions {
  ttlPos(id: number): number;
  setTtlPos(id: number, pos: number): void;
}

/** The set of expiring entries (see the file comment). */
export class ExpirySet {
  private ids = new Int32Array(16);
  private times = new Float64Array(16);
  /** Number of entries with an expiry. */
  count = 0;

  constructor(private readonly pos: ExpiryPositions) {}

  /** Expiry of entry `id` in epoch ms, 0 when it has none. */
  expiresAt(id: number): number {
    const p = this.pos.ttlPos(id);
    return p === 0 ? 0 : this.times[p - 1];
  }

  /** Sets the expiry of entry `id`; `expiresAt` 0 removes it from the set. */
  set(id: number, expiresAt: number): void {
    const p = this.pos.ttlPos(id);
    if (p !== 0) {
      if (expiresAt === 0) this.remove(id);
      else this.times[p - 1] = expiresAt;
      return;
    }
    if (expiresAt === 0) return;
    if (this.count === this.ids.length) this.resize(this.ids.length * 2);
    this.ids[this.count] = id;
    this.times[this.count] = expiresAt;
    this.pos.setTtlPos(id, ++this.count);
  }

  /** Removes entry `id` (a member). */
  remove(id: number): void {
    const pos = this.pos;
    const i = pos.ttlPos(id) - 1;
    const last = --this.count;
    const moved = this.ids[last];
    this.ids[i] = moved;
    this.times[i] = this.times[last];
    pos.setTtlPos(moved, i + 1);
    pos.setTtlPos(id, 0);
    const cap = this.ids.length;
    if (cap > 1024 && this.count < cap >>> 2) this.resize(cap >>> 1);
  }

  /** A uniformly chosen position in [0, count) given `r` in [0, 1); the set must not be empty. */
  pick(r: number): number {
    const i = (r * this.count) | 0;
    return i < this.count ? i : this.count - 1;
  }

  /** Entry id at position `i`. */
  idAt(i: number): number {
    return this.ids[i];
  }

  /** Expiry at position `i`. */
  timeAt(i: number): number {
    return this.times[i];
  }

  private resize(n: number): void {
    const ids = new Int32Array(n);
    ids.set(this.ids.subarray(0, this.count));
    const times = new Float64Array(n);
    times.set(this.times.subarray(0, this.count));
    this.ids = ids;
    this.times = times;
  }
}
