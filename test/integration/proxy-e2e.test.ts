import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { pipeline } from '../helpers/raw-http';
import { waitFor } from '../helpers/shard-nodes';

jest.setTimeout(50_000);

let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 2 });
}, 40_000);

afterAll(async () => {
  await c?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A key of `ns` that the proxy routes to `shard`. */
async function keyOnShard(ns: string, shard: number, prefix: string): Promise<string> {
  for (let i = 0; ; i++) {
    const route = (await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${prefix}-${i}`)).json()) as { shardId: number };
    if (route.shardId === shard) return `${prefix}-${i}`;
  }
}

test('PUT, GET and DELETE a JSON value', async () => {
  const value = { name: 'ada', langs: ['en', 'fr'], n: 1.5, ok: true, none: null };
  const put = await c.call('PUT', '/v1/cache/users/user%2F1', { value, ttlSeconds: 300 });
  expect(put.status).toBe(201);
  expect(put.json).toEqual({ written: true, version: expect.any(Number), expiresAt: expect.any(Number) });
  expect(put.json.expiresAt).toBeGreaterThan(Date.now() + 290_000);
  const get = await c.call('GET', '/v1/cache/users/user%2F1');
  expect(get.status).toBe(200);
  expect(get.headers.get('content-type')).toBe('application/json');
  expect(get.json).toEqual({ hit: true, value, version: put.json.version, ttlRemainingSeconds: expect.any(Number) });
  expect(get.json.ttlRemainingSeconds).toBeGreaterThan(290);
  expect(await c.call('PUT', '/v1/cache/users/forever', { value: 'x' })).toMatchObject({ status: 201, json: { expiresAt: null } });
  expect((await c.call('GET', '/v1/cache/users/forever')).json).toMatchObject({ value: 'x', ttlRemainingSeconds: null });
  const del = await c.call('DELETE', '/v1/cache/users/user%2F1');
  expect(del.status).toBe(204);
  expect(del.headers.get('x-cache-deleted')).toBe('1');
  expect(await c.call('GET', '/v1/cache/users/user%2F1')).toMatchObject({ status: 200, json: { hit: false } });
  expect((await c.call('DELETE', '/v1/cache/users/user%2F1')).headers.get('x-cache-deleted')).toBe('0');
});

test('TTL expiry: a key written with ttlSeconds 1 is gone after it', async () => {
  await c.call('PUT', '/v1/cache/ttl/short', { value: 1, ttlSeconds: 1 });
  expect((await c.call('GET', '/v1/cache/ttl/short')).json.hit).toBe(true);
  await sleep(1200);
  expect((await c.call('GET', '/v1/cache/ttl/short')).json).toEqual({ hit: false });
  // expire: set a TTL on a key that had none, then 0 deletes it
  await c.call('PUT', '/v1/cache/ttl/later', { value: 2 });
  expect(await c.call('POST', '/v1/cache/expire', { namespace: 'ttl', key: 'later', ttlSeconds: 100 })).toMatchObject({ status: 200, json: { updated: true } });
  expect((await c.call('GET', '/v1/cache/ttl/later')).json.ttlRemainingSeconds).toBeGreaterThan(90);
  expect((await c.call('POST', '/v1/cache/expire', { namespace: 'ttl', key: 'later', ttlSeconds: 0 })).json).toEqual({ updated: true });
  expect((await c.call('GET', '/v1/cache/ttl/later')).json).toEqual({ hit: false });
  expect((await c.call('POST', '/v1/cache/expire', { namespace: 'ttl', key: 'later', ttlSeconds: 5 })).json).toEqual({ updated: false });
});

test('CAS: a write with a stale ifVersion gets 409', async () => {
  const first = await c.call('PUT', '/v1/cache/cas/doc', { value: { v: 1 } });
  const second = await c.call('PUT', '/v1/cache/cas/doc', { value: { v: 2 }, ifVersion: first.json.version });
  expect(second.status).toBe(201);
  const stale = await c.call('PUT', '/v1/cache/cas/doc', { value: { v: 3 }, ifVersion: first.json.version });
  expect(stale.status).toBe(409);
  expect(stale.json.error.code).toBe('VERSION_CONFLICT');
  expect((await c.call('GET', '/v1/cache/cas/doc')).json).toMatchObject({ value: { v: 2 }, version: second.json.version });
});

test('INCR: counters, 64-bit values as strings, errors on non-integers and overflow', async () => {
  expect(await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'hits', delta: 5, ttlSeconds: 60 })).toMatchObject({ status: 200, json: { value: 5 } });
  expect((await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'hits' })).json.value).toBe(6);
  expect((await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'hits', delta: -10 })).json.value).toBe(-4);
  expect((await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'big', delta: '9007199254740993' })).json.value).toBe('9007199254740993');
  const over = await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'big', delta: '9223372036854775807' });
  expect(over).toMatchObject({ status: 422, json: { error: { code: 'OVERFLOW' } } });
  await c.call('PUT', '/v1/cache/ctr/word', { value: 'hello' });
  expect(await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'word', delta: 1 })).toMatchObject({ status: 422, json: { error: { code: 'NOT_INTEGER' } } });
  // A counter created by a JSON write keeps reading back as JSON.
  await c.call('PUT', '/v1/cache/ctr/json', { value: 10 });
  await c.call('POST', '/v1/cache/incr', { namespace: 'ctr', key: 'json', delta: 1 });
  expect((await c.call('GET', '/v1/cache/ctr/json')).json.value).toBe(11);
  // One created by INCR reads back as its digits.
  const raw = await c.call('GET', '/v1/cache/ctr/hits');
  expect(raw.headers.get('content-type')).toBe('application/octet-stream');
  expect(raw.text).toBe('-4');
});

test('batch get across shards keeps the order of the keys', async () => {
  const a = await keyOnShard('batch', 0, 'a');
  const b = await keyOnShard('batch', 1, 'b');
  const a2 = await keyOnShard('batch', 0, 'a2');
  await c.call('PUT', `/v1/cache/batch/${a}`, { value: 'A' });
  await c.call('PUT', `/v1/cache/batch/${b}`, { value: { b: true } });
  await c.call('PUT', `/v1/cache/batch/${a2}?ttlSeconds=30`, Buffer.from([1, 2, 3]), { 'content-type': 'application/octet-stream' });
  const res = await c.call('POST', '/v1/cache/batch/get', { namespace: 'batch', keys: [b, 'missing', a, a2] });
  expect(res.status).toBe(200);
  expect(res.json.results).toEqual([
    { hit: true, value: { b: true }, version: expect.any(Number), ttlRemainingSeconds: null },
    { hit: false },
    { hit: true, value: 'A', version: expect.any(Number), ttlRemainingSeconds: null },
    { hit: true, value: 'AQID', encoding: 'base64', version: expect.any(Number), ttlRemainingSeconds: expect.any(Number) },
  ]);
});

test('tag and namespace invalidation', async () => {
  const red = [await keyOnShard('inv', 0, 'red'), await keyOnShard('inv', 1, 'red')];
  for (const k of red) await c.call('PUT', `/v1/cache/inv/${k}`, { value: k, tags: ['red'] });
  await c.call('PUT', '/v1/cache/inv/plain', { value: 'plain' });
  await c.call('PUT', '/v1/cache/other/keep', { value: 'keep' });
  expect(await c.call('POST', '/v1/cache/invalidate', { namespace: 'inv', tag: 'red' })).toMatchObject({ status: 200, json: { invalidated: true } });
  for (const k of red) expect((await c.call('GET', `/v1/cache/inv/${k}`)).json).toEqual({ hit: false });
  expect((await c.call('GET', '/v1/cache/inv/plain')).json.hit).toBe(true);
  expect((await c.call('POST', '/v1/cache/invalidate', { namespace: 'inv' })).json).toEqual({ invalidated: true });
  expect((await c.call('GET', '/v1/cache/inv/plain')).json).toEqual({ hit: false });
  expect((await c.call('GET', '/v1/cache/other/keep')).json.hit).toBe(true);
  // Binary PUT carries tags in the query.
  await c.call('PUT', '/v1/cache/inv/bin?tags=blue', Buffer.from('b'), { 'content-type': 'application/octet-stream' });
  await c.call('POST', '/v1/cache/invalidate', { namespace: 'inv', tag: 'blue' });
  expect((await c.call('GET', '/v1/cache/inv/bin')).json).toEqual({ hit: false });
});

test('binary values round trip with their headers', async () => {
  const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7) % 256));
  const put = await c.call('PUT', '/v1/cache/blobs/img?ttlSeconds=120', bytes, { 'content-type': 'application/octet-stream' });
  expect(put.status).toBe(201);
  const get = await c.call('GET', '/v1/cache/blobs/img', undefined, { accept: 'application/octet-stream' });
  expect(get.status).toBe(200);
  expect(get.headers.get('content-type')).toBe('application/octet-stream');
  expect(get.headers.get('x-cache-version')).toBe(String(put.json.version));
  expect(Number(get.headers.get('x-cache-ttl'))).toBeGreaterThan(100);
  expect(get.bytes.equals(bytes)).toBe(true);
  // Stored binary comes back as bytes even without Accept.
  expect((await c.call('GET', '/v1/cache/blobs/img')).bytes.equals(bytes)).toBe(true);
  // A replica read is allowed (replication is not built yet, so it may miss).
  expect((await c.call('GET', '/v1/cache/blobs/img?readPreference=replica')).status).toBe(200);
});

test('admin: topology, route, metrics', async () => {
  const topo = (await (await fetch(`${c.adminUrl}/v1/admin/topology`)).json()) as any;
  expect(topo).toMatchObject({ initialised: true, config: { shards: 2 }, slotMap: { ranges: expect.any(Array) } });
  expect(topo.shards).toHaveLength(2);
  for (const shard of topo.shards) expect(shard).toMatchObject({ primary: { nodeId: expect.any(String), epoch: expect.any(Number) }, replicas: [expect.any(String)] });
  const route = (await (await fetch(`${c.adminUrl}/v1/admin/route/users/user%2F1`)).json()) as any;
  expect(route).toEqual({ namespace: 'users', key: 'user/1', slot: expect.any(Number), shardId: expect.any(Number), primary: expect.objectContaining({ addr: expect.any(String) }), replicas: [expect.objectContaining({ nodeId: expect.any(String) })] });
  const metrics = await (await fetch(`${c.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/shardcache_proxy_requests_total\{front="http",op="set",namespace="users",code="ok"\} [1-9]/);
  expect(metrics).toMatch(/shardcache_proxy_requests_total\{front="http",op="set",namespace="cas",code="VERSION_CONFLICT"\} 1/);
  expect(metrics).toMatch(/shardcache_proxy_misses_total\{namespace="ttl"\} [1-9]/);
  expect(metrics).toMatch(/shardcache_proxy_upstream_requests_total/);
  expect(metrics).toMatch(/shardcache_proxy_process_resident_memory_bytes/);
});

const request = (method: string, path: string, body?: string) =>
  `${method} ${path} HTTP/1.1\r\nhost: x\r\n${body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`}\r\n${body ?? ''}`;

test('pipelined HTTP/1.1: the pipelining port answers every request in order; the client port closes such a connection', async () => {
  const proxy = await c.startProxy(['--pipelining-port', '0']);
  try {
    await waitFor('the proxy to route', async () => (await httpCall(proxy.adminUrl, 'GET', '/healthz')).status === 200, 10_000, 50);
    const port = proxy.proc.ready.pipeliningPort as number;
    expect(port).toBeGreaterThan(0);
    const requests = [
      request('PUT', '/v1/cache/piped/a', '{"value":{"n":1}}'),
      request('GET', '/v1/cache/piped/a'),
      request('GET', '/v1/cache/piped/missing'),
      request('POST', '/v1/cache/incr', '{"namespace":"piped","key":"n","delta":5}'),
      request('DELETE', '/v1/cache/piped/a'),
      request('GET', '/v1/cache/piped/a'),
      request('GET', '/nowhere'),
      request('PUT', '/v1/cache/piped/b', '{"value":'),
    ];
    const { responses, closed } = await pipeline(port, requests, requests.length);
    expect(closed).toBe(false);
    expect(responses.map((r) => r.status)).toEqual([201, 200, 200, 200, 204, 200, 404, 400]);
    expect(JSON.parse(responses[1].body)).toMatchObject({ hit: true, value: { n: 1 } });
    expect(JSON.parse(responses[2].body)).toEqual({ hit: false });
    expect(JSON.parse(responses[3].body)).toMatchObject({ value: 5 });
    expect(JSON.parse(responses[5].body)).toEqual({ hit: false });
    expect(JSON.parse(responses[6].body)).toMatchObject({ error: { code: 'NOT_FOUND' } });
    expect(JSON.parse(responses[7].body)).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    // 300 pipelined INCRs of one counter: answered in order, each seeing the ones before it.
    const deep = Array.from({ length: 300 }, () => request('POST', '/v1/cache/incr', '{"namespace":"piped","key":"deep","delta":1}'));
    const deepAnswers = await pipeline(port, deep, deep.length);
    expect(deepAnswers.responses.map((r) => JSON.parse(r.body).value)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    // A connection with more than MAX_PIPELINED requests waiting is closed; the port serves on.
    const flood = await pipeline(port, Array.from({ length: 3000 }, () => request('GET', '/v1/cache/piped/missing')), 3000);
    expect(flood.closed).toBe(true);
    expect(flood.responses.length).toBeLessThan(3000);
    expect((await pipeline(port, [request('GET', '/v1/cache/piped/missing')], 1)).responses.map((r) => r.status)).toEqual([200]);
    // The same requests on the client port (uWS): the connection is closed without every answer.
    const main = await pipeline(Number(new URL(proxy.httpUrl).port), requests, requests.length);
    expect(main.closed).toBe(true);
    expect(main.responses.length).toBeLessThan(requests.length);
  } finally {
    expect(await proxy.proc.stop()).toEqual({ code: 0, signal: null });
  }
});
