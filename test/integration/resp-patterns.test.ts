import { spawn, spawnSync } from 'node:child_process';
import Redis, { ReplyError } from 'ioredis';
import { createClient, ErrorReply, type RedisClientType } from 'redis';
import { startTestCluster, type TestCluster } from '../helpers/cluster';

/**
 * The hash and set cache patterns of real client libraries (ioredis, node-redis, redis-cli)
 * through the RESP front of a 2-shard cluster: hash sessions with TTLs, tag sets and tag
 * invalidation, SCAN / HSCAN / SSCAN loops as the libraries drive them, and WRONGTYPE errors as
 * the libraries surface them. Each test works in a namespace of its own (AUTH <namespace>).
 */
jest.setTimeout(30_000);

const hasCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;
/** redis-cli 7.0 has no `--scan --type`; newer ones may. */
const cliHelp = hasCli ? spawnSync('redis-cli', ['--help'], { encoding: 'utf8' }) : undefined;
const cliHasScanType = cliHelp !== undefined && /--type/.test(cliHelp.stdout + cliHelp.stderr);

const WRONGTYPE = 'WRONGTYPE Operation against a key holding the wrong kind of value';

let c: TestCluster;
const ioClients: Redis[] = [];
const nodeClients: RedisClientType[] = [];

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 1 });
}, 50_000);

afterAll(async () => {
  for (const r of ioClients) r.disconnect();
  for (const n of nodeClients) if (n.isOpen) n.destroy();
  await c?.stop();
});

/** An ioredis client whose keys live in namespace `ns` (AUTH <ns>). */
async function io(ns: string): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port: c.respPort, password: ns, maxRetriesPerRequest: 0, lazyConnect: true });
  ioClients.push(r);
  await r.connect();
  return r;
}

/**
 * A node-redis client (RESP3: it opens with `HELLO 3 AUTH <user> <pass>`) whose keys live in
 * namespace `ns`: a password alone (node-redis sends the user `default`) names it, as ioredis's
 * `password` does.
 */
async function nodeRedis(ns: string): Promise<RedisClientType> {
  const n: RedisClientType = createClient({ url: `redis://127.0.0.1:${c.respPort}`, password: ns, socket: { reconnectStrategy: false } });
  n.on('error', () => undefined); // failures surface through the commands' promises
  nodeClients.push(n);
  await n.connect();
  return n;
}

