import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { AdminGate, parseBasic } from '../../shared/admin-gate';
import { AdminHttpServer } from '../../shared/admin-http';
import { Authenticator } from '../../shared/authenticator';
import { hashSecret, type UserRecord } from '../../shared/credentials';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { buildSnapshot, type TopologyKv } from '../../shared/topology/snapshot';
import { adminAuthorization } from '../../control-plane/sample/admin-credentials';
import { breakerStates, histogramQuantile, latencyDelta, proxyCounters, proxyRates } from '../../control-plane/sample/rates';
import type { ClusterFrame, NodeSample } from '../../control-plane/sample/sampler';
import { SeriesWindow } from '../../control-plane/sample/series';
import { loadDashboardAssets } from '../../control-plane/service/dashboard/assets';
import { combinedHitRatio, dashboardFrame } from '../../control-plane/service/dashboard/frame';
import { DashboardHub, type FrameSource } from '../../control-plane/service/dashboard/hub';

describe('proxy latency and breakers from /metrics (pure)', () => {
  const metrics = (n: number, slow: number) => [
    `shardcache_proxy_request_duration_seconds_bucket{le="0.001",front="http",op="get"} ${n}`,
    `shardcache_proxy_request_duration_seconds_bucket{le="0.01",front="http",op="get"} ${n + slow}`,
    `shardcache_proxy_request_duration_seconds_bucket{le="+Inf",front="http",op="get"} ${n + slow}`,
    `shardcache_proxy_request_duration_seconds_bucket{le="0.001",front="resp",op="set"} ${n}`,
    `shardcache_proxy_request_duration_seconds_bucket{le="0.01",front="resp",op="set"} ${n}`,
    `shardcache_proxy_request_duration_seconds_bucket{le="+Inf",front="resp",op="set"} ${n}`,
    `shardcache_proxy_requests_total{front="http",op="get",namespace="a",code="ok"} ${2 * n + slow}`,
    'shardcache_proxy_breaker_state{node="n0a"} 0',
    'shardcache_proxy_breaker_state{node="n1a"} 2',
    'shardcache_proxy_breaker_state{node="we\\"ird"} 1',
  ].join('\n');

  test('the histogram is summed over fronts and ops, cumulative by bound', () => {
    expect(proxyCounters(metrics(10, 5)).latency).toEqual([[0.001, 20], [0.01, 25], [Infinity, 25]]);
  });

  test('p99 over the interval: from the buckets\' deltas, linear within the bucket', () => {
    const before = proxyCounters(metrics(10, 0));
    const after = proxyCounters(metrics(1010, 20)); // 2000 fast and 20 slow in the interval
    expect(latencyDelta(before.latency, after.latency)).toEqual([[0.001, 2000], [0.01, 2020], [Infinity, 2020]]);
    const rates = proxyRates(before, after, 1000);
    // rank 0.99 × 2020 = 1999.8 falls in the first bucket: 0.001 × 1999.8/2000 s.
    expect(rates.p99Ms).toBeCloseTo(0.9999, 4);
    const slow = proxyRates(before, proxyCounters(metrics(10, 100)), 1000);
    expect(slow.p99Ms).toBeCloseTo(1 + 9 * (99 / 100), 4); // all 100 in (1 ms, 10 ms]
  });

  test('quantiles: empty is null, the +Inf bucket gives the highest finite bound, a reset counts from zero', () => {
    expect(histogramQuantile(0.99, [])).toBeNull();
    expect(histogramQuantile(0.99, [[0.1, 0], [Infinity, 0]])).toBeNull();
    expect(histogramQuantile(0.5, [[0.1, 0], [1, 0], [Infinity, 10]])).toBe(1);
    expect(latencyDelta([[1, 50], [Infinity, 60]], [[1, 5], [Infinity, 6]])).toEqual([[1, 5], [Infinity, 6]]);
  });

  test('breaker states by node', () => {
    expect(breakerStates(metrics(1, 1))).toEqual({ n0a: 'closed', n1a: 'open', 'we\\"ird': 'half-open' });
  });
});

