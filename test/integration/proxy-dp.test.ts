import { SetCond } from '../../shared/protocol';
import { clusterKeys } from '../../shared/topology/schema';
import type { GetResult } from '../../proxy/backend';
import type { ProxyError } from '../../proxy/errors';
import { keyOnShard, startProxyCluster, type ProxyCluster } from '../helpers/proxy-cluster';

let c: ProxyCluster;
const NS = 'app';
const v = (text: string): Buffer => Buffer.from(text);
const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'OK', (err: ProxyError) => err.code);
const valueOf = (r: GetResult | Error): string | null => (r instanceof Error ? `error:${(r as ProxyError).code}` : r.hit ? r.value.toString() : null);

beforeAll(async () => {
  c = await startProxyCluster({ cluster: 'dp' });
}, 60_000);

afterAll(async () => {
  await c?.close();
});

describe('data plane against a real cluster (2 shards × 2 nodes)', () => {
  test('set / get / delete across both shards, routed to each shard primary with its epoch', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `user:${i}`);
    const shards = new Set(keys.map((k) => c.dp.route(NS, k).shardId));
    expect(shards).toEqual(new Set([0, 1]));
    for (const k of keys) {
      const written = await c.dp.set(NS, k, { value: v(`v-${k}`), flags: 3 });
      expect(written).toEqual({ version: expect.any(Number), expiresAt: 0 });
    }
    for (const k of keys) expect(await c.dp.get(NS, k, 'primary')).toMatchObject({ hit: true, value: v(`v-${k}`), flags: 3 });
    const route = c.dp.route(NS, keys[0]);
    expect(route.primary).toMatchObject({ nodeId: c.primaryOf(route.shardId).nodeId, epoch: expect.any(Number) });
    expect(route.replicas).toHaveLength(1);
    expect(await c.dp.delete(NS, keys[0])).toBe(true);
    expect(await c.dp.delete(NS, keys[0])).toBe(false);
    expect(await c.dp.get(NS, keys[0], 'primary')).toEqual({ hit: false });
  });

  test('mget across shards keeps the request order, with hits and misses', async () => {
    const keys = ['m:a', 'm:b', 'm:c', 'm:d', 'm:e', 'm:f', 'm:g', 'm:h'];
    expect(new Set(keys.map((k) => c.dp.route(NS, k).shardId)).size).toBe(2);
    for (const k of keys.filter((_, i) => i % 2 === 0)) await c.dp.set(NS, k, { value: v(k.toUpperCase()) });
    const results = await c.dp.mget(NS, keys, 'primary');
    expect(results.map(valueOf)).toEqual(['M:A', null, 'M:C', null, 'M:E', null, 'M:G', null]);
  });

  test('incr, expire, conditional and CAS writes, status translation', async () => {
    expect(await c.dp.incr(NS, 'ctr', 5)).toMatchObject({ value: 5 });
    expect(await c.dp.incr(NS, 'ctr', -2)).toMatchObject({ value: 3 });
    await c.dp.set(NS, 'text', { value: v('abc') });
    expect(await codeOf(c.dp.incr(NS, 'text', 1))).toBe('NOT_INTEGER');

    const first = await c.dp.set(NS, 'cas', { value: v('1') });
    const err = await c.dp.set(NS, 'cas', { value: v('2'), ifVersion: first!.version + 100 }).catch((e: ProxyError) => e);
    expect(err).toMatchObject({ code: 'VERSION_CONFLICT', detail: { currentVersion: first!.version } });
    expect(await c.dp.set(NS, 'cas', { value: v('2'), ifVersion: first!.version })).toMatchObject({ version: expect.any(Number) });
    expect(await c.dp.set(NS, 'cas', { value: v('3'), cond: SetCond.NX })).toBeUndefined();

    expect(await c.dp.expire(NS, 'cas', 60)).toBe(true);
    expect(await c.dp.expire(NS, 'nothing-here', 60)).toBe(false);
    await new Promise((r) => setTimeout(r, 120));
    expect(await c.dp.get(NS, 'cas', 'primary')).toEqual({ hit: false });
    await c.dp.set(NS, 'gone', { value: v('x') });
    expect(await c.dp.expire(NS, 'gone', 0)).toBe(true);
    expect(await c.dp.get(NS, 'gone', 'primary')).toEqual({ hit: false });
  });

  test('namespace policy from etcd: default TTL with jitter, max item size refused before sending', async () => {
    const keys = clusterKeys(c.cluster);
    await c.client.put(keys.namespace('pol')).value(JSON.stringify({ defaultTtlSeconds: 100, ttlJitterPct: 10, maxItemBytes: 64 }));
    await c.watcher.waitFor((s) => s.namespaces.has('pol'), 5000);
    const before = Date.now();
    const w = await c.dp.set('pol', 'k', { value: v('small') });
    expect(w!.expiresAt).toBeGreaterThanOrEqual(before + 90_000);
    expect(w!.expiresAt).toBeLessThanOrEqual(Date.now() + 110_000);
    expect((await c.dp.set('pol', 'k2', { value: v('x'), ttlMs: 0 }))!.expiresAt).toBe(0);
    const primary = c.primaryOf(c.dp.route('pol', 'big').shardId);
    const setsBefore = (await primary.stats()).ops.set;
    expect(await codeOf(c.dp.set('pol', 'big', { value: Buffer.alloc(100) }))).toBe('TOO_LARGE');
    expect((await primary.stats()).ops.set).toBe(setsBefore);
  });

  test('invalidate: namespace-wide and tag-wide, on every shard primary', async () => {
    const tagged = ['t:1', 't:2', 't:3', 't:4'];
    const plain = ['p:1', 'p:2', 'p:3', 'p:4'];
    for (const k of tagged) await c.dp.set('inv', k, { value: v(k), tags: ['grp'] });
    for (const k of plain) await c.dp.set('inv', k, { value: v(k) });
    expect(new Set(tagged.map((k) => c.dp.route('inv', k).shardId)).size).toBe(2);
    await c.dp.invalidate('inv', 'grp');
    expect((await c.dp.mget('inv', [...tagged, ...plain], 'primary')).map(valueOf)).toEqual([null, null, null, null, ...plain]);
    await c.dp.invalidate('inv');
    expect((await c.dp.mget('inv', plain, 'primary')).map(valueOf)).toEqual([null, null, null, null]);
  });

  test('replica reads go to the replica; validation errors never leave the proxy', async () => {
    const key = keyOnShard(c.dp, NS, 1, 'rep');
    const replica = c.node(c.dp.route(NS, key).replicas[0].nodeId);
    const before = (await replica.stats()).ops.get;
    await c.dp.get(NS, key, 'replica');
    expect((await replica.stats()).ops.get).toBe(before + 1);
    expect(await codeOf(c.dp.get('bad ns', 'k', 'primary'))).toBe('BAD_REQUEST');
    expect(await codeOf(c.dp.get(NS, '', 'primary'))).toBe('BAD_REQUEST');
    expect(await codeOf(c.dp.mget(NS, [], 'primary'))).toBe('BAD_REQUEST');
  });

  test('1,000 concurrent GETs of one key reach the node as exactly 1 GET', async () => {
    const key = 'hot-key';
    await c.dp.set(NS, key, { value: v('hot') });
    const primary = c.primaryOf(c.dp.route(NS, key).shardId);
    const before = (await primary.stats()).ops.get;
    const results = await Promise.all(Array.from({ length: 1000 }, () => c.dp.get(NS, key, 'primary')));
    const after = (await primary.stats()).ops.get;
    expect(after - before).toBe(1);
    expect(results.every((r) => r.hit && r.value.toString() === 'hot')).toBe(true);
    expect(new Set(results.map((r) => (r as { value: Buffer }).value)).size).toBe(1); // one shared Buffer
    const metrics = await c.registry.getSingleMetricAsString('shardcache_proxy_coalesced_total');
    expect(Number(/shardcache_proxy_coalesced_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(999);
    console.log(`1000 concurrent GETs: node GET count +${after - before}`);
  });

  test('metrics: per-node request counters, latency histogram, breaker state and in-flight gauges', async () => {
    const text = await c.registry.metrics();
    const primary = c.primaryOf(0).nodeId;
    expect(text).toMatch(new RegExp(`shardcache_proxy_upstream_requests_total\\{node="${primary}",op="set",status="OK"\\} \\d+`));
    expect(text).toMatch(new RegExp(`shardcache_proxy_upstream_latency_seconds_count\\{node="${primary}"\\} \\d+`));
    expect(text).toContain(`shardcache_proxy_breaker_state{node="${primary}"} 0`);
    expect(text).toContain(`shardcache_proxy_inflight{node="${primary}"} 0`);
  });
});