/** The shard that owns `key` in namespace `ns`, from the proxy's admin route. */
async function shardOf(ns: string, key: string): Promise<number> {
  return ((await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${encodeURIComponent(key)}`)).json()) as { shardId: number }).shardId;
}

/** Expects `keys` of namespace `ns` to be spread over both shards. */
async function expectBothShards(ns: string, keys: readonly string[]): Promise<void> {
  expect(new Set(await Promise.all(keys.map((k) => shardOf(ns, k)))).size).toBe(2);
}

/** The error `p` rejects with. */
async function rejectionOf(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

/** Everything a readable stream of arrays (ioredis scan streams) emits, flattened. */
function drain(stream: NodeJS.ReadableStream): Promise<{ items: string[]; pages: number }> {
  return new Promise((resolve, reject) => {
    const items: string[] = [];
    let pages = 0;
    stream.on('data', (page: string[]) => {
      pages++;
      items.push(...page);
    });
    stream.on('end', () => resolve({ items, pages }));
    stream.on('error', reject);
  });
}

/** Pairs [field, value, field, value, …] into an object. */
function pairs(flat: readonly string[]): Record<string, string> {
  expect(flat.length % 2).toBe(0);
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();
const numbered = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function cli(args: string[], ns: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(c.respPort), '--user', ns, '--pass', 'x', '--no-auth-warning', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const lines = (out: string): string[] => out.split('\n').filter((l) => l !== '');

// ---------------------------------------------------------------------------------------------
// 1. Hash sessions
// ---------------------------------------------------------------------------------------------

test('ioredis: a hash session — HSET object, EXPIRE, HGETALL, HINCRBY, HDEL, refresh, TTL, logout DEL, pipelined HGETs', async () => {
  const r = await io('pat-io-sess');
  const sid = 'session:9b1e';
  expect(await r.hset(sid, { user: 'ada', role: 'admin', visits: '0', csrf: 'tok-1' })).toBe(4);
  expect(await r.type(sid)).toBe('hash');
  expect(await r.ttl(sid)).toBe(-1); // no default TTL on the namespace
  expect(await r.expire(sid, 1800)).toBe(1);
  expect(await r.ttl(sid)).toBe(1800);
  expect(await r.hgetall(sid)).toEqual({ user: 'ada', role: 'admin', visits: '0', csrf: 'tok-1' });
  expect(await r.hincrby(sid, 'visits', 1)).toBe(1);
  expect(await r.hincrby(sid, 'visits', 5)).toBe(6);
  expect(await r.hdel(sid, 'csrf')).toBe(1);
  expect(await r.hdel(sid, 'csrf')).toBe(0);
  expect(await r.hexists(sid, 'csrf')).toBe(0);
  // A later write keeps the key's expiry, as in Redis.
  expect(await r.hset(sid, { lastSeen: '1700000000', role: 'owner' })).toBe(1);
  const kept = await r.ttl(sid);
  expect(kept).toBeGreaterThan(1790);
  expect(kept).toBeLessThanOrEqual(1800);
  expect(await r.hgetall(sid)).toEqual({ user: 'ada', role: 'owner', visits: '6', lastSeen: '1700000000' });
  expect(await r.hmget(sid, 'user', 'nope', 'visits')).toEqual(['ada', null, '6']);
  expect(await r.hlen(sid)).toBe(4);
  // Refresh on activity.
  expect(await r.expire(sid, 3600)).toBe(1);
  expect(await r.ttl(sid)).toBe(3600);
  expect(await r.pttl(sid)).toBeGreaterThan(3_590_000);

  // Many sessions over both shards; one pipeline of HGETs (no MULTI) answers in order.
  const sids = numbered('session:u', 30);
  await expectBothShards('pat-io-sess', sids);
  const w = r.pipeline();
  sids.forEach((s, i) => w.hset(s, { user: `user-${i}`, n: String(i) }).expire(s, 600));
  const written = await w.exec();
  expect(written!.every(([err]) => err === null)).toBe(true);
  const p = r.pipeline();
  for (const s of sids) p.hget(s, 'user');
  p.hget('session:none', 'user');
  const got = await p.exec();
  expect(got!.map(([err, v]) => [err, v])).toEqual([...sids.map((_, i) => [null, `user-${i}`]), [null, null]]);
  expect(await r.ttl(sids[7])).toBe(600);

  // Logout.
  expect(await r.del(sid)).toBe(1);
  expect(await r.hgetall(sid)).toEqual({});
  expect(await r.hget(sid, 'user')).toBeNull();
  expect(await r.ttl(sid)).toBe(-2);
  expect(await r.exists(sid)).toBe(0);

  // An expiry that passes removes the session.
  await r.hset('session:short', { user: 'tmp' });
  expect(await r.pexpire('session:short', 150)).toBe(1);
  await new Promise((done) => setTimeout(done, 400));
  expect(await r.hgetall('session:short')).toEqual({});
  expect(await r.exists('session:short')).toBe(0);
});

test('node-redis: a hash session — hSet object, expire, hGetAll, hIncrBy, hDel, refresh, ttl, logout del, batched hGets', async () => {
  const n = await nodeRedis('pat-nr-sess');
  const sid = 'session:4c2d';
  expect(await n.hSet(sid, { user: 'grace', role: 'admin', visits: 0, csrf: 'tok-2' })).toBe(4);
  expect(await n.type(sid)).toBe('hash');
  expect(await n.ttl(sid)).toBe(-1);
  expect(await n.expire(sid, 1800)).toBe(1);
  expect(await n.ttl(sid)).toBe(1800);
  expect(await n.hGetAll(sid)).toEqual({ user: 'grace', role: 'admin', visits: '0', csrf: 'tok-2' });
  expect(await n.hIncrBy(sid, 'visits', 1)).toBe(1);
  expect(await n.hIncrBy(sid, 'visits', 5)).toBe(6);
  expect(await n.hDel(sid, 'csrf')).toBe(1);
  expect(await n.hDel(sid, ['csrf', 'nope'])).toBe(0);
  expect(await n.hExists(sid, 'csrf')).toBe(0);
  expect(await n.hSet(sid, 'lastSeen', '1700000000')).toBe(1);
  const kept = await n.ttl(sid);
  expect(kept).toBeGreaterThan(1790);
  expect(kept).toBeLessThanOrEqual(1800);
  expect(await n.hGetAll(sid)).toEqual({ user: 'grace', role: 'admin', visits: '6', lastSeen: '1700000000' });
  expect(await n.hmGet(sid, ['user', 'nope', 'visits'])).toEqual(['grace', null, '6']);
  expect(await n.expire(sid, 3600)).toBe(1);
  expect(await n.ttl(sid)).toBe(3600);

  // Batched reads: auto-pipelined promises, and a MULTI-less pipeline (execAsPipeline).
  const sids = numbered('session:u', 30);
  await expectBothShards('pat-nr-sess', sids);
  await Promise.all(sids.map((s, i) => n.hSet(s, { user: `user-${i}`, n: String(i) })));
  expect(await Promise.all(sids.map((s) => n.hGet(s, 'user')))).toEqual(sids.map((_, i) => `user-${i}`));
  const batch = n.multi();
  for (const s of sids) batch.hGet(s, 'n');
  batch.hGet('session:none', 'n');
  expect(await batch.execAsPipeline()).toEqual([...sids.map((_, i) => String(i)), null]);

  // Logout.
  expect(await n.del(sid)).toBe(1);
  expect(await n.hGetAll(sid)).toEqual({});
  expect(await n.hGet(sid, 'user')).toBeNull();
  expect(await n.ttl(sid)).toBe(-2);
  expect(await n.exists(sid)).toBe(0);

  await n.hSet('session:short', 'user', 'tmp');
  expect(await n.pExpire('session:short', 150)).toBe(1);
  await new Promise((done) => setTimeout(done, 400));
  expect(await n.hGetAll('session:short')).toEqual({});
});

// ---------------------------------------------------------------------------------------------
// 2. Set tags and tag invalidation
// ---------------------------------------------------------------------------------------------

test('ioredis: tag sets — SADD, SMEMBERS, SISMEMBER, SMISMEMBER, SINTER/SUNION on {tags}, SREM, SCARD, invalidation', async () => {
  const r = await io('pat-io-tags');
  const products = numbered('product:', 12);
  await expectBothShards('pat-io-tags', products);
  await r.mset(Object.fromEntries(products.map((p) => [p, `cached ${p}`])));
  const red = products.slice(0, 6);
  const sale = products.slice(4, 10);
  expect(await r.sadd('{tags}:red', ...red)).toBe(6);
  expect(await r.sadd('{tags}:red', red[0], 'product:new')).toBe(1);
  expect(await r.srem('{tags}:red', 'product:new')).toBe(1);
  expect(await r.sadd('{tags}:sale', ...sale)).toBe(6);
  expect(await r.type('{tags}:red')).toBe('set');
  expect(sorted(await r.smembers('{tags}:red'))).toEqual(sorted(red));
  expect(await r.sismember('{tags}:red', 'product:0')).toBe(1);
  expect(await r.sismember('{tags}:red', 'product:11')).toBe(0);
  expect(await r.sismember('{tags}:none', 'product:0')).toBe(0);
  expect(await r.smismember('{tags}:sale', 'product:4', 'product:0', 'product:9', 'x')).toEqual([1, 0, 1, 0]);
  expect(sorted(await r.sinter('{tags}:red', '{tags}:sale'))).toEqual(['product:4', 'product:5']);
  expect(sorted(await r.sunion('{tags}:red', '{tags}:sale'))).toEqual(sorted(products.slice(0, 10)));
  expect(sorted(await r.sdiff('{tags}:red', '{tags}:sale'))).toEqual(sorted(products.slice(0, 4)));
  expect(await r.sinter('{tags}:red', '{tags}:none')).toEqual([]);
  expect(await r.scard('{tags}:red')).toBe(6);
  expect(await r.srem('{tags}:red', 'product:0', 'product:1', 'not-a-member')).toBe(2);
  expect(await r.scard('{tags}:red')).toBe(4);
  expect(await r.scard('{tags}:none')).toBe(0);

  // Invalidate everything tagged "sale": read the tag, delete its keys and the tag.
  const tagged = await r.smembers('{tags}:sale');
  expect(await r.del(...tagged, '{tags}:sale')).toBe(7);
  expect(await r.exists(...sale)).toBe(0);
  expect(await r.mget(...products)).toEqual(products.map((p, i) => (i >= 4 && i < 10 ? null : `cached ${p}`)));
  // The other tag still names the deleted keys (as in Redis: nothing cascades).
  expect(await r.scard('{tags}:red')).toBe(4);

  // A set emptied by SREM is deleted.
  expect(await r.srem('{tags}:red', ...(await r.smembers('{tags}:red')))).toBe(4);
  expect(await r.exists('{tags}:red')).toBe(0);
  expect(await r.type('{tags}:red')).toBe('none');
});

test('node-redis: tag sets — sAdd, sMembers, sIsMember, smIsMember, sInter/sUnion on {tags}, sRem, sCard, invalidation', async () => {
  const n = await nodeRedis('pat-nr-tags');
  const products = numbered('product:', 12);
  await expectBothShards('pat-nr-tags', products);
  await n.mSet(products.map((p) => [p, `cached ${p}`] as [string, string]));
  const red = products.slice(0, 6);
  const sale = products.slice(4, 10);
  expect(await n.sAdd('{tags}:red', red)).toBe(6);
  expect(await n.sAdd('{tags}:red', red[0])).toBe(0);
  expect(await n.sAdd('{tags}:sale', sale)).toBe(6);
  expect(sorted(await n.sMembers('{tags}:red'))).toEqual(sorted(red));
  expect(await n.sIsMember('{tags}:red', 'product:0')).toBe(1);
  expect(await n.sIsMember('{tags}:red', 'product:11')).toBe(0);
  expect(await n.smIsMember('{tags}:sale', ['product:4', 'product:0', 'product:9', 'x'])).toEqual([1, 0, 1, 0]);
  expect(sorted(await n.sInter(['{tags}:red', '{tags}:sale']))).toEqual(['product:4', 'product:5']);
  expect(sorted(await n.sUnion(['{tags}:red', '{tags}:sale']))).toEqual(sorted(products.slice(0, 10)));
  expect(sorted(await n.sDiff(['{tags}:red', '{tags}:sale']))).toEqual(sorted(products.slice(0, 4)));
  expect(await n.sCard('{tags}:red')).toBe(6);
  expect(await n.sRem('{tags}:red', ['product:0', 'product:1', 'not-a-member'])).toBe(2);
  expect(await n.sCard('{tags}:red')).toBe(4);

  // Tags in different slots: refused as in Redis Cluster.
  await n.sAdd('tag:other', 'product:4');
  expect((await rejectionOf(n.sInter(['{tags}:sale', 'tag:other']))).message).toBe("CROSSSLOT Keys in request don't hash to the same slot");

  // Tag invalidation.
  const tagged = await n.sMembers('{tags}:sale');
  expect(await n.del([...tagged, '{tags}:sale'])).toBe(7);
  expect(await n.exists(sale)).toBe(0);
  expect(await n.mGet(products)).toEqual(products.map((p, i) => (i >= 4 && i < 10 ? null : `cached ${p}`)));
  expect(await n.sCard('{tags}:sale')).toBe(0);
  expect(await n.sMembers('{tags}:sale')).toEqual([]);
});

// ---------------------------------------------------------------------------------------------
// 3. SCAN / HSCAN / SSCAN loops
// ---------------------------------------------------------------------------------------------

/** Writes, in namespace `r`'s, hashes `h:<i>`, sets `s:<i>`, strings `str:<i>` and a big hash and set. */
async function writeScanData(write: (cmds: Array<[string, ...string[]]>) => Promise<void>): Promise<{ hashes: string[]; sets: string[]; strings: string[] }> {
  const hashes = numbered('h:', 40);
  const sets = numbered('s:', 25);
  const strings = numbered('str:', 30);
  const cmds: Array<[string, ...string[]]> = [
    ...hashes.map((k): [string, ...string[]] => ['HSET', k, 'f', k]),
    ...sets.map((k): [string, ...string[]] => ['SADD', k, 'm']),
    ...strings.map((k): [string, ...string[]] => ['SET', k, 'v']),
    ['HSET', 'big:hash', ...numbered('field', 300).flatMap((f) => [f, `v-${f}`])],
    ['SADD', 'big:set', ...numbered('member', 300)],
  ];
  await write(cmds);
  return { hashes, sets, strings };
}

const bigFields = numbered('field', 300);
const bigMembers = numbered('member', 300);
const fieldsMatching = (glob: RegExp): string[] => bigFields.filter((f) => glob.test(f));

test('ioredis: scanStream with match/count/type, hscanStream (with and without values), sscanStream', async () => {
  const ns = 'pat-io-scan';
  const r = await io(ns);
  const { hashes, sets, strings } = await writeScanData(async (cmds) => {
    const res = await r.pipeline(cmds.map(([name, ...args]) => [name.toLowerCase(), ...args])).exec(); // ioredis wants lower-case names
    expect(res!.every(([err]) => err === null)).toBe(true);
  });
  await expectBothShards(ns, hashes);

  const hashScan = await drain(r.scanStream({ match: 'h:*', count: 5, type: 'hash' }));
  expect(hashScan.items.length).toBe(hashes.length); // each key once
  expect(sorted(hashScan.items)).toEqual(sorted(hashes));
  expect(hashScan.pages).toBeGreaterThan(2); // count 5 pages through the slots

  const allHashes = await drain(r.scanStream({ count: 10, type: 'hash' }));
  expect(sorted(allHashes.items)).toEqual(sorted([...hashes, 'big:hash']));
  const allSets = await drain(r.scanStream({ type: 'set' }));
  expect(sorted(allSets.items)).toEqual(sorted([...sets, 'big:set']));
  const allStrings = await drain(r.scanStream({ match: 'str:*', type: 'string', count: 100 }));
  expect(sorted(allStrings.items)).toEqual(sorted(strings));
  const everything = await drain(r.scanStream({ count: 50 }));
  expect(everything.items.length).toBe(hashes.length + sets.length + strings.length + 2);
  expect(await drain(r.scanStream({ match: 'h:*', type: 'set' }))).toMatchObject({ items: [] });

  const hs = await drain(r.hscanStream('big:hash', { match: 'field1*', count: 10 }));
  const wanted = fieldsMatching(/^field1/);
  expect(wanted.length).toBe(111);
  expect(pairs(hs.items)).toEqual(Object.fromEntries(wanted.map((f) => [f, `v-${f}`])));
  const hsAll = await drain(r.hscanStream('big:hash'));
  expect(Object.keys(pairs(hsAll.items)).length).toBe(300);
  const hsNoValues = await drain(r.hscanStream('big:hash', { match: 'field2?', noValues: true }));
  expect(sorted(hsNoValues.items)).toEqual(sorted(fieldsMatching(/^field2\d$/)));
  expect((await drain(r.hscanStream('missing:hash'))).items).toEqual([]);

  const ss = await drain(r.sscanStream('big:set', { match: '*9', count: 7 }));
  expect(sorted(ss.items)).toEqual(sorted(bigMembers.filter((m) => m.endsWith('9'))));
  expect(sorted((await drain(r.sscanStream('big:set'))).items)).toEqual(sorted(bigMembers));
  expect((await drain(r.sscanStream('missing:set'))).items).toEqual([]);
});

test('node-redis: scanIterator with MATCH/COUNT/TYPE, hScanIterator, hScanNoValuesIterator, sScanIterator', async () => {
  const ns = 'pat-nr-scan';
  const n = await nodeRedis(ns);
  const { hashes, sets, strings } = await writeScanData(async (cmds) => {
    await Promise.all(cmds.map((cmd) => n.sendCommand(cmd)));
  });
  await expectBothShards(ns, hashes);

  const collect = async (it: AsyncIterable<string[]>): Promise<{ items: string[]; pages: number }> => {
    const items: string[] = [];
    let pages = 0;
    for await (const page of it) {
      pages++;
      items.push(...page);
    }
    return { items, pages };
  };

  const hashScan = await collect(n.scanIterator({ MATCH: 'h:*', COUNT: 5, TYPE: 'hash' }));
  expect(hashScan.items.length).toBe(hashes.length);
  expect(sorted(hashScan.items)).toEqual(sorted(hashes));
  expect(hashScan.pages).toBeGreaterThan(2);
  expect(sorted((await collect(n.scanIterator({ TYPE: 'set', COUNT: 10 }))).items)).toEqual(sorted([...sets, 'big:set']));
  expect(sorted((await collect(n.scanIterator({ MATCH: 'str:*', TYPE: 'string' }))).items)).toEqual(sorted(strings));
  expect((await collect(n.scanIterator({ COUNT: 1000 }))).items.length).toBe(hashes.length + sets.length + strings.length + 2);

  const entries: Array<{ field: string; value: string }> = [];
  for await (const page of n.hScanIterator('big:hash', { MATCH: 'field1*', COUNT: 10 })) entries.push(...page);
  const wanted = fieldsMatching(/^field1/);
  expect(entries.length).toBe(wanted.length);
  expect(Object.fromEntries(entries.map((e) => [e.field, e.value]))).toEqual(Object.fromEntries(wanted.map((f) => [f, `v-${f}`])));
  const noValues = await collect(n.hScanNoValuesIterator('big:hash', { MATCH: 'field2?' }));
  expect(sorted(noValues.items)).toEqual(sorted(fieldsMatching(/^field2\d$/)));
  expect((await collect(n.hScanNoValuesIterator('missing:hash'))).items).toEqual([]);

  const members = await collect(n.sScanIterator('big:set', { MATCH: '*9', COUNT: 7 }));
  expect(sorted(members.items)).toEqual(sorted(bigMembers.filter((m) => m.endsWith('9'))));
  expect(sorted((await collect(n.sScanIterator('big:set'))).items)).toEqual(sorted(bigMembers));
});

// ---------------------------------------------------------------------------------------------
// 4. Errors as the libraries surface them
// ---------------------------------------------------------------------------------------------

test('ioredis: WRONGTYPE is a ReplyError, in plain calls and inside a pipeline; the connection goes on', async () => {
  const r = await io('pat-io-err');
  await r.set('str', 'plain');
  await r.hset('hash', { a: '1' });
  await r.sadd('set', 'm');
  for (const p of [r.hget('str', 'a'), r.hgetall('str'), r.hset('str', { a: '1' }), r.sadd('hash', 'x'), r.smembers('hash'), r.hget('set', 'a'), r.get('hash'), r.incr('set')]) {
    const err = await rejectionOf(p);
    expect(err).toBeInstanceOf(ReplyError);
    expect(err.message).toBe(WRONGTYPE);
  }
  const res = await r.pipeline().hget('str', 'a').get('str').scard('hash').hlen('hash').exec();
  expect(res![0][0]).toBeInstanceOf(ReplyError);
  expect((res![0][0] as Error).message.startsWith('WRONGTYPE')).toBe(true);
  expect(res![1]).toEqual([null, 'plain']);
  expect((res![2][0] as Error).message).toBe(WRONGTYPE);
  expect(res![3]).toEqual([null, 1]);
  expect((await rejectionOf(r.hincrby('hash', 'a', 'x' as unknown as number))).message).toBe('ERR value is not an integer or out of range');
  await r.hset('hash', { text: 'abc' });
  expect((await rejectionOf(r.hincrby('hash', 'text', 1))).message).toBe('ERR hash value is not an integer');
  expect(await r.hget('hash', 'a')).toBe('1'); // nothing was changed by the failures
  expect(await r.get('str')).toBe('plain');
  expect(await r.mget('str', 'hash', 'set')).toEqual(['plain', null, null]); // MGET: nil for other types
});

test('node-redis: WRONGTYPE is an ErrorReply; the connection goes on', async () => {
  const n = await nodeRedis('pat-nr-err');
  await n.set('str', 'plain');
  await n.hSet('hash', 'a', '1');
  await n.sAdd('set', 'm');
  for (const p of [n.hGet('str', 'a'), n.hGetAll('str'), n.sAdd('hash', 'x'), n.sMembers('hash'), n.hGet('set', 'a'), n.get('hash'), n.sIsMember('str', 'x')]) {
    const err = await rejectionOf(p);
    expect(err).toBeInstanceOf(ErrorReply);
    expect(err.message).toBe(WRONGTYPE);
  }
  const batch = n.multi().hGet('str', 'a').get('str');
  // node-redis 6 rejects a pipeline with its first error reply (Promise.all over the commands).
  const err = await rejectionOf(batch.execAsPipeline());
  expect(err).toBeInstanceOf(ErrorReply);
  expect(err.message).toBe(WRONGTYPE);
  expect(await n.hGet('hash', 'a')).toBe('1');
  expect(await n.ping()).toBe('PONG');
});

// ---------------------------------------------------------------------------------------------
// 5. redis-cli --scan
// ---------------------------------------------------------------------------------------------

test('redis-cli --scan --pattern and a TYPE hash scan list exactly the expected keys', async () => {
  if (!hasCli) throw new Error("redis-cli not on the PATH: install Debian's redis-tools");
  const ns = 'pat-cli';
  const r = await io(ns);
  const xStrings = numbered('x:s', 15);
  const xHashes = numbered('x:h', 15);
  const xSets = numbered('x:t', 5);
  const yHashes = numbered('y:h', 10);
  const p = r.pipeline();
  xStrings.forEach((k) => p.set(k, 'v'));
  [...xHashes, ...yHashes].forEach((k) => p.hset(k, { f: 'v' }));
  xSets.forEach((k) => p.sadd(k, 'm'));
  p.set('xylophone', 'v').set('other', 'v');
  await p.exec();

  const scan = await cli(['--scan', '--pattern', 'x*'], ns);
  expect(scan.code).toBe(0);
  const listed = lines(scan.stdout);
  expect(listed.length).toBe(xStrings.length + xHashes.length + xSets.length + 1);
  expect(sorted(listed)).toEqual(sorted([...xStrings, ...xHashes, ...xSets, 'xylophone']));
  expect(sorted(lines((await cli(['--scan', '--pattern', 'x:h*'], ns)).stdout))).toEqual(sorted(xHashes));

  if (cliHasScanType) {
    const typed = await cli(['--scan', '--type', 'hash'], ns);
    expect(typed.code).toBe(0);
    expect(sorted(lines(typed.stdout))).toEqual(sorted([...xHashes, ...yHashes]));
  } else {
    // This redis-cli (7.0) has no `--scan --type`: drive `SCAN cursor TYPE hash` from redis-cli.
    const seen: string[] = [];
    let cursor = '0';
    let calls = 0;
    do {
      const out = await cli(['SCAN', cursor, 'TYPE', 'hash', 'COUNT', '10'], ns);
      expect(out.code).toBe(0);
      const [next, ...keys] = lines(out.stdout);
      expect(next).toMatch(/^\d+$/);
      seen.push(...keys);
      cursor = next;
      calls++;
    } while (cursor !== '0' && calls < 100);
    expect(cursor).toBe('0');
    expect(seen.length).toBe(xHashes.length + yHashes.length);
    expect(sorted(seen)).toEqual(sorted([...xHashes, ...yHashes]));
  }
  const hscan = await cli(['HSCAN', 'x:h1', '0'], ns);
  expect(lines(hscan.stdout)).toEqual(['0', 'f', 'v']);
});
