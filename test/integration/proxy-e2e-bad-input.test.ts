import net from 'node:net';
import WebSocket from 'ws';
import { Packr, Unpackr } from 'msgpackr';
import { ShardcacheClient } from '../../client/ws-client';
import { freePort } from '../helpers/etcd';
import { httpCall, startProxyProcess, startTestCluster, type TestCluster } from '../helpers/cluster';
import { pipeline } from '../helpers/raw-http';

jest.setTimeout(50_000);

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
const MB = 1024 * 1024;

let c: TestCluster;
let healthy: { stop(): Promise<{ ok: number; failures: string[] }> };

/** A well-behaved client (HTTP and WebSocket) writing and reading its own keys until stopped. */
async function healthyTraffic(): Promise<typeof healthy> {
  const ws = await ShardcacheClient.connect(c.wsUrl);
  const failures: string[] = [];
  let ok = 0;
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      try {
        const put = await c.call('PUT', `/v1/cache/healthy/h${i % 50}`, { value: i });
        const get = await c.call('GET', `/v1/cache/healthy/h${i % 50}`);
        if (put.status !== 201 || get.json?.value !== i) failures.push(`http ${i}: ${put.status} ${get.text}`);
        await ws.set('healthy', `w${i % 50}`, { i });
        const item = await ws.get<{ i: number }>('healthy', `w${i % 50}`);
        if (!item.hit || item.value.i !== i) failures.push(`ws ${i}: ${JSON.stringify(item)}`);
        ok++;
      } catch (err) {
        failures.push(`${i}: ${(err as Error).message}`);
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await ws.close();
      return { ok, failures };
    },
  };
}

/** Writes `head` then `body` on a raw socket; resolves with what came back before the server closed. */
function rawExchange(head: string, body: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(new URL(c.httpUrl).port), '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => resolve(received));
    socket.write(head);
    socket.write(body);
  });
}

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 2, proxyArgs: ['--max-body-bytes', '1mb'] });
  healthy = await healthyTraffic();
}, 40_000);

afterAll(async () => {
  await healthy?.stop().catch(() => undefined);
  await c?.stop();
});

const errorOf = async (method: string, path: string, body?: unknown, headers?: Record<string, string>) => {
  const res = await c.call(method, path, body, headers);
  return { status: res.status, code: res.json?.error?.code as string, message: res.json?.error?.message as string };
};

test('malformed JSON, wrong types and missing fields get 400 BAD_REQUEST naming the problem', async () => {
  expect(await errorOf('PUT', '/v1/cache/ns/k', '{"value": ')).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: expect.stringContaining('not valid JSON') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', '')).toMatchObject({ status: 400, message: expect.stringContaining('empty') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', [1, 2])).toMatchObject({ status: 400, message: expect.stringContaining('JSON object') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { ttlSeconds: 5 })).toMatchObject({ status: 400, message: expect.stringContaining('"value"') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { value: 1, ttlSeconds: 'soon' })).toMatchObject({ status: 400, message: expect.stringContaining('ttlSeconds') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { value: 1, ifVersion: 'v1' })).toMatchObject({ status: 400, message: expect.stringContaining('ifVersion') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { value: 1, tags: [1] })).toMatchObject({ status: 400, message: expect.stringContaining('tag') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { value: 1, colour: 'red' })).toMatchObject({ status: 400, message: expect.stringContaining('unknown field "colour"') });
  expect(await errorOf('POST', '/v1/cache/batch/get', { namespace: 'ns', keys: 'k' })).toMatchObject({ status: 400, message: expect.stringContaining('keys') });
  expect(await errorOf('POST', '/v1/cache/batch/get', { keys: ['k'] })).toMatchObject({ status: 400, message: expect.stringContaining('namespace') });
  expect(await errorOf('POST', '/v1/cache/incr', { namespace: 'ns', key: 'k', delta: 'lots' })).toMatchObject({ status: 400, message: expect.stringContaining('delta') });
  expect(await errorOf('POST', '/v1/cache/incr', { namespace: 'ns', delta: 1 })).toMatchObject({ status: 400, message: expect.stringContaining('key') });
  expect(await errorOf('POST', '/v1/cache/expire', { namespace: 'ns', key: 'k' })).toMatchObject({ status: 400, message: expect.stringContaining('ttlSeconds') });
  expect(await errorOf('POST', '/v1/cache/invalidate', { namespace: 'ns', tag: 7 })).toMatchObject({ status: 400, message: expect.stringContaining('tag') });
  expect(await errorOf('GET', '/v1/cache/ns/k?readPreference=closest')).toMatchObject({ status: 400, message: expect.stringContaining('readPreference') });
  expect(await errorOf('GET', '/v1/cache/ns/%E0%A4%A')).toMatchObject({ status: 400, message: expect.stringContaining('percent-encoding') });
});

