import net from 'node:net';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { httpCall, startTestCluster, type StartedProxy, type TestCluster } from '../helpers/cluster';
import { parseResponses, type RawResponse } from '../helpers/raw-http';
import { waitFor } from '../helpers/shard-nodes';

/**
 * SIGTERM of a proxy under a pipelined load over HTTP (the pipelining port), WebSocket and RESP:
 * every request it had received is answered with success, then each connection is closed
 * cleanly (HTTP `Connection: close`, WebSocket 1001, RESP end of stream), new connections are
 * refused, and the process exits 0. The storage node is frozen while the signal arrives, so the
 * requests are in flight at the proxy when it does.
 */
jest.setTimeout(60_000);

const N = 200;
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false });

let c: TestCluster;
let proxy: StartedProxy;

beforeAll(async () => {
  c = await startTestCluster({ shards: 1, perShard: 1, cluster: 'shutdown' });
  proxy = await c.startProxy(['--pipelining-port', '0', '--shutdown-grace-ms', '5000']);
}, 40_000);

afterAll(async () => {
  c.nodes[0][0].proc.child.kill('SIGCONT');
  await c?.stop();
});

/** What a raw connection received until the server closed it. */
interface Received {
  bytes: Buffer;
  closedByServer: Promise<void>;
}

/** Opens a raw connection, writes `payload` in one write and collects everything until the server ends it. */
async function rawPipeline(port: number, payload: Buffer): Promise<Received> {
  const socket = net.connect(port, '127.0.0.1');
  const received: Received = { bytes: Buffer.alloc(0), closedByServer: new Promise((resolve) => socket.once('end', resolve)) };
  socket.on('data', (chunk: Buffer) => (received.bytes = Buffer.concat([received.bytes, chunk])));
  socket.on('error', () => undefined);
  socket.once('close', () => socket.destroy());
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  await new Promise<void>((resolve) => socket.write(payload, () => resolve()));
  void received.closedByServer.then(() => socket.end());
  return received;
}

function httpRequests(): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < N; i++) {
    const body = JSON.stringify({ value: { i } });
    parts.push(`PUT /v1/cache/shut/h${i} HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  }
  return Buffer.from(parts.join(''));
}

function respCommands(): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < N; i++) {
    const key = `r${i}`;
    const value = `v${i}`;
    parts.push(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`);
  }
  return Buffer.from(parts.join(''));
}

/** A WebSocket that sent N pipelined sets; its replies and its close code. */
async function wsPipeline(url: string): Promise<{ replies: unknown[][]; closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const replies: unknown[][] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  ws.on('message', (data: Buffer) => replies.push(unpackr.unpack(data) as unknown[]));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  await Promise.all(Array.from({ length: N }, (_, i) => new Promise<void>((resolve) => ws.send(packr.pack([i + 1, 'set', 'shut', `w${i}`, i]), () => resolve()))));
  return { replies, closed };
}

/** The proxy's in-flight requests by front, from its /metrics. */
async function inFlight(): Promise<Record<string, number>> {
  const text = (await httpCall(proxy.adminUrl, 'GET', '/metrics')).text;
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^shardcache_proxy_requests_in_flight\{front="(\w+)"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

const refused = (port: number): Promise<boolean> => new Promise((resolve) => {
  const socket = net.connect(port, '127.0.0.1');
  socket.once('connect', () => {
    socket.destroy();
    resolve(false);
  });
  socket.once('error', () => resolve(true));
});

test('SIGTERM under pipelined HTTP, WebSocket and RESP load: every request received is answered, then connections close cleanly and the proxy exits 0', async () => {
  const node = c.nodes[0][0];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proxy.proc.child.once('exit', (code, signal) => resolve({ code, signal })));
  const respPort = proxy.respPort!;
  const pipeliningPort = proxy.proc.ready.pipeliningPort as number;
  node.proc.child.kill('SIGSTOP'); // every request waits at the proxy for the node
  const single = `PUT /v1/cache/shut/u HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"value":1}`;
  const [keepAlive, http, resp, ws] = await Promise.all([
    rawPipeline(Number(new URL(proxy.httpUrl).port), Buffer.from(single)), // uWS: one request at a time per connection
    rawPipeline(pipeliningPort, httpRequests()),
    rawPipeline(respPort, respCommands()),
    wsPipeline(`${proxy.httpUrl.replace('http', 'ws')}/v1/ws`),
  ]);
  await waitFor('the proxy to have read every request', async () => {
    const f = await inFlight();
    return f.ws === N && f.resp === N && f.http === 2; // HTTP: one on the client port, one of the pipelined (run in turn)
  }, 10_000, 20);
  proxy.proc.child.kill('SIGTERM');
  await waitFor('the proxy to begin shutting down', () => proxy.proc.lines.some((l) => l.includes('"msg":"shutting down"')), 10_000, 10);
  expect(await refused(respPort)).toBe(true);
  expect(await refused(pipeliningPort)).toBe(true);
  await new Promise((r) => setTimeout(r, 300)); // longer than any fixed delay the fronts allow themselves
  node.proc.child.kill('SIGCONT');
  await Promise.all([keepAlive.closedByServer, http.closedByServer, resp.closedByServer]);
  expect(await ws.closed).toBe(1001);
  expect(await exited).toEqual({ code: 0, signal: null });

  const answers: RawResponse[] = parseResponses(http.bytes);
  expect(answers.map((a) => a.status)).toEqual(Array(N).fill(201));
  expect(answers[N - 1].headers.connection).toBe('close');
  const [single1] = parseResponses(keepAlive.bytes);
  expect([single1.status, single1.headers.connection]).toEqual([201, 'close']);
  expect(resp.bytes.toString()).toBe('+OK\r\n'.repeat(N));
  expect(ws.replies).toHaveLength(N);
  expect(ws.replies.every((r) => r[1] === 'ok')).toBe(true);
  expect(new Set(ws.replies.map((r) => r[0])).size).toBe(N);
  // The writes are there: read a few back through the cluster's other proxy.
  expect((await c.call('GET', '/v1/cache/shut/h199')).json).toMatchObject({ hit: true, value: { i: 199 } });
  expect((await c.call('GET', '/v1/cache/shut/w0')).json).toMatchObject({ hit: true, value: 0 });
  expect((await c.call('GET', '/v1/cache/default/r42')).headers.get('x-cache-hit')).toBe('1');
});
