/** Samples kept: at one per 10 ms while writes happen, about 11 minutes of history. */
const SAMPLES = 1 << 16;

/**
 * When this node's version clock passed which value: one sample `(clock, time)` per period
 * (`sample`, from a timer, never on the request path; a period without writes only moves the
 * last sample's time). It answers the
 * question a peer region's invalidation asks (`writtenBefore`): was the entry holding version `v`
 * written before time `at`? Versions are this node's and grow with time, so the last sample
 * whose clock is below `v` gives a time the write came after: a lower bound, which errs only
 * toward removing an entry (a cache miss), never toward keeping a value written before `at`.
 * An entry older than every sample was written before all of them: before `at` too, as far as
 * an invalidation from the last minutes is concerned.
 */
export class VersionTimeline {
  readonly #clocks = new Float64Array(SAMPLES);
  readonly #times = new Float64Array(SAMPLES);
  /** Samples held, and where the next goes (a ring). */
  #count = 0;
  #next = 0;
  /**
   * Versions up to here have no known write time: they came in one jump, not from this node's
   * writes (a promotion's, a migration's import). Such an entry counts as written before any `at`.
   */
  floor = 0;

  /**
   * Records the clock at `now`: a new sample when it moved since the last one, else the last
   * one's time moves to `now` (the clock was still that at `now`, which keeps the bound tight
   * for the first write after a quiet spell).
   */
  sample(clock: number, now: number): void {
    const last = (this.#next - 1 + SAMPLES) % SAMPLES;
    if (this.#count > 0 && this.#clocks[last] === clock) {
      this.#times[last] = now;
      return;
    }
    this.#clocks[this.#next] = clock;
    this.#times[this.#next] = now;
    this.#next = (this.#next + 1) % SAMPLES;
    if (this.#count < SAMPLES) this.#count++;
  }

  /** A time the write of `version` came after (the newest sample below it), or -Infinity when none is (or it is at or below `floor`). */
  writtenAfter(version: number): number {
    if (version <= this.floor) return Number.NEGATIVE_INFINITY;
    const n = this.#count;
    const first = (this.#next - n + SAMPLES) % SAMPLES;
    // Binary search over the ring for the last sample with clock < version.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#clocks[(first + mid) % SAMPLES] < version) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? Number.NEGATIVE_INFINITY : this.#times[(first + lo - 1) % SAMPLES];
  }

  /** Whether an entry of `version` may have been written before `at` (so an invalidation from `at` removes it). */
  writtenBefore(version: number, at: number): boolean {
    return this.writtenAfter(version) < at;
  }
}