describe('series window (pure)', () => {
  test('columns stay aligned: new series are back-filled, missing values are null', () => {
    const w = new SeriesWindow(60_000, 100);
    w.push(1000, { 'ops:0': 5 });
    w.push(2000, { 'ops:0': 6, 'ops:1': 1 });
    w.push(3000, { 'ops:1': 2, 'bad': Number.NaN });
    expect(w.toJSON()).toEqual({ t: [1000, 2000, 3000], series: { 'ops:0': [5, 6, null], 'ops:1': [null, 1, 2] } });
  });

  test('bounded by age and count; a time not after the last is dropped; all-null series go', () => {
    const w = new SeriesWindow(10_000, 3);
    w.push(1000, { a: 1, gone: 9 });
    w.push(1000, { a: 100 });
    w.push(2000, { a: 2 });
    w.push(3000, { a: 3 });
    w.push(4000, { a: 4 }); // count: the first goes, and with it the only value of `gone`
    expect(w.toJSON()).toEqual({ t: [2000, 3000, 4000], series: { a: [2, 3, 4] } });
    w.push(13_500, { a: 5 }); // age: before 3500 goes
    expect(w.toJSON()).toEqual({ t: [4000, 13_500], series: { a: [4, 5] } });
    expect(w.size).toBe(2);
  });
});

const keys = clusterKeys('dash');
let revision = 1;
const kv = (key: string, value: unknown): TopologyKv => ({ key, value: JSON.stringify(value), createRevision: ++revision, modRevision: revision });

function node(over: Partial<NodeSample> & Pick<NodeSample, 'nodeId' | 'shardId' | 'role'>): NodeSample {
  return {
    addr: 'h:1', live: true, error: null, items: 10, memoryBytes: 1000, memoryLimitBytes: 10_000, opsTotal: 5, opsPerSec: 100, hitRatio: 0.5, lookupsPerSec: 10,
    evictionsPerSec: 0, expirationsPerSec: 1, replLag: '-', replication: null, namespaces: {}, ...over,
  };
}

function sampleFrame(): ClusterFrame {
  return {
    cluster: 'dash', revision: 42, at: new Date(0).toISOString(), elapsedMs: 1000,
    shards: [{ shardId: 0, primary: 'a', healthy: true, problems: [] }, { shardId: 1, primary: 'c', healthy: true, problems: [] }],
    nodes: [
      node({ nodeId: 'a', shardId: 0, role: 'primary', hitRatio: 1, lookupsPerSec: 30, namespaces: { app: { items: 7, bytes: 700, quotaBytes: null }, '<b>x</b>': { items: 1, bytes: 1, quotaBytes: null } } }),
      node({ nodeId: 'b', shardId: 0, role: 'replica', hitRatio: 0, lookupsPerSec: 10, replication: { offset: 5, lagBytes: 12, lagMs: 3 }, namespaces: { app: { items: 7, bytes: 700, quotaBytes: null } } }),
      node({ nodeId: 'c', shardId: 1, role: 'primary', error: 'connect ECONNREFUSED', opsPerSec: null, hitRatio: null, lookupsPerSec: null, namespaces: null, memoryBytes: null }),
    ],
    proxies: [{ url: 'http://p:1', error: null, requestsTotal: 10, requestsPerSec: 200, errorRate: 0.1, errorsPerSec: 20, p99Ms: 2.5, breakers: { c: 'open' } }],
    hotKeys: [{ namespace: 'app', key: 'hot', qps: 900, mode: 'near-cache', proxies: 1 }, { namespace: 'app', key: 'cold', qps: 10, mode: 'none', proxies: 1 }],
  };
}

