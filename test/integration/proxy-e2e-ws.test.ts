import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { ShardcacheClient, ShardcacheRequestError } from '../../client/ws-client';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/shard-nodes';

jest.setTimeout(50_000);

let c: TestCluster;
let client: ShardcacheClient;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 2 });
  client = await ShardcacheClient.connect(c.wsUrl);
}, 40_000);

afterAll(async () => {
  await client?.close();
  await c?.stop();
});

test('hashes and sets through the typed client: command() answers Redis replies; WRONG_TYPE and bad commands reject', async () => {
  expect(await client.command('wsns', 'session:1', 'HSET', ['user', 'ada', 'cart', Buffer.from([1, 2])])).toBe(2);
  expect(await client.command('wsns', 'session:1', 'hget', ['user'])).toEqual(Buffer.from('ada'));
  expect(await client.command('wsns', 'session:1', 'HINCRBY', ['visits', '2'])).toBe(2);
  expect(await client.command('wsns', 'session:1', 'HMGET', ['user', 'nope'], { readPreference: 'replica' })).toEqual([Buffer.from('ada'), null]);
  expect(await client.command('wsns', '{t}a', 'SADD', ['x', 'y', 'z'])).toBe(3);
  expect(await client.command('wsns', '{t}b', 'SADD', ['y'])).toBe(1);
  expect(await client.command('wsns', '{t}a', 'SINTER', [], { keys: ['{t}b'] })).toEqual([Buffer.from('y')]);
  await expect(client.command('wsns', 'session:1', 'SADD', ['m'])).rejects.toMatchObject({ code: 'WRONG_TYPE' });
  await expect(client.command('wsns', 'session:1', 'LPUSH', ['m'])).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  await expect(client.get('wsns', 'session:1')).rejects.toMatchObject({ code: 'WRONG_TYPE' });
  expect(await client.delete('wsns', 'session:1')).toBe(true);
  expect(await client.command('wsns', 'session:1', 'HGETALL')).toEqual([]);
});

test('every op round trips through the typed client', async () => {
  const w = await client.set('wsns', 'doc', { title: 'hello', tags: ['a'] }, { ttlMs: 60_000, tags: ['t1'] });
  expect(w).toEqual({ version: expect.any(Number), expiresAt: expect.any(Number) });
  expect(await client.get('wsns', 'doc')).toEqual({ hit: true, value: { title: 'hello', tags: ['a'] }, version: w.version, ttlMs: expect.any(Number), flags: 1 });
  await client.set('wsns', 'bytes', Buffer.from([0, 1, 2, 255]), { flags: 4 });
  expect(await client.get('wsns', 'bytes')).toEqual({ hit: true, value: Buffer.from([0, 1, 2, 255]), version: expect.any(Number), ttlMs: null, flags: 4 });
  expect(await client.get('wsns', 'missing')).toEqual({ hit: false });
  expect(await client.incr('wsns', 'n', 3)).toMatchObject({ value: 3 });
  expect(await client.incr('wsns', 'n', 2n ** 60n)).toMatchObject({ value: 2n ** 60n + 3n });
  await expect(client.incr('wsns', 'doc', 1)).rejects.toMatchObject({ code: 'NOT_INTEGER' });
  await expect(client.set('wsns', 'doc', 'x', { ifVersion: w.version + 1000 })).rejects.toMatchObject({ code: 'VERSION_CONFLICT' });
  await expect(client.get('bad ns', 'k')).rejects.toBeInstanceOf(ShardcacheRequestError);
  expect(await client.expire('wsns', 'n', 100)).toBe(true);
  await new Promise((r) => setTimeout(r, 250));
  expect(await client.get('wsns', 'n')).toEqual({ hit: false });
  const many = await client.mget('wsns', ['doc', 'missing', 'bytes']);
  expect(many.map((m) => (m instanceof Error ? 'error' : m.hit))).toEqual([true, false, true]);
  await client.invalidate('wsns', 't1');
  expect(await client.get('wsns', 'doc')).toEqual({ hit: false });
  await client.invalidate('wsns');
  expect(await client.get('wsns', 'bytes')).toEqual({ hit: false });
  await client.set('wsns', 'gone', 1);
  expect(await client.delete('wsns', 'gone')).toBe(true);
  expect(await client.delete('wsns', 'gone')).toBe(false);
  await client.ping();
});

