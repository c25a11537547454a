import { rawFrames, type RawFrames } from '../helpers/raw-frames';
import { encodeFrame } from '../../shared/frame';
import { NodeConnection } from '../../shared/node-connection';
import { Op, SetCond, Status } from '../../shared/protocol';
import { runProgram, startProgram, type Started } from '../helpers/process';

const NODE = 'storage-node/main.js';
let node: Started;
let port: number;
let adminPort: number;
let conn: NodeConnection;

beforeAll(async () => {
  node = await startProgram(NODE, ['--port', '0', '--admin-port', '0', '--max-memory', '64mb', '--max-frame-bytes', '2mb']);
  port = node.ready.port as number;
  adminPort = node.ready.adminPort as number;
  conn = await NodeConnection.connect(port);
});

afterAll(async () => {
  await conn?.close();
  const exit = await node?.stop();
  expect(exit).toEqual({ code: 0, signal: null });
});

/** A raw socket that collects decoded reply frames, for tests that must control the bytes. */
const rawClient = (): Promise<RawFrames> => rawFrames(port);

const until = async (cond: () => boolean, ms = 5000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};
const tick = (ms = 2) => new Promise((r) => setTimeout(r, ms));

async function stats(): Promise<Record<string, any>> {
  const reply = await conn.request(Op.STATS);
  expect(reply[1]).toBe(Status.OK);
  return reply[2] as Record<string, any>;
}

