import Redis from 'ioredis';
import WebSocket from 'ws';
import { ShardcacheClient } from '../../client/ws-client';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { PathRecordingOrigin, setPolicy } from '../helpers/origin';
import { pipeline } from '../helpers/raw-http';

jest.setTimeout(60_000);

/**
 * The proxy's client port hardened, end to end (etcd, a storage node and the proxy as processes):
 * JSON bodies only (415), an Origin allowlist for HTTP and WebSocket upgrades (403), a cap on
 * WebSockets (503), read-through keys confined to their own path segment at a real origin, and
 * batches charged one QPS token per key on every front.
 */
const ALLOWED = 'https://app.example.com';
const MAX_CONNECTIONS = 4;
let c: TestCluster;
let origin: PathRecordingOrigin;
let pipeliningUrl: string;

beforeAll(async () => {
  origin = await PathRecordingOrigin.start();
  c = await startTestCluster({
    shards: 1, perShard: 1, cluster: 'hardening',
    proxyArgs: ['--allowed-origins', `${ALLOWED},http://localhost:3000`, '--max-connections', String(MAX_CONNECTIONS), '--pipelining-port', '0'],
  });
  pipeliningUrl = `http://127.0.0.1:${c.proxy.ready.pipeliningPort as number}`;
  const set = (ns: string, flags: string[], check: (p: any) => boolean): Promise<void> => setPolicy(c.etcd.endpoint, c.cluster, ns, flags, [c.adminUrl], check);
  await set('paths', ['--origin', origin.template], (p) => p.origin === origin.template);
  await set('limited', ['--qps-limit', '10'], (p) => p.qpsLimit === 10);
});

afterAll(async () => {
  await c?.stop();
  await origin?.close();
});

