/**
 * A dense set of entry ids with O(1) add, remove and uniform random pick.
 *
 * The ids sit packed in `ids[0..count)`; each member's position lives in a caller-owned array
 * (`pos[id]`, a column of the entry table) so removal is a swap with the last member. Guards:
 * `ids[pos[id]] === id` for every member. Walking from the top down visits every member present
 * at the start exactly once even while members are removed (a removal only moves the last,
 * already visited, member down).
 */
export class IdSet {
  private ids = new Int32Array(16);
  /** Number of members. */
  count = 0;

  /** Adds `id` (not a member yet) and records its position in `pos`. */
  add(id: number, pos: Uint32Array): void {
    if (this.count === this.ids.length) this.resize(this.ids.length * 2);
    this.ids[this.count] = id;
    pos[id] = this.count++;
  }

  /** Removes member `id`, moving the last member into its slot. */
  remove(id: number, pos: Uint32Array): void {
    const i = pos[id];
    const last = this.ids[--this.count];
    this.ids[i] = last;
    pos[last] = i;
    const cap = this.ids.length;
    if (cap > 1024 && this.count < cap >>> 2) this.resize(cap >>> 1);
  }

  /** Member at position `i` (0 <= i < count). */
  at(i: number): number {
    return this.ids[i];
  }

  /** A uniformly chosen member given `r` in [0, 1); the set must not be empty. */
  pick(r: number): number {
    const i = (r * this.count) | 0;
    return this.ids[i < this.count ? i : this.count - 1];
  }

  private resize(n: number): void {
    const next = new Int32Array(n);
    next.set(this.ids.subarray(0, this.count));
    this.ids = next;
  }
}
