import pino from 'pino';
import { Registry } from 'prom-client';
import WebSocket from 'ws';
import { ShardcacheClient } from '../../client/ws-client';
import { startFront, type RunningFront } from '../../proxy/front/app';
import { Dispatcher } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import { NamespaceLimiter } from '../../proxy/limits/namespace-limiter';
import { pipeline, type RawResponse } from '../helpers/raw-http';
import { waitFor } from '../helpers/shard-nodes';
import { FakeBackend, twoShardSnapshot } from './proxy-front-fake-backend';

/**
 * The client port's edge checks, in process against a fake backend, on both HTTP listeners (uWS
 * and the node:http pipelining port) and the WebSocket upgrade: JSON media types (415), the
 * Origin allowlist (403), the WebSocket connection cap (503), and batches charged per key (429).
 */
const log = pino({ level: 'silent' });
const ALLOWED = 'https://app.example.com';
const MAX_CONNECTIONS = 3;
let backend: FakeBackend;
let registry: Registry;
let front: RunningFront;
let ports: Array<[string, number]>;

beforeAll(async () => {
  backend = new FakeBackend();
  backend.snapshot = { ...twoShardSnapshot(), namespaces: new Map([['limited', { qpsLimit: 10 }]]) };
  registry = new Registry();
  const metrics = new FrontMetrics(registry);
  const limiter = new NamespaceLimiter({ proxyCount: 1, registry });
  const dispatcher = new Dispatcher({ backend, metrics, log, limiter });
  front = await startFront({
    dispatcher, metrics, log, maxBodyBytes: 64 * 1024, wsMaxBufferedBytes: 256 * 1024, wsMaxInFlight: 100, pipeliningPort: 0,
    allowedOrigins: [ALLOWED, 'http://localhost:3000'], wsMaxConnections: MAX_CONNECTIONS,
  }, '127.0.0.1', 0);
  ports = [['uWS client port', front.port], ['node:http pipelining port', front.pipeliningPort!]];
});

afterAll(async () => {
  await front.close();
});

/** One raw HTTP/1.1 request: exactly the headers given, nothing added. */
function request(method: string, path: string, headers: Record<string, string>, body?: string): string {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  const length = body === undefined ? '' : `content-length: ${Buffer.byteLength(body)}\r\n`;
  return `${method} ${path} HTTP/1.1\r\nhost: proxy\r\n${lines}${length}\r\n${body ?? ''}`;
}

/** Sends each request on its own connection, one after another (uWS does not answer pipelined requests). */
async function exchange(port: number, ...requests: string[]): Promise<RawResponse[]> {
  const out: RawResponse[] = [];
  for (const r of requests) {
    const { responses } = await pipeline(port, [r], 1);
    expect(responses).toHaveLength(1);
    out.push(responses[0]);
  }
  return out;
}

const errorOf = (r: RawResponse): { code: string; message: string } => (JSON.parse(r.body) as { error: { code: string; message: string } }).error;
const BODY = '{"value":{"n":1}}';

describe.each([['uWS client port', 0], ['node:http pipelining port', 1]] as const)('%s', (_name, which) => {
  const port = (): number => ports[which][1];

  test('a PUT or POST without a JSON Content-Type gets 415 and never reaches the data plane', async () => {
    backend.calls.length = 0;
    const refused = await exchange(
      port(),
      request('PUT', '/v1/cache/ns/k', {}, BODY),
      request('PUT', '/v1/cache/ns/k', { 'content-type': 'text/plain' }, BODY),
      request('PUT', '/v1/cache/ns/k', { 'content-type': 'application/x-www-form-urlencoded' }, BODY),
      request('POST', '/v1/cache/incr', { 'content-type': 'text/plain;charset=UTF-8' }, '{"namespace":"ns","key":"n"}'),
      request('POST', '/v1/cache/invalidate', { 'content-type': 'multipart/form-data; boundary=x' }, '{"namespace":"ns"}'),
      request('POST', '/v1/cache/batch/get', { 'content-type': 'application/octet-stream' }, '{"namespace":"ns","keys":["a"]}'),
      request('POST', '/v1/cache/expire', {}),
    );
    for (const r of refused) {
      expect(r.status).toBe(415);
      expect(r.headers['content-type']).toBe('application/json');
      expect(errorOf(r)).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('application/json'), detail: expect.any(Object) });
    }
    expect(errorOf(refused[1]).message).not.toContain('text/plain');
    expect(backend.calls).toEqual([]);
  });

  test('JSON types (parameters, +json) and octet-stream PUTs pass', async () => {
    const answers = await exchange(
      port(),
      request('PUT', '/v1/cache/ns/k', { 'content-type': 'text/plain' }, BODY),
      request('PUT', '/v1/cache/ns/k', { 'content-type': 'application/json; charset=utf-8' }, BODY),
      request('PUT', '/v1/cache/ns/k2', { 'content-type': 'application/merge-patch+json' }, BODY),
      request('PUT', '/v1/cache/ns/bin', { 'content-type': 'application/octet-stream' }, 'raw bytes'),
      request('POST', '/v1/cache/incr', { 'Content-Type': 'Application/JSON' }, '{"namespace":"ns","key":"n"}'),
      request('GET', '/v1/cache/ns/k', {}),
    );
    expect(answers.map((r) => r.status)).toEqual([415, 201, 201, 201, 200, 200]);
    expect(JSON.parse(answers[5].body)).toMatchObject({ hit: true, value: { n: 1 } });
  });

  test('the connection stays open after a 415: the refused body is skipped, the next request is answered', async () => {
    const refusedThenGet = [request('PUT', '/v1/cache/ns/k', { 'content-type': 'text/plain' }, 'x'.repeat(2048)), request('GET', '/v1/cache/ns/k', {})];
    const { responses, closed } = await pipeline(port(), refusedThenGet, 2);
    expect(responses.map((r) => r.status)).toEqual([415, 200]);
    expect(closed).toBe(false);
  });

  test('an Origin not on --allowed-origins gets 403; a listed Origin or none is served', async () => {
    const answers = await exchange(
      port(),
      request('GET', '/v1/cache/ns/k', { origin: 'https://evil.example' }),
      request('PUT', '/v1/cache/ns/k', { origin: 'null', 'content-type': 'application/json' }, BODY),
      request('GET', '/v1/cache/ns/k', { origin: ALLOWED }),
      request('GET', '/v1/cache/ns/k', {}),
    );
    expect(answers.map((r) => r.status)).toEqual([403, 403, 200, 200]);
    expect(errorOf(answers[0])).toEqual({ code: 'FORBIDDEN_ORIGIN', message: expect.not.stringContaining('evil') });
  });
});

