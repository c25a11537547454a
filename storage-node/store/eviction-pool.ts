/** Candidates kept between eviction rounds (Redis `EVPOOL_SIZE`). */
export const EVICTION_POOL_SIZE = 16;

/**
 * The best eviction candidates seen so far, as in Redis's `evictionPoolPopulate`: sampled
 * entries are offered with a score (higher = better to evict) and the pool keeps the 16 highest,
 * sorted ascending, so a few samples per round still approximate a global ordering.
 *
 * A score at or below the worst held is turned away before anything else (the common case once
 * the pool is full); if that candidate was already held, its older score stays, which is fine:
 * an unchanged entry's score only grows with time.
 *
 * Each candidate remembers the entry's version and access tick when it was scored; `pop` hands
 * them back so the caller can drop a candidate whose entry was rewritten, freed, or accessed
 * since (its score is stale). Guards: `scores[0..size)` ascending, ids unique.
 */
export class EvictionPool {
  private readonly ids = new Int32Array(EVICTION_POOL_SIZE);
  private readonly scores = new Float64Array(EVICTION_POOL_SIZE);
  private readonly versions = new Float64Array(EVICTION_POOL_SIZE);
  private readonly ticks = new Uint32Array(EVICTION_POOL_SIZE);
  /** Candidates held. */
  size = 0;
  /** Version of the entry returned by the last `pop`, when it was scored. */
  poppedVersion = 0;
  /** Access tick of the entry returned by the last `pop`, when it was scored. */
  poppedTick = 0;

  /** Offers a candidate; it is kept if the pool has room or it beats the worst one held. */
  offer(id: number, score: number, version: number, tick: number): void {
    if (this.size === EVICTION_POOL_SIZE && score <= this.scores[0]) return;
    this.drop(id);
    if (this.size === EVICTION_POOL_SIZE) this.shiftOutWorst();
    let i = this.size;
    while (i > 0 && this.scores[i - 1] > score) {
      this.move(i - 1, i);
      i--;
    }
    this.ids[i] = id;
    this.scores[i] = score;
    this.versions[i] = version;
    this.ticks[i] = tick;
    this.size++;
  }

  /** Removes and returns the best candidate's id, or -1 when empty. */
  pop(): number {
    if (this.size === 0) return -1;
    const i = --this.size;
    this.poppedVersion = this.versions[i];
    this.poppedTick = this.ticks[i];
    return this.ids[i];
  }

  /** Forgets every candidate (scores of another policy are not comparable). */
  clear(): void {
    this.size = 0;
  }

  private drop(id: number): void {
    let i = 0;
    while (i < this.size && this.ids[i] !== id) i++;
    if (i === this.size) return;
    for (let j = i + 1; j < this.size; j++) this.move(j, j - 1);
    this.size--;
  }

  private shiftOutWorst(): void {
    for (let j = 1; j < this.size; j++) this.move(j, j - 1);
    this.size--;
  }

  private move(from: number, to: number): void {
    this.ids[to] = this.ids[from];
    this.scores[to] = this.scores[from];
    this.versions[to] = this.versions[from];
    this.ticks[to] = this.ticks[from];
  }
}