describe('storage node over TCP', () => {
  test('PING, SET then GET returns the bytes, version and expiry', async () => {
    expect((await conn.request(Op.PING)).slice(1)).toEqual([Status.OK, 'PONG']);
    const set = await conn.request(Op.SET, 0, 'app', 'greeting', Buffer.from('hello'), 60_000, 7, SetCond.ALWAYS, 0, null);
    expect(set[1]).toBe(Status.OK);
    const [version, expiresAt] = set.slice(2) as number[];
    expect(expiresAt).toBeGreaterThan(Date.now() + 50_000);
    const get = await conn.request(Op.GET, 'app', 'greeting');
    expect(get.slice(1)).toEqual([Status.OK, expect.anything(), version, expiresAt, 7]);
    expect(Buffer.from(get[2] as Uint8Array).toString()).toBe('hello');
    expect((await conn.request(Op.GET, 'app', 'absent')).slice(1)).toEqual([Status.MISS]);
  });

  test('every operation answers with its documented reply', async () => {
    await conn.request(Op.SET, 0, 'ops', 'a', Buffer.from('1'), 0, 0, 0, 0, ['t1']);
    expect((await conn.request(Op.SET, 0, 'ops', 'a', Buffer.from('x'), 0, 0, SetCond.NX, 0, null))[1]).toBe(Status.NOT_STORED);
    const conflict = await conn.request(Op.SET, 0, 'ops', 'a', Buffer.from('x'), 0, 0, 0, 999_999, null);
    expect(conflict[1]).toBe(Status.VERSION_CONFLICT);
    expect((await conn.request(Op.INCR, 0, 'ops', 'a', 41, 0)).slice(1, 3)).toEqual([Status.OK, 42]);
    expect((await conn.request(Op.INCR, 0, 'ops', 'a', 9223372036854775807n, 0))[1]).toBe(Status.OVERFLOW);
    expect((await conn.request(Op.EXPIRE, 0, 'ops', 'a', 30_000)).slice(1)).toEqual([Status.OK, 1]);
    const ttl = (await conn.request(Op.TTL, 'ops', 'a'))[2] as number;
    expect(ttl).toBeGreaterThan(29_000);
    expect((await conn.request(Op.PERSIST, 0, 'ops', 'a')).slice(1)).toEqual([Status.OK, 1]);
    expect((await conn.request(Op.TTL, 'ops', 'a')).slice(1)).toEqual([Status.OK, -1]);
    expect((await conn.request(Op.EXISTS, 'ops', ['a', 'a', 'nope'])).slice(1)).toEqual([Status.OK, 2]);
    const mget = await conn.request(Op.MGET, 'ops', ['nope', 'a']);
    expect((mget[2] as unknown[])[0]).toBeNull();
    expect(Buffer.from(((mget[2] as unknown[][])[1][0]) as Uint8Array).toString()).toBe('42');
    expect((await conn.request(Op.INVALIDATE, 0, 'ops', 't1'))[1]).toBe(Status.OK);
    expect((await conn.request(Op.GET, 'ops', 'a'))[1]).toBe(Status.MISS);
    await conn.request(Op.SET, 0, 'ops', 'b', Buffer.from('2'), 0, 0, 0, 0, null);
    expect((await conn.request(Op.DELETE, 0, 'ops', 'b')).slice(1)).toEqual([Status.OK, 1]);
    expect((await conn.request(Op.DELETE, 0, 'ops', 'b')).slice(1)).toEqual([Status.OK, 0]);
    expect((await conn.request(Op.NS_POLICY, 'small', { maxItemBytes: 100 }))[1]).toBe(Status.OK);
    const big = await conn.request(Op.SET, 0, 'small', 'k', Buffer.alloc(200), 0, 0, 0, 0, null);
    expect(big[1]).toBe(Status.TOO_LARGE);
    expect(typeof big[2]).toBe('string');
  });

  test('bad arguments get BAD_REQUEST or UNKNOWN_OP and the connection keeps working', async () => {
    expect((await conn.request(Op.GET, 'bad ns!', 'k'))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(Op.GET, 'ns', ''))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(Op.SET, 0, 'ns', 'k', 12, 0, 0, 0, 0, null))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(Op.SET, 0, 'ns', 'k', Buffer.from('v'), -5, 0, 0, 0, null))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(Op.INCR, 0, 'ns', 'k', 1.5, 0))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(Op.NS_POLICY, 'ns', { eviction: 'fifo' }))[1]).toBe(Status.BAD_REQUEST);
    expect((await conn.request(250))[1]).toBe(Status.UNKNOWN_OP);
    expect((await conn.request(Op.SET, 3, 'ns', 'k', Buffer.from('v'), 0, 0, 0, 0, null))[1]).toBe(Status.NOT_PRIMARY);
    expect((await conn.request(Op.PING))[1]).toBe(Status.OK);
  });

  test('a pipelined burst of 20,000 requests is answered completely and in order', async () => {
    const n = 20_000;
    const replies: unknown[][] = [];
    await new Promise<void>((resolve, reject) => {
      for (let i = 0; i < n; i++) {
        const body = i % 2 === 0
          ? [Op.SET, 0, 'burst', `k${i >> 1}`, Buffer.from(`v${i >> 1}`), 0, 0, 0, 0, null]
          : [Op.GET, 'burst', `k${i >> 1}`];
        conn.send(body, (err, reply) => {
          if (err) return reject(err);
          replies[i] = reply!;
          if (i === n - 1) resolve();
        });
      }
    });
    expect(replies.filter(Boolean)).toHaveLength(n);
    for (let i = 1; i < n; i += 2) {
      expect(replies[i][1]).toBe(Status.OK);
      expect(Buffer.from(replies[i][2] as Uint8Array).toString()).toBe(`v${i >> 1}`);
    }
  });

  test('frames split at every byte boundary are answered exactly once each', async () => {
    const stream = Buffer.concat([
      encodeFrame([1, Op.SET, 0, 'split', 'key', Buffer.from('value'), 0, 0, 0, 0, null]),
      encodeFrame([2, Op.GET, 'split', 'key']),
      encodeFrame([3, Op.PING]),
    ]);
    const { socket, frames } = await rawClient();
    for (let cut = 1; cut < stream.length; cut++) {
      const before = frames.length;
      socket.write(stream.subarray(0, cut));
      await tick();
      socket.write(stream.subarray(cut));
      await until(() => frames.length === before + 3);
      expect(frames.slice(before).map((f) => [f[0], f[1]])).toEqual([[1, Status.OK], [2, Status.OK], [3, Status.OK]]);
    }
    socket.destroy();
  });

  test('a client that disconnects mid-frame leaves the node serving others', async () => {
    const base = (await stats()).connections as number;
    const { socket, closed } = await rawClient();
    const frame = encodeFrame([1, Op.SET, 0, 'mid', 'k', Buffer.alloc(10_000, 1), 0, 0, 0, 0, null]);
    socket.write(frame.subarray(0, 5000));
    await tick(20);
    socket.destroy();
    await closed;
    // Sockets of earlier tests may still be closing when `base` is read: the count must come back
    // to at most `base`, i.e. the node let go of the client that left mid-frame.
    let now = Infinity;
    for (let i = 0; i < 100 && now > base; i++) {
      now = (await stats()).connections as number;
      await tick(10);
    }
    expect(now).toBeLessThanOrEqual(base);
    expect((await conn.request(Op.GET, 'mid', 'k'))[1]).toBe(Status.MISS);
  });

  test('garbage gets a PROTOCOL_ERROR frame and the connection is closed; the node lives on', async () => {
    const { socket, frames, closed } = await rawClient();
    socket.write(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]));
    await closed;
    expect(frames).toHaveLength(1);
    expect(frames[0].slice(0, 2)).toEqual([0, Status.PROTOCOL_ERROR]);
    expect(String(frames[0][2])).toMatch(/msgpack/);
    expect((await conn.request(Op.PING))[1]).toBe(Status.OK);
  });

  test('a frame header over the limit is refused before its body arrives', async () => {
    const { socket, frames, closed } = await rawClient();
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1024 ** 3);
    socket.write(header);
    await closed;
    expect(frames[0].slice(0, 2)).toEqual([0, Status.PROTOCOL_ERROR]);
    expect(String(frames[0][2])).toMatch(/exceeds the limit/);
  });

  test('a client that never reads its replies does not make the node buffer them all', async () => {
    await conn.request(Op.SET, 0, 'bp', 'big', Buffer.alloc(512 * 1024, 3), 0, 0, 0, 0, null);
    const { socket } = await rawClient();
    socket.pause();
    const get = encodeFrame([1, Op.GET, 'bp', 'big']);
    const burst = Buffer.concat(Array.from({ length: 200 }, () => get));
    for (let i = 0; i < 10; i++) socket.write(burst); // 2,000 replies = 1 GB if all were buffered
    await tick(1500);
    const rss = await metric('shardcache_node_process_resident_memory_bytes');
    expect(rss).toBeLessThan(400 * 1024 * 1024);
    socket.destroy();
    expect((await conn.request(Op.PING))[1]).toBe(Status.OK);
  });

  test('/metrics and /healthz on the admin port', async () => {
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    for (const name of ['shardcache_node_items', 'shardcache_node_bytes', 'shardcache_node_limit_bytes', 'shardcache_node_hits_total',
      'shardcache_node_misses_total', 'shardcache_node_evictions_total', 'shardcache_node_expired_total', 'shardcache_node_ops_total']) {
      expect(text).toContain(name);
    }
    expect(text).toMatch(/shardcache_node_ops_total\{op="get"\} [1-9]/);
    expect(text).toMatch(/shardcache_node_limit_bytes 67108864/);
    expect((await fetch(`http://127.0.0.1:${adminPort}/nope`)).status).toBe(404);
  });
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return Number(line?.split(' ')[1]);
}

describe('storage node configuration', () => {
  test('a bad flag value exits non-zero with a message naming the flag', async () => {
    const result = await runProgram(NODE, ['--max-memory', 'lots']);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--max-memory/);
    expect(result.stderr).toMatch(/expected a size/);
  });

  test('environment variables configure it too, and are validated the same way', async () => {
    const result = await runProgram(NODE, [], { SHARDCACHE_NODE_EVICTION: 'random' });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/expected one of lru, lfu/);
  });
});
