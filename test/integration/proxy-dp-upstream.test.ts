import { Registry } from 'prom-client';
import { createLogger } from '../../shared/log';
import { Op, Status } from '../../shared/protocol';
import type { ProxyError } from '../../proxy/errors';
import type { NodeChannel } from '../../proxy/routing/router';
import { NodeClient } from '../../proxy/upstream/breaker';
import { UpstreamMetrics } from '../../proxy/upstream/metrics';
import { NodePool, type PoolOptions } from '../../proxy/upstream/pool';
import { FakeNode } from '../helpers/fake-node';
import { MgetView } from '../../proxy/upstream/mget-reply';

const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
const now = (): number => performance.now();

/** A channel's reply as a promise. */
const send = (channel: NodeChannel, message: unknown[]): Promise<unknown[]> =>
  new Promise((resolve, reject) => channel.send(message, (err, reply) => (err !== null ? reject(err) : resolve(reply!))));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const opened: Array<{ close(): Promise<void> }> = [];

function pool(node: FakeNode, o: Partial<PoolOptions> = {}): NodePool {
  const p = new NodePool({
    nodeId: 'n1', addr: node.addr, size: 1, maxInFlight: 1000, timeoutMs: 2000, backoff: { baseMs: 10, maxMs: 50 }, random: Math.random, now, log, ...o,
  });
  opened.push(p);
  return p;
}

/** `turns` event-loop turns with one call of `start(i)` in each; the calls' results, not awaited. */
async function inTurns<T>(turns: number, start: (i: number) => T): Promise<T[]> {
  const started: T[] = [];
  for (let t = 0; t < turns; t++) {
    started.push(start(t));
    await new Promise((resolve) => setImmediate(resolve));
  }
  return started;
}
const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'OK', (err: ProxyError) => err.code);

async function connected(p: NodePool): Promise<void> {
  for (let i = 0; i < 200 && p.connected === 0; i++) await sleep(5);
}

let node: FakeNode;
beforeEach(async () => {
  node = await FakeNode.start();
});
afterEach(async () => {
  for (const p of opened.splice(0)) await p.close();
  await node.close();
});