test('values cross between the HTTP and WebSocket APIs', async () => {
  await c.call('PUT', '/v1/cache/mixed/from-http', { value: { n: 1, s: 'é' } });
  expect(await client.get('mixed', 'from-http')).toMatchObject({ hit: true, value: { n: 1, s: 'é' } });
  await client.set('mixed', 'from-ws', [1, 'two', { three: 3 }]);
  expect((await c.call('GET', '/v1/cache/mixed/from-ws')).json.value).toEqual([1, 'two', { three: 3 }]);
  await client.set('mixed', 'bin', Buffer.from('raw'));
  expect((await c.call('GET', '/v1/cache/mixed/bin')).text).toBe('raw');
});

test('1,000 requests in flight on one connection, across both shards', async () => {
  const n = 1000;
  const writes = Array.from({ length: n }, (_, i) => client.set('pipe', `key-${i}`, { i }));
  expect(client.pending).toBe(n);
  const versions = await Promise.all(writes);
  expect(new Set(versions.map((v) => v.version)).size).toBeGreaterThan(n / 2);
  const reads = Array.from({ length: n }, (_, i) => client.get<{ i: number }>('pipe', `key-${i}`));
  expect(client.pending).toBe(n);
  const items = await Promise.all(reads);
  expect(items.map((it) => (it.hit ? it.value.i : -1))).toEqual(Array.from({ length: n }, (_, i) => i));
  const batch = await client.mget<{ i: number }>('pipe', Array.from({ length: n }, (_, i) => `key-${i}`));
  expect(batch.every((b, i) => !(b instanceof Error) && b.hit && b.value.i === i)).toBe(true);
  const shards = new Set<number>();
  for (let i = 0; i < 20; i++) shards.add(((await (await fetch(`${c.adminUrl}/v1/admin/route/pipe/key-${i}`)).json()) as { shardId: number }).shardId);
  expect(shards).toEqual(new Set([0, 1]));
});

const packr = new Packr({ useRecords: false } as ConstructorParameters<typeof Packr>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as unknown as ConstructorParameters<typeof Unpackr>[0]);

/** A raw WebSocket that records each message as the list of msgpack values it carries. */
async function rawSocket(url: string): Promise<{ socket: WebSocket; messages: unknown[][][] }> {
  const socket = new WebSocket(url);
  const messages: unknown[][][] = [];
  socket.on('message', (data: Buffer) => messages.push(unpackr.unpackMultiple(data) as unknown[][]));
  await new Promise((r) => socket.once('open', r));
  return { socket, messages };
}