describe('dashboard frame (pure)', () => {
  const topology = buildSnapshot(keys, [
    kv(keys.config, { slots: 16384, shards: 2, replicas: 1, leaseTtlSeconds: 3, createdAt: 1 }), kv(keys.slotmap, evenSlotMap(2)),
    kv(keys.namespace('app'), { defaultTtlSeconds: 60, quotaBytes: 4096 }), kv(keys.namespace('idle'), {}),
    kv(keys.hotkey('app', 'hot'), { mode: 'near-cache', ttlMs: 500 }),
    kv(keys.hotkey('app', 'lapsed'), { mode: 'replica-spread', expiresAt: 500 }),
    kv(keys.hotkey('app', 'quiet'), { mode: 'copies', copies: 3, source: 'auto', expiresAt: 9_000 }),
  ], 50);
  const migrations = {
    driver: { leader: true, running: ['m1'] },
    migrations: [{
      id: 'm1', from: 0, to: 1, ranges: [[0, 99]] as Array<[number, number]>, state: 'copying' as const, maxBytesPerSec: 0, createdAt: 1, updatedAt: 2,
      progress: { slotsTotal: 100, slotsDone: 40, keys: 1234, bytes: 5678, coldSlots: 0, freezeMsMax: 12.6, attempts: 1 },
    }],
  };

  test('joins the sample with etcd: health (a primary not answering is unhealthy now), rules, policies with usage, migrations, chart point', () => {
    const f = dashboardFrame({ cluster: 'dash', frame: sampleFrame(), error: undefined, topology, migrations, now: 1000 });
    expect(f.summary).toMatchObject({ shards: 2, healthyShards: 1, unhealthyShards: 1, nodes: 3, liveNodes: 2, slotMapEpoch: 1, proxies: 1, opsPerSec: 200, memoryBytes: 1000, memoryLimitBytes: 20_000, requestsPerSec: 200, errorRate: 0.1 });
    expect(f.summary.hitRatio).toBeCloseTo(0.75);
    expect(f.shards[0]).toMatchObject({ shardId: 0, healthy: true, opsPerSec: 200, items: 10, expirationsPerSec: 1, replLagBytes: 12, replLagMs: 3 });
    expect(f.shards[0].hitRatio).toBeCloseTo(0.75);
    expect(f.shards[1]).toMatchObject({ shardId: 1, healthy: false, problems: ['primary c not answering: connect ECONNREFUSED'], opsPerSec: null });
    expect(f.hotKeys.map((h) => [h.key, h.rule?.mode ?? null])).toEqual([['hot', 'near-cache'], ['cold', null]]);
    expect(f.rules.map((r) => [r.key, r.source])).toEqual([['hot', 'operator'], ['quiet', 'auto']]); // `lapsed` expired at 500
    expect(f.namespaces).toEqual([
      { name: '<b>x</b>', policy: null, items: 1, bytes: 1 },
      { name: 'app', policy: { defaultTtlSeconds: 60, quotaBytes: 4096 }, items: 7, bytes: 700 }, // primaries only
      { name: 'idle', policy: {}, items: 0, bytes: 0 },
    ]);
    expect(f.migrations).toMatchObject({ leader: true, running: ['m1'], list: [{ id: 'm1', slots: '0-99', slotsDone: 40, slotsTotal: 100, keys: 1234 }] });
    expect(f.point).toEqual({ t: 1000, values: { 'ops:0': 200, 'hit:0': f.shards[0].hitRatio, 'mem:0': 1000, 'ops:1': null, 'hit:1': null, 'mem:1': null, 'req:http://p:1': 200, 'err:http://p:1': 20 } });
  });

  test('a failed sample: the error, the last good figures, no chart point', () => {
    const f = dashboardFrame({ cluster: 'dash', frame: sampleFrame(), error: 'etcd did not answer within 2000 ms', topology, migrations, now: 2000 });
    expect(f.error).toBe('etcd did not answer within 2000 ms');
    expect(f.shards).toHaveLength(2);
    expect(f.point).toEqual({ t: 2000, values: {} });
    const empty = dashboardFrame({ cluster: 'dash', frame: undefined, error: 'cluster "dash" is not initialised', topology: undefined, migrations: { driver: { leader: false, running: [] }, migrations: [] }, now: 3 });
    expect(empty).toMatchObject({ revision: null, shards: [], summary: { shards: 0, opsPerSec: null, hitRatio: null } });
  });

  test('hit ratios combine by lookups', () => {
    expect(combinedHitRatio([{ hitRatio: 1, lookupsPerSec: 1 }, { hitRatio: 0, lookupsPerSec: 3 }])).toBe(0.25);
    expect(combinedHitRatio([{ hitRatio: null, lookupsPerSec: 0 }])).toBeNull();
  });
});