describe('link and pool', () => {
  test('requests of one event-loop turn leave in one write; replies match their requests', async () => {
    const p = pool(node);
    await connected(p);
    node.reply = (m) => [m[0], Status.OK, `echo:${String(m[3])}`];
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => send(p, [0, Op.GET, 'ns', `k${i}`])));
    expect(replies.map((r) => r[2])).toEqual(Array.from({ length: 200 }, (_, i) => `echo:k${i}`));
    expect(node.frames).toBe(200);
    expect(node.chunks).toBeLessThanOrEqual(2);
    console.log(`200 pipelined requests reached the node in ${node.chunks} chunk(s)`);
  });

  test('a reply comes with the time from the write that carried it to the read of its chunk', async () => {
    const p = pool(node);
    await connected(p);
    node.frozen = true;
    const elapsed: number[] = [];
    const started = now();
    const answered = new Promise<void>((resolve) => {
      for (let i = 0; i < 3; i++) p.send([0, Op.GET, 'ns', `k${i}`], (err, _reply, elapsedMs) => {
        expect(err).toBeNull();
        elapsed.push(elapsedMs as number);
        if (elapsed.length === 3) resolve();
      });
    });
    await sleep(60);
    node.thaw();
    await answered;
    const took = now() - started;
    for (const ms of elapsed) {
      expect(ms).toBeGreaterThanOrEqual(55); // held 60 ms by the node
      expect(ms).toBeLessThanOrEqual(took);
    }
  });

  test('an MGET\'s reply is read in place; a reply of the same shape to another op is decoded as before', async () => {
    const p = pool(node);
    await connected(p);
    node.reply = (m) => [m[0], Status.OK, [null, [Buffer.from('v'), 3, 0, 1]]];
    const [mget, coll] = await Promise.all([send(p, [0, Op.MGET, 'ns', ['a', 'b']]), send(p, [0, Op.COLL, 'ns', 'h', 1, ['a', 'b']])]);
    const view = mget[2] as MgetView;
    expect(view).toBeInstanceOf(MgetView);
    expect([view.count, view.valueLength(0), view.value(1)?.toString(), view.version(1), view.flags(1)]).toEqual([2, -1, 'v', 3, 1]);
    expect(coll[2]).toEqual([null, [Buffer.from('v'), 3, 0, 1]]); // msgpackr's arrays: COLL replies are not MGET entries
  });

  test('a request past its deadline fails with TIMEOUT; the link stays open and drops the late reply', async () => {
    let late = 0;
    const p = pool(node, { timeoutMs: 100, onLateReply: () => late++ });
    await connected(p);
    node.frozen = true;
    const started = now();
    expect(await codeOf(send(p, [0, Op.GET, 'ns', 'slow']))).toBe('TIMEOUT');
    const took = now() - started;
    expect(took).toBeGreaterThanOrEqual(95);
    expect(took).toBeLessThan(1500); // the deadline check, not a speed measure
    expect(p.inFlight).toBe(0);
    node.thaw();
    node.reply = (m) => [m[0], Status.OK, m[3]];
    expect((await send(p, [0, Op.GET, 'ns', 'next']))[2]).toBe('next');
    expect(late).toBe(1);
    expect(node.connections).toBe(1);
  });

  test('a lost connection fails waiting requests with NODE_UNAVAILABLE and reconnects with backoff', async () => {
    const p = pool(node, { timeoutMs: 5000 });
    await connected(p);
    node.frozen = true;
    const waiting = [send(p, [0, Op.PING]), send(p, [0, Op.PING])];
    await sleep(20);
    node.dropConnections();
    expect(await Promise.all(waiting.map(codeOf))).toEqual(['NODE_UNAVAILABLE', 'NODE_UNAVAILABLE']);
    node.frozen = false;
    await connected(p);
    expect((await send(p, [0, Op.PING]))[1]).toBe(Status.OK);
    expect(node.connections).toBe(2);
  });

  test('down (connection refused): fails at once while backing off, and recovers when the node is back', async () => {
    const port = node.port;
    await node.close();
    const p = pool(node, { timeoutMs: 5000 });
    for (let i = 0; i < 2; i++) {
      const err = (await send(p, [0, Op.PING]).catch((e: ProxyError) => e)) as ProxyError;
      expect(err).toMatchObject({ code: 'NODE_UNAVAILABLE', detail: { nodeId: 'n1', unreachable: true } }); // never sent
    }
    expect(p.unreachable).toBe(true);
    node = await FakeNode.start(port);
    await connected(p);
    expect((await send(p, [0, Op.PING]))[1]).toBe(Status.OK);
  });

  test('backpressure: writes queue while the socket pushes back and flush on drain, in order', async () => {
    const p = pool(node, { timeoutMs: 10_000 });
    await connected(p);
    node.pauseReading();
    node.reply = (m) => [m[0], Status.OK, m[4]];
    const big = Buffer.alloc(128 * 1024, 1);
    const count = 96; // 12 MiB: more than the socket and kernel buffers hold
    const replies = Array.from({ length: count }, (_, i) => send(p, [0, Op.SET, 0, 'ns', `k${i}`, big, 0, 0, 0, 0, null]));
    await sleep(50);
    expect(node.frames).toBeLessThan(count);
    node.resumeReading();
    const done = await Promise.all(replies);
    expect(done.map((r) => r[2])).toEqual(Array.from({ length: count }, (_, i) => `k${i}`));
  });

  test('over the in-flight cap: refused at once with NODE_UNAVAILABLE', async () => {
    const p = pool(node, { maxInFlight: 10, timeoutMs: 5000 });
    await connected(p);
    node.frozen = true;
    const held = Array.from({ length: 10 }, () => send(p, [0, Op.PING]));
    const err = await send(p, [0, Op.PING]).catch((e: ProxyError) => e);
    expect((err as ProxyError).code).toBe('NODE_UNAVAILABLE');
    expect((err as ProxyError).message).toContain('too many requests in flight');
    node.thaw();
    await Promise.all(held);
    expect(p.inFlight).toBe(0);
  });

  test('a wedged link (expired requests never answered) is reconnected', async () => {
    const p = pool(node, { timeoutMs: 30, wedgedMs: 100 });
    await connected(p);
    node.frozen = true;
    expect(await codeOf(send(p, [0, Op.PING]))).toBe('TIMEOUT');
    for (let i = 0; i < 100 && node.connections < 2; i++) await sleep(10);
    expect(node.connections).toBe(2);
  });

  test('a frame over the frame limit is refused before it is sent', async () => {
    const p = pool(node, { maxFrameBytes: 1024 });
    await connected(p);
    const huge = Buffer.alloc(2048);
    expect(await codeOf(send(p, [0, Op.SET, 0, 'ns', 'k', huge, 0, 0, 0, 0, null]))).toBe('TOO_LARGE');
    expect(node.frames).toBe(0);
  });
});

