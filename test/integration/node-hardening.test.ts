import { rawFrames, type RawFrames } from '../helpers/raw-frames';
import { encodeFrame } from '../../shared/frame';
import { createLogger } from '../../shared/log';
import { NodeConnection } from '../../shared/node-connection';
import { Op, SetCond, Status } from '../../shared/protocol';
import { clusterKeys } from '../../shared/topology/schema';
import { NodePool } from '../../proxy/upstream/pool';
import type { LinkState } from '../../proxy/upstream/link';
import { startProgram, type Started } from '../helpers/process';
import { electedOne, shardNodeSuite, waitFor, type ShardNode } from '../helpers/shard-nodes';

/**
 * The storage node's frame port against hostile peers, over real TCP: the connection cap, the
 * idle timeout (and the proxy's keepalive against it), the incomplete-frame timeout, the input
 * budget, the namespace limit, and NS_POLICY in cluster mode. Timeouts are short here so the
 * bounds are reached quickly.
 */
jest.setTimeout(60_000);

const suite = shardNodeSuite();
const started: Started[] = [];
const closers: Array<() => unknown> = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const log = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  for (const node of started.splice(0)) expect(await node.stop()).toEqual({ code: 0, signal: null });
});

/** A standalone node with `extra` flags; stopped after the file. */
async function startNode(extra: string[]): Promise<number> {
  const node = await startProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0', '--max-memory', '64mb', ...extra]);
  started.push(node);
  return node.ready.port as number;
}

/** A connection closed after the test. */
async function connect(port: number): Promise<NodeConnection> {
  const conn = await NodeConnection.connect(port);
  conn.socket.on('error', () => undefined);
  closers.push(() => conn.close());
  return conn;
}

/** STATS on a connection of its own (a long-lived one could be closed as idle). */
async function stats(port: number): Promise<Record<string, any>> {
  const conn = await NodeConnection.connect(port);
  try {
    return (await conn.request(Op.STATS))[2] as Record<string, any>;
  } finally {
    await conn.close();
  }
}

type Raw = RawFrames;

/** A raw socket that collects the frames it gets (closed after the test). */
async function raw(port: number): Promise<Raw> {
  const r = await rawFrames(port);
  closers.push(() => r.socket.destroy());
  return r;
}

/** Calls `fn` every `ms` until the test ends. */
function every(ms: number, fn: () => void): void {
  const timer = setInterval(fn, ms);
  closers.push(() => clearInterval(timer));
}

describe('connection cap', () => {
  test('a connection past --max-connections gets one BUSY frame and is closed; a freed place is served', async () => {
    const port = await startNode(['--max-connections', '2']);
    const a = await connect(port);
    const b = await connect(port);
    expect((await a.request(Op.PING))[1]).toBe(Status.OK);
    expect((await b.request(Op.PING))[1]).toBe(Status.OK);
    const refused = await raw(port);
    await refused.closed;
    expect(refused.frames).toEqual([[0, Status.BUSY, 'max number of connections reached (2)']]);
    await a.close();
    await waitFor('the freed place', async () => ((await b.request(Op.STATS))[2] as Record<string, any>).connections === 1);
    const c = await connect(port);
    expect((await c.request(Op.PING))[1]).toBe(Status.OK);
    const limits = ((await c.request(Op.STATS))[2] as Record<string, any>).connectionLimits;
    expect(limits.refused).toBeGreaterThanOrEqual(1);
  });
});

