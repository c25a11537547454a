import Redis from 'ioredis';
import { slotOf } from '../../shared/slot';
import type { TestCluster } from '../helpers/cluster';
import { waitFor } from '../helpers/shard-nodes';
import { openResp3, rejection, respClusterSuite, WRONGTYPE } from '../helpers/resp-client';

/**
 * Sets through the proxy over a real cluster (etcd, 2 shards × primary + replica, the proxy as
 * processes), through ioredis: every set command with Redis's replies and errors, SINTER / SUNION
 * / SDIFF within a slot and CROSSSLOT across, WRONGTYPE, TTLs, and RESP3's sets.
 */
jest.setTimeout(60_000);

let c: TestCluster;
let redis: Redis;
const suite = respClusterSuite();
beforeAll(() => {
  ({ c, redis } = suite);
});

const sorted = (xs: unknown): string[] => [...(xs as string[])].sort();

test('SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD', async () => {
  expect(await redis.sadd('s:a', 'x', 'y', 'z', 'x')).toBe(3);
  expect(await redis.sadd('s:a', 'x', 'w')).toBe(1);
  expect(await redis.scard('s:a')).toBe(4);
  expect(await redis.scard('s:none')).toBe(0);
  expect(sorted(await redis.smembers('s:a'))).toEqual(['w', 'x', 'y', 'z']);
  expect(await redis.smembers('s:none')).toEqual([]);
  expect(await redis.sismember('s:a', 'y')).toBe(1);
  expect(await redis.sismember('s:a', 'q')).toBe(0);
  expect(await redis.sismember('s:none', 'q')).toBe(0);
  expect(await redis.smismember('s:a', 'x', 'q', 'w')).toEqual([1, 0, 1]);
  expect(await redis.smismember('s:none', 'x')).toEqual([0]);
  expect(await redis.srem('s:a', 'x', 'q')).toBe(1);
  expect(await redis.srem('s:none', 'x')).toBe(0);
  const bin = Buffer.from([0xff, 0, 0x0d, 0x0a]);
  expect(await redis.sadd('s:bin', bin)).toBe(1);
  expect(await redis.smembersBuffer('s:bin')).toEqual([bin]);
  expect(await redis.srem('s:bin', bin)).toBe(1);
  expect(await redis.exists('s:bin')).toBe(0); // the last member gone: the key is gone
});

