import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { INVALIDATIONS_PATH, type RegionInvalidation } from '../../shared/regions';
import { httpCall, startProxyProcess, startTestCluster, type HttpAnswer, type StartedProxy, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * The proxy's side of regions on real processes (proxy/region/): two clusters, A (region `a`) and
 * B (region `b`), each with its own etcd, one storage node and one proxy holding the region
 * secret. A's proxy takes batches on POST /v1/region/invalidations as B's nodes would send them
 * (the test is the sender), applies them through the data plane (REGION_INVALIDATE at the key's
 * primary, INVALIDATE with fromRegion for tags and wholesale items) and counts them; GETs with
 * x-shardcache-read-home are forwarded between the two proxies.
 */
jest.setTimeout(120_000);

const SECRET = 'region-ingest-secret-0123456789';
const NS = 'shared';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const item = (seq: number, over: Partial<RegionInvalidation>): RegionInvalidation => ({ seq, ns: NS, key: null, tag: null, at: Date.now(), ...over });

let a: TestCluster;
let b: TestCluster;
let bare: StartedProxy | undefined;
const dirs: string[] = [];
let seq = 0;

async function startRegion(name: string): Promise<TestCluster> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `region-ingest-${name}-`));
  dirs.push(dir);
  return startTestCluster({ shards: 1, perShard: 1, cluster: `ri-${name}`, nodeArgs: ['--data-dir', dir], proxyEnv: { SHARDCACHE_REGION_SECRET: SECRET } });
}

const ctl = (c: TestCluster, ...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);