test('both listeners answer a refusal with the same status and body', async () => {
  const [uws, node] = await Promise.all(ports.map(([, port]) => exchange(port, request('POST', '/v1/cache/incr', { 'content-type': 'text/plain' }, '{}'))));
  expect([uws[0].status, uws[0].body]).toEqual([node[0].status, node[0].body]);
});

/** Opens a WebSocket; resolves it open, or the HTTP status and error of a refused upgrade. */
function connect(headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number; error?: { code: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${front.port}/v1/ws`, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode, error: (JSON.parse(body) as { error: { code: string } }).error }));
    });
    ws.once('error', (err) => (err.message.startsWith('Unexpected server response') ? undefined : reject(err)));
  });
}

async function closeAll(sockets: WebSocket[]): Promise<void> {
  await Promise.all(sockets.map((ws) => new Promise((r) => {
    if (ws.readyState === WebSocket.CLOSED) return r(undefined);
    ws.once('close', r);
    ws.close();
  })));
}

describe('WebSocket upgrades', () => {
  test('a foreign Origin is refused with 403 before the upgrade; a listed Origin or none connects', async () => {
    expect(await connect({ origin: 'https://evil.example' })).toMatchObject({ status: 403, error: { code: 'FORBIDDEN_ORIGIN' } });
    const listed = await connect({ origin: ALLOWED });
    const none = await connect();
    expect(listed.ws).toBeDefined();
    expect(none.ws).toBeDefined();
    await closeAll([listed.ws!, none.ws!]);
  });

  test('an upgrade past --max-connections gets 503 TOO_MANY_CONNECTIONS; a freed slot is taken again', async () => {
    const open: WebSocket[] = [];
    try {
      for (let i = 0; i < MAX_CONNECTIONS; i++) open.push((await connect()).ws!);
      expect(await connect()).toMatchObject({ status: 503, error: { code: 'TOO_MANY_CONNECTIONS' } });
      await closeAll([open.pop()!]);
      await waitFor('the proxy to see the close', async () => (await connect().then((r) => {
        if (r.ws) open.push(r.ws);
        return r.ws !== undefined;
      })), 5000, 20);
    } finally {
      await closeAll(open);
    }
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/shardcache_proxy_refused_total\{front="ws",reason="TOO_MANY_CONNECTIONS"\} [1-9]/);
    expect(metrics).toMatch(/shardcache_proxy_refused_total\{front="ws",reason="FORBIDDEN_ORIGIN"\} 1/);
  });
});

describe('batches are charged one QPS token per key', () => {
  const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `k${i}`);

  test('an MGET of 50 keys with a 10 qps limit is refused whole over HTTP and WebSocket; a batch that fits passes', async () => {
    backend.calls.length = 0;
    for (const [, port] of ports) {
      const [refused] = await exchange(port, request('POST', '/v1/cache/batch/get', { 'content-type': 'application/json' }, JSON.stringify({ namespace: 'limited', keys: keys(50) })));
      expect(refused.status).toBe(429);
      expect(JSON.parse(refused.body)).toEqual({
        error: { code: 'RATE_LIMITED', message: expect.stringContaining('split it'), detail: { namespace: 'limited', limit: 10, keys: 50, maxKeys: 10 } },
      });
    }
    const client = await ShardcacheClient.connect(`ws://127.0.0.1:${front.port}/v1/ws`);
    try {
      await expect(client.mget('limited', keys(50))).rejects.toMatchObject({ code: 'RATE_LIMITED', detail: { keys: 50 } });
      expect(backend.calls).toEqual([]); // nothing reached the data plane
      // The refusals took no tokens: a batch of the whole second's 10 passes...
      expect(await client.mget('limited', keys(10))).toHaveLength(10);
      // ...and leaves none for the next one, which is told when to retry.
      await expect(client.mget('limited', keys(10))).rejects.toMatchObject({ code: 'RATE_LIMITED', detail: { keys: 10, retryAfterSeconds: 1 } });
    } finally {
      await client.close();
    }
  });
});
