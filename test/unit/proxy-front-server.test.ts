import net from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';
import { ProxyAdminServer } from '../../proxy/admin/server';
import { startFront, type RunningFront } from '../../proxy/front/app';
import { Dispatcher } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import { ShardcacheClient, ShardcacheRequestError } from '../../client/ws-client';
import { FakeBackend } from './proxy-front-fake-backend';

const log = pino({ level: 'silent' });
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
let backend: FakeBackend;
let registry: Registry;
let front: RunningFront;
let admin: ProxyAdminServer;
let base: string;
let adminBase: string;

beforeAll(async () => {
  backend = new FakeBackend();
  registry = new Registry();
  const metrics = new FrontMetrics(registry, 3);
  const dispatcher = new Dispatcher({ backend, metrics, log });
  front = await startFront({ dispatcher, metrics, log, maxBodyBytes: 64 * 1024, wsMaxBufferedBytes: 256 * 1024, wsMaxInFlight: 2000 }, '127.0.0.1', 0);
  admin = new ProxyAdminServer({ registry, snapshot: () => backend.snapshot, route: (ns, k) => backend.route(ns, k), log });
  base = `http://127.0.0.1:${front.port}`;
  adminBase = `http://127.0.0.1:${await admin.listen(0, '127.0.0.1')}`;
});

afterAll(async () => {
  await front.close();
  await admin.close();
});

const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const init: RequestInit = { method, headers: { 'content-type': 'application/json', ...headers } };
  if (body !== undefined) init.body = typeof body === 'string' || body instanceof Uint8Array ? (body as NonNullable<RequestInit['body']>) : JSON.stringify(body);
  const res = await fetch(`${base}${path}`, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
};

/** Sends raw bytes on a fresh socket and resolves with everything the server sent until it closed. */
function raw(request: string | Buffer, extra?: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(front.port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', (err) => ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => resolve(received));
    socket.write(request);
    if (extra) socket.write(extra);
  });
}

