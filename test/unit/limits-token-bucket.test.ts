import { Registry } from 'prom-client';
import { NamespaceLimiter } from '../../proxy/limits/namespace-limiter';
import { TokenBucket } from '../../proxy/limits/token-bucket';
import { ProxyError } from '../../proxy/errors';
import type { TopologySnapshot } from '../../shared/topology/snapshot';

describe('token bucket', () => {
  test('starts full, admits the burst, then refuses with the time until the next token', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 5, () => now);
    for (let i = 0; i < 5; i++) expect(bucket.take()).toBe(0);
    expect(bucket.take()).toBe(100); // 10 per second: one token every 100 ms
    now = 50;
    expect(bucket.take()).toBe(50);
  });

  test('refills from the clock on take, capped at the burst', () => {
    let now = 0;
    const bucket = new TokenBucket(100, 10, () => now);
    for (let i = 0; i < 10; i++) bucket.take();
    expect(bucket.take()).toBeGreaterThan(0);
    now = 30; // 3 tokens
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBeGreaterThan(0);
    now = 60_000; // a minute idle: still only the burst
    let admitted = 0;
    while (bucket.take() === 0) admitted++;
    expect(admitted).toBe(10);
  });

  test('admits the rate over a long run', () => {
    let now = 0;
    const bucket = new TokenBucket(50, 50, () => now);
    let admitted = 0;
    for (let t = 0; t < 10_000; t++) {
      now = t; // 1 ms steps, 10 s in all, one attempt per ms
      if (bucket.take() === 0) admitted++;
    }
    expect(admitted).toBeGreaterThanOrEqual(50 * 10);
    expect(admitted).toBeLessThanOrEqual(50 * 10 + 50);
  });

  test('configure keeps the tokens in hand, capped at the new burst', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 10, () => now);
    bucket.configure(2, 2);
    expect([bucket.take(), bucket.take()]).toEqual([0, 0]);
    expect(bucket.take()).toBe(500);
  });
});

function snapshotWith(policies: Record<string, { qpsLimit?: number }>): TopologySnapshot {
  return { namespaces: new Map(Object.entries(policies)) } as unknown as TopologySnapshot;
}

describe('namespace limiter', () => {
  test('each proxy admits its share; over it, RATE_LIMITED with a stable detail', () => {
    let now = 0;
    const limiter = new NamespaceLimiter({ proxyCount: 2, now: () => now, registry: new Registry() });
    const snap = snapshotWith({ noisy: { qpsLimit: 20 }, calm: {} });
    for (let i = 0; i < 10; i++) limiter.admit('noisy', snap);
    let error: unknown;
    try {
      limiter.admit('noisy', snap);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProxyError);
    expect((error as ProxyError).code).toBe('RATE_LIMITED');
    expect((error as ProxyError).detail).toEqual({ namespace: 'noisy', limit: 20, retryAfterSeconds: 1 });
    for (let i = 0; i < 1000; i++) limiter.admit('calm', snap); // no limit, no bucket
    now = 1000;
    expect(() => limiter.admit('noisy', snap)).not.toThrow(); // recovered
  });

  test('a removed limit lifts at once; bad proxy counts are refused', () => {
    const limiter = new NamespaceLimiter({ proxyCount: 1, now: () => 0 });
    limiter.admit('a', snapshotWith({ a: { qpsLimit: 1 } }));
    expect(() => limiter.admit('a', snapshotWith({ a: { qpsLimit: 1 } }))).toThrow('over its limit');
    expect(() => limiter.admit('a', snapshotWith({ a: {} }))).not.toThrow();
    expect(() => new NamespaceLimiter({ proxyCount: 0 })).toThrow('proxyCount');
  });
});
