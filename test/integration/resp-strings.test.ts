import Redis from 'ioredis';
import { Op, Status } from '../../shared/protocol';
import type { TestCluster } from '../helpers/cluster';
import { electedOne, waitFor } from '../helpers/shard-nodes';
import { rejection, respClusterSuite } from '../helpers/resp-client';

/**
 * The string family of the RESP front over a real cluster (etcd, 2 shards × primary + replica,
 * the proxy as processes), through ioredis: each command's replies and Redis's exact errors, TTL
 * rules, CROSSSLOT, and after every write op the replica's entry equal to the primary's.
 */
jest.setTimeout(60_000);

let c: TestCluster;
let redis: Redis;
const suite = respClusterSuite();
beforeAll(() => {
  ({ c, redis } = suite);
});

async function shardOf(key: string): Promise<number> {
  return ((await (await fetch(`${c.adminUrl}/v1/admin/route/default/${encodeURIComponent(key)}`)).json()) as { shardId: number }).shardId;
}

/** `[value, version, expiresAt, flags]` of `key` as a node serves it (null: missing). */
async function entryOn(conn: { request(...a: unknown[]): Promise<unknown[]> }, key: string): Promise<unknown[] | null> {
  const reply = await conn.request(Op.GET, 'default', key);
  if (reply[1] === Status.MISS) return null;
  return [Buffer.from(reply[2] as Buffer).toString('latin1'), reply[3], reply[4], reply[5]];
}

/** Waits for the replica of `keys`' shard to reach its primary's offset, then checks each key reads the same on both. */
async function replicated(...keys: string[]): Promise<void> {
  for (const key of keys) {
    const [primary, [replica]] = await electedOne(c.nodes[await shardOf(key)]);
    await waitFor('the replica to reach the primary offset', async () => {
      const [p, r] = await Promise.all([primary.stats(), replica.stats()]);
      return r.replication.state === 'streaming' && r.replication.offset === p.replication.offset;
    }, 10_000, 20);
    const onPrimary = await entryOn(primary.conn, key);
    expect([key, await entryOn(replica.conn, key)]).toEqual([key, onPrimary]);
  }
}