describe('idle timeout', () => {
  const IDLE_MS = 300;
  let port: number;
  beforeAll(async () => {
    port = await startNode(['--idle-timeout-ms', String(IDLE_MS)]);
  });

  test('a silent connection is closed after the idle timeout; one that sends stays open', async () => {
    const active = await raw(port);
    let id = 1;
    every(50, () => active.socket.write(encodeFrame([id++, Op.PING])));
    const silent = await raw(port);
    const from = performance.now();
    const closedAt = await silent.closed;
    expect(silent.frames).toEqual([]);
    expect(closedAt - from).toBeGreaterThanOrEqual(IDLE_MS / 2); // not before the timeout (less a sweep's slack)
    expect(closedAt - from).toBeLessThan(10_000);
    await sleep(3 * IDLE_MS);
    expect(active.socket.destroyed).toBe(false);
    expect(active.frames.length).toBeGreaterThan(10);
    expect(active.frames.every((f) => f[1] === Status.OK)).toBe(true);
  });

  test('an invalidation subscriber stays open while quiet, and still gets its pushes', async () => {
    const subscriber = await raw(port);
    subscriber.socket.write(encodeFrame([1, Op.SUBSCRIBE_INVALIDATIONS, 'near', ['hot']]));
    await waitFor('the subscription', () => subscriber.frames.length === 1);
    await sleep(4 * IDLE_MS);
    expect(subscriber.socket.destroyed).toBe(false);
    const writer = await connect(port);
    expect((await writer.request(Op.SET, 0, 'near', 'hot', Buffer.from('v'), 0, 0, 0, 0, null))[1]).toBe(Status.OK);
    await waitFor('the push', () => subscriber.frames.length === 2);
    expect(subscriber.frames[1]).toEqual([-1, Op.INVALIDATION, 'near', 'hot']);
  });

  test("a proxy pool's links PING when idle and keep their connections", async () => {
    const states: LinkState[] = [];
    const kept = pool(port, IDLE_MS / 3, states);
    await waitFor('two open links', () => kept.connected === 2);
    const before = await stats(port);
    await sleep(5 * IDLE_MS);
    expect(kept.connected).toBe(2);
    expect(states).toEqual(['open', 'open']);
    expect((await stats(port)).connectionsTotal - before.connectionsTotal).toBe(1); // the STATS connection only
    expect((await ping(kept))[1]).toBe(Status.OK);
  });

  test('without keepalive, links the node closed as idle are re-dialled at once and a request right after is not lost', async () => {
    const slowPort = await startNode(['--idle-timeout-ms', '1200']); // links that lived over a second re-dial without backoff
    const states: LinkState[] = [];
    const idle = pool(slowPort, 0, states);
    await waitFor('two open links', () => idle.connected === 2);
    await waitFor('the node to close them as idle', async () => (await stats(slowPort)).connectionLimits.idleClosed >= 2, 10_000, 20);
    expect((await ping(idle))[1]).toBe(Status.OK);
    expect(states).not.toContain('down');
  });
});

/** A proxy pool of two links to the node at `port`; closed after the test. */
function pool(port: number, keepaliveMs: number, states: LinkState[]): NodePool {
  const p = new NodePool({
    nodeId: 'n', addr: `127.0.0.1:${port}`, size: 2, maxInFlight: 100, timeoutMs: 2000, backoff: { baseMs: 10, maxMs: 50 },
    random: Math.random, now: () => performance.now(), log, keepaliveMs, onLinkState: (s) => states.push(s),
  });
  closers.push(() => p.close());
  return p;
}

const ping = (p: NodePool): Promise<unknown[]> => new Promise((resolve, reject) => p.send([0, Op.PING], (err, reply) => (err ? reject(err) : resolve(reply!))));

