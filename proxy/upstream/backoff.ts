/** Reconnect backoff bounds, ms. */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/** Defaults: first retry after 25-50 ms, then doubling up to 1-2 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 50, maxMs: 2000 };

/**
 * Delay before reconnect attempt `attempt` (0 = the first retry): exponential, capped, with
 * "equal jitter" (half fixed, half random) so links to one node do not reconnect in lockstep
 * and the delay never collapses to zero. Pure.
 */
export function reconnectDelay(attempt: number, options: BackoffOptions, random: () => number): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
