import Redis from 'ioredis';
import { Packr, Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { CollCmd } from '../../shared/collections';
import { Op, Status } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import type { TestCluster } from '../helpers/cluster';
import { setPolicy } from '../helpers/origin';
import { electedOne, waitFor } from '../helpers/shard-nodes';
import { openResp3, rejection, respClusterSuite, WRONGTYPE } from '../helpers/resp-client';

/**
 * Hashes through the proxy over a real cluster (etcd, 2 shards × primary + replica, the proxy as
 * processes): every hash command through ioredis with Redis's replies and errors, WRONGTYPE both
 * ways, TTLs, TYPE / SCAN TYPE / DEL / EXISTS / RENAME / COPY across types, the replica's copy,
 * RESP3's map, and the same commands over HTTP (POST /v1/cache/command) and WebSocket (op coll).
 */
jest.setTimeout(60_000);

let c: TestCluster;
let redis: Redis;
const suite = respClusterSuite(async ({ c }) => {
  await setPolicy(c.etcd.endpoint, c.cluster, 'ttlns', ['--default-ttl', '100'], [c.adminUrl], (p) => p.defaultTtlSeconds === 100);
});
beforeAll(() => {
  ({ c, redis } = suite);
});

async function shardOf(ns: string, key: string): Promise<number> {
  return ((await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${encodeURIComponent(key)}`)).json()) as { shardId: number }).shardId;
}

/** A key in another slot than `key` (no hash tag: a tagged key's slot is its tag's). */
function otherSlot(ns: string, key: string): string {
  let other = 'other';
  for (let i = 0; slotOf(ns, other) === slotOf(ns, key); i++) other = `other${i}`;
  return other;
}

test('HSET, HGET, HMGET, HGETALL, HDEL, HEXISTS, HLEN, HKEYS, HVALS, HSTRLEN, HSETNX, HMSET', async () => {
  expect(await redis.hset('h:a', 'f1', 'v1', 'f2', 'v2')).toBe(2);
  expect(await redis.hset('h:a', 'f1', 'one', 'f3', 'v3')).toBe(1); // f1 replaced, f3 new
  expect(await redis.hget('h:a', 'f1')).toBe('one');
  expect(await redis.hget('h:a', 'nope')).toBeNull();
  expect(await redis.hget('h:none', 'f1')).toBeNull();
  expect(await redis.hmget('h:a', 'f1', 'nope', 'f3')).toEqual(['one', null, 'v3']);
  expect(await redis.hmget('h:none', 'a', 'b')).toEqual([null, null]);
  expect(await redis.hgetall('h:a')).toEqual({ f1: 'one', f2: 'v2', f3: 'v3' });
  expect(await redis.hgetall('h:none')).toEqual({});
  expect(await redis.hlen('h:a')).toBe(3);
  expect(await redis.hlen('h:none')).toBe(0);
  expect((await redis.hkeys('h:a')).sort()).toEqual(['f1', 'f2', 'f3']);
  expect((await redis.hvals('h:a')).sort()).toEqual(['one', 'v2', 'v3']);
  expect(await redis.hkeys('h:none')).toEqual([]);
  expect(await redis.hexists('h:a', 'f2')).toBe(1);
  expect(await redis.hexists('h:a', 'zz')).toBe(0);
  expect(await redis.hstrlen('h:a', 'f1')).toBe(3);
  expect(await redis.hstrlen('h:a', 'zz')).toBe(0);
  expect(await redis.hsetnx('h:a', 'f1', 'again')).toBe(0);
  expect(await redis.hsetnx('h:a', 'f4', 'v4')).toBe(1);
  expect(await redis.hget('h:a', 'f1')).toBe('one');
  expect(await redis.call('HMSET', 'h:a', 'f5', 'v5', 'f6', 'v6')).toBe('OK');
  expect(await redis.hlen('h:a')).toBe(6);
  expect(await redis.hdel('h:a', 'f5', 'f6', 'zz')).toBe(2);
  expect(await redis.hdel('h:none', 'x')).toBe(0);
  // Binary-safe fields and values.
  const bin = Buffer.from([0, 0xff, 0x0d, 0x0a]);
  expect(await redis.hset('h:bin', bin, bin)).toBe(1);
  expect(await redis.hgetBuffer('h:bin', bin)).toEqual(bin);
  expect(await redis.hgetallBuffer('h:bin')).toEqual({ [bin.toString()]: bin });
  // The last field gone: the key is gone, as in Redis.
  expect(await redis.hdel('h:bin', bin)).toBe(1);
  expect(await redis.exists('h:bin')).toBe(0);
  expect(await redis.type('h:bin')).toBe('none');
});

test('HINCRBY, HINCRBYFLOAT: values, Redis\'s errors from the proxy and from the node', async () => {
  expect(await redis.hincrby('h:n', 'c', 5)).toBe(5);
  expect(await redis.hincrby('h:n', 'c', -7)).toBe(-2);
  // ioredis reads integers as doubles: past 2^53 the text is compared (HGET).
  await redis.hincrby('h:n', 'big', '9223372036854775806');
  await redis.hincrby('h:n', 'big', 1);
  expect(await redis.hget('h:n', 'big')).toBe('9223372036854775807');
  expect(await rejection(redis.hincrby('h:n', 'big', 1))).toBe('ERR increment or decrement would overflow');
  expect(await redis.hget('h:n', 'big')).toBe('9223372036854775807');
  await redis.hincrby('h:n', 'neg', '-9007199254740993'); // past 2^53: a bigint from the node
  expect(await redis.hget('h:n', 'neg')).toBe('-9007199254740993');
  await redis.hset('h:n', 'word', 'abc', 'f', '10.50');
  expect(await rejection(redis.hincrby('h:n', 'word', 1))).toBe('ERR hash value is not an integer');
  expect(await rejection(redis.call('HINCRBY', 'h:n', 'c', 'x'))).toBe('ERR value is not an integer or out of range');
  expect(await redis.hincrbyfloat('h:n', 'f', '0.1')).toBe('10.6');
  expect(await redis.hincrbyfloat('h:n', 'new', '2.5e2')).toBe('250');
  expect(await rejection(redis.hincrbyfloat('h:n', 'word', '1'))).toBe('ERR hash value is not a float');
  expect(await rejection(redis.call('HINCRBYFLOAT', 'h:n', 'f', 'x'))).toBe('ERR value is not a valid float');
  expect(await rejection(redis.call('HINCRBYFLOAT', 'h:n', 'f', 'inf'))).toBe('ERR value is NaN or Infinity');
  // Past the long double's range (about 1.19e4932) the sum is infinite: refused, the field unchanged.
  await redis.hset('h:n', 'huge', '1.1e4932');
  expect(await rejection(redis.hincrbyfloat('h:n', 'huge', '1.1e4932'))).toBe('ERR increment would produce NaN or Infinity');
  expect(await redis.hget('h:n', 'huge')).toBe('1.1e4932');
  expect(await redis.hget('h:n', 'c')).toBe('-2');
});

test('HRANDFIELD: one, distinct, repeats, WITHVALUES, nothing, bounds', async () => {
  const fields = Array.from({ length: 10 }, (_, i) => [`f${i}`, `v${i}`]).flat();
  await redis.hset('h:r', ...fields);
  expect(await redis.call('HRANDFIELD', 'h:none')).toBeNull();
  expect(await redis.call('HRANDFIELD', 'h:none', '3')).toEqual([]);
  expect(await redis.call('HRANDFIELD', 'h:r')).toMatch(/^f\d$/);
  const five = (await redis.call('HRANDFIELD', 'h:r', '5')) as string[];
  expect([five.length, new Set(five).size]).toEqual([5, 5]);
  expect(((await redis.call('HRANDFIELD', 'h:r', '50')) as string[]).sort()).toEqual(fields.filter((_, i) => i % 2 === 0).sort());
  const repeats = (await redis.call('HRANDFIELD', 'h:r', '-30')) as string[];
  expect(repeats.length).toBe(30);
  expect(repeats.every((f) => /^f\d$/.test(f))).toBe(true);
  const pairs = (await redis.call('HRANDFIELD', 'h:r', '-4', 'WITHVALUES')) as string[];
  expect(pairs.length).toBe(8);
  for (let i = 0; i < pairs.length; i += 2) expect(pairs[i + 1]).toBe(pairs[i].replace('f', 'v'));
  expect(await redis.call('HRANDFIELD', 'h:r', '0')).toEqual([]);
  expect(await rejection(redis.call('HRANDFIELD', 'h:r', '1', 'WITHSCORES'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('HRANDFIELD', 'h:r', 'x'))).toBe('ERR value is not an integer or out of range');
  // Past MAX_RANDOM_PICKS the node refuses a count with repeats (Redis would build the reply).
  expect(await rejection(redis.call('HRANDFIELD', 'h:r', '-1000000'))).toMatch(/^ERR /);
});

test('HSCAN: the whole hash at cursor 0, MATCH on fields, NOVALUES, COUNT accepted', async () => {
  await redis.hset('h:s', 'user:1', 'a', 'user:2', 'b', 'other', 'c');
  const [cursor, items] = (await redis.hscan('h:s', '0')) as [string, string[]];
  expect(cursor).toBe('0');
  expect(items.length).toBe(6);
  const [, matched] = (await redis.hscan('h:s', '0', 'MATCH', 'user:*', 'COUNT', 1)) as [string, string[]];
  const asMap = new Map<string, string>();
  for (let i = 0; i < matched.length; i += 2) asMap.set(matched[i], matched[i + 1]);
  expect([...asMap.entries()].sort()).toEqual([['user:1', 'a'], ['user:2', 'b']]);
  expect(((await redis.call('HSCAN', 'h:s', '0', 'NOVALUES')) as [string, string[]])[1].sort()).toEqual(['other', 'user:1', 'user:2']);
  expect(await redis.hscan('h:none', '0')).toEqual(['0', []]);
  expect(await rejection(redis.call('HSCAN', 'h:s', 'x'))).toBe('ERR invalid cursor');
  expect(await rejection(redis.call('HSCAN', 'h:s', '0', 'COUNT', '0'))).toBe('ERR syntax error');
  await redis.set('h:str', 'v');
  expect(await rejection(redis.hscan('h:str', '0'))).toBe(WRONGTYPE);
});

test('WRONGTYPE both ways; MGET answers nil for a hash; SET replaces any type', async () => {
  await redis.hset('wt:h', 'f', 'v');
  await redis.set('wt:s', 'v');
  await redis.sadd('wt:set', 'm');
  expect(await rejection(redis.get('wt:h'))).toBe(WRONGTYPE);
  expect(await rejection(redis.hset('wt:s', 'f', 'v'))).toBe(WRONGTYPE);
  expect(await rejection(redis.hget('wt:s', 'f'))).toBe(WRONGTYPE);
  expect(await rejection(redis.sadd('wt:h', 'm'))).toBe(WRONGTYPE);
  expect(await rejection(redis.hget('wt:set', 'f'))).toBe(WRONGTYPE);
  expect(await rejection(redis.incr('wt:h'))).toBe(WRONGTYPE);
  expect(await rejection(redis.append('wt:h', 'x'))).toBe(WRONGTYPE);
  expect(await rejection(redis.strlen('wt:h'))).toBe(WRONGTYPE);
  expect(await rejection(redis.getrange('wt:h', 0, 1))).toBe(WRONGTYPE);
  expect(await rejection(redis.getset('wt:h', 'x'))).toBe(WRONGTYPE);
  expect(await rejection(redis.incrbyfloat('wt:h', 1))).toBe(WRONGTYPE);
  expect(await rejection(redis.setrange('wt:h', 0, 'x'))).toBe(WRONGTYPE);
  expect(await redis.mget('wt:h', 'wt:s')).toEqual([null, 'v']);
  expect(await redis.hgetall('wt:h')).toEqual({ f: 'v' }); // refused commands changed nothing
  expect(await redis.set('wt:h', 'now a string')).toBe('OK');
  expect(await redis.type('wt:h')).toBe('string');
  expect(await redis.get('wt:h')).toBe('now a string');
});

test('arity and syntax errors, Redis\'s exact words', async () => {
  expect(await rejection(redis.call('HSET', 'h:e', 'f'))).toBe("ERR wrong number of arguments for 'hset' command");
  expect(await rejection(redis.call('HSET', 'h:e', 'f', 'v', 'g'))).toBe("ERR wrong number of arguments for 'hset' command");
  expect(await rejection(redis.call('HMSET', 'h:e', 'f'))).toBe("ERR wrong number of arguments for 'hmset' command");
  expect(await rejection(redis.call('HGET', 'h:e'))).toBe("ERR wrong number of arguments for 'hget' command");
  expect(await rejection(redis.call('HGETALL'))).toBe("ERR wrong number of arguments for 'hgetall' command");
  expect(await rejection(redis.call('HDEL', 'h:e'))).toBe("ERR wrong number of arguments for 'hdel' command");
  expect(await rejection(redis.call('HLEN', 'h:e', 'x'))).toBe("ERR wrong number of arguments for 'hlen' command");
  expect(await rejection(redis.call('HINCRBY', 'h:e', 'f'))).toBe("ERR wrong number of arguments for 'hincrby' command");
  expect(await rejection(redis.call('HRANDFIELD', 'h:e', '1', 'WITHVALUES', 'x'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('HRANDFIELD', 'h:e', '4611686018427387904', 'WITHVALUES'))).toBe('ERR value is out of range');
  expect(await redis.exists('h:e')).toBe(0); // nothing was created
});

test('TTLs: EXPIRE, TTL, PTTL, EXPIRETIME, PERSIST on a hash; an expired hash is gone; writes keep the TTL', async () => {
  await redis.hset('t:h', 'f', 'v');
  expect(await redis.ttl('t:h')).toBe(-1);
  expect(await redis.expire('t:h', 100)).toBe(1);
  expect(await redis.ttl('t:h')).toBe(100);
  const pttl = await redis.pttl('t:h');
  expect(pttl).toBeGreaterThan(98_000);
  expect(pttl).toBeLessThanOrEqual(100_000);
  const expiretime = (await redis.call('EXPIRETIME', 't:h')) as number;
  expect(Math.abs(expiretime - Math.floor(Date.now() / 1000) - 100)).toBeLessThanOrEqual(2);
  expect(await redis.hset('t:h', 'g', 'w')).toBe(1);
  expect(await redis.ttl('t:h')).toBe(100); // a write keeps the expiry
  expect(await redis.persist('t:h')).toBe(1);
  expect(await redis.ttl('t:h')).toBe(-1);
  expect(await redis.call('EXPIRETIME', 't:h')).toBe(-1);
  expect(await redis.ttl('t:none')).toBe(-2);
  expect(await redis.call('PEXPIRETIME', 't:none')).toBe(-2);
  expect(await redis.pexpire('t:h', 150)).toBe(1);
  await waitFor('the hash to expire', async () => (await redis.exists('t:h')) === 0, 3000, 20);
  expect(await redis.hgetall('t:h')).toEqual({});
  expect(await redis.type('t:h')).toBe('none');
  expect(await redis.ttl('t:h')).toBe(-2);
  // A hash created in a namespace with a default TTL gets it, as INCR's counter does.
  const t = new Redis({ host: '127.0.0.1', port: c.respPort, maxRetriesPerRequest: 0, password: 'ttlns' });
  try {
    expect(await t.hset('made', 'f', 'v')).toBe(1);
    expect(await t.ttl('made')).toBe(100);
    expect(await t.sadd('made:set', 'm')).toBe(1);
    expect(await t.ttl('made:set')).toBe(100);
    expect(await t.hget('made', 'f')).toBe('v');
  } finally {
    t.disconnect();
  }
});

test('TYPE of every type; SCAN TYPE; DEL, EXISTS, RENAME, COPY across types', async () => {
  const k = await new Promise<Redis>((resolve) => {
    const r = new Redis({ host: '127.0.0.1', port: c.respPort, maxRetriesPerRequest: 0, password: 'typens' });
    r.once('ready', () => resolve(r));
  });
  try {
    await k.set('ty:str', 'v');
    await k.hset('ty:hash', 'f', 'v');
    await k.sadd('ty:set', 'm');
    expect(await k.type('ty:str')).toBe('string');
    expect(await k.type('ty:hash')).toBe('hash');
    expect(await k.type('ty:set')).toBe('set');
    expect(await k.type('ty:none')).toBe('none');
    const scanAll = async (type: string): Promise<string[]> => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = (await k.call('SCAN', cursor, 'COUNT', '1000', 'TYPE', type)) as [string, string[]];
        found.push(...keys);
        cursor = next;
      } while (cursor !== '0');
      return found.sort();
    };
    expect(await scanAll('hash')).toEqual(['ty:hash']);
    expect(await scanAll('SET')).toEqual(['ty:set']);
    expect(await scanAll('string')).toEqual(['ty:str']);
    expect(await scanAll('list')).toEqual([]);
    expect(await scanAll('none')).toEqual([]);
    expect(await rejection(k.call('SCAN', '0', 'TYPE', 'widget'))).toBe("ERR unknown type name 'widget'");
    expect(await k.exists('ty:str', 'ty:hash', 'ty:set', 'ty:none', 'ty:hash')).toBe(4);
    expect(await k.call('TOUCH', 'ty:hash', 'ty:set')).toBe(2);
    // RENAME / COPY keep the type (same slot: a hash tag).
    await k.hset('{ty}h', 'f', 'v', 'g', 'w');
    expect(await k.rename('{ty}h', '{ty}h2')).toBe('OK');
    expect([await k.type('{ty}h'), await k.type('{ty}h2')]).toEqual(['none', 'hash']);
    expect(await k.hgetall('{ty}h2')).toEqual({ f: 'v', g: 'w' });
    expect(await k.copy('{ty}h2', '{ty}h3')).toBe(1);
    expect(await k.hset('{ty}h3', 'x', 'y')).toBe(1);
    expect(await k.hlen('{ty}h2')).toBe(2); // the copy is its own hash
    await k.sadd('{ty}s', 'a', 'b');
    expect(await k.rename('{ty}s', '{ty}h2')).toBe('OK'); // RENAME overwrites a key of another type
    expect(await k.type('{ty}h2')).toBe('set');
    expect(await k.del('ty:str', 'ty:hash', 'ty:set', 'ty:none')).toBe(3);
    expect(await k.exists('ty:str', 'ty:hash', 'ty:set')).toBe(0);
  } finally {
    k.disconnect();
  }
});

test('pipelined on one key keep their order; a write reaches the replica', async () => {
  const p = redis.pipeline();
  for (let i = 0; i < 50; i++) p.hincrby('o:h', 'n', 1);
  p.hget('o:h', 'n');
  p.del('o:h');
  p.hset('o:h', 'after', 'del');
  p.hgetall('o:h');
  const out = await p.exec();
  expect(out![50]).toEqual([null, '50']);
  expect(out![53]).toEqual([null, { after: 'del' }]);
  const [primary, [replica]] = await electedOne(c.nodes[await shardOf('default', 'o:h')]);
  await waitFor('the replica to reach the primary offset', async () => {
    const [ps, rs] = await Promise.all([primary.stats(), replica.stats()]);
    return rs.replication.state === 'streaming' && rs.replication.offset === ps.replication.offset;
  }, 10_000, 20);
  for (const node of [primary, replica]) {
    const reply = await node.conn.request(Op.COLL, 'default', 'o:h', CollCmd.HGETALL, []);
    expect([reply[1], (reply[2] as Buffer[]).map((b) => Buffer.from(b).toString())]).toEqual([Status.OK, ['after', 'del']]);
    expect((await node.conn.request(Op.TYPE, 'default', 'o:h'))[2]).toBe('hash');
  }
});

test('RESP3: HGETALL is a map, HRANDFIELD WITHVALUES a list of pairs, a missing field _', async () => {
  await redis.hset('r3:h', 'f', 'v');
  const { ask, close } = await openResp3(c.respPort!);
  try {
    expect(await ask('HGETALL r3:h\r\n', '%1\r\n$1\r\nf\r\n$1\r\nv\r\n')).toBe('%1\r\n$1\r\nf\r\n$1\r\nv\r\n');
    expect(await ask('HRANDFIELD r3:h 1 WITHVALUES\r\n', '*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n')).toBe('*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n');
    expect(await ask('HGET r3:h nope\r\n', '_\r\n')).toBe('_\r\n');
    expect(await ask('HGETALL r3:none\r\n', '%0\r\n')).toBe('%0\r\n');
  } finally {
    close();
  }
});

test('HTTP: POST /v1/cache/command; WRONG_TYPE is 409; Redis\'s argument errors are 400 with its words', async () => {
  const command = (body: Record<string, unknown>) => c.call('POST', '/v1/cache/command', { namespace: 'web', ...body });
  expect(await command({ key: 'user:1', command: 'HSET', args: ['name', 'Ada', 'visits', 1] }).then((r) => [r.status, r.json])).toEqual([200, { reply: 2 }]);
  expect((await command({ key: 'user:1', command: 'hincrby', args: ['visits', 41] })).json).toEqual({ reply: 42 });
  expect((await command({ key: 'user:1', command: 'HGETALL' })).json).toEqual({ reply: ['name', 'Ada', 'visits', '42'] });
  expect((await command({ key: 'user:1', command: 'HMGET', args: ['name', 'none'] })).json).toEqual({ reply: ['Ada', null] });
  expect((await command({ key: 'user:1', command: 'HGET', args: ['none'] })).json).toEqual({ reply: null });
  expect((await command({ key: 'bin', command: 'HSET', args: ['/w==', 'AA=='], encoding: 'base64' })).json).toEqual({ reply: 1 });
  expect((await command({ key: 'bin', command: 'HGETALL' })).json).toEqual({ reply: ['/w==', 'AA=='], encoding: 'base64' });
  const notInt = await command({ key: 'user:1', command: 'HINCRBY', args: ['name', 1] });
  expect([notInt.status, notInt.json.error.code, notInt.json.error.message]).toEqual([400, 'BAD_REQUEST', 'hash value is not an integer']);
  const arity = await command({ key: 'user:1', command: 'HSET', args: ['name'] });
  expect([arity.status, arity.json.error.code]).toEqual([400, 'BAD_REQUEST']);
  // The hash through the other routes of the API: GET refuses it, expire and DELETE take it.
  const get = await c.call('GET', '/v1/cache/web/user:1');
  expect([get.status, get.json.error.code]).toEqual([409, 'WRONG_TYPE']);
  expect((await c.call('PUT', '/v1/cache/web/str', { value: 'x' })).status).toBe(201);
  const wrong = await command({ key: 'str', command: 'SADD', args: ['m'] });
  expect([wrong.status, wrong.json.error.code]).toEqual([409, 'WRONG_TYPE']);
  expect((await c.call('POST', '/v1/cache/expire', { namespace: 'web', key: 'user:1', ttlSeconds: 50 })).json).toEqual({ updated: true });
  const a = 'grp:{x}a';
  await command({ key: a, command: 'SADD', args: ['1', '2', '3'] });
  await command({ key: 'grp:{x}b', command: 'SADD', args: ['2', '3', '4'] });
  expect(((await command({ key: a, command: 'SINTER', keys: ['grp:{x}b'] })).json.reply as string[]).sort()).toEqual(['2', '3']);
  const cross = await command({ key: a, command: 'SUNION', keys: [otherSlot('web', a)] });
  expect([cross.status, cross.json.error.message]).toEqual([400, "Keys in request don't hash to the same slot"]);
  expect((await c.call('DELETE', '/v1/cache/web/user:1')).headers.get('x-cache-deleted')).toBe('1');
  expect((await command({ key: 'user:1', command: 'HLEN' })).json).toEqual({ reply: 0 });
});

test('WebSocket: op coll answers Redis\'s reply, bytes as bin; errors by code', async () => {
  const packr = new Packr({ useRecords: false } as ConstructorParameters<typeof Packr>[0]);
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true } as unknown as ConstructorParameters<typeof Unpackr>[0]);
  const socket = new WebSocket(c.wsUrl);
  const replies = new Map<number, unknown[]>();
  socket.on('message', (data: Buffer) => {
    for (const r of unpackr.unpackMultiple(data) as unknown[][]) replies.set(r[0] as number, r);
  });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const ask = async (id: number, ...request: unknown[]): Promise<unknown[]> => {
    socket.send(packr.pack([id, ...request]));
    return waitFor(`reply ${id}`, () => replies.get(id), 3000, 5);
  };
  try {
    expect(await ask(1, 'coll', 'wsns', 'h', 'HSET', ['f', Buffer.from([1, 2]), 'g', 'w'])).toEqual([1, 'ok', 2]);
    const all = await ask(2, 'coll', 'wsns', 'h', 'hgetall');
    expect((all[2] as Uint8Array[]).map((b) => Buffer.from(b))).toEqual([Buffer.from('f'), Buffer.from([1, 2]), Buffer.from('g'), Buffer.from('w')]);
    expect(await ask(3, 'coll', 'wsns', 'h', 'HINCRBY', ['n', 5])).toEqual([3, 'ok', 5]);
    expect(await ask(4, 'coll', 'wsns', 'h', 'HGET', ['none'], undefined, 'replica')).toEqual([4, 'ok', null]);
    const head = (r: unknown[]): unknown[] => r.slice(0, 3);
    expect(head(await ask(5, 'coll', 'wsns', 'h', 'SADD', ['m']))).toEqual([5, 'error', 'WRONG_TYPE']);
    expect(head(await ask(6, 'coll', 'wsns', 'h', 'HGET', []))).toEqual([6, 'error', 'BAD_REQUEST']);
    expect(head(await ask(7, 'coll', 'wsns', 'h', 'LPUSH', ['x']))).toEqual([7, 'error', 'BAD_REQUEST']);
    expect(head(await ask(8, 'get', 'wsns', 'h'))).toEqual([8, 'error', 'WRONG_TYPE']);
  } finally {
    socket.close();
  }
});