describe('request timeout (slow loris)', () => {
  const REQUEST_MS = 300;
  let port: number;
  beforeAll(async () => {
    port = await startNode(['--request-timeout-ms', String(REQUEST_MS)]);
  });

  test('a frame trickled one byte every 50 ms that never completes gets PROTOCOL_ERROR and is closed', async () => {
    const loris = await raw(port);
    const frame = encodeFrame([1, Op.PING, Buffer.alloc(200)]);
    let sent = 0;
    const from = performance.now();
    every(50, () => {
      if (sent < frame.length - 1 && !loris.socket.destroyed) loris.socket.write(frame.subarray(sent, ++sent));
    });
    const closedAt = await loris.closed;
    expect(loris.frames).toEqual([[0, Status.PROTOCOL_ERROR, `frame not completed within ${REQUEST_MS} ms`]]);
    expect(closedAt - from).toBeGreaterThanOrEqual(REQUEST_MS / 2);
    expect(closedAt - from).toBeLessThan(5000); // long before the frame could have been complete (10 s)
    expect((await stats(port)).connectionLimits.slowFrames).toBe(1);
  });

  test('active connections stay open: whole frames, and frames split in pieces that each complete in time', async () => {
    const whole = await raw(port);
    const pieces = await raw(port);
    let id = 1;
    every(50, () => whole.socket.write(encodeFrame([id++, Op.PING])));
    let pieceId = 1;
    let pending: Buffer = Buffer.alloc(0);
    every(20, () => {
      if (pending.length === 0) pending = encodeFrame([pieceId++, Op.PING]);
      pieces.socket.write(pending.subarray(0, 2));
      pending = pending.subarray(2);
    });
    await sleep(5 * REQUEST_MS);
    expect(whole.socket.destroyed).toBe(false);
    expect(pieces.socket.destroyed).toBe(false);
    expect(pieces.frames.length).toBeGreaterThan(5);
    expect(pieces.frames.every((f) => f[1] === Status.OK)).toBe(true);
  });
});

describe('input budget', () => {
  test('the connection whose data crosses --input-budget gets BUSY and is closed; the others go on', async () => {
    const port = await startNode(['--max-item-bytes', '16kb', '--max-frame-bytes', '64kb', '--input-budget', '100kb', '--request-timeout-ms', '20000']);
    const big = encodeFrame([1, Op.PING, Buffer.alloc(62_000)]);
    const a = await raw(port);
    a.socket.write(big.subarray(0, 60_000));
    await waitFor('the node to hold the first part', async () => (await stats(port)).connectionLimits.inputBufferedBytes >= 60_000, 10_000, 50);
    const b = await raw(port);
    b.socket.write(encodeFrame([1, Op.PING, Buffer.alloc(50_000)]).subarray(0, 45_000));
    await b.closed;
    expect(b.frames).toEqual([[0, Status.BUSY, 'input buffer budget exhausted (102400 bytes for incomplete frames); retry later']]);
    a.socket.write(big.subarray(60_000));
    await waitFor('the reply to the first frame', () => a.frames.length === 1);
    expect(a.frames[0]).toEqual([1, Status.OK, 'PONG']);
    const c = await raw(port); // the refused connection's bytes were given back
    c.socket.write(encodeFrame([1, Op.PING, Buffer.alloc(50_000)]));
    await waitFor('the reply to a large frame', () => c.frames.length === 1);
    expect(c.frames[0]).toEqual([1, Status.OK, 'PONG']);
    expect((await stats(port)).connectionLimits.budgetRefusals).toBe(1);
  });
});

