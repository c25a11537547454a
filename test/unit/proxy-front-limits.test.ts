import { Registry } from 'prom-client';
import { ProxyError } from '../../proxy/errors';
import { NamespaceLimiter } from '../../proxy/limits/namespace-limiter';
import { TokenBucket } from '../../proxy/limits/token-bucket';
import type { TopologySnapshot } from '../../shared/topology/snapshot';

/** Batches are charged one token per key, all or none. */
function snapshotWith(policies: Record<string, { qpsLimit?: number }>): TopologySnapshot {
  return { namespaces: new Map(Object.entries(policies)) } as unknown as TopologySnapshot;
}

function refusal(run: () => void): ProxyError {
  try {
    run();
  } catch (err) {
    if (err instanceof ProxyError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('token bucket: takes of several tokens', () => {
  test('a take of n tokens takes n at once, or nothing', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 10, () => now);
    expect(bucket.take(7)).toBe(0);
    expect(bucket.take(5)).toBe(200); // 3 left: 2 more tokens at 10/s
    expect(bucket.take(3)).toBe(0); // the refused take took nothing
    expect(bucket.take(1)).toBe(100);
    now = 500; // 5 tokens
    expect(bucket.take(5)).toBe(0);
  });

  test('a take larger than the burst can never be admitted', () => {
    let now = 0;
    const bucket = new TokenBucket(10, 10, () => now);
    expect(bucket.take(11)).toBe(Infinity);
    now = 60_000;
    expect(bucket.take(11)).toBe(Infinity);
    expect(bucket.take(10)).toBe(0); // and it took nothing
    expect(bucket.burst).toBe(10);
  });

  test('take() without a count still takes one', () => {
    const bucket = new TokenBucket(1, 2, () => 0);
    expect([bucket.take(), bucket.take(), bucket.take() > 0]).toEqual([0, 0, true]);
  });
});

describe('namespace limiter: one token per key', () => {
  test('an MGET of 50 keys under a limit of 10 per second is refused whole, and takes nothing', () => {
    const registry = new Registry();
    const limiter = new NamespaceLimiter({ proxyCount: 1, now: () => 0, registry });
    const snap = snapshotWith({ limited: { qpsLimit: 10 } });
    const err = refusal(() => limiter.admit('limited', snap, 50));
    expect(err.code).toBe('RATE_LIMITED');
    expect(err.detail).toEqual({ namespace: 'limited', limit: 10, keys: 50, maxKeys: 10 });
    expect(err.message).toContain('split it');
    // Nothing was charged: the full second's 10 tokens are still there.
    for (let i = 0; i < 10; i++) limiter.admit('limited', snap);
    expect(refusal(() => limiter.admit('limited', snap)).detail).toEqual({ namespace: 'limited', limit: 10, retryAfterSeconds: 1 });
  });

  test('a batch within the burst takes its keys; one that does not fit now waits with Retry-After', () => {
    let now = 0;
    const limiter = new NamespaceLimiter({ proxyCount: 1, now: () => now });
    const snap = snapshotWith({ ns: { qpsLimit: 10 } });
    limiter.admit('ns', snap, 6);
    const err = refusal(() => limiter.admit('ns', snap, 6));
    expect(err.detail).toEqual({ namespace: 'ns', limit: 10, retryAfterSeconds: 1, keys: 6 });
    limiter.admit('ns', snap, 4); // the refused batch left the 4 tokens in place
    now = 600; // 6 more
    expect(() => limiter.admit('ns', snap, 6)).not.toThrow();
  });

  test('the per-proxy share bounds a batch; zero or one key costs one token', () => {
    const limiter = new NamespaceLimiter({ proxyCount: 4, now: () => 0 });
    const snap = snapshotWith({ ns: { qpsLimit: 10 } });
    expect(refusal(() => limiter.admit('ns', snap, 3)).detail).toMatchObject({ keys: 3, maxKeys: 2 }); // share 2.5
    limiter.admit('ns', snap, 0);
    limiter.admit('ns', snap, 1);
    expect(refusal(() => limiter.admit('ns', snap, 1)).code).toBe('RATE_LIMITED');
  });

  test('namespaces without a limit are never charged', () => {
    const limiter = new NamespaceLimiter({ proxyCount: 1, now: () => 0 });
    expect(() => limiter.admit('free', snapshotWith({ free: {} }), 1_000_000)).not.toThrow();
  });

  test('refusals are counted in shardcache_proxy_rate_limited_total', async () => {
    const registry = new Registry();
    const limiter = new NamespaceLimiter({ proxyCount: 1, now: () => 0, registry });
    const snap = snapshotWith({ ns: { qpsLimit: 1 } });
    refusal(() => limiter.admit('ns', snap, 2));
    expect(await registry.metrics()).toContain('shardcache_proxy_rate_limited_total{namespace="ns"} 1');
  });
});