test('a 2 MB body against a 1 MB limit gets 413 TOO_LARGE, with or without Content-Length', async () => {
  // A declared length over the limit is refused before any of the body is read; the body is then
  // drained (a lingering answer), so a client writing all 2 MB reads the 413, not a reset, and
  // its connection serves the next request.
  const kept = await pipeline(Number(new URL(c.httpUrl).port), [
    `PUT /v1/cache/ns/big HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/json\r\nContent-Length: ${2 * MB}\r\n\r\n`,
    Buffer.alloc(2 * MB, 0x20),
    'GET /v1/cache/ns/almost-missing HTTP/1.1\r\nHost: proxy\r\n\r\n',
  ], 2);
  expect(kept.responses.map((r) => [r.status, r.reason])).toEqual([[413, 'Payload Too Large'], [200, 'OK']]);
  expect(JSON.parse(kept.responses[0].body)).toMatchObject({ error: { code: 'TOO_LARGE' } });
  expect(JSON.parse(kept.responses[1].body)).toEqual({ hit: false });
  expect(kept.closed).toBe(false);
  for (const type of ['application/json', 'application/octet-stream']) {
    const declared = await rawExchange(`PUT /v1/cache/ns/big HTTP/1.1\r\nHost: proxy\r\nContent-Type: ${type}\r\nContent-Length: ${2 * MB}\r\n\r\n`, Buffer.alloc(0));
    expect(declared).toMatch(/^HTTP\/1\.1 413 Payload Too Large/);
    expect(declared).toContain('"code":"TOO_LARGE"');
    expect(declared).toContain('1048576');
  }
  const head = 'PUT /v1/cache/ns/big HTTP/1.1\r\nHost: proxy\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
  const chunk = Buffer.concat([Buffer.from(`${(256 * 1024).toString(16)}\r\n`), Buffer.alloc(256 * 1024, 1), Buffer.from('\r\n')]);
  const answer = await rawExchange(head, Buffer.concat(Array.from({ length: 8 }, () => chunk)));
  expect(answer).toMatch(/^HTTP\/1\.1 413 Payload Too Large/);
  expect(answer).toContain('"code":"TOO_LARGE"');
  // Just under the limit is fine.
  expect((await c.call('PUT', '/v1/cache/ns/almost', Buffer.alloc(MB - 64 * 1024), { 'content-type': 'application/octet-stream' })).status).toBe(201);
});

test('oversized key, bad namespace, negative TTL', async () => {
  expect(await errorOf('GET', `/v1/cache/ns/${'k'.repeat(1025)}`)).toMatchObject({ status: 400, code: 'BAD_REQUEST', message: expect.stringContaining('1025 characters long; the limit is 1024') });
  expect((await c.call('PUT', `/v1/cache/ns/${'k'.repeat(1024)}`, { value: 1 })).status).toBe(201);
  expect(await errorOf('GET', '/v1/cache/bad%20ns!/k')).toMatchObject({ status: 400, message: expect.stringContaining('namespace') });
  expect(await errorOf('GET', `/v1/cache/${'n'.repeat(65)}/k`)).toMatchObject({ status: 400, message: expect.stringContaining('namespace') });
  expect(await errorOf('POST', '/v1/cache/incr', { namespace: 'a/b', key: 'k' })).toMatchObject({ status: 400, message: expect.stringContaining('namespace') });
  expect(await errorOf('PUT', '/v1/cache/ns/k', { value: 1, ttlSeconds: -1 })).toMatchObject({ status: 400, message: expect.stringContaining('ttlSeconds') });
  expect(await errorOf('PUT', '/v1/cache/ns/k?ttlSeconds=-5', Buffer.from('x'), { 'content-type': 'application/octet-stream' })).toMatchObject({ status: 400 });
  expect(await errorOf('POST', '/v1/cache/expire', { namespace: 'ns', key: 'k', ttlSeconds: -1 })).toMatchObject({ status: 400, message: expect.stringContaining('ttlSeconds') });
});

