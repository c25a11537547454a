/**
 * Redis's 8-bit logarithmic LFU counter, as pure functions (see Redis `evict.c`).
 *
 * A counter starts at `LFU_INIT_VAL`, grows with probability `1 / ((c - LFU_INIT_VAL) *
 * logFactor + 1)` per access (so ~1M accesses saturate 255 with factor 10), and loses one point
 * per `decayMinutes` elapsed since its last decay. Time is minutes of the injected clock, kept
 * in 16 bits with wrap-around like Redis.
 */

/** Counter of a new entry: high enough that a fresh key is not the first one evicted. */
export const LFU_INIT_VAL = 5;

/** The injected clock's minute, mod 65536 (ToInt32 keeps the low bits of the minute count). */
export function lfuMinutes(nowMs: number): number {
  return (nowMs / 60_000) & 0xffff;
}

/** Minutes from `then` to `now`, both mod 65536. */
export function lfuElapsed(then: number, now: number): number {
  return now >= then ? now - then : 65_535 - then + now;
}

/** `counter` after decaying from minute `then` to minute `now`. */
export function lfuDecay(counter: number, then: number, now: number, decayMinutes: number): number {
  if (decayMinutes <= 0) return counter;
  const periods = (lfuElapsed(then, now) / decayMinutes) | 0;
  return periods > counter ? 0 : counter - periods;
}

/** `counter` after one access; `random` is drawn only when the increment is not certain. */
export function lfuIncrement(counter: number, logFactor: number, random: () => number): number {
  if (counter === 255) return 255;
  const base = counter - LFU_INIT_VAL;
  if (base <= 0) return counter + 1;
  return random() < 1 / (base * logFactor + 1) ? counter + 1 : counter;
}
