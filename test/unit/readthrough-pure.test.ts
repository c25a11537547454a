import { shouldRefreshEarly } from '../../proxy/readthrough/early-refresh';
import { fillFlags, isFilled, isNegative, loadMsOf, softExpiresAt } from '../../proxy/readthrough/entry-flags';
import { originUrl } from '../../proxy/readthrough/origin';
import { FillLeases } from '../../storage-node/fill-leases';
import { prng } from '../../scripts/random';


describe('early refresh (XFetch)', () => {
  test('now - delta * beta * ln(rand) >= expiry', () => {
    // ln(e^-1) = -1: refresh exactly when now + delta * beta >= expiry
    expect(shouldRefreshEarly(900, 1000, 100, 1, () => Math.exp(-1))).toBe(true);
    expect(shouldRefreshEarly(899, 1000, 100, 1, () => Math.exp(-1))).toBe(false);
    expect(shouldRefreshEarly(800, 1000, 100, 2, () => Math.exp(-1))).toBe(true);
    expect(shouldRefreshEarly(999, 1000, 100, 1, () => 0.999999)).toBe(false); // ln(~1) ~ 0
    expect(shouldRefreshEarly(0, 1000, 100, 1, () => 0)).toBe(true); // rand 0: the smallest draw
  });

  test('off with beta 0, without a load time or without an expiry; always at or past expiry', () => {
    expect(shouldRefreshEarly(999, 1000, 100, 0, () => 0.001)).toBe(false);
    expect(shouldRefreshEarly(999, 1000, 0, 1, () => 0.001)).toBe(false);
    expect(shouldRefreshEarly(999, 0, 100, 1, () => 0.001)).toBe(false);
    expect(shouldRefreshEarly(1000, 1000, 100, 1, () => 0.999)).toBe(true);
  });

  test('the probability matches exp(-(expiry - now) / (delta * beta))', () => {
    const random = prng(42);
    const draws = 20_000;
    for (const [gap, delta, beta] of [[100, 100, 1], [200, 100, 1], [50, 100, 0.5], [1000, 100, 1]]) {
      let refreshed = 0;
      for (let i = 0; i < draws; i++) if (shouldRefreshEarly(10_000 - gap, 10_000, delta, beta, random)) refreshed++;
      const expected = Math.exp(-gap / (delta * beta));
      expect(Math.abs(refreshed / draws - expected)).toBeLessThan(0.015);
    }
  });
});

describe('read-through entry flags', () => {
  test('round trip: JSON bit, negative, load time, stale window', () => {
    const flags = fillFlags({ json: true, negative: false, loadMs: 203, staleSeconds: 30 });
    expect(flags & 1).toBe(1);
    expect(isFilled(flags)).toBe(true);
    expect(isNegative(flags)).toBe(false);
    expect(loadMsOf(flags)).toBe(210); // 10 ms units, rounded up
    expect(softExpiresAt(100_000, flags)).toBe(70_000);
    const neg = fillFlags({ json: false, negative: true, loadMs: 0, staleSeconds: 0 });
    expect(isNegative(neg)).toBe(true);
    expect(softExpiresAt(5000, neg)).toBe(5000);
  });

  test('bounds: the largest stale window and load time fit in uint32; app entries are fresh until they expire', () => {
    const flags = fillFlags({ json: false, negative: false, loadMs: 10_000_000, staleSeconds: 65_535 });
    expect(flags).toBeLessThanOrEqual(0xffffffff);
    expect(flags).toBeGreaterThanOrEqual(0);
    expect(loadMsOf(flags)).toBe(81_910);
    expect(softExpiresAt(100_000_000, flags)).toBe(100_000_000 - 65_535_000);
    expect(softExpiresAt(1234, 1)).toBe(1234); // JSON bit only: written by an app
    expect(softExpiresAt(0, flags)).toBe(0);
  });
});

describe('origin URL template', () => {
  test('{key} is replaced by the encoded key; without it the key is appended', () => {
    expect(originUrl('http://o:1/items/{key}', 'a b/c')).toBe('http://o:1/items/a%20b%2Fc');
    expect(originUrl('http://o:1/items/{key}?v={key}', 'k')).toBe('http://o:1/items/k?v=k');
    expect(originUrl('http://o:1/items', 'k')).toBe('http://o:1/items/k');
    expect(originUrl('http://o:1/items/', 'k')).toBe('http://o:1/items/k');
  });
});

describe('fill leases (node table)', () => {
  test('one holder at a time; release and lapse free the key; stale tokens do nothing', () => {
    let now = 0;
    const leases = new FillLeases(() => now);
    const first = leases.take('ns', 'k', 100);
    expect(first).toEqual({ token: 1 });
    expect(leases.take('ns', 'k', 100)).toEqual({ heldMs: 100 });
    expect(leases.take('ns', 'other', 100)).toEqual({ token: 2 });
    expect(leases.holds('ns', 'k', 1)).toBe(true);
    expect(leases.release('ns', 'k', 99)).toBe(false);
    expect(leases.release('ns', 'k', 1)).toBe(true);
    expect(leases.take('ns', 'k', 100)).toEqual({ token: 3 });
    now = 100; // lapsed
    expect(leases.holds('ns', 'k', 3)).toBe(false);
    expect(leases.take('ns', 'k', 100)).toEqual({ token: 4 });
    expect(leases.release('ns', 'k', 3)).toBe(false);
    expect(leases.counters).toEqual({ granted: 4, held: 1, lapsed: 1 });
  });

  test('the sweep removes lapsed leases within its budget and is free when empty', () => {
    let now = 0;
    const leases = new FillLeases(() => now);
    expect(leases.sweep()).toBe(0);
    for (let i = 0; i < 10; i++) leases.take('ns', `k${i}`, 10 + i);
    now = 15;
    expect(leases.sweep(3)).toBe(3);
    expect(leases.sweep()).toBe(3);
    expect(leases.size).toBe(4);
  });
});