test('a message may carry a batch of requests; replies share messages only with ?batch=1', async () => {
  const n = 200;
  const batch = Buffer.concat([
    ...Array.from({ length: n }, (_, i) => packr.pack([i + 1, 'set', 'batchns', `k${i}`, { i }])),
    packr.pack([n + 1, 'frobnicate']),
    packr.pack([n + 2, 'get', 'batchns', 'k7']),
  ]);
  const replies = (messages: unknown[][][]) => messages.flat();
  for (const query of ['', '?batch=1']) {
    const { socket, messages } = await rawSocket(`${c.wsUrl}${query}`);
    socket.send(batch);
    await waitFor('every reply of the batch', async () => replies(messages).length >= n + 2, 10_000, 10);
    const byId = new Map(replies(messages).map((r) => [r[0] as number, r]));
    expect(byId.size).toBe(n + 2);
    for (let i = 1; i <= n; i++) expect(byId.get(i)).toEqual([i, 'ok', expect.any(Number), null]);
    expect(byId.get(n + 1)?.slice(0, 3)).toEqual([n + 1, 'error', 'BAD_REQUEST']);
    expect(byId.get(n + 2)?.slice(0, 2)).toEqual([n + 2, 'ok']);
    if (query === '') expect(messages.every((m) => m.length === 1)).toBe(true);
    else expect(messages.length).toBeLessThan(n / 2); // replies of a turn come together
    // Garbage after a valid request: the request runs, the rest gets one id-0 error, the socket stays.
    const before = replies(messages).length;
    socket.send(Buffer.concat([packr.pack([900, 'ping']), Buffer.from([0xda, 0xff, 0xff])]));
    await waitFor('the ping and the error', async () => replies(messages).length >= before + 2, 5000, 10);
    expect(replies(messages).slice(before).map((r) => r.slice(0, 3)).sort()).toEqual([[0, 'error', 'BAD_REQUEST'], [900, 'ok', 'pong']]);
    socket.close();
  }
  expect((await client.get<{ i: number }>('batchns', 'k199')).hit).toBe(true);
});

test('the client keeps its batches under maxBatchBytes, so a proxy with a small message limit serves them', async () => {
  const small = await c.startProxy(['--max-body-bytes', '8kb']);
  const url = `${small.httpUrl.replace('http', 'ws')}/v1/ws`;
  const writes = (client: ShardcacheClient) => Promise.all(Array.from({ length: 500 }, (_, i) => client.set('smallmsg', `key-${i}`, { i })));
  try {
    const fitting = await ShardcacheClient.connect(url, { maxBatchBytes: 4096 });
    const written = await writes(fitting); // ~20 KB of requests in one turn, sent as messages of <= 4 KiB
    expect(written.every((w) => Number.isInteger(w.version) && w.version > 0)).toBe(true); // each was written, none refused
    expect(await fitting.get('smallmsg', 'key-0')).toMatchObject({ hit: true, value: { i: 0 } });
    expect(await fitting.get('smallmsg', 'key-499')).toMatchObject({ hit: true, value: { i: 499 } });
    await fitting.close();
    const oversized = await ShardcacheClient.connect(url); // default 64 KiB batches: the proxy drops the connection
    await expect(writes(oversized)).rejects.toMatchObject({ code: 'CONNECTION_CLOSED' });
  } finally {
    expect(await small.proc.stop()).toEqual({ code: 0, signal: null });
  }
});

test('more requests in one turn than a message may carry: the client splits them, every one is answered', async () => {
  const n = 9000; // pings are ~10 bytes: the 64 KiB byte cut alone would put ~6,500 in one message
  await Promise.all(Array.from({ length: n }, () => client.ping())); // a request the proxy refused would reject
  expect(client.pending).toBe(0);
});

test('requests made just before close() still go out', async () => {
  const other = await ShardcacheClient.connect(c.wsUrl);
  const write = other.set('closing', 'k', 42).catch((err: Error) => err);
  await other.close();
  await write; // settles either way: answered before the close, or CONNECTION_CLOSED
  expect(await client.get('closing', 'k')).toMatchObject({ hit: true, value: 42 });
});

test('SIGTERM closes WebSockets with 1001 and exits 0', async () => {
  const other = await c.startProxy();
  await waitFor('the second proxy to load the topology', async () => (await httpCall(other.adminUrl, 'GET', '/healthz')).status === 200, 10_000, 50);
  const ws = await ShardcacheClient.connect(`${other.httpUrl.replace('http', 'ws')}/v1/ws`);
  expect(await ws.get('pipe', 'key-1')).toMatchObject({ hit: true, value: { i: 1 } });
  const exit = await other.proc.stop();
  expect(exit).toEqual({ code: 0, signal: null });
  await expect(ws.ping()).rejects.toMatchObject({ code: 'CONNECTION_CLOSED', message: expect.stringContaining('1001') });
  expect(other.proc.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
});