test('APPEND, STRLEN, GETRANGE / SUBSTR, SETRANGE: bytes, lengths, TTL kept; replicated', async () => {
  expect(await redis.append('a:k', 'Hello')).toBe(5);
  expect(await redis.append('a:k', ' World')).toBe(11);
  expect(await redis.strlen('a:k')).toBe(11);
  expect(await redis.strlen('a:none')).toBe(0);
  expect(await redis.getrange('a:k', 0, 4)).toBe('Hello');
  expect(await redis.getrange('a:k', -5, -1)).toBe('World');
  expect(await redis.getrange('a:k', 5, 2)).toBe('');
  expect(await redis.getrange('a:k', -1, -5)).toBe('');
  expect(await redis.getrange('a:k', 0, 1000)).toBe('Hello World');
  expect(await redis.getrange('a:none', 0, -1)).toBe('');
  expect(await redis.call('SUBSTR', 'a:k', '6', '-1')).toBe('World');
  await redis.expire('a:k', 100);
  expect(await redis.setrange('a:k', 6, 'Redis')).toBe(11);
  expect(await redis.get('a:k')).toBe('Hello Redis');
  expect(await redis.append('a:k', '!')).toBe(12);
  expect(await redis.ttl('a:k')).toBe(100); // SETRANGE and APPEND keep the TTL
  expect(await redis.setrange('a:pad', 3, 'x')).toBe(4);
  expect(await redis.getBuffer('a:pad')).toEqual(Buffer.from([0, 0, 0, 0x78]));
  expect(await redis.setrange('a:none', 10, '')).toBe(0);
  expect(await redis.exists('a:none')).toBe(0);
  const bin = Buffer.from([0xff, 0x00, 0x0d, 0x0a]);
  expect(await redis.append('a:bin', bin)).toBe(4);
  expect(await redis.getrangeBuffer('a:bin', 1, 2)).toEqual(Buffer.from([0x00, 0x0d]));
  expect(await rejection(redis.setrange('a:k', -1, 'x'))).toBe('ERR offset is out of range');
  expect(await rejection(redis.call('SETRANGE', 'a:k', 'x', 'y'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(redis.call('SETRANGE', 'a:k', '9007199254740992', 'y'))).toBe('ERR string exceeds maximum allowed size (proto-max-bulk-len)');
  // Past the namespace's item limit (1 MiB by default): the node's TOO_LARGE, as SET answers it; nothing is allocated.
  expect(await rejection(redis.setrange('a:k', 100_000_000, 'x'))).toMatch(/^ERR item of \d+ bytes .*exceeds the limit of 1048576 bytes/);
  expect(await rejection(redis.call('APPEND', 'a:k'))).toBe("ERR wrong number of arguments for 'append' command");
  expect(await rejection(redis.call('GETRANGE', 'a:k', '0'))).toBe("ERR wrong number of arguments for 'getrange' command");
  expect(await rejection(redis.call('GETRANGE', 'a:k', 'a', '1'))).toBe('ERR value is not an integer or out of range');
  expect(await redis.get('a:k')).toBe('Hello Redis!');
  await replicated('a:k', 'a:pad', 'a:bin');
});

test('GETSET and SET ... GET (one step on the node), EXAT, PXAT, KEEPTTL; replicated', async () => {
  expect(await redis.getset('g:k', 'one')).toBeNull();
  await redis.expire('g:k', 100);
  expect(await redis.getset('g:k', 'two')).toBe('one');
  expect(await redis.ttl('g:k')).toBe(-1); // GETSET drops the TTL
  expect(await redis.set('g:k', 'three', 'GET')).toBe('two');
  expect(await redis.call('SET', 'g:k', 'four', 'NX', 'GET')).toBe('three'); // NX not met: the old value, nothing written
  expect(await redis.get('g:k')).toBe('three');
  expect(await redis.call('SET', 'g:none', 'x', 'XX', 'GET')).toBeNull();
  expect(await redis.exists('g:none')).toBe(0);
  const at = Math.floor(Date.now() / 1000) + 200;
  expect(await redis.call('SET', 'g:k', 'five', 'EXAT', String(at), 'GET')).toBe('three');
  expect(await redis.call('EXPIRETIME', 'g:k')).toBe(at);
  expect(await redis.call('SET', 'g:k', 'six', 'KEEPTTL', 'GET')).toBe('five');
  expect(await redis.call('EXPIRETIME', 'g:k')).toBe(at);
  const pxat = Date.now() + 300_000;
  expect(await redis.call('SET', 'g:k', 'seven', 'PXAT', String(pxat))).toBe('OK');
  // SET's PXAT becomes a TTL on the proxy's clock (docs/resp.md): the expiry lands at the time
  // asked plus the request's way from the proxy to the node.
  const pexpiretime = (await redis.call('PEXPIRETIME', 'g:k')) as number;
  expect(pexpiretime).toBeGreaterThanOrEqual(pxat);
  expect(pexpiretime).toBeLessThan(pxat + 2000);
  expect(await rejection(redis.call('GETSET', 'g:k'))).toBe("ERR wrong number of arguments for 'getset' command");
  expect(await rejection(redis.call('SET', 'g:k', 'v', 'EX', '10', 'KEEPTTL'))).toBe('ERR syntax error');
  await replicated('g:k');
});

test("INCRBYFLOAT: Redis's numbers and errors; replicated", async () => {
  await redis.set('f:k', '10.50');
  expect(await redis.incrbyfloat('f:k', '0.1')).toBe('10.6');
  expect(await redis.incrbyfloat('f:k', '-5')).toBe('5.6');
  await redis.set('f:e', '5.0e3');
  expect(await redis.incrbyfloat('f:e', '2.0e2')).toBe('5200');
  expect(await redis.incrbyfloat('f:new', '0.1')).toBe('0.1');
  expect(await redis.incrbyfloat('f:new', '0.2')).toBe('0.3');
  await redis.expire('f:new', 100);
  expect(await redis.incrbyfloat('f:new', '1')).toBe('1.3');
  expect(await redis.ttl('f:new')).toBe(100);
  await redis.set('f:text', 'abc');
  expect(await rejection(redis.incrbyfloat('f:text', '1'))).toBe('ERR value is not a valid float');
  expect(await rejection(redis.incrbyfloat('f:k', 'x'))).toBe('ERR value is not a valid float');
  expect(await rejection(redis.incrbyfloat('f:k', ' 1'))).toBe('ERR value is not a valid float');
  expect(await rejection(redis.incrbyfloat('f:k', 'inf'))).toBe('ERR increment would produce NaN or Infinity');
  expect(await rejection(redis.call('INCRBYFLOAT', 'f:k'))).toBe("ERR wrong number of arguments for 'incrbyfloat' command");
  expect(await redis.get('f:k')).toBe('5.6');
  await replicated('f:k', 'f:e', 'f:new');
});

test('EXPIREAT, PEXPIREAT, EXPIRETIME, PEXPIRETIME, EXPIRE NX | XX | GT | LT, a past time deletes; replicated', async () => {
  await redis.set('e:k', 'v');
  expect(await redis.call('EXPIRETIME', 'e:k')).toBe(-1);
  expect(await redis.call('EXPIRETIME', 'e:none')).toBe(-2);
  expect(await redis.call('PEXPIRETIME', 'e:none')).toBe(-2);
  expect(await redis.call('EXPIRE', 'e:k', '100', 'XX')).toBe(0); // no TTL yet
  expect(await redis.call('EXPIRE', 'e:k', '100', 'GT')).toBe(0); // no TTL is infinite
  expect(await redis.call('EXPIRE', 'e:k', '100', 'NX')).toBe(1);
  expect(await redis.call('EXPIRE', 'e:k', '200', 'NX')).toBe(0);
  expect(await redis.call('EXPIRE', 'e:k', '50', 'GT')).toBe(0);
  expect(await redis.call('EXPIRE', 'e:k', '150', 'gt')).toBe(1);
  expect(await redis.ttl('e:k')).toBe(150);
  expect(await redis.call('PEXPIRE', 'e:k', '200000', 'LT')).toBe(0);
  expect(await redis.call('PEXPIRE', 'e:k', '120000', 'LT', 'XX')).toBe(1);
  expect(await redis.ttl('e:k')).toBe(120);
  await replicated('e:k');
  const at = Math.floor(Date.now() / 1000) + 500;
  expect(await redis.expireat('e:k', at)).toBe(1);
  expect(await redis.call('EXPIRETIME', 'e:k')).toBe(at);
  expect(await redis.call('PEXPIRETIME', 'e:k')).toBe(at * 1000);
  expect(await redis.pexpireat('e:k', at * 1000 + 1234)).toBe(1);
  expect(await redis.call('PEXPIRETIME', 'e:k')).toBe(at * 1000 + 1234);
  expect(await redis.expireat('e:none', at)).toBe(0);
  await replicated('e:k');
  expect(await redis.call('EXPIRE', 'e:k', '-1', 'GT')).toBe(0); // the options decide first: nothing deleted
  expect(await redis.exists('e:k')).toBe(1);
  expect(await redis.expireat('e:k', 1)).toBe(1); // a time in the past deletes the key
  expect(await redis.exists('e:k')).toBe(0);
  await redis.set('e:n', 'v');
  expect(await redis.call('EXPIRE', 'e:n', '-5', 'LT')).toBe(1); // LT on no TTL passes, and deletes
  expect(await redis.exists('e:n')).toBe(0);
  await replicated('e:k', 'e:n');
  expect(await rejection(redis.call('EXPIRE', 'e:k', '10', 'NX', 'XX'))).toBe('ERR NX and XX, GT or LT options at the same time are not compatible');
  expect(await rejection(redis.call('EXPIRE', 'e:k', '10', 'GT', 'LT'))).toBe('ERR GT and LT options at the same time are not compatible');
  expect(await rejection(redis.call('EXPIREAT', 'e:k', '10', 'BOGUS'))).toBe('ERR Unsupported option BOGUS');
  expect(await rejection(redis.call('EXPIREAT', 'e:k', 'soon'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(redis.call('EXPIREAT', 'e:k', '9223372036854775807'))).toBe("ERR invalid expire time in 'expireat' command");
  expect(await rejection(redis.call('EXPIRETIME'))).toBe("ERR wrong number of arguments for 'expiretime' command");
});

test('TOUCH counts existing keys across both shards, a key named twice twice', async () => {
  const keys = Array.from({ length: 12 }, (_, i) => `t:${i}`);
  expect(new Set(await Promise.all(keys.map(shardOf))).size).toBe(2);
  await redis.mset(Object.fromEntries(keys.map((k) => [k, 'v'])));
  expect(await redis.touch(...keys, 't:none', keys[0])).toBe(13);
  expect(await rejection(redis.call('TOUCH'))).toBe("ERR wrong number of arguments for 'touch' command");
});

test('RENAME, RENAMENX, COPY, MSETNX: one slot (hash tags) works, two slots are CROSSSLOT; replicated', async () => {
  expect(await shardOf('{user}:a')).toBe(await shardOf('{user}:b'));
  await redis.set('{user}:a', 'va', 'EX', 100);
  expect(await redis.rename('{user}:a', '{user}:b')).toBe('OK');
  expect(await redis.get('{user}:b')).toBe('va');
  expect(await redis.exists('{user}:a')).toBe(0);
  expect(await redis.ttl('{user}:b')).toBe(100); // the TTL moves with the value
  await replicated('{user}:a', '{user}:b');
  expect(await rejection(redis.rename('{user}:a', '{user}:c'))).toBe('ERR no such key');
  expect(await redis.rename('{user}:b', '{user}:b')).toBe('OK');
  expect(await redis.renamenx('{user}:b', '{user}:b')).toBe(0);
  await redis.set('{user}:c', 'vc');
  expect(await redis.renamenx('{user}:b', '{user}:c')).toBe(0);
  expect(await redis.renamenx('{user}:b', '{user}:d')).toBe(1);
  expect(await redis.copy('{user}:d', '{user}:e')).toBe(1);
  expect(await redis.copy('{user}:d', '{user}:c')).toBe(0);
  expect(await redis.call('COPY', '{user}:d', '{user}:c', 'REPLACE')).toBe(1);
  expect(await redis.call('COPY', '{user}:d', '{user}:f', 'DB', '0')).toBe(1);
  expect(await redis.copy('{user}:none', '{user}:g')).toBe(0);
  expect(await redis.mget('{user}:c', '{user}:d', '{user}:e')).toEqual(['va', 'va', 'va']);
  expect(await redis.ttl('{user}:e')).toBe(100);
  await replicated('{user}:b', '{user}:c', '{user}:d', '{user}:e', '{user}:f');
  expect(await redis.msetnx('{user}:m1', '1', '{user}:m2', '2')).toBe(1);
  expect(await redis.msetnx('{user}:m3', '3', '{user}:m2', 'x')).toBe(0);
  expect(await redis.mget('{user}:m1', '{user}:m2', '{user}:m3')).toEqual(['1', '2', null]);
  await replicated('{user}:m1', '{user}:m2', '{user}:m3');

  // Keys of two slots (on either shard): Redis Cluster's refusal, before anything runs.
  const crossSlot = "CROSSSLOT Keys in request don't hash to the same slot";
  await redis.set('x:a', '1');
  expect(await rejection(redis.rename('x:a', 'x:b'))).toBe(crossSlot);
  expect(await rejection(redis.renamenx('x:a', 'x:b'))).toBe(crossSlot);
  expect(await rejection(redis.copy('x:a', 'x:b'))).toBe(crossSlot);
  expect(await rejection(redis.msetnx('x:a', '1', 'x:b', '2'))).toBe(crossSlot);
  expect(await redis.exists('x:b')).toBe(0);
  expect(await redis.msetnx('x:solo', '1')).toBe(1);

  expect(await rejection(redis.call('COPY', '{user}:d', '{user}:d'))).toBe('ERR source and destination objects are the same');
  expect(await rejection(redis.call('COPY', '{user}:d', '{user}:h', 'DB', '1'))).toBe('ERR DB index is out of range');
  expect(await rejection(redis.call('COPY', '{user}:d', '{user}:h', 'DB'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('COPY', '{user}:d', '{user}:h', 'NOW'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('RENAME', '{user}:d'))).toBe("ERR wrong number of arguments for 'rename' command");
  expect(await rejection(redis.call('MSETNX', '{user}:a', '1', '{user}:b'))).toBe("ERR wrong number of arguments for 'msetnx' command");
});