test('unknown routes get 404, wrong methods 405', async () => {
  expect(await errorOf('GET', '/')).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  expect(await errorOf('GET', '/v2/cache/ns/k')).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  expect(await errorOf('GET', '/v1/cache/ns/a/b')).toMatchObject({ status: 404, message: expect.stringContaining('%2F') });
  expect(await errorOf('GET', '/v1/ws')).toMatchObject({ status: 404 });
  const wrong = await c.call('POST', '/v1/cache/ns/k', { value: 1 });
  expect(wrong.status).toBe(405);
  expect(wrong.headers.get('allow')).toBe('GET, PUT, DELETE');
  expect(await errorOf('GET', '/v1/cache/incr')).toMatchObject({ status: 405, code: 'METHOD_NOT_ALLOWED' });
});

test('a WebSocket sending garbage gets errors with id 0 and is not dropped; an oversized message closes only it', async () => {
  const socket = new WebSocket(c.wsUrl);
  const replies: unknown[][] = [];
  socket.on('message', (data: Buffer) => replies.push(unpackr.unpack(data) as unknown[]));
  await new Promise((r) => socket.once('open', r));
  socket.send(Buffer.from([0xc1, 0x00, 0xff]));
  socket.send('not binary');
  socket.send(packr.pack('a string'));
  socket.send(packr.pack([0, 'get', 'ns', 'k']));
  socket.send(packr.pack([7, 'nope']));
  socket.send(packr.pack([8, 'get', 'bad ns', 'k']));
  socket.send(packr.pack([9, 'ping']));
  for (let i = 0; i < 200 && replies.length < 7; i++) await new Promise((r) => setTimeout(r, 10));
  expect(replies.map((r) => r.slice(0, 3))).toEqual([
    [0, 'error', 'BAD_REQUEST'], [0, 'error', 'BAD_REQUEST'], [0, 'error', 'BAD_REQUEST'], [0, 'error', 'BAD_REQUEST'],
    [7, 'error', 'BAD_REQUEST'], [8, 'error', 'BAD_REQUEST'], [9, 'ok', 'pong'],
  ]);
  const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
  socket.send(packr.pack([10, 'set', 'ns', 'k', Buffer.alloc(2 * MB)]));
  expect([1006, 1009]).toContain(await closed);
});

test('the proxy answers 503 until it has a topology (uninitialised cluster, etcd down)', async () => {
  const uninitialised = await startProxyProcess(c.etcd.endpoint, 'nothing-here');
  const noEtcd = await startProxyProcess(`127.0.0.1:${await freePort()}`, 'e2e');
  try {
    for (const p of [uninitialised, noEtcd]) {
      const res = await httpCall(p.httpUrl, 'GET', '/v1/cache/ns/k');
      expect(res).toMatchObject({ status: 503, json: { error: { code: 'UNAVAILABLE' } } });
      expect((await httpCall(p.adminUrl, 'GET', '/healthz')).status).toBe(503);
    }
  } finally {
    expect(await uninitialised.proc.stop()).toEqual({ code: 0, signal: null });
    expect(await noEtcd.proc.stop()).toEqual({ code: 0, signal: null });
  }
});

test('the healthy client was served throughout', async () => {
  const result = await healthy.stop();
  expect(result.failures).toEqual([]);
  expect(result.ok).toBeGreaterThan(10);
  expect((await httpCall(c.adminUrl, 'GET', '/healthz')).status).toBe(200);
});
