import { SpaceSaving, WindowedTopK } from '../../proxy/hotkeys/topk';
import { prng, zipf } from '../../scripts/random';

function stream(length: number, seed = 1): { keys: string[]; truth: Map<string, number> } {
  const next = zipf(50_000, 1.1, prng(seed));
  const keys: string[] = [];
  const truth = new Map<string, number>();
  for (let i = 0; i < length; i++) {
    const key = `k${next()}`;
    keys.push(key);
    truth.set(key, (truth.get(key) ?? 0) + 1);
  }
  return { keys, truth };
}

describe('SpaceSaving', () => {
  it('counts exactly while it has room', () => {
    const s = new SpaceSaving(4);
    for (const k of ['a', 'b', 'a', 'c', 'a', 'b']) s.observe(k);
    expect(s.get('a')).toEqual({ count: 3, error: 0 });
    expect(s.get('b')).toEqual({ count: 2, error: 0 });
    expect(s.get('c')).toEqual({ count: 1, error: 0 });
    expect(s.total).toBe(6);
  });

  it('replaces the minimum and carries its count as the error', () => {
    const s = new SpaceSaving(2);
    for (const k of ['a', 'a', 'b', 'c']) s.observe(k);
    expect(s.get('b')).toBeUndefined();
    expect(s.get('c')).toEqual({ count: 2, error: 1 });
    expect(s.get('a')).toEqual({ count: 2, error: 0 });
  });

  it('finds every heavy hitter of a skewed stream within the space-saving error bound', () => {
    const k = 100;
    const n = 200_000;
    const { keys, truth } = stream(n);
    const s = new SpaceSaving(k);
    for (const key of keys) s.observe(key);
    // Every key seen more than n/k times is monitored.
    for (const [key, count] of truth) if (count > n / k) expect(s.get(key)).toBeDefined();
    // count - error ≤ true ≤ count, and error ≤ n/k, for every monitored key.
    for (const [key, count, error] of s.entries()) {
      const real = truth.get(key) ?? 0;
      expect(count).toBeGreaterThanOrEqual(real);
      expect(count - error).toBeLessThanOrEqual(real);
      expect(error).toBeLessThanOrEqual(n / k);
    }
    // The true top 10 are the sketch's top 10.
    const trueTop = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([key]) => key);
    const sketchTop = [...s.entries()].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([key]) => key);
    expect(new Set(sketchTop)).toEqual(new Set(trueTop));
  });

  it('refuses a capacity that is not a whole number ≥ 1', () => {
    expect(() => new SpaceSaving(0)).toThrow(/capacity/);
    expect(() => new SpaceSaving(1.5)).toThrow(/capacity/);
  });
});

describe('WindowedTopK', () => {
  it('forgets what left the window', () => {
    const w = new WindowedTopK(8, 2);
    for (let i = 0; i < 10; i++) w.observe('old');
    w.rotate();
    for (let i = 0; i < 3; i++) w.observe('new');
    expect(w.top(2).map((h) => h.key)).toEqual(['old', 'new']);
    w.rotate(); // the bucket holding 'old' is reused
    expect(w.top(2)).toEqual([{ key: 'new', count: 3, error: 0 }]);
    expect(w.total).toBe(3);
  });

  it('merges buckets within the summed error bound on a skewed stream', () => {
    const k = 64;
    const buckets = 4;
    const per = 50_000;
    const w = new WindowedTopK(k, buckets, { exactPerBucket: Infinity }); // the bounds hold for counted observations
    const truth = new Map<string, number>();
    for (let b = 0; b < buckets; b++) {
      if (b > 0) w.rotate();
      const { keys } = stream(per, b + 1);
      for (const key of keys) {
        w.observe(key);
        truth.set(key, (truth.get(key) ?? 0) + 1);
      }
    }
    const top = w.top(10);
    const trueTop = [...truth].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([key]) => key);
    expect(new Set(top.map((h) => h.key))).toEqual(new Set(trueTop));
    for (const h of top) {
      const real = truth.get(h.key)!;
      expect(h.count).toBeGreaterThanOrEqual(real);
      expect(h.count - h.error).toBeLessThanOrEqual(real);
      expect(h.error).toBeLessThanOrEqual((buckets * per) / k);
    }
  });
});

describe('SpaceSaving slot table under churn', () => {
  it('finds every monitored key and no other after many replacements', () => {
    const s = new SpaceSaving(8);
    const seen = new Set<string>();
    const draw = prng(7);
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(draw() * 97) % (1 + (i % 40))}`; // deterministic stream, skewed toward small keys
      seen.add(key);
      s.observe(key);
    }
    const entries = [...s.entries()];
    const monitored = new Set(entries.map(([key]) => key));
    expect(monitored.size).toBe(8);
    expect(s.size).toBe(8);
    for (const [key, count, error] of entries) expect(s.get(key)).toEqual({ count, error });
    for (const key of seen) if (!monitored.has(key)) expect(s.get(key)).toBeUndefined();
    expect(s.floor).toBe(Math.min(...entries.map(([, count]) => count)));
    expect(entries.reduce((sum, [, count]) => sum + count, 0)).toBe(s.total); // space-saving keeps the total
  });
});

describe('WindowedTopK sampling past the exact observations', () => {
  it('keeps the total (up to the open gap) and estimates a busy bucket\'s hot keys', () => {
    const w = new WindowedTopK(256, 1, { exactPerBucket: 1000, sampleEvery: 8, random: prng(7) });
    const n = 400_000;
    const draw = prng(12345);
    const truth = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      // 5 % hot:a, 2 % hot:b, the rest over 100,000 distinct keys
      const r = draw();
      const key = r < 0.05 ? 'hot:a' : r < 0.07 ? 'hot:b' : `k${Math.floor(draw() * 100_000)}`;
      truth.set(key, (truth.get(key) ?? 0) + 1);
      w.observe(key);
    }
    expect(n - w.total).toBeGreaterThanOrEqual(0); // the observations of the gap still open are not counted yet
    expect(n - w.total).toBeLessThan(2 * 8);
    const top = w.top(2);
    expect(top.map((h) => h.key)).toEqual(['hot:a', 'hot:b']);
    for (const h of top) {
      const real = truth.get(h.key)!;
      // one standard deviation of a sampled count is ~4 % for hot:b (6,000 GETs), ~2 % for hot:a
      expect(Math.abs(h.count - h.error - real) / real).toBeLessThan(0.15);
    }
  });

  it('counts one by one again after a rotation', () => {
    const w = new WindowedTopK(8, 2, { exactPerBucket: 10, sampleEvery: 1000 });
    for (let i = 0; i < 500; i++) w.observe('busy'); // 10 exact, then sampled with long gaps
    w.rotate();
    for (let i = 0; i < 5; i++) w.observe('quiet');
    expect(w.top(2).find((h) => h.key === 'quiet')).toEqual({ key: 'quiet', count: 5, error: 0 });
  });

  it('a key sent between the counted observations is still found (the gaps are random)', () => {
    const w = new WindowedTopK(16, 1, { exactPerBucket: 0, sampleEvery: 4, random: prng(7) });
    // Every 4th request is the hidden key: a fixed stride of 4 would never (or always) count it.
    for (let i = 0; i < 40_000; i++) w.observe(i % 4 === 3 ? 'hidden' : `k${i % 5000}`);
    const hidden = w.top(1)[0];
    expect(hidden.key).toBe('hidden');
    expect(Math.abs(hidden.count - hidden.error - 10_000) / 10_000).toBeLessThan(0.1);
  });
});