test('SPOP and SRANDMEMBER: one, counts, repeats; popping the last member deletes the key', async () => {
  const members = Array.from({ length: 10 }, (_, i) => `m${i}`);
  await redis.sadd('s:p', ...members);
  expect(await redis.srandmember('s:none')).toBeNull();
  expect(await redis.srandmember('s:none', 3)).toEqual([]);
  expect(members).toContain(await redis.srandmember('s:p'));
  const three = (await redis.srandmember('s:p', 3)) as string[];
  expect([three.length, new Set(three).size]).toEqual([3, 3]);
  expect(sorted(await redis.srandmember('s:p', 100))).toEqual(sorted(members));
  const repeats = (await redis.srandmember('s:p', -25)) as string[];
  expect(repeats.length).toBe(25);
  expect(repeats.every((m) => members.includes(m))).toBe(true);
  expect(await redis.scard('s:p')).toBe(10); // SRANDMEMBER takes nothing
  const popped = (await redis.spop('s:p', 4)) as string[];
  expect([popped.length, new Set(popped).size]).toEqual([4, 4]);
  expect(await redis.scard('s:p')).toBe(6);
  for (const m of popped) expect(await redis.sismember('s:p', m)).toBe(0);
  const one = (await redis.spop('s:p')) as string;
  expect(members).toContain(one);
  expect(await redis.spop('s:p', 0)).toEqual([]);
  expect(sorted(await redis.spop('s:p', 100))).toEqual(sorted(members.filter((m) => m !== one && !popped.includes(m))));
  expect(await redis.exists('s:p')).toBe(0);
  expect(await redis.spop('s:p')).toBeNull();
  expect(await redis.spop('s:p', 2)).toEqual([]);
  expect(await rejection(redis.call('SPOP', 's:p', 'x'))).toBe('ERR value is out of range, must be positive');
  expect(await rejection(redis.call('SPOP', 's:p', '-1'))).toBe('ERR value is out of range, must be positive');
  expect(await rejection(redis.call('SPOP', 's:p', '1', '2'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('SRANDMEMBER', 's:p', 'x'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(redis.call('SRANDMEMBER', 's:p', '-9223372036854775808'))).toBe(
    'ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807',
  );
});

test('SINTER, SUNION, SDIFF within a slot; CROSSSLOT across slots, before anything runs', async () => {
  await redis.sadd('{g}a', '1', '2', '3', '4');
  await redis.sadd('{g}b', '3', '4', '5');
  await redis.sadd('{g}c', '4', '6');
  expect(sorted(await redis.sinter('{g}a', '{g}b'))).toEqual(['3', '4']);
  expect(sorted(await redis.sinter('{g}a', '{g}b', '{g}c'))).toEqual(['4']);
  expect(await redis.sinter('{g}a', '{g}none')).toEqual([]);
  expect(sorted(await redis.sunion('{g}a', '{g}b', '{g}none'))).toEqual(['1', '2', '3', '4', '5']);
  expect(sorted(await redis.sdiff('{g}a', '{g}b', '{g}c'))).toEqual(['1', '2']);
  expect(await redis.sdiff('{g}none', '{g}a')).toEqual([]);
  // One key alone: its members.
  expect(sorted(await redis.sinter('{g}c'))).toEqual(['4', '6']);
  expect(sorted(await redis.sunion('{g}c'))).toEqual(['4', '6']);
  expect(sorted(await redis.sdiff('{g}c'))).toEqual(['4', '6']);
  let other = 'other';
  for (let i = 0; slotOf('default', other) === slotOf('default', '{g}a'); i++) other = `other${i}`;
  for (const cmd of ['SINTER', 'SUNION', 'SDIFF']) {
    expect(await rejection(redis.call(cmd, '{g}a', other))).toBe("CROSSSLOT Keys in request don't hash to the same slot");
  }
  await redis.set('{g}str', 'v');
  expect(await rejection(redis.sinter('{g}a', '{g}str'))).toBe(WRONGTYPE);
  expect(await rejection(redis.sunion('{g}str'))).toBe(WRONGTYPE);
});

test('SSCAN: the whole set at cursor 0, MATCH, COUNT accepted, NOVALUES refused', async () => {
  await redis.sadd('s:scan', 'user:1', 'user:2', 'other');
  const [cursor, all] = (await redis.sscan('s:scan', '0')) as [string, string[]];
  expect([cursor, sorted(all)]).toEqual(['0', ['other', 'user:1', 'user:2']]);
  expect(sorted(((await redis.sscan('s:scan', '0', 'MATCH', 'user:*', 'COUNT', 1)) as [string, string[]])[1])).toEqual(['user:1', 'user:2']);
  expect(await redis.sscan('s:none', '0')).toEqual(['0', []]);
  expect(await rejection(redis.call('SSCAN', 's:scan', '0', 'NOVALUES'))).toBe('ERR syntax error');
  expect(await rejection(redis.call('SSCAN', 's:scan', '-1'))).toBe('ERR invalid cursor');
});

test('WRONGTYPE both ways, arity errors in Redis\'s words', async () => {
  await redis.hset('st:h', 'f', 'v');
  await redis.set('st:s', 'v');
  await redis.sadd('st:set', 'm');
  expect(await rejection(redis.sadd('st:h', 'm'))).toBe(WRONGTYPE);
  expect(await rejection(redis.sadd('st:s', 'm'))).toBe(WRONGTYPE);
  expect(await rejection(redis.smembers('st:s'))).toBe(WRONGTYPE);
  expect(await rejection(redis.get('st:set'))).toBe(WRONGTYPE);
  expect(await rejection(redis.incr('st:set'))).toBe(WRONGTYPE);
  expect(await rejection(redis.hset('st:set', 'f', 'v'))).toBe(WRONGTYPE);
  expect(await rejection(redis.spop('st:h'))).toBe(WRONGTYPE);
  expect(await redis.smembers('st:set')).toEqual(['m']);
  expect(await rejection(redis.call('SADD', 'st:x'))).toBe("ERR wrong number of arguments for 'sadd' command");
  expect(await rejection(redis.call('SREM', 'st:x'))).toBe("ERR wrong number of arguments for 'srem' command");
  expect(await rejection(redis.call('SISMEMBER', 'st:x'))).toBe("ERR wrong number of arguments for 'sismember' command");
  expect(await rejection(redis.call('SMEMBERS'))).toBe("ERR wrong number of arguments for 'smembers' command");
  expect(await rejection(redis.call('SCARD', 'a', 'b'))).toBe("ERR wrong number of arguments for 'scard' command");
  expect(await rejection(redis.call('SINTER'))).toBe("ERR wrong number of arguments for 'sinter' command");
  expect(await rejection(redis.call('SSCAN', 'st:x'))).toBe("ERR wrong number of arguments for 'sscan' command");
});

test('TTLs on a set: EXPIRE, TTL, PERSIST; an expired set is gone; SADD keeps the TTL; TYPE', async () => {
  await redis.sadd('t:s', 'a');
  expect(await redis.type('t:s')).toBe('set');
  expect(await redis.expire('t:s', 50)).toBe(1);
  expect(await redis.sadd('t:s', 'b')).toBe(1);
  expect(await redis.ttl('t:s')).toBe(50);
  expect(await redis.persist('t:s')).toBe(1);
  expect(await redis.ttl('t:s')).toBe(-1);
  expect(await redis.pexpire('t:s', 100)).toBe(1);
  await waitFor('the set to expire', async () => (await redis.exists('t:s')) === 0, 3000, 20);
  expect(await redis.smembers('t:s')).toEqual([]);
  expect(await redis.scard('t:s')).toBe(0);
  expect(await redis.type('t:s')).toBe('none');
  // Created again, it starts without the old expiry.
  expect(await redis.sadd('t:s', 'c')).toBe(1);
  expect(await redis.ttl('t:s')).toBe(-1);
});

test('RESP3: SMEMBERS, SINTER and SPOP with a count are sets (~); SRANDMEMBER with a count a list', async () => {
  await redis.sadd('{r3}s', 'a');
  const { ask, close } = await openResp3(c.respPort!);
  try {
    expect(await ask('SMEMBERS {r3}s\r\n', '~1\r\n$1\r\na\r\n')).toBe('~1\r\n$1\r\na\r\n');
    expect(await ask('SINTER {r3}s {r3}none\r\n', '~0\r\n')).toBe('~0\r\n');
    expect(await ask('SUNION {r3}s {r3}none\r\n', '~1\r\n$1\r\na\r\n')).toBe('~1\r\n$1\r\na\r\n');
    expect(await ask('SRANDMEMBER {r3}s 1\r\n', '*1\r\n$1\r\na\r\n')).toBe('*1\r\n$1\r\na\r\n');
    expect(await ask('SRANDMEMBER {r3}none\r\n', '_\r\n')).toBe('_\r\n');
    expect(await ask('SPOP {r3}s 5\r\n', '~1\r\n$1\r\na\r\n')).toBe('~1\r\n$1\r\na\r\n');
  } finally {
    close();
  }
});