/** A sampler whose frames the test releases one by one. */
class FakeSampler implements FrameSource {
  calls = 0;
  closes = 0;
  fail: string | undefined;
  async next(): Promise<ClusterFrame> {
    this.calls += 1;
    if (this.fail !== undefined) throw new Error(this.fail);
    return { ...sampleFrame(), elapsedMs: this.calls === 1 ? null : 1000 };
  }
  async close(): Promise<void> {
    this.closes += 1;
  }
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('dashboard hub: one sampler for every client, running only while one is subscribed', () => {
  function hub(sampler: FakeSampler, intervalMs = 20) {
    let t = 0;
    return new DashboardHub({
      sampler, intervalMs,
      compose: (frame, error, now) => dashboardFrame({ cluster: 'dash', frame, error, topology: undefined, migrations: { driver: { leader: false, running: [] }, migrations: [] }, now }),
      now: () => (t += 10),
    });
  }
  const client = () => {
    const got: Array<{ event?: string; data: string }> = [];
    let closed = 0;
    return { got, closed: () => closed, sub: { send: (data: string, event?: string) => (got.push({ event, data }), true), close: () => void (closed += 1) } };
  };

  test('N clients share one sample per interval; the loop stops after the last leaves and starts again', async () => {
    const sampler = new FakeSampler();
    const h = hub(sampler);
    expect(h.running).toBe(false);
    const a = client();
    const b = client();
    const leaveA = h.subscribe(a.sub);
    const leaveB = h.subscribe(b.sub);
    expect(a.got[0].event).toBe('history');
    await tick(110);
    const frames = a.got.filter((m) => m.event === undefined).length;
    expect(frames).toBeGreaterThanOrEqual(3);
    expect(sampler.calls).toBeLessThanOrEqual(frames + 1); // not one sample per client
    expect(b.got.filter((m) => m.event === undefined).map((m) => m.data)).toEqual(a.got.filter((m) => m.event === undefined).map((m) => m.data).slice(-b.got.filter((m) => m.event === undefined).length));
    leaveA();
    expect(h.running).toBe(true);
    leaveB();
    await tick(40);
    expect(h.running).toBe(false);
    expect(sampler.closes).toBe(1);
    const calls = sampler.calls;
    await tick(60);
    expect(sampler.calls).toBe(calls); // idle: no sampling at all
    // A late client first gets the history (the charts' points so far) and the latest frame.
    const c = client();
    h.subscribe(c.sub);
    expect(c.got[0].event).toBe('history');
    expect(JSON.parse(c.got[0].data).t.length).toBeGreaterThanOrEqual(3);
    expect(c.got[1].event).toBeUndefined();
    await h.close();
    expect(c.closed()).toBe(1);
    expect(h.running).toBe(false);
  });

  test('a client that does not keep up is dropped; a failed sample is a frame with its error', async () => {
    const sampler = new FakeSampler();
    const h = hub(sampler);
    let sends = 0;
    let closed = false;
    h.subscribe({ send: () => ++sends < 3, close: () => void (closed = true) });
    await tick(80);
    expect(closed).toBe(true);
    expect(h.clients).toBe(0);
    await tick(40);
    expect(h.running).toBe(false);
    const c = client();
    sampler.fail = 'etcd did not answer within 2000 ms';
    h.subscribe(c.sub);
    await tick(30);
    const last = JSON.parse(c.got.at(-1)!.data);
    expect(last.error).toBe('etcd did not answer within 2000 ms');
    await h.close();
  });

  test('snapshot: runs the loop for a frame with rates and stops; concurrent callers share the samples', async () => {
    const sampler = new FakeSampler();
    const h = hub(sampler);
    const [x, y] = await Promise.all([h.snapshot(), h.snapshot()]);
    expect(x).toBe(y);
    expect(x.elapsedMs).toBe(1000);
    expect(sampler.calls).toBe(2);
    await tick(40);
    expect(h.running).toBe(false);
    await h.close();
    await expect(h.snapshot()).rejects.toThrow(/shutting down/);
  });
});

describe('admin HTTP event streams', () => {
  const get = (port: number, p: string, headers: Record<string, string> = {}) => new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; res: http.IncomingMessage }>((resolve, reject) => {
    http.get({ port, path: p, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        if (res.headers['content-type']?.startsWith('text/event-stream') && body.endsWith('\ndata: hello\n\n')) resolve({ status: res.statusCode!, headers: res.headers, body, res });
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, res }));
    }).on('error', reject);
  });

  test('bounded streams (503 beyond), events framed, every stream ended on close', async () => {
    const closed: number[] = [];
    let n = 0;
    const server = new AdminHttpServer({
      registry: new Registry(), routes: {}, maxStreams: 2,
      streams: { '/events': (s) => { const id = ++n; s.onClose(() => closed.push(id)); s.send('hello\nworld', 'greeting'); s.send('hello'); } },
    });
    const port = await server.listen(0, '127.0.0.1');
    try {
      await streams(server, port, closed);
    } finally {
      await server.close();
    }
  });

  async function streams(server: AdminHttpServer, port: number, closed: number[]): Promise<void> {
    const a = await get(port, '/events');
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(a.body).toBe('retry: 2000\n\nevent: greeting\ndata: hello\ndata: world\n\ndata: hello\n\n');
    const b = await get(port, '/events');
    const c = await get(port, '/events');
    expect(c.status).toBe(503);
    expect(JSON.parse(c.body)).toMatchObject({ error: { code: 'TOO_MANY_STREAMS' } });
    expect(server.openStreams).toBe(2);
    // A client that leaves frees its place.
    a.res.destroy();
    await tick(50);
    expect(closed).toEqual([1]);
    const d = await get(port, '/events');
    expect(d.status).toBe(200);
    const ends = [b, d].map((x) => new Promise((r) => x.res.on('end', r)));
    await server.close();
    await Promise.all(ends);
    expect(closed.sort()).toEqual([1, 2, 3]); // the refused one never reached the route
    expect(server.openStreams).toBe(0);
  }
});

