import Redis from 'ioredis';
import { ShardcacheClient } from '../../client/ws-client';
import { httpCall, startTestCluster, type HttpAnswer, type TestCluster } from '../helpers/cluster';
import { setPolicy, TestOrigin } from '../helpers/origin';
import { waitFor } from '../helpers/shard-nodes';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Read-through policies end to end: a real origin, etcd, a storage node and a proxy as processes. */
describe('read-through and namespace limits', () => {
  let c: TestCluster;
  let origin: TestOrigin;
  const get = (ns: string, key: string): Promise<HttpAnswer> => c.call('GET', `/v1/cache/${ns}/${encodeURIComponent(key)}`);

  beforeAll(async () => {
    origin = await TestOrigin.start(200);
    c = await startTestCluster({ shards: 1, perShard: 1, cluster: 'rt' });
    const set = (ns: string, flags: string[], check: (p: any) => boolean): Promise<void> => setPolicy(c.etcd.endpoint, c.cluster, ns, flags, [c.adminUrl], check);
    await set('swr', ['--origin', origin.template, '--default-ttl', '1', '--stale-while-revalidate', '60'], (p) => p.staleWhileRevalidateSeconds === 60);
    await set('neg', ['--origin', origin.template, '--default-ttl', '60', '--negative-ttl', '1'], (p) => p.negativeTtlSeconds === 1);
    await set('lease', ['--origin', origin.template, '--fill-lease-ms', '20000', '--fill-wait-ms', '8000', '--origin-timeout-ms', '500'], (p) => p.fillLeaseMs === 20000);
    await set('limited', ['--qps-limit', '5'], (p) => p.qpsLimit === 5);
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
    await origin?.close();
  });

  test('stale-while-revalidate: after the soft TTL the stale value is served while exactly one background refresh runs', async () => {
    const first = await get('swr', 'a');
    expect(first.json).toMatchObject({ hit: true, value: { key: 'a', load: 1 } });
    expect(first.headers.get('x-shardcache-stale')).toBeNull();
    await sleep(1100); // soft TTL (1 s) passed; the stale window is 60 s
    origin.delays.set('a', 1500); // the refresh stays in flight while the stale reads are answered
    const during = await Promise.all(Array.from({ length: 20 }, () => get('swr', 'a')));
    for (const a of during) {
      expect(a.json).toMatchObject({ hit: true, value: { load: 1 } });
      expect(a.headers.get('x-shardcache-stale')).toBe('revalidating');
    }
    const fresh = await waitFor('the refreshed value', async () => {
      const a = await get('swr', 'a');
      return a.json.value.load === 2 ? a : undefined;
    }, 8000, 20);
    expect(fresh.headers.get('x-shardcache-stale')).toBeNull();
    expect(origin.count('a')).toBe(2);
  });

  test('negative caching: an origin 404 is a miss, cached for the negative TTL', async () => {
    origin.modes.set('gone', 'missing');
    const first = await get('neg', 'gone');
    expect(first.status).toBe(200);
    expect(first.json).toEqual({ hit: false });
    expect((await get('neg', 'gone')).json).toEqual({ hit: false });
    expect(origin.count('gone')).toBe(1);
    origin.modes.set('gone', 'value');
    await sleep(1100);
    const later = await get('neg', 'gone');
    expect(later.json).toMatchObject({ hit: true, value: { key: 'gone', load: 2 } });
    expect(origin.count('gone')).toBe(2);
  });

  test('stale-on-error: a failing origin with a stale value at hand serves it and says so', async () => {
    expect((await get('swr', 'flaky')).json.value.load).toBe(1);
    origin.modes.set('flaky', 'error');
    await sleep(1100);
    const stale = await get('swr', 'flaky');
    expect(stale.json.value.load).toBe(1);
    const marked = await waitFor('a stale value marked origin-error', async () => {
      const a = await get('swr', 'flaky');
      return a.headers.get('x-shardcache-stale') === 'origin-error' ? a : undefined;
    }, 5000, 20);
    expect(marked.status).toBe(200);
    expect(marked.json).toMatchObject({ hit: true, value: { key: 'flaky', load: 1 } });
  });

  test('an origin failure without a stale value is 502 ORIGIN_ERROR; a timeout is 504 ORIGIN_TIMEOUT', async () => {
    origin.modes.set('broken', 'error');
    const broken = await get('lease', 'broken');
    expect(broken.status).toBe(502);
    expect(broken.json.error).toMatchObject({ code: 'ORIGIN_ERROR', message: 'loading lease/broken failed: origin answered 500' });
    origin.modes.set('slow', 'hang');
    const slow = await get('lease', 'slow');
    expect(slow.status).toBe(504);
    expect(slow.json.error).toMatchObject({ code: 'ORIGIN_TIMEOUT', message: 'origin of lease did not answer within 500 ms' });
  });

  test('a failed load releases the lease: the next miss loads at once, not after the lease TTL', async () => {
    // The lease is 20 s and a waiter gives up after 8 s: without the release, the second GET
    // would wait for the lease and answer 504.
    origin.modes.set('retry', 'error');
    expect((await get('lease', 'retry')).status).toBe(502);
    origin.modes.set('retry', 'value');
    const next = await get('lease', 'retry');
    expect(next.status).toBe(200);
    expect(next.json).toMatchObject({ hit: true, value: { key: 'retry', load: 2 } });
    expect(origin.count('retry')).toBe(2);
  });

  test('read-through applies to WebSocket and RESP GETs too', async () => {
    const ws = await ShardcacheClient.connect(c.wsUrl);
    const redis = new Redis({ host: '127.0.0.1', port: c.respPort, password: 'neg', maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      const item = await ws.get<{ key: string; load: number }>('neg', 'over-ws');
      expect(item).toMatchObject({ hit: true, value: { key: 'over-ws', load: 1 } });
      await redis.connect();
      expect(JSON.parse((await redis.get('over-resp'))!)).toEqual({ key: 'over-resp', load: 1 });
      expect(await redis.get('over-resp')).not.toBeNull();
      expect(origin.count('over-resp')).toBe(1);
    } finally {
      await ws.close();
      redis.disconnect();
    }
  });

  test('cache-aside over the real WebSocket client: one loader call for concurrent misses, then hits', async () => {
    const ws = await ShardcacheClient.connect(c.wsUrl);
    try {
      const users = ws.cacheAside('aside');
      let loads = 0;
      const loader = async (key: string): Promise<{ id: string }> => {
        loads++;
        await sleep(50);
        return { id: key };
      };
      const values = await Promise.all(Array.from({ length: 50 }, () => users.getOrLoad('u:1', loader, { ttlMs: 60_000 })));
      expect(values.every((v) => v?.id === 'u:1')).toBe(true);
      expect(await ws.cacheAside('aside').getOrLoad('u:1', loader, { ttlMs: 60_000 })).toEqual({ id: 'u:1' }); // a new instance reads the cache
      expect(loads).toBe(1);
      const stored = await ws.get<{ $sc: number; v: unknown; soft: number }>('aside', 'u:1');
      expect(stored).toMatchObject({ hit: true, value: { $sc: 1, v: { id: 'u:1' } } });
    } finally {
      await ws.close();
    }
  });

  test('a namespace over its QPS limit gets 429 RATE_LIMITED with Retry-After, then recovers', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, () => get('limited', 'k')));
    const limited = answers.filter((a) => a.status === 429);
    // A burst of 5 plus what refills (5 per second) while the 20 requests are served.
    expect(answers.filter((a) => a.status === 200).length).toBeLessThanOrEqual(10);
    expect(limited.length).toBeGreaterThanOrEqual(10);
    expect(limited[0].headers.get('retry-after')).toBe('1');
    expect(limited[0].json).toEqual({
      error: { code: 'RATE_LIMITED', message: 'namespace limited is over its limit of 5 requests per second', detail: { namespace: 'limited', limit: 5, retryAfterSeconds: 1 } },
    });
    // Other namespaces are not affected.
    expect((await get('neg', 'over-ws')).status).toBe(200);
    const redis = new Redis({ host: '127.0.0.1', port: c.respPort, password: 'limited', maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await redis.connect();
      // Tokens refill at 5 per second meanwhile: of 20 GETs at once, most are refused.
      const settled = await Promise.allSettled(Array.from({ length: 20 }, () => redis.get('k')));
      const refused = settled.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused.length).toBeGreaterThanOrEqual(10);
      expect(String(refused[0].reason)).toContain('ERR namespace limited is over its limit of 5 requests per second');
    } finally {
      redis.disconnect();
    }
    await sleep(1100);
    expect((await get('limited', 'k')).status).toBe(200);
  });
});
