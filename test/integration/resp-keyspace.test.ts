import { spawn, spawnSync } from 'node:child_process';
import Redis from 'ioredis';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { shardctlInProcess } from '../helpers/shardctl';
import { rejection } from '../helpers/resp-client';

/**
 * The key-space commands of the RESP front across 3 shards (real etcd, nodes and proxy): SCAN
 * (cursor = slot), KEYS, DBSIZE, RANDOMKEY, FLUSHDB / FLUSHALL, TYPE; ioredis and redis-cli.
 * Each test works in a namespace of its own (AUTH <namespace> selects it).
 */
jest.setTimeout(60_000);

const hasCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

let c: TestCluster;
const clients: Redis[] = [];

beforeAll(async () => {
  if (!hasCli) throw new Error("redis-cli not on the PATH: install Debian's redis-tools");
  c = await startTestCluster({ shards: 3, perShard: 1 });
}, 50_000);

afterAll(async () => {
  for (const r of clients) r.disconnect();
  await c?.stop();
});

/** A client whose keys live in namespace `ns`. */
async function client(ns: string): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port: c.respPort, password: ns, maxRetriesPerRequest: 0, lazyConnect: true });
  clients.push(r);
  await r.connect();
  return r;
}

/** The shard that owns `key` in namespace `ns`, from the proxy's admin route. */
async function shardOf(ns: string, key: string): Promise<number> {
  return ((await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${encodeURIComponent(key)}`)).json()) as { shardId: number }).shardId;
}

/** Writes `keys` in pipelined batches. */
async function writeAll(r: Redis, keys: readonly string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 500) {
    const p = r.pipeline();
    for (const key of keys.slice(i, i + 500)) p.set(key, 'v');
    await p.exec();
  }
}

/** Every page of a whole SCAN with `options`; checks the cursor is a slot that only grows. */
async function scanPages(r: Redis, options: string[] = [], between?: () => Promise<void>): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await r.call('SCAN', cursor, ...options)) as [string, string[]];
    if (next !== '0') expect(Number(next)).toBeGreaterThan(Number(cursor));
    expect(Number(next)).toBeLessThan(16384);
    pages.push(keys);
    cursor = next;
    await between?.();
  } while (cursor !== '0');
  return pages;
}


function cli(args: string[], ns: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(c.respPort), '--user', ns, '--pass', 'x', '--no-auth-warning', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

const N = 3000;
const numbered = (prefix: string, n = N): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

test('DBSIZE is the namespace\'s keys over the 3 shards; SCAN COUNT 10 returns each key exactly once', async () => {
  const r = await client('ks-count');
  const keys = numbered('user:');
  expect(new Set(await Promise.all(keys.slice(0, 30).map((k) => shardOf('ks-count', k)))).size).toBe(3);
  expect(await r.dbsize()).toBe(0);
  await writeAll(r, keys);
  expect(await r.dbsize()).toBe(N);
  const other = await client('ks-other');
  await other.set('user:0', 'elsewhere');
  expect(await other.dbsize()).toBe(1);
  expect(await r.dbsize()).toBe(N);

  const pages = await scanPages(r, ['COUNT', '10']);
  const seen = pages.flat();
  expect(seen.length).toBe(N); // exactly once
  expect(new Set(seen)).toEqual(new Set(keys));
  expect(pages.length).toBeGreaterThan(N / 20); // COUNT 10 is honoured: pages of about 10 keys
  expect(Math.max(...pages.map((p) => p.length))).toBeLessThan(30);
  expect((await scanPages(r)).flat().length).toBe(N); // the default COUNT
});

test('SCAN under writes: every key present for the whole scan is returned at least once', async () => {
  const r = await client('ks-churn');
  const stable = numbered('stable:', 1500);
  const doomed = numbered('doomed:', 1500);
  await writeAll(r, [...stable, ...doomed]);
  const writer = await client('ks-churn');
  let i = 0;
  const pages = await scanPages(r, ['COUNT', '25'], async () => {
    const p = writer.pipeline();
    for (let j = 0; j < 10; j++, i++) {
      p.set(`added:${i}`, 'v');
      if (i < doomed.length) p.del(doomed[i]);
    }
    await p.exec();
  });
  const seen = new Set(pages.flat());
  for (const key of stable) expect(seen.has(key)).toBe(true);
  expect([...seen].every((k) => /^(stable|doomed|added):\d+$/.test(k))).toBe(true);
  expect(i).toBeGreaterThan(100); // the writes really went on during the scan
});

test('SCAN MATCH and TYPE filter; KEYS matches; TYPE answers string/none, none once a key expired', async () => {
  const r = await client('ks-match');
  await writeAll(r, [...numbered('user:', 200), ...numbered('order:', 100), 'user:x{tag}', 'a*b']);
  const users = (await scanPages(r, ['MATCH', 'user:*', 'COUNT', '50'])).flat();
  expect(new Set(users)).toEqual(new Set([...numbered('user:', 200), 'user:x{tag}']));
  expect((await scanPages(r, ['MATCH', 'order:?', 'COUNT', '1000'])).flat().sort()).toEqual(numbered('order:', 10).sort());
  expect((await scanPages(r, ['MATCH', 'a\\*b'])).flat()).toEqual(['a*b']);
  expect((await scanPages(r, ['TYPE', 'string'])).flat().length).toBe(302);
  expect((await scanPages(r, ['TYPE', 'hash'])).flat()).toEqual([]);
  expect((await scanPages(r, ['MATCH', '*a*a*a*a*a*a*a*a*a*a*b'])).flat()).toEqual([]); // no backtracking blow-up

  expect((await r.keys('order:*')).sort()).toEqual(numbered('order:', 100).sort());
  expect((await r.keys('*')).length).toBe(302);
  expect(await r.keys('nothing*')).toEqual([]);

  expect(await r.type('user:1')).toBe('string');
  expect(await r.type('missing')).toBe('none');
  await r.set('brief', 'v', 'PX', 50);
  await new Promise((resolve) => setTimeout(resolve, 120));
  expect(await r.type('brief')).toBe('none');
  expect((await r.keys('brief')).length).toBe(0);
});

test('RANDOMKEY: an existing key, nil on an empty namespace', async () => {
  const r = await client('ks-random');
  expect(await r.randomkey()).toBeNull();
  const keys = numbered('r:', 60);
  await writeAll(r, keys);
  const drawn = new Set<string>();
  for (let i = 0; i < 60; i++) drawn.add((await r.randomkey())!);
  for (const key of drawn) expect(keys).toContain(key);
  expect(drawn.size).toBeGreaterThan(10);
  expect(new Set(await Promise.all([...drawn].map((k) => shardOf('ks-random', k)))).size).toBe(3);
});

test('FLUSHDB / FLUSHALL: DBSIZE 0, GET misses, SCAN and RANDOMKEY find nothing; the other namespaces stay', async () => {
  const r = await client('ks-flush');
  const other = await client('ks-flush-other');
  await writeAll(r, numbered('f:', 500));
  await other.set('kept', '1');
  expect(await r.flushdb()).toBe('OK');
  expect(await r.dbsize()).toBe(0);
  expect(await r.get('f:1')).toBeNull();
  expect((await scanPages(r)).flat()).toEqual([]);
  expect(await r.randomkey()).toBeNull();
  expect(await other.get('kept')).toBe('1'); // FLUSHALL and FLUSHDB are the connection's namespace only
  await r.set('f:again', 'v');
  expect(await r.dbsize()).toBe(1);
  expect(await r.randomkey()).toBe('f:again');
  expect(await r.call('FLUSHALL', 'ASYNC')).toBe('OK');
  expect(await r.dbsize()).toBe(0);
  expect(await other.dbsize()).toBe(1);
  expect(await r.call('FLUSHDB', 'sync')).toBe('OK');
});

test('Redis\'s errors for bad arguments', async () => {
  const r = await client('ks-errors');
  expect(await rejection(r.call('SCAN', 'abc'))).toBe('ERR invalid cursor');
  expect(await rejection(r.call('SCAN', '0', 'COUNT', '0'))).toBe('ERR syntax error');
  expect(await rejection(r.call('SCAN', '0', 'COUNT', 'x'))).toBe('ERR value is not an integer or out of range');
  expect(await rejection(r.call('SCAN', '0', 'MATCH'))).toBe('ERR syntax error');
  expect(await rejection(r.call('SCAN', '0', 'TYPE', 'widget'))).toBe("ERR unknown type name 'widget'");
  expect(await rejection(r.call('SCAN'))).toBe("ERR wrong number of arguments for 'scan' command");
  expect(await rejection(r.call('KEYS'))).toBe("ERR wrong number of arguments for 'keys' command");
  expect(await rejection(r.call('DBSIZE', 'x'))).toBe("ERR wrong number of arguments for 'dbsize' command");
  expect(await rejection(r.call('RANDOMKEY', 'x'))).toBe("ERR wrong number of arguments for 'randomkey' command");
  expect(await rejection(r.call('FLUSHDB', 'LATER'))).toBe('ERR syntax error');
  expect(await rejection(r.call('FLUSHALL', 'ASYNC', 'SYNC'))).toBe('ERR syntax error');
  expect(await r.call('SCAN', '99999')).toEqual(['0', []]); // past the last slot: the scan is over
});

test('redis-cli --scan and --pattern list every key', async () => {
  const r = await client('ks-cli');
  const keys = [...numbered('cli:a:', 700), ...numbered('cli:b:', 300)];
  await writeAll(r, keys);
  const all = await cli(['--scan'], 'ks-cli');
  expect(all.code).toBe(0);
  expect(all.stdout.trim().split('\n').sort()).toEqual([...keys].sort());
  const some = await cli(['--scan', '--pattern', 'cli:b:*'], 'ks-cli');
  expect(some.stdout.trim().split('\n').sort()).toEqual(numbered('cli:b:', 300).sort());
  expect((await cli(['DBSIZE'], 'ks-cli')).stdout).toBe('1000\n');
});

test('OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT from the key\'s node, and INFO keyspace\'s db0 line', async () => {
  const r = await client('ks-object');
  await r.set('n', '12345');
  await r.set('s', 'short');
  await r.set('r', 'x'.repeat(100), 'EX', 600);
  expect(await r.call('OBJECT', 'ENCODING', 'n')).toBe('int');
  expect(await r.call('OBJECT', 'encoding', 's')).toBe('embstr');
  expect(await r.call('OBJECT', 'ENCODING', 'r')).toBe('raw');
  expect(await r.call('OBJECT', 'ENCODING', 'missing')).toBeNull();
  expect(await r.call('OBJECT', 'REFCOUNT', 's')).toBe(1);
  expect(await rejection(r.call('OBJECT', 'FREQ', 's'))).toBe(
    'ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
  );
  expect(await r.call('OBJECT', 'FREQ', 'missing')).toBeNull(); // the key is looked up first, as in Redis
  expect(await rejection(r.call('OBJECT', 'NOPE', 's'))).toBe("ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
  expect(await rejection(r.call('OBJECT', 'ENCODING'))).toBe("ERR wrong number of arguments for 'object|encoding' command");
  expect(((await r.call('OBJECT', 'HELP')) as string[])[0]).toBe('OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:');
  await r.get('s');
  expect(await r.call('OBJECT', 'IDLETIME', 's')).toBeLessThanOrEqual(1);
  await new Promise((resolve) => setTimeout(resolve, 1100));
  expect(await r.call('OBJECT', 'IDLETIME', 's')).toBeGreaterThanOrEqual(1);
  expect(await r.call('OBJECT', 'IDLETIME', 's')).toBeGreaterThanOrEqual(1); // OBJECT itself does not refresh it
  // INFO's figures are shared for a second (ioredis's ready check asked them on connect, more than a second ago).
  expect(String(await r.info('keyspace'))).toMatch(/^db0:keys=3,expires=1,avg_ttl=0\r$/m);
  expect(String(await r.info('keyspace'))).toContain('shardcache_namespace:ks-object');
  const empty = await client('ks-object-empty');
  expect(String(await empty.info('keyspace'))).not.toContain('db0:');
});

test('OBJECT FREQ in a namespace that evicts by LFU, and IDLETIME refused there', async () => {
  expect((await shardctlInProcess(['ns', 'set', 'ks-lfu', '--eviction', 'lfu', '--etcd', c.etcd.endpoint, '--cluster', c.cluster])).code).toBe(0);
  const r = await client('ks-lfu');
  await r.set('k', 'v');
  // The nodes apply the policy from etcd: wait until the key's node keeps an LFU counter.
  let freq: unknown;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    freq = await r.call('OBJECT', 'FREQ', 'k').catch((err: Error) => err);
    if (typeof freq === 'number') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(typeof freq).toBe('number');
  expect(freq).toBeGreaterThanOrEqual(0);
  for (let i = 0; i < 5; i++) await r.get('k');
  expect(await r.call('OBJECT', 'FREQ', 'k')).toBeGreaterThan(freq as number);
  expect(await rejection(r.call('OBJECT', 'IDLETIME', 'k'))).toBe(
    'ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.',
  );
});