describe('admin gate with Basic (the dashboard in a browser)', () => {
  async function gate(basic: boolean) {
    const admin: UserRecord = { secrets: [await hashSecret('pw-0123456789', { N: 1024, r: 8, p: 1 })], grants: [{ pattern: '*', level: 'admin' }], createdAt: 0, updatedAt: 0 };
    const auth = new Authenticator({ users: () => new Map([['admin', admin]]), enabled: () => true });
    return new AdminGate(auth, ['/healthz'], { basic });
  }
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

  test('Basic credentials pass, a 401 asks for Bearer and Basic; without the option only Bearer', async () => {
    const g = await gate(true);
    expect(parseBasic(basic('admin:pw-0123456789'))).toEqual({ user: 'admin', secret: 'pw-0123456789' });
    expect(parseBasic('Basic !!!')).toBeUndefined();
    expect(await g.check(basic('admin:pw-0123456789'), '/')).toBeUndefined();
    expect(await g.check('Bearer admin:pw-0123456789', '/')).toBeUndefined();
    expect(await g.check(basic('admin:wrong'), '/')).toMatchObject({ status: 401, body: { error: { code: 'WRONGPASS' } } });
    const none = await g.check(undefined, '/');
    expect(none).toMatchObject({ status: 401, headers: { 'www-authenticate': ['Bearer realm="shardcache-admin"', 'Basic realm="shardcache-admin", charset="UTF-8"'] } });
    const plain = await gate(false);
    expect(await plain.check(basic('admin:pw-0123456789'), '/')).toMatchObject({ status: 401, headers: { 'www-authenticate': 'Bearer realm="shardcache-admin"' } });
  });
});

describe('admin credentials for the proxies\' admin ports', () => {
  test('flags win over the environment; a password alone means the user admin; a user alone is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'admin-cred-'));
    const file = path.join(dir, 'pw');
    fs.writeFileSync(file, 'from-file\nsecond line\n');
    try {
      expect(adminAuthorization({}, {})).toBeUndefined();
      expect(adminAuthorization({}, { SHARDCACHE_ADMIN_PASSWORD: 'env-pw' })).toBe('Bearer admin:env-pw');
      expect(adminAuthorization({ adminUser: 'ops', adminPasswordFile: file }, { SHARDCACHE_ADMIN_PASSWORD: 'env-pw', SHARDCACHE_ADMIN_USER: 'x' })).toBe('Bearer ops:from-file');
      expect(adminAuthorization({}, { SHARDCACHE_ADMIN_USER: 'x', SHARDCACHE_ADMIN_PASSWORD_FILE: file })).toBe('Bearer x:from-file');
      expect(() => adminAuthorization({ adminUser: 'ops' }, {})).toThrow('--admin-user ops: needs a password: set SHARDCACHE_ADMIN_PASSWORD or pass --admin-password-file <file>');
      expect(() => adminAuthorization({ adminPasswordFile: path.join(dir, 'missing') }, {})).toThrow(/--admin-password-file: cannot read .*ENOENT/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dashboard assets', () => {
  test('the page names versioned assets; uPlot comes from node_modules; the page holds no inline script', () => {
    const assets = loadDashboardAssets();
    const page = (assets.page as { text: string }).text;
    const paths = Object.keys(assets.files);
    expect(paths).toHaveLength(4);
    for (const p of paths) {
      expect(page).toContain(`"${p}"`);
      expect(assets.files[p]).toMatchObject({ status: 200, headers: { 'cache-control': 'public, max-age=31536000, immutable' } });
    }
    expect(paths.some((p) => /^\/assets\/uplot-\d+\.\d+\.\d+\/uPlot\.iife\.min\.js$/.test(p))).toBe(true);
    expect(page).not.toMatch(/<script>(?!<\/script>)/);
    expect(page).not.toContain('{{');
    // The page's script writes cluster data as text only.
    const js = (assets.files[paths.find((p) => /dashboard\.[0-9a-f]+\.js$/.test(p))!] as { text: string }).text;
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
