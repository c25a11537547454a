/**
 * Seeded randomness for the tools and tests: the chaos schedule, the benchmarks' workloads and the
 * tests' streams draw from these, so a seed names one run exactly.
 */

/** mulberry32: a small, fast seeded generator, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * A Zipf(`skew`) sampler over `n` ranks (rank 0 the most frequent): a precomputed CDF and a
 * binary search per draw.
 */
export function zipf(n: number, skew: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / (i + 1) ** skew;
  return () => {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}