describe('namespaces (standalone)', () => {
  test('10,000 SET XX over fresh namespaces create none; past --max-namespaces new ones are refused, policy and existing ones served', async () => {
    const port = await startNode(['--max-namespaces', '8']);
    const conn = await connect(port);
    const misses = await Promise.all(Array.from({ length: 10_000 }, (_, i) =>
      conn.request(Op.SET, 0, `fresh${i}`, 'k', Buffer.from('v'), 0, 0, SetCond.XX, 0, null)));
    expect(misses.every((r) => r[1] === Status.NOT_STORED)).toBe(true);
    const others = await Promise.all([
      conn.request(Op.SET, 0, 'cas', 'k', Buffer.from('v'), 0, 0, 0, 99, null), conn.request(Op.DELETE, 0, 'del', 'k'),
      conn.request(Op.INVALIDATE, 0, 'inv', null), conn.request(Op.EXPIRE, 0, 'exp', 'k', 1000), conn.request(Op.INCR, 0, 'incr', 'k', 1.5, 0),
    ]);
    expect(others.map((r) => r[1])).toEqual([Status.VERSION_CONFLICT, Status.OK, Status.OK, Status.OK, Status.BAD_REQUEST]);
    expect(Object.keys(((await conn.request(Op.STATS))[2] as Record<string, any>).namespaces)).toEqual([]);

    expect((await conn.request(Op.NS_POLICY, 'managed', { quotaBytes: 1_000_000 }))[1]).toBe(Status.OK); // standalone: taken
    for (let i = 0; i < 8; i++) expect((await conn.request(Op.SET, 0, `ns${i}`, 'k', Buffer.from('v'), 0, 0, 0, 0, null))[1]).toBe(Status.OK);
    const refused = await conn.request(Op.SET, 0, 'one-more', 'k', Buffer.from('v'), 0, 0, 0, 0, null);
    expect(refused.slice(1)).toEqual([Status.OVER_QUOTA, 'too many namespaces (8); set a namespace policy or reuse one']);
    expect((await conn.request(Op.SET, 0, 'managed', 'k', Buffer.from('v'), 0, 0, 0, 0, null))[1]).toBe(Status.OK);
    expect((await conn.request(Op.SET, 0, 'ns0', 'k2', Buffer.from('v'), 0, 0, 0, 0, null))[1]).toBe(Status.OK);
  });
});

describe('cluster mode', () => {
  const cluster = 'hardening';
  const set = (n: ShardNode, epoch: number, ns: string) => n.conn.request(Op.SET, epoch, ns, 'k', Buffer.from(ns), 0, 0, 0, 0, null);

  test('NS_POLICY is refused; a replica applies every namespace its primary accepted, past its own limit; links survive idle timeouts', async () => {
    const quick = ['--idle-timeout-ms', '300'];
    const [primary] = await suite.start(cluster, 1, ['--max-namespaces', '3', ...quick]);
    every(100, () => void primary.conn.request(Op.PING).catch(() => undefined));
    const [, , epoch] = await electedOne([primary]);
    const [replica] = await suite.start(cluster, 1, ['--max-namespaces', '1', ...quick]);
    every(100, () => void replica.conn.request(Op.PING).catch(() => undefined));
    await electedOne([primary, replica]);

    const policy = await primary.conn.request(Op.NS_POLICY, 'c0', { maxItemBytes: 1_000_000 });
    expect(policy.slice(1)).toEqual([Status.BAD_REQUEST, 'namespace policy is set through etcd (shardctl ns set)']);
    for (const ns of ['c0', 'c1', 'c2']) expect((await set(primary, epoch, ns))[1]).toBe(Status.OK);
    expect((await set(primary, epoch, 'c3')).slice(1, 3)).toEqual([Status.OVER_QUOTA, 'too many namespaces (3); set a namespace policy or reuse one']);
    await suite.client.put(clusterKeys(cluster).namespace('managed')).value(JSON.stringify({ quotaBytes: 1_000_000 }));
    await waitFor('the policy namespace to be admitted', async () => (await set(primary, epoch, 'managed'))[1] === Status.OK, 10_000, 50);

    await waitFor('the replica to stream', async () => (await replica.stats()).replication.state === 'streaming', 10_000, 50);
    const syncs = (await replica.stats()).replication.syncs;
    await sleep(1500); // five idle timeouts with no write: the replication link must not be closed
    expect((await set(primary, epoch, 'c0'))[1]).toBe(Status.OK);
    for (const ns of ['c0', 'c1', 'c2', 'managed']) {
      await waitFor(`the replica to hold ${ns}`, async () => (await replica.conn.request(Op.GET, ns, 'k'))[1] === Status.OK, 10_000, 50);
    }
    expect((await replica.stats()).replication.syncs).toEqual(syncs);
  });
});
