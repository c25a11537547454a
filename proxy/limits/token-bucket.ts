/**
 * A token bucket: `ratePerSecond` tokens flow in per second up to `burst`; each request takes
 * one. O(1), no timers: the refill is computed from the injected monotonic clock on every take.
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

  /** Takes one token: 0 when admitted, else the milliseconds until a token will be there. */
  take(): number {
    this.#refill();
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return this.#rate > 0 ? Math.ceil(((1 - this.#tokens) * 1000) / this.#rate) : Infinity;
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) this.#tokens = Math.min(this.#burst, this.#tokens + (elapsed * this.#rate) / 1000);
  }
}