describe('JSON bodies only', () => {
  test('a PUT or POST whose Content-Type is not JSON gets 415 UNSUPPORTED_MEDIA_TYPE on both HTTP ports', async () => {
    for (const [i, base] of [c.httpUrl, pipeliningUrl].entries()) {
      const path = `/v1/cache/app/greeting-${i}`;
      const form = await httpCall(base, 'PUT', path, '{"value":1}', { 'content-type': 'application/x-www-form-urlencoded' });
      expect(form).toMatchObject({ status: 415, json: { error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json') } } });
      const text = await httpCall(base, 'POST', '/v1/cache/incr', `{"namespace":"app","key":"n-${i}"}`, { 'content-type': 'text/plain;charset=UTF-8' });
      expect(text).toMatchObject({ status: 415, json: { error: { code: 'UNSUPPORTED_MEDIA_TYPE' } } });
      expect((await httpCall(base, 'GET', path)).json).toEqual({ hit: false }); // nothing was written
      expect((await httpCall(base, 'GET', `/v1/cache/app/n-${i}`)).json).toEqual({ hit: false });
      const json = await httpCall(base, 'PUT', path, '{"value":1}', { 'content-type': 'application/json; charset=utf-8' });
      expect(json.status).toBe(201);
    }
  });

  test('a body without any Content-Type gets 415 too (raw request: clients add one by default)', async () => {
    const body = '{"namespace":"app","key":"n"}';
    const head = `POST /v1/cache/incr HTTP/1.1\r\nhost: proxy\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
    const { responses } = await pipeline(Number(new URL(c.httpUrl).port), [head], 1);
    expect(responses.map((r) => [r.status, JSON.parse(r.body).error.code])).toEqual([[415, 'UNSUPPORTED_MEDIA_TYPE']]);
  });
});

/** Opens a WebSocket to the proxy; resolves it open, or the status and error code of the refused upgrade. */
function upgrade(headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(c.wsUrl, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode, code: (JSON.parse(body) as { error: { code: string } }).error.code }));
    });
    ws.once('error', (err) => (err.message.startsWith('Unexpected server response') ? undefined : reject(err)));
  });
}

const closeAll = (sockets: WebSocket[]): Promise<unknown> =>
  Promise.all(sockets.map((ws) => new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve(undefined) : (ws.once('close', resolve), ws.close())))));

describe('--allowed-origins and --max-connections', () => {
  test('HTTP requests from an Origin not on the list get 403 FORBIDDEN_ORIGIN; listed or no Origin is served', async () => {
    for (const base of [c.httpUrl, pipeliningUrl]) {
      expect(await httpCall(base, 'GET', '/v1/cache/app/greeting', undefined, { origin: 'https://evil.example' })).toMatchObject({ status: 403, json: { error: { code: 'FORBIDDEN_ORIGIN' } } });
      expect((await httpCall(base, 'GET', '/v1/cache/app/greeting', undefined, { origin: ALLOWED })).status).toBe(200);
      expect((await httpCall(base, 'GET', '/v1/cache/app/greeting')).status).toBe(200);
    }
  });

  test('a cross-origin WebSocket upgrade is refused with 403 before the upgrade', async () => {
    expect(await upgrade({ origin: 'https://evil.example' })).toEqual({ status: 403, code: 'FORBIDDEN_ORIGIN' });
    const listed = await upgrade({ origin: 'http://localhost:3000' });
    expect(listed.ws).toBeDefined();
    await closeAll([listed.ws!]);
  });

  test('an upgrade past --max-connections gets 503 TOO_MANY_CONNECTIONS', async () => {
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS; i++) {
        const r = await upgrade();
        expect(r.ws).toBeDefined();
        open.push(r.ws!);
      }
      expect(await upgrade()).toEqual({ status: 503, code: 'TOO_MANY_CONNECTIONS' });
    } finally {
      await closeAll(open);
    }
    const metrics = (await httpCall(c.adminUrl, 'GET', '/metrics')).text;
    expect(metrics).toMatch(/shardcache_proxy_refused_total\{front="ws",reason="TOO_MANY_CONNECTIONS"\} 1/);
  });
});

describe('read-through keys stay in their own path segment at the origin', () => {
  const confined = ['%2f..%2f', 'a/../../admin', '?x=1', '#frag', '../admin', 'a\\..\\b', '%00'];
  const dots = ['..', '.', '%2e%2e', '%2E.', '%252e%252e'];

  test('hostile keys are loaded from /items/<their encoded segment> and nowhere else', async () => {
    origin.paths.length = 0;
    const ws = await ShardcacheClient.connect(c.wsUrl);
    try {
      for (const key of confined) {
        const own = `/items/${encodeURIComponent(key)}`;
        const overHttp = await c.call('GET', `/v1/cache/paths/${encodeURIComponent(key)}`);
        expect([key, overHttp.status, overHttp.json]).toEqual([key, 200, { hit: true, value: { path: own }, version: expect.any(Number), ttlRemainingSeconds: expect.any(Number) }]);
        expect(await ws.get('paths', key)).toMatchObject({ hit: true, value: { path: own } }); // cached: no second load
      }
    } finally {
      await ws.close();
    }
    expect(origin.paths).toEqual(confined.map((key) => `/items/${encodeURIComponent(key)}`));
    for (const path of origin.paths) expect(path).toMatch(/^\/items\/[^/?#]+$/);
  });

  test('. and .. (and keys that decode to them) are refused with 400 before any origin request', async () => {
    origin.paths.length = 0;
    const port = Number(new URL(c.httpUrl).port);
    // Raw requests: fetch would resolve the dot segments of the proxy URL itself.
    const requests = dots.map((key) => `GET /v1/cache/paths/${encodeURIComponent(key).replace(/\./g, '%2E')} HTTP/1.1\r\nhost: proxy\r\n\r\n`);
    for (const request of requests) {
      const { responses } = await pipeline(port, [request], 1);
      expect(responses[0].status).toBe(400);
      expect(JSON.parse(responses[0].body)).toEqual({ error: { code: 'BAD_REQUEST', message: expect.stringContaining('"."'), detail: { reason: 'DOT_SEGMENT_KEY' } } });
    }
    const ws = await ShardcacheClient.connect(c.wsUrl);
    try {
      for (const key of dots) await expect(ws.get('paths', key)).rejects.toMatchObject({ code: 'BAD_REQUEST', detail: { reason: 'DOT_SEGMENT_KEY' } });
    } finally {
      await ws.close();
    }
    expect(origin.paths).toEqual([]);
  });
});

describe('batches are charged one QPS token per key', () => {
  const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);

  test('an MGET of 50 keys in a namespace limited to 10 qps is refused whole over HTTP, WebSocket and RESP', async () => {
    const http = await c.call('POST', '/v1/cache/batch/get', { namespace: 'limited', keys });
    expect(http).toMatchObject({ status: 429, json: { error: { code: 'RATE_LIMITED', detail: { namespace: 'limited', limit: 10, keys: 50, maxKeys: 10 } } } });
    const ws = await ShardcacheClient.connect(c.wsUrl);
    const redis = new Redis({ host: '127.0.0.1', port: c.respPort, password: 'limited', maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await expect(ws.mget('limited', keys)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      await redis.connect();
      await expect(redis.mget(...keys)).rejects.toThrow(/^ERR this batch names more keys/);
      // None of the refusals took a token: one request still finds a full second's worth.
      expect((await ws.mget('limited', keys.slice(0, 10))).length).toBe(10);
    } finally {
      redis.disconnect();
      await ws.close();
    }
  });
});
