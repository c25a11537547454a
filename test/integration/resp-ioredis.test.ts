import Redis from 'ioredis';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { rejection } from '../helpers/resp-client';

jest.setTimeout(50_000);

let c: TestCluster;
let redis: Redis;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 1 });
  redis = new Redis({ host: '127.0.0.1', port: c.respPort, maxRetriesPerRequest: 0, lazyConnect: true });
  await redis.connect();
}, 40_000);

afterAll(async () => {
  redis?.disconnect();
  await c?.stop();
});

/** The shard that owns `key` in namespace `ns`, from the proxy's admin route. */
async function shardOf(ns: string, key: string): Promise<number> {
  return ((await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${encodeURIComponent(key)}`)).json()) as { shardId: number }).shardId;
}

/** `count` keys with `prefix` spread over both shards (at least one on each). */
async function keysOnBothShards(prefix: string, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, (_, i) => `${prefix}${i}`);
  const shards = new Set(await Promise.all(keys.map((k) => shardOf('default', k))));
  expect(shards.size).toBe(2);
  return keys;
}


test('connects through the ready check (INFO) and CLIENT SETINFO; PING, ECHO, DBSIZE, COMMAND COUNT', async () => {
  expect(redis.status).toBe('ready');
  expect(await redis.ping()).toBe('PONG');
  expect(await redis.echo('hello')).toBe('hello');
  expect(await redis.dbsize()).toBe(0);
  expect(await redis.call('COMMAND', 'COUNT')).toBeGreaterThan(30);
  expect(await redis.info('keyspace')).toMatch(/shardcache_shards:2\r\n/);
});

test('strings: SET/GET, binary values, SET options, SETNX, SETEX, PSETEX, GETDEL, GETEX', async () => {
  expect(await redis.set('s:k', 'v1')).toBe('OK');
  expect(await redis.get('s:k')).toBe('v1');
  const bin = Buffer.from([0, 1, 13, 10, 255, 128]);
  await redis.set('s:bin', bin);
  expect(await redis.getBuffer('s:bin')).toEqual(bin);
  expect(await redis.set('s:k', 'v2', 'NX')).toBeNull();
  expect(await redis.set('s:new', 'n', 'NX')).toBe('OK');
  expect(await redis.set('s:absent', 'x', 'XX')).toBeNull();
  expect(await redis.set('s:k', 'v3', 'XX', 'GET')).toBe('v1');
  expect(await redis.get('s:k')).toBe('v3');
  expect(await redis.set('s:k', 'v4', 'EX', 100)).toBe('OK');
  expect(await redis.set('s:k', 'v5', 'KEEPTTL')).toBe('OK');
  expect(await redis.ttl('s:k')).toBe(100);
  expect(await redis.setnx('s:k', 'no')).toBe(0);
  expect(await redis.setnx('s:nx', 'yes')).toBe(1);
  expect(await redis.setex('s:ex', 50, 'e')).toBe('OK');
  expect(await redis.psetex('s:px', 50_000, 'p')).toBe('OK');
  expect(await redis.pttl('s:px')).toBeGreaterThan(49_000);
  expect(await redis.getdel('s:ex')).toBe('e');
  expect(await redis.exists('s:ex')).toBe(0);
  expect(await redis.getex('s:px', 'EX', 7)).toBe('p');
  expect(await redis.ttl('s:px')).toBe(7);
  expect(await redis.getex('s:px', 'PERSIST')).toBe('p');
  expect(await redis.ttl('s:px')).toBe(-1);
});

test('keys: TTL/PTTL, EXPIRE/PEXPIRE, PERSIST, TYPE, EXISTS, DEL, UNLINK', async () => {
  await redis.set('k:a', '1');
  expect(await redis.ttl('k:a')).toBe(-1);
  expect(await redis.ttl('k:missing')).toBe(-2);
  expect(await redis.pttl('k:missing')).toBe(-2);
  expect(await redis.expire('k:a', 30)).toBe(1);
  expect(await redis.ttl('k:a')).toBe(30);
  expect(await redis.pexpire('k:a', 20_000)).toBe(1);
  expect(await redis.pttl('k:a')).toBeLessThanOrEqual(20_000);
  expect(await redis.persist('k:a')).toBe(1);
  expect(await redis.persist('k:a')).toBe(0);
  expect(await redis.type('k:a')).toBe('string');
  expect(await redis.type('k:missing')).toBe('none');
  await redis.set('k:b', '2');
  expect(await redis.exists('k:a', 'k:b', 'k:missing', 'k:a')).toBe(3);
  expect(await redis.del('k:a', 'k:missing')).toBe(1);
  expect(await redis.unlink('k:b')).toBe(1);
  expect(await redis.expire('k:missing', 10)).toBe(0);
  await redis.set('k:c', '3');
  expect(await redis.expire('k:c', -1)).toBe(1);
  expect(await redis.get('k:c')).toBeNull();
});

test('INCR family, overflow and non-integers', async () => {
  expect(await redis.incr('n:a')).toBe(1);
  expect(await redis.incrby('n:a', 41)).toBe(42);
  expect(await redis.decr('n:a')).toBe(41);
  expect(await redis.decrby('n:a', 50)).toBe(-9);
  await redis.set('n:max', '9223372036854775806');
  await redis.incr('n:max'); // ioredis parses integer replies into doubles: check the stored digits
  expect(await redis.get('n:max')).toBe('9223372036854775807');
  expect(await rejection(redis.incr('n:max'))).toBe('ERR increment or decrement would overflow');
  await redis.set('n:text', 'abc');
  expect(await rejection(redis.incr('n:text'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(redis.incrby('n:a', 'x' as unknown as number))).toBe('ERR value is not an integer or out of range');
});

test("errors reject with Redis's messages", async () => {
  expect(await rejection(redis.call('foo', 'a', 'b'))).toBe("ERR unknown command 'foo', with args beginning with: 'a' 'b' ");
  expect(await rejection(redis.call('get'))).toBe("ERR wrong number of arguments for 'get' command");
  expect(await rejection(redis.set('e:k', 'v', 'EX', 0))).toBe("ERR invalid expire time in 'set' command");
  expect(await rejection(redis.call('SET', 'e:k', 'v', 'NX', 'XX'))).toBe('ERR syntax error');
  expect(await rejection(redis.select(3))).toBe('ERR DB index is out of range');
  expect(await rejection(redis.call('HELLO', '4'))).toBe('NOPROTO unsupported protocol version');
  expect(await rejection(redis.get('k'.repeat(2000)))).toMatch(/^ERR key must be a non-empty string of at most 1024 characters/);
  expect(await redis.ping()).toBe('PONG'); // the connection survives command errors
});

test('a pipeline of 2,000 commands answers in order, with read-your-writes on each key', async () => {
  const p = redis.pipeline();
  for (let i = 0; i < 500; i++) p.set(`p:${i}`, `v${i}`).get(`p:${i}`).incr(`p:n${i % 7}`).get(`p:${i}`);
  const results = await p.exec();
  expect(results).toHaveLength(2000);
  for (let i = 0; i < 500; i++) {
    expect(results![i * 4]).toEqual([null, 'OK']);
    expect(results![i * 4 + 1]).toEqual([null, `v${i}`]);
    expect(results![i * 4 + 3]).toEqual([null, `v${i}`]);
  }
  const last = await redis.mget(...Array.from({ length: 7 }, (_, i) => `p:n${i}`));
  expect(last.map(Number).reduce((a, b) => a + b, 0)).toBe(500);
});

test('MGET, MSET, EXISTS and DEL across both shards', async () => {
  const keys = await keysOnBothShards('multi:', 20);
  expect(await redis.mset(Object.fromEntries(keys.map((k) => [k, `val-${k}`])))).toBe('OK');
  expect(await redis.mget(...keys, 'multi:none')).toEqual([...keys.map((k) => `val-${k}`), null]);
  expect(await redis.exists(...keys)).toBe(20);
  expect(await redis.del(...keys)).toBe(20);
  expect(await redis.mget(...keys)).toEqual(keys.map(() => null));
});

test('values cross fronts: JSON written over HTTP reads back as its JSON text; RESP bytes read back as bytes over HTTP', async () => {
  expect((await c.call('PUT', '/v1/cache/default/x:json', { value: { a: [1, 2] } })).status).toBe(201);
  expect(await redis.get('x:json')).toBe('{"a":[1,2]}');
  await redis.set('x:bytes', Buffer.from([1, 2, 3]));
  const res = await c.call('GET', '/v1/cache/default/x:bytes');
  expect(res.headers.get('content-type')).toBe('application/octet-stream');
  expect(res.bytes).toEqual(Buffer.from([1, 2, 3]));
});

test('AUTH selects the namespace: a password, or a user name with any password', async () => {
  const tenant = new Redis({ port: c.respPort, password: 'tenant-a', lazyConnect: true });
  const user = new Redis({ port: c.respPort, username: 'tenant-b', password: 'whatever', lazyConnect: true });
  try {
    await Promise.all([tenant.connect(), user.connect()]);
    await tenant.set('who', 'a');
    await user.set('who', 'b');
    expect((await c.call('GET', '/v1/cache/tenant-a/who')).bytes.toString()).toBe('a');
    expect((await c.call('GET', '/v1/cache/tenant-b/who')).bytes.toString()).toBe('b');
    expect(await redis.get('who')).toBeNull();
    expect(await tenant.info('keyspace')).toMatch(/shardcache_namespace:tenant-a/);
  } finally {
    tenant.disconnect();
    user.disconnect();
  }
});

test('requests are counted on the admin /metrics under front="resp"', async () => {
  const metrics = await (await fetch(`${c.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/shardcache_proxy_requests_total\{front="resp",op="get",namespace="default",code="ok"\} \d+/);
});
