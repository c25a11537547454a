/**
 * A byte-rate limit for a copy loop: `spend(n)` after sending n bytes, `wait()` before the next
 * send sleeps just long enough to keep the average at `bytesPerSec` (0: no limit). Pure but for
 * its sleep; the clock is injectable.
 */
export class Throttle {
  #start: number;
  #spent = 0;

  constructor(readonly bytesPerSec: number, private readonly now: () => number = () => performance.now()) {
    this.#start = now();
  }

  spend(bytes: number): void {
    this.#spent += bytes;
  }

  /** Milliseconds to wait before sending more (0 when within the rate). */
  delayMs(): number {
    if (this.bytesPerSec <= 0) return 0;
    const due = this.#start + (this.#spent / this.bytesPerSec) * 1000;
    return Math.max(0, due - this.now());
  }

  wait(): Promise<void> {
    const ms = this.delayMs();
    return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
  }
}
