/**
 * Probabilistic early refresh (XFetch, Vattani et al., "Optimal Probabilistic Cache Stampede
 * Prevention"): a reader refreshes a fresh entry before it expires when
 *
 *   now − delta × beta × ln(rand) ≥ expiry
 *
 * with `delta` the time a load takes and `rand` uniform in (0, 1]. The closer the expiry and the
 * slower the load, the likelier; a hot key (read often) is almost surely refreshed by one reader
 * shortly before it expires, a cold key almost never. beta = 1 is the paper's choice; 0 turns it
 * off. Pure: the random number is injected.
 */
export function shouldRefreshEarly(now: number, expiry: number, deltaMs: number, beta: number, random: () => number): boolean {
  if (beta <= 0 || expiry === 0 || deltaMs <= 0) return false;
  if (now >= expiry) return true;
  const r = random();
  const rand = r > 0 ? r : Number.MIN_VALUE; // ln(0) is -Infinity: treat as the smallest draw
  return now - deltaMs * beta * Math.log(rand) >= expiry;
}