async function ok(c: TestCluster, ...args: string[]): Promise<string> {
  const r = await ctl(c, ...args);
  if (r.code !== 0) throw new Error(`shardctl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** POSTs a batch from region b to A's proxy. */
function post(body: unknown, auth: string | null = `Bearer ${SECRET}`, base = a.httpUrl): Promise<HttpAnswer> {
  return httpCall(base, 'POST', INVALIDATIONS_PATH, body, auth === null ? {} : { authorization: auth });
}
const batch = (items: RegionInvalidation[], sender = 'b-node-0') => ({ from: 'b', sender, upTo: Date.now(), items });

beforeAll(async () => {
  [a, b] = await Promise.all([startRegion('a'), startRegion('b')]);
  await ok(a, 'region', 'self', 'a');
  await ok(a, 'region', 'add', 'b', b.httpUrl);
  await ok(a, 'region', 'add', 'nowhere', 'http://127.0.0.1:1');
  await ok(b, 'region', 'self', 'b');
  await ok(b, 'region', 'add', 'a', a.httpUrl);
  // The proxies learn their region and peers from etcd.
  await Promise.all([a, b].map((c) => waitFor('the proxy to know its region', async () => (await httpCall(c.adminUrl, 'GET', '/v1/admin/regions')).json?.region !== null, 10_000, 50)));
});

afterAll(async () => {
  await bare?.proc.stop();
  await Promise.all([a?.stop(), b?.stop()]);
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

describe('ingest: auth and body', () => {
  test('a missing or wrong bearer is 401; a proxy without the region secret answers 403 FORBIDDEN', async () => {
    expect((await post(batch([]), null)).status).toBe(401);
    const wrong = await post(batch([]), 'Bearer not-the-region-secret');
    expect(wrong.status).toBe(401);
    expect(wrong.json.error.code).toBe('WRONGPASS');
    bare = await startProxyProcess(a.etcd.endpoint, a.cluster, [], { SHARDCACHE_REGION_SECRET: '' });
    const refused = await post(batch([]), `Bearer ${SECRET}`, bare.httpUrl);
    expect(refused.status).toBe(403);
    expect(refused.json.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/region secret/) });
  });

  test('a body that is not a batch is 400 with the reason; another method is 405', async () => {
    const notJson = await post('{"from":', `Bearer ${SECRET}`);
    expect(notJson.status).toBe(400);
    const badSeq = await post({ from: 'b', sender: 'n', upTo: 1, items: [item(2, { key: 'k' }), item(1, { key: 'j' })] });
    expect(badSeq.status).toBe(400);
    expect(badSeq.json.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/item 1: "seq"/) });
    expect((await httpCall(a.httpUrl, 'GET', INVALIDATIONS_PATH, undefined, { authorization: `Bearer ${SECRET}` })).status).toBe(405);
  });

  test('an empty batch is a heartbeat: ackSeq -1', async () => {
    const r = await post(batch([]));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ackSeq: -1, applied: 0, kept: 0 });
  });
});

describe('ingest: applying items', () => {
  test('a key written here before the invalidation\'s time is removed; one written after it is kept', async () => {
    expect((await a.call('PUT', `/v1/cache/${NS}/old`, { value: 'old' })).status).toBe(201);
    await sleep(80);
    const at = Date.now();
    await sleep(80);
    expect((await a.call('PUT', `/v1/cache/${NS}/new`, { value: 'new' })).status).toBe(201);
    const r = await post(batch([item(++seq, { key: 'old', at }), item(++seq, { key: 'new', at }), item(++seq, { key: 'absent', at })]));
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ackSeq: seq, applied: 1, kept: 2 });
    expect((await a.call('GET', `/v1/cache/${NS}/old`)).json).toEqual({ hit: false });
    expect((await a.call('GET', `/v1/cache/${NS}/new`)).json).toMatchObject({ hit: true, value: 'new' });
  });

  test('a tag item removes the tag\'s keys; a wholesale item the namespace\'s', async () => {
    await a.call('PUT', `/v1/cache/${NS}/t1`, { value: 1, tags: ['group'] });
    await a.call('PUT', `/v1/cache/${NS}/t2`, { value: 2 });
    await a.call('PUT', `/v1/cache/other/w1`, { value: 3 });
    await sleep(50);
    const tag = await post(batch([item(++seq, { tag: 'group' })]));
    expect(tag.json).toEqual({ ackSeq: seq, applied: 1, kept: 0 });
    expect((await a.call('GET', `/v1/cache/${NS}/t1`)).json.hit).toBe(false);
    expect((await a.call('GET', `/v1/cache/${NS}/t2`)).json.hit).toBe(true);
    const wholesale = await post(batch([item(++seq, { ns: 'other', key: 'w1' }), item(++seq, { ns: 'other' })]));
    expect(wholesale.json).toEqual({ ackSeq: seq, applied: 2, kept: 0 });
    expect((await a.call('GET', `/v1/cache/other/w1`)).json.hit).toBe(false);
    expect((await a.call('GET', `/v1/cache/${NS}/t2`)).json.hit).toBe(true);
  });

  test('a near-cached key is dropped from this proxy\'s near cache too', async () => {
    await ok(a, 'hotkey', 'add', NS, 'near', '--mode', 'near-cache', '--ttl-ms', '60000');
    await waitFor('the near-cache rule', async () => (await httpCall(a.adminUrl, 'GET', `/v1/admin/route/${NS}/near`)).json?.hot?.mode === 'near-cache', 10_000, 50);
    await a.call('PUT', `/v1/cache/${NS}/near`, { value: 'v1' });
    expect((await a.call('GET', `/v1/cache/${NS}/near`)).json).toMatchObject({ hit: true, value: 'v1' });
    await sleep(80);
    const r = await post(batch([item(++seq, { key: 'near' })]));
    expect(r.json.applied).toBe(1);
    expect((await a.call('GET', `/v1/cache/${NS}/near`)).json).toEqual({ hit: false });
  });

  test('the figures: Prometheus series and /v1/admin/regions', async () => {
    const metrics = (await httpCall(a.adminUrl, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/shardcache_region_invalidations_total\{from="b",result="applied"\} [1-9]/);
    expect(metrics).toMatch(/shardcache_region_invalidations_total\{from="b",result="kept"\} [1-9]/);
    expect(metrics).toMatch(/shardcache_region_wholesale_total\{from="b"\} 1/);
    expect(metrics).toMatch(/shardcache_region_invalidation_lag_seconds_count\{from="b"\} [1-9]/);
    expect(metrics).toMatch(/shardcache_region_behind_seconds\{from="b"\} \d/);
    const report = (await httpCall(a.adminUrl, 'GET', '/v1/admin/regions')).json;
    expect(report.region).toBe('a');
    expect(report.peers).toEqual([{ name: 'b', endpoint: b.httpUrl }, { name: 'nowhere', endpoint: 'http://127.0.0.1:1' }]);
    expect(report.received).toEqual([expect.objectContaining({ from: 'b', wholesale: 1, senders: 1, lagP50Ms: expect.any(Number), lagP99Ms: expect.any(Number), behindMs: expect.any(Number) })]);
    const status = await ctl(a, 'region', 'status', '--proxy', a.adminUrl);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/region a {2}peers 2/);
    expect(status.stdout).toMatch(/http:\/\/127\.0\.0\.1:\d+ +b +\d+ +\d+ +1 /);
    const doc = JSON.parse((await ctl(a, 'status', '--json')).stdout);
    expect(doc.regions).toMatchObject({ region: 'a', peers: [{ name: 'b', endpoint: b.httpUrl }, { name: 'nowhere' }] });
  });
});

describe('shardctl', () => {
  test('ns set --replicated invalidate --regions warns about names that are not peers; region rules refuse nonsense', async () => {
    const set = await ctl(a, 'ns', 'set', 'repl', '--replicated', 'invalidate', '--regions', 'b,zz');
    expect(set.code).toBe(0);
    expect(set.stderr).toMatch(/warning: --regions names zz, which is not a peer region yet/);
    expect(set.stdout).toMatch(/"replicated":"invalidate","regions":\["b","zz"\]/);
    expect((await ctl(a, 'region', 'add', 'a', 'http://x:1')).stderr).toMatch(/own region/);
    expect((await ctl(a, 'region', 'self', 'b')).stderr).toMatch(/is a peer region/);
    expect((await ctl(a, 'region', 'remove', 'zz')).code).toBe(1);
    const list = JSON.parse((await ctl(a, 'region', 'list', '--json')).stdout);
    expect(list).toMatchObject({ region: 'a', peers: [{ name: 'b', endpoint: b.httpUrl }, { name: 'nowhere', endpoint: 'http://127.0.0.1:1' }] });
  });
});

describe('home reads', () => {
  test('a GET naming peer region b is served by b\'s proxy; naming a, here', async () => {
    await b.call('PUT', `/v1/cache/${NS}/home`, { value: 'from-b' });
    await a.call('PUT', `/v1/cache/${NS}/home`, { value: 'from-a' });
    const there = await a.call('GET', `/v1/cache/${NS}/home`, undefined, { 'x-shardcache-read-home': 'b' });
    expect(there.status).toBe(200);
    expect(there.json).toMatchObject({ hit: true, value: 'from-b' });
    expect(there.headers.get('x-shardcache-served-by')).toBe('b');
    const byQuery = await a.call('GET', `/v1/cache/${NS}/home?readHome=b`);
    expect(byQuery.json.value).toBe('from-b');
    const here = await a.call('GET', `/v1/cache/${NS}/home`, undefined, { 'x-shardcache-read-home': 'a' });
    expect(here.json.value).toBe('from-a');
    expect(here.headers.get('x-shardcache-served-by')).toBeNull();
    const missing = await a.call('GET', `/v1/cache/${NS}/nothing`, undefined, { 'x-shardcache-read-home': 'b' });
    expect(missing.json).toEqual({ hit: false });
  });

  test('an unknown region is 400; an unreachable one 503; the read route wants the secret', async () => {
    const unknown = await a.call('GET', `/v1/cache/${NS}/home`, undefined, { 'x-shardcache-read-home': 'mars' });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.message).toMatch(/unknown region "mars"/);
    const down = await a.call('GET', `/v1/cache/${NS}/home`, undefined, { 'x-shardcache-read-home': 'nowhere' });
    expect(down.status).toBe(503);
    expect(down.json.error.code).toBe('UNAVAILABLE');
    expect((await httpCall(b.httpUrl, 'GET', `/v1/region/read/${NS}/home`)).status).toBe(401);
  });
});