describe('breaker (opossum) per node', () => {
  function client(o: { volumeThreshold?: number; resetTimeoutMs?: number; timeoutMs?: number } = {}): { c: NodeClient; registry: Registry } {
    const registry = new Registry();
    const metrics = new UpstreamMetrics(registry, () => []);
    const p = pool(node, { timeoutMs: o.timeoutMs ?? 1000 });
    const c = new NodeClient(p, { volumeThreshold: o.volumeThreshold ?? 4, resetTimeoutMs: o.resetTimeoutMs ?? 200, errorThresholdPercentage: 50 }, metrics.forNode('n1'), log);
    opened.push(c);
    return { c, registry };
  }

  test('it counts a node\'s requests of one turn as one call: 6 timeouts in one turn stay under a volume threshold of 4', async () => {
    const { c } = client({ timeoutMs: 50 });
    await send(c, [0, Op.PING]);
    node.frozen = true;
    const codes = await Promise.all(Array.from({ length: 6 }, () => codeOf(send(c, [0, Op.GET, 'ns', 'k']))));
    expect(codes).toEqual(Array(6).fill('TIMEOUT'));
    expect(c.state).toBe('closed'); // two calls in the window (the PING's turn and this one)
    const more = await Promise.all(await inTurns(3, () => codeOf(send(c, [0, Op.GET, 'ns', 'k']))));
    expect(more).toEqual(Array(3).fill('TIMEOUT'));
    expect(c.state).toBe('open'); // 5 calls, 4 of them failed
  });

  test('each reply\'s latency reaches the upstream latency histogram', async () => {
    const { c, registry } = client();
    await send(c, [0, Op.PING]);
    node.frozen = true;
    const replies = Promise.all([send(c, [0, Op.GET, 'ns', 'a']), send(c, [0, Op.GET, 'ns', 'b'])]);
    await sleep(80);
    node.thaw();
    await replies;
    const text = await registry.metrics();
    const value = (name: string): number => Number(new RegExp(`^${name}\\{node="n1"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(value('shardcache_proxy_upstream_latency_seconds_count')).toBe(3);
    expect(value('shardcache_proxy_upstream_latency_seconds_sum')).toBeGreaterThanOrEqual(2 * 0.075); // the two held 80 ms
  });

  test('replies of any status never trip it', async () => {
    const { c } = client();
    node.reply = (m) => [m[0], m[3] === 'miss' ? Status.MISS : Status.NOT_PRIMARY, 'x', 0, null];
    for (let i = 0; i < 20; i++) await send(c, [0, Op.GET, 'ns', i % 2 ? 'miss' : 'np']);
    expect(c.state).toBe('closed');
  });

  test('timeouts open it; open fails fast; the half-open PING probe closes it again', async () => {
    const { c, registry } = client({ timeoutMs: 50 });
    await send(c, [0, Op.PING]);
    node.frozen = true;
    const codes = await Promise.all(await inTurns(6, () => codeOf(send(c, [0, Op.GET, 'ns', 'k']))));
    expect(codes.every((code) => code === 'TIMEOUT')).toBe(true);
    expect(c.state).toBe('open');
    expect(c.healthy).toBe(false);
    expect(await registry.getSingleMetricAsString('shardcache_proxy_breaker_state')).toContain('shardcache_proxy_breaker_state{node="n1"} 2');

    const framesBefore = node.frames;
    const fast = await Promise.all(Array.from({ length: 50 }, () => codeOf(send(c, [0, Op.GET, 'ns', 'k']))));
    expect(new Set(fast)).toEqual(new Set(['NODE_UNAVAILABLE']));
    expect(node.frames).toBe(framesBefore); // failing fast: nothing was sent

    node.thaw();
    for (let i = 0; i < 100 && c.state !== 'closed'; i++) await sleep(10);
    expect(c.state).toBe('closed');
    expect((await send(c, [0, Op.PING]))[1]).toBe(Status.OK);
    const text = await registry.metrics();
    expect(text).toContain('shardcache_proxy_breaker_state{node="n1"} 0');
    expect(text).toMatch(/shardcache_proxy_upstream_requests_total\{node="n1",op="get",status="TIMEOUT"\} 6/);
    expect(text).toMatch(/shardcache_proxy_upstream_requests_total\{node="n1",op="get",status="BREAKER_OPEN"\} 50/);
  });
});
