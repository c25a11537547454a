import { createClient, RESP_TYPES, type RedisClientType } from 'redis';
import { startTestCluster, type TestCluster } from '../helpers/cluster';

/**
 * A second client library, `redis` (node-redis), through the proxy's RESP front on a 2-shard
 * cluster: the connection handshake it does on its own (CLIENT SETINFO, SELECT-free), and the
 * cache patterns its users write (a session store with TTLs, counters, bulk reads, pipelines).
 */
jest.setTimeout(50_000);

let c: TestCluster;
let client: RedisClientType;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 1 });
  client = createClient({ url: `redis://127.0.0.1:${c.respPort}`, socket: { reconnectStrategy: false } });
  client.on('error', () => undefined); // failures surface through the commands' promises
  await client.connect();
}, 40_000);

afterAll(async () => {
  if (client?.isOpen) client.destroy();
  await c?.stop();
});

/** The message of the error `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message;
}

test('connects and answers PING, ECHO, COMMAND COUNT', async () => {
  expect(client.isReady).toBe(true);
  expect(await client.ping()).toBe('PONG');
  expect(await client.echo('hi')).toBe('hi');
  expect(await client.sendCommand(['COMMAND', 'COUNT'])).toBeGreaterThan(30);
});

test('a session store: SET with EX, GET, refresh by EXPIRE, TTL, DEL', async () => {
  const sid = 'sess:7f3a';
  const session = JSON.stringify({ user: 'ada', cart: [1, 2, 3] });
  expect(await client.set(sid, session, { expiration: { type: 'EX', value: 1800 } })).toBe('OK');
  expect(JSON.parse((await client.get(sid))!)).toEqual({ user: 'ada', cart: [1, 2, 3] });
  expect(await client.ttl(sid)).toBe(1800);
  expect(await client.expire(sid, 3600)).toBe(1);
  expect(await client.ttl(sid)).toBe(3600);
  expect(await client.pExpire(sid, 60_000)).toBe(1);
  expect(await client.pTTL(sid)).toBeLessThanOrEqual(60_000);
  expect(await client.del(sid)).toBe(1);
  expect(await client.get(sid)).toBeNull();
  expect(await client.ttl(sid)).toBe(-2);
});

test('an object cache: SET NX as a lock, MSET/MGET over both shards, counters', async () => {
  expect(await client.set('lock:report', 'owner-1', { condition: 'NX', expiration: { type: 'PX', value: 30_000 } })).toBe('OK');
  expect(await client.set('lock:report', 'owner-2', { condition: 'NX' })).toBeNull();
  const keys = Array.from({ length: 40 }, (_, i) => `obj:${i}`);
  expect(await client.mSet(keys.map((k) => [k, `v-${k}`] as [string, string]))).toBe('OK');
  const values = await client.mGet([...keys, 'obj:missing']);
  expect(values).toEqual([...keys.map((k) => `v-${k}`), null]);
  expect(await client.incr('hits')).toBe(1);
  expect(await client.incrBy('hits', 9)).toBe(10);
  expect(await client.decr('hits')).toBe(9);
  expect(await client.exists([...keys.slice(0, 5), 'obj:missing'])).toBe(5);
  expect(await client.del(keys)).toBe(40);
});

test('binary values round-trip (Buffer replies)', async () => {
  const bytes = Buffer.from([0, 255, 13, 10, 1, 128, 0]);
  await client.set('bin:a', bytes);
  const back = await client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get('bin:a');
  expect(Buffer.compare(back!, bytes)).toBe(0);
});

test('a pipeline of 1,000 commands (node-redis auto-pipelining) answers each command in order', async () => {
  const sets = Array.from({ length: 500 }, (_, i) => client.set(`pipe:${i}`, String(i)));
  const gets = Array.from({ length: 500 }, (_, i) => client.get(`pipe:${i}`));
  expect(new Set(await Promise.all(sets))).toEqual(new Set(['OK']));
  expect(await Promise.all(gets)).toEqual(Array.from({ length: 500 }, (_, i) => String(i)));
});

test("errors reject with Redis's messages and leave the connection usable", async () => {
  await client.set('err:text', 'abc');
  expect(await rejection(client.incr('err:text'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(client.sendCommand(['NOSUCHCMD', 'x']))).toBe("ERR unknown command 'NOSUCHCMD', with args beginning with: 'x' ");
  expect(await rejection(client.sendCommand(['GET']))).toBe("ERR wrong number of arguments for 'get' command");
  expect(await client.ping()).toBe('PONG');
});