describe('HTTP/JSON front', () => {
  test('PUT, GET, DELETE of a JSON value', async () => {
    const put = await call('PUT', '/v1/cache/users/u%2F1', { value: { name: 'ada', n: [1, 2] }, ttlSeconds: 60, tags: ['team'] });
    expect(put).toMatchObject({ status: 201, json: { written: true, version: expect.any(Number), expiresAt: expect.any(Number) } });
    const get = await call('GET', '/v1/cache/users/u%2F1');
    expect(get.status).toBe(200);
    expect(get.json).toEqual({ hit: true, value: { name: 'ada', n: [1, 2] }, version: put.json.version, ttlRemainingSeconds: expect.any(Number) });
    expect(get.json.ttlRemainingSeconds).toBeGreaterThan(59);
    expect(backend.entries.has('users\nu/1')).toBe(true);
    expect(await call('DELETE', '/v1/cache/users/u%2F1')).toMatchObject({ status: 204, text: '' });
    expect(await call('GET', '/v1/cache/users/u%2F1')).toMatchObject({ status: 200, json: { hit: false } });
  });

  test('binary values: octet-stream in, bytes and headers out', async () => {
    const bytes = Buffer.from([0, 1, 2, 250, 255]);
    const put = await call('PUT', '/v1/cache/blobs/b?ttlSeconds=30', bytes, { 'content-type': 'application/octet-stream' });
    expect(put.status).toBe(201);
    const res = await fetch(`${base}/v1/cache/blobs/b`);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('x-cache-version')).toBe(String(put.json.version));
    expect(Number(res.headers.get('x-cache-ttl'))).toBeGreaterThan(29);
    expect(Buffer.from(await res.arrayBuffer())).toEqual(bytes);
    // A JSON value read with Accept: application/octet-stream comes as its JSON bytes.
    await call('PUT', '/v1/cache/blobs/j', { value: [1] });
    const asBytes = await fetch(`${base}/v1/cache/blobs/j`, { headers: { accept: 'application/octet-stream' } });
    expect(asBytes.headers.get('x-cache-format')).toBe('json');
    expect(await asBytes.text()).toBe('[1]');
  });

  test('CAS, incr, expire, batch get and invalidation', async () => {
    const first = await call('PUT', '/v1/cache/cas/k', { value: 1 });
    expect((await call('PUT', '/v1/cache/cas/k', { value: 2, ifVersion: first.json.version })).status).toBe(201);
    const conflict = await call('PUT', '/v1/cache/cas/k', { value: 3, ifVersion: first.json.version });
    expect(conflict).toMatchObject({ status: 409, json: { error: { code: 'VERSION_CONFLICT', detail: { currentVersion: first.json.version + 1 } } } });
    expect(await call('POST', '/v1/cache/incr', { namespace: 'c', key: 'n', delta: 5 })).toMatchObject({ status: 200, json: { value: 5 } });
    expect(await call('POST', '/v1/cache/incr', { namespace: 'c', key: 'n', delta: '9007199254740993' })).toMatchObject({ json: { value: '9007199254740998' } });
    expect(await call('POST', '/v1/cache/expire', { namespace: 'c', key: 'n', ttlSeconds: 10 })).toMatchObject({ status: 200, json: { updated: true } });
    expect(await call('POST', '/v1/cache/expire', { namespace: 'c', key: 'none', ttlSeconds: 10 })).toMatchObject({ json: { updated: false } });
    const batch = await call('POST', '/v1/cache/batch/get', { namespace: 'cas', keys: ['k', 'missing', 'fail:TIMEOUT'] });
    expect(batch.json.results).toEqual([{ hit: true, value: 2, version: expect.any(Number), ttlRemainingSeconds: null }, { hit: false }, { error: { code: 'TIMEOUT', message: expect.any(String) } }]);
    await call('PUT', '/v1/cache/tags/a', { value: 'a', tags: ['red'] });
    await call('PUT', '/v1/cache/tags/b', { value: 'b' });
    expect(await call('POST', '/v1/cache/invalidate', { namespace: 'tags', tag: 'red' })).toMatchObject({ status: 200, json: { invalidated: true } });
    expect((await call('GET', '/v1/cache/tags/a')).json).toEqual({ hit: false });
    expect((await call('GET', '/v1/cache/tags/b')).json.hit).toBe(true);
  });

  test('reads use the read preference asked for', async () => {
    backend.calls.length = 0;
    await call('GET', '/v1/cache/prefs/k?readPreference=replica');
    await call('GET', '/v1/cache/prefs/k');
    expect(backend.calls.map((c) => c.pref)).toEqual(['replica', 'primary']);
  });

  test('errors map through the table', async () => {
    expect(await call('GET', '/nowhere')).toMatchObject({ status: 404, json: { error: { code: 'NOT_FOUND' } } });
    const wrong = await call('PATCH', '/v1/cache/ns/k', { value: 1 });
    expect(wrong).toMatchObject({ status: 405, json: { error: { code: 'METHOD_NOT_ALLOWED' } } });
    expect(wrong.headers.get('allow')).toBe('GET, PUT, DELETE');
    expect(await call('PUT', '/v1/cache/ns/k', '{"value": ')).toMatchObject({ status: 400, json: { error: { code: 'BAD_REQUEST' } } });
    for (const [code, status] of [['NOT_INTEGER', 422], ['OVER_QUOTA', 429], ['NODE_UNAVAILABLE', 503], ['TIMEOUT', 504], ['TOO_LARGE', 413]] as const) {
      expect(await call('GET', `/v1/cache/ns/fail:${code}`)).toMatchObject({ status, json: { error: { code } } });
    }
    expect(await call('GET', '/v1/cache/ns/fail:BUG')).toMatchObject({ status: 500, json: { error: { code: 'INTERNAL', message: expect.not.stringContaining('boom') } } });
  });

  test('a body over the limit gets 413 without being read whole', async () => {
    const big = await call('PUT', '/v1/cache/ns/k', JSON.stringify({ value: 'x'.repeat(100 * 1024) }));
    expect(big).toMatchObject({ status: 413, json: { error: { code: 'TOO_LARGE', message: expect.stringContaining('65536') } } });
    // Chunked, no Content-Length: refused once the count passes the limit, connection closed.
    const head = 'PUT /v1/cache/ns/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n';
    const chunk = Buffer.concat([Buffer.from(`${(48 * 1024).toString(16)}\r\n`), Buffer.alloc(48 * 1024, 0x20), Buffer.from('\r\n')]);
    const answer = await raw(head, Buffer.concat([chunk, chunk, chunk]));
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('"TOO_LARGE"');
    expect((await call('GET', '/v1/cache/ns/k')).status).toBe(200); // still serving
  });

  test('an aborted request does not disturb the server', async () => {
    await new Promise<void>((resolve) => {
      const socket = net.connect(front.port, '127.0.0.1', () => {
        socket.write('GET /v1/cache/ns/slow:200 HTTP/1.1\r\nHost: x\r\n\r\n');
        setTimeout(() => socket.destroy(), 20);
        socket.on('close', () => resolve());
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    expect((await call('GET', '/v1/cache/ns/k')).status).toBe(200);
  });

  test('503 UNAVAILABLE until a topology exists', async () => {
    const saved = backend.snapshot;
    backend.snapshot = undefined;
    try {
      expect(await call('GET', '/v1/cache/ns/k')).toMatchObject({ status: 503, json: { error: { code: 'UNAVAILABLE' } } });
      expect((await fetch(`${adminBase}/healthz`)).status).toBe(503);
    } finally {
      backend.snapshot = saved;
    }
  });
});

describe('WebSocket front and client', () => {
  test('round trip of every op, pipelined, out of order', async () => {
    const client = await ShardcacheClient.connect(`ws://127.0.0.1:${front.port}/v1/ws`);
    try {
      const written = await client.set('ws', 'obj', { a: 1 }, { ttlMs: 60_000, tags: ['t'] });
      expect(written).toEqual({ version: expect.any(Number), expiresAt: expect.any(Number) });
      expect(await client.get('ws', 'obj')).toEqual({ hit: true, value: { a: 1 }, version: written.version, ttlMs: expect.any(Number), flags: 1 });
      await client.set('ws', 'bin', Buffer.from([9, 8, 7]));
      expect(await client.get('ws', 'bin')).toMatchObject({ hit: true, value: Buffer.from([9, 8, 7]), flags: 0, ttlMs: null });
      expect(await client.incr('ws', 'ctr', 2n ** 62n)).toMatchObject({ value: 2n ** 62n });
      expect(await client.expire('ws', 'ctr', 1000)).toBe(true);
      const many = await client.mget('ws', ['obj', 'nope', 'fail:TIMEOUT']);
      expect(many[0]).toMatchObject({ hit: true, value: { a: 1 } });
      expect(many[1]).toEqual({ hit: false });
      expect(many[2]).toBeInstanceOf(ShardcacheRequestError);
      await client.invalidate('ws', 't');
      expect(await client.get('ws', 'obj')).toEqual({ hit: false });
      expect(await client.delete('ws', 'bin')).toBe(true);
      await expect(client.set('ws', 'obj', 1, { ifVersion: 999_999 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
      // A slow request does not hold back the ones behind it.
      const order: string[] = [];
      await Promise.all([client.get('ws', 'slow:150').then(() => order.push('slow')), client.get('ws', 'obj').then(() => order.push('fast'))]);
      expect(order).toEqual(['fast', 'slow']);
      const burst = await Promise.all(Array.from({ length: 1000 }, (_, i) => client.set('ws', `k${i}`, i).then(() => client.get<number>('ws', `k${i}`))));
      expect(burst.map((r) => (r.hit ? r.value : -1))).toEqual(Array.from({ length: 1000 }, (_, i) => i));
      // Values written over WebSocket read back as JSON over HTTP.
      expect((await call('GET', '/v1/cache/ws/k7')).json.value).toBe(7);
    } finally {
      await client.close();
    }
  });

  test('garbage, text messages and bad ops get errors; the connection keeps serving', async () => {
    const socket = new WebSocket(`ws://127.0.0.1:${front.port}/v1/ws`);
    const replies: unknown[][] = [];
    socket.on('message', (data: Buffer) => replies.push(unpackr.unpack(data) as unknown[]));
    await new Promise((r) => socket.once('open', r));
    socket.send(Buffer.from([0xc1, 0xff, 0x00]));
    socket.send('hello');
    socket.send(packr.pack({ x: 1 }));
    socket.send(packr.pack([3, 'frobnicate']));
    socket.send(packr.pack([4, 'ping']));
    for (let i = 0; i < 100 && replies.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
    expect(replies).toEqual([
      [0, 'error', 'BAD_REQUEST', expect.stringContaining('msgpack')],
      [0, 'error', 'BAD_REQUEST', expect.stringContaining('text messages')],
      [0, 'error', 'BAD_REQUEST', expect.any(String)],
      [3, 'error', 'BAD_REQUEST', expect.stringContaining('unknown op')],
      [4, 'ok', 'pong'],
    ]);
    socket.close();
    await new Promise((r) => socket.once('close', r));
  });

  test('a message over the limit closes that connection only; a client that stops reading is closed', async () => {
    const big = new WebSocket(`ws://127.0.0.1:${front.port}/v1/ws`);
    await new Promise((r) => big.once('open', r));
    const closed = new Promise<number>((r) => big.once('close', (code) => r(code)));
    big.send(packr.pack([1, 'set', 'ns', 'k', Buffer.alloc(100 * 1024)]));
    expect([1006, 1009]).toContain(await closed); // uWS drops the socket without a close frame

    await call('PUT', '/v1/cache/ns/large', Buffer.alloc(60 * 1024), { 'content-type': 'application/octet-stream' });
    const lazy = new WebSocket(`ws://127.0.0.1:${front.port}/v1/ws`);
    await new Promise((r) => lazy.once('open', r));
    const lazyClosed = new Promise<number>((r) => lazy.once('close', (code) => r(code)));
    lazy.pause();
    for (let i = 1; i <= 400; i++) lazy.send(packr.pack([i, 'get', 'ns', 'large']));
    await new Promise((r) => setTimeout(r, 500));
    lazy.resume();
    expect([1006, 1008]).toContain(await lazyClosed);
    expect((await call('GET', '/v1/cache/ns/k')).status).toBe(200);
  });
});

describe('admin port', () => {
  test('healthz, topology, route and metrics', async () => {
    const health = await fetch(`${adminBase}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, shards: 2, shardsWithoutPrimary: [] });
    const topo = (await (await fetch(`${adminBase}/v1/admin/topology`)).json()) as any;
    expect(topo).toMatchObject({ initialised: true, shards: [{ shardId: 0, primary: { nodeId: 'a' } }, { shardId: 1 }], nodes: { a: { shardId: 0, live: false } } });
    const route = (await (await fetch(`${adminBase}/v1/admin/route/users/u%2F1`)).json()) as any;
    expect(route).toEqual(backend.route('users', 'u/1'));
    expect((await fetch(`${adminBase}/v1/admin/route/bad%20ns/k`)).status).toBe(400);
    expect((await fetch(`${adminBase}/nope`)).status).toBe(404);
    const metrics = await (await fetch(`${adminBase}/metrics`)).text();
    expect(metrics).toMatch(/shardcache_proxy_requests_total\{front="http",op="get",namespace="users",code="ok"\} \d+/);
    expect(metrics).toMatch(/shardcache_proxy_hits_total\{namespace="users"\} \d+/);
    expect(metrics).toMatch(/shardcache_proxy_requests_total\{[^}]*namespace="other"[^}]*\}/); // more than 3 namespaces: capped
    expect(metrics).toContain('shardcache_proxy_request_duration_seconds_bucket');
    expect(metrics).toMatch(/shardcache_proxy_refused_total\{front="ws",reason="text_message"\} 1/);
  });
});
