/**
 * A token bucket: `ratePerSecond` tokens flow in per second up to `burst`; each request takes
 * its cost (one, or one per key of a batch), all of it or none. O(1), no timers: the refill is
 * computed from the injected monotonic clock on every take.
 * guards: tokens, last refill time.
 */
export class TokenBucket {
  #rate: number;
  #burst: number;
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  /** Starts full. `now` is monotonic milliseconds (performance.now in the proxy). */
  constructor(ratePerSecond: number, burst: number, now: () => number) {
    this.#now = now;
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now();
  }

  get rate(): number {
    return this.#rate;
  }

  /** Changes the rate and burst, keeping the tokens in hand (capped at the new burst). */
  configure(ratePerSecond: number, burst: number): void {
    this.#refill();
    this.#rate = ratePerSecond;
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  get burst(): number {
    return this.#burst;
  }

  /**
   * Takes `count` tokens at once (default 1): 0 when admitted; else nothing is taken and the
   * answer is the milliseconds until `count` tokens will be there, or Infinity when they never
   * can (`count` over the burst, or a rate of 0).
   */
  take(count = 1): number {
    this.#refill();
    if (this.#tokens >= count) {
      this.#tokens -= count;
      return 0;
    }
    if (count > this.#burst || this.#rate <= 0) return Infinity;
    return Math.ceil(((count - this.#tokens) * 1000) / this.#rate);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }
}
