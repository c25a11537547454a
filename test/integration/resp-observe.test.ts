import { spawn, spawnSync } from 'node:child_process';
import Redis, { ReplyError } from 'ioredis';
import { createClient, type RedisClientType } from 'redis';
import { startTestCluster, type TestCluster } from '../helpers/cluster';

/**
 * The server answers tools rely on, through the proxy on a real cluster (etcd, two shards of a
 * primary and a replica, the proxy as processes): CLIENT LIST / KILL across two client libraries
 * (ioredis on RESP2, node-redis on RESP3), INFO memory from the nodes' STATS, MEMORY USAGE from
 * the key's node, SLOWLOG, and redis-cli parsing INFO and CLIENT LIST.
 */
jest.setTimeout(60_000);

const hasCli = spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status === 0;

let c: TestCluster;
let io: Redis;
let node: RedisClientType;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 2 });
  io = new Redis({ host: '127.0.0.1', port: c.respPort, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectionName: 'io-app' });
  io.on('error', () => undefined);
  await io.connect();
  node = createClient({ url: `redis://127.0.0.1:${c.respPort}`, name: 'node-app', socket: { reconnectStrategy: false } });
  node.on('error', () => undefined); // failures surface through the commands' promises
  await node.connect();
}, 50_000);

afterAll(async () => {
  if (io?.status !== 'end') io?.disconnect();
  if (node?.isOpen) node.destroy();
  await c?.stop();
});

/** CLIENT LIST's text as one record per line. */
const parseClients = (text: string): Array<Record<string, string>> =>
  text.trim().split('\n').map((line) => Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));

const infoField = (info: string, field: string): number => Number(new RegExp(`\\r\\n${field}:(\\d+)\\r\\n`).exec(info)?.[1] ?? NaN);

test('CLIENT LIST shows both clients with their names, libraries and protocols; CLIENT KILL ID closes the other', async () => {
  await io.call('CLIENT', 'SETINFO', 'LIB-NAME', 'io-test-lib');
  const list = parseClients(String(await io.call('CLIENT', 'LIST')));
  const mine = list.find((l) => l.name === 'io-app')!;
  const theirs = list.find((l) => l.name === 'node-app')!;
  expect(mine).toMatchObject({ resp: '2', 'lib-name': 'io-test-lib', cmd: 'client|list', db: '0', flags: 'N', laddr: `127.0.0.1:${c.respPort}` });
  // node-redis opens with HELLO 3 and tells its library itself (CLIENT SETINFO).
  expect(theirs).toMatchObject({ resp: '3', 'lib-name': expect.stringMatching(/^node-redis/) });
  expect(Number(theirs.age)).toBeGreaterThanOrEqual(0);
  expect(Number(mine.id)).not.toBe(Number(theirs.id));

  expect(await node.sendCommand(['CLIENT', 'INFO'])).toContain(`id=${theirs.id} `);
  expect(await io.call('CLIENT', 'KILL', 'ID', theirs.id)).toBe(1);
  const err = await node.get('after-kill').then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect(await io.ping()).toBe('PONG');
  const after = parseClients(String(await io.call('CLIENT', 'LIST')));
  expect(after.some((l) => l.id === theirs.id)).toBe(false);
  expect(await io.call('CLIENT', 'KILL', 'ID', theirs.id)).toBe(0);
});

test('INFO memory: used_memory is the nodes\' accounted bytes and grows with 1,000 values', async () => {
  const before = String(await io.info('memory'));
  expect(before).toMatch(/^# Memory\r\nused_memory:\d+\r\nused_memory_human:[\d.]+[BKMGT]\r\nmaxmemory:\d+\r\n/);
  expect(infoField(before, 'shardcache_memory_nodes')).toBe(4); // two shards of two nodes
  expect(infoField(before, 'maxmemory')).toBeGreaterThan(0);
  const value = 'v'.repeat(500);
  const pipe = io.pipeline();
  for (let i = 0; i < 1000; i++) pipe.set(`mem:${i}`, value);
  await pipe.exec();
  // Replicas hold a copy too; they catch up within moments.
  let grown = 0;
  for (let i = 0; i < 50 && grown < 1000 * 500 * 2; i++) {
    grown = infoField(String(await io.info('memory')), 'used_memory') - infoField(before, 'used_memory');
    if (grown < 1000 * 500 * 2) await new Promise((r) => setTimeout(r, 100));
  }
  expect(grown).toBeGreaterThanOrEqual(1000 * 500 * 2);
  const all = String(await io.info());
  expect(all).toMatch(/# Clients\r\nconnected_clients:\d+\r\nmaxclients:\d+\r\nblocked_clients:0\r\n/);
  expect(all).toMatch(/# Replication\r\nrole:master\r\nconnected_slaves:0\r\n/);
  expect(all).toMatch(/# Cpu\r\nused_cpu_sys:[\d.]+\r\nused_cpu_user:[\d.]+\r\n/);
  expect(infoField(all, 'total_commands_processed')).toBeGreaterThan(1000);
});

test('MEMORY USAGE: at least the value\'s length for a key, nil for a missing one', async () => {
  await io.set('mu:key', 'x'.repeat(3000));
  const bytes = (await io.call('MEMORY', 'USAGE', 'mu:key')) as number;
  expect(bytes).toBeGreaterThanOrEqual(3000);
  expect(bytes).toBeLessThan(3000 + 1024);
  expect(await io.call('MEMORY', 'USAGE', 'mu:key', 'SAMPLES', '5')).toBe(bytes);
  expect(await io.call('MEMORY', 'USAGE', 'mu:missing')).toBeNull();
  await io.append('mu:key', 'yy');
  expect(await io.call('MEMORY', 'USAGE', 'mu:key')).toBe(bytes + 2);
});

test('SLOWLOG captures a slow command once the threshold is lowered; the time includes the node round trip', async () => {
  expect(await io.call('SLOWLOG', 'RESET')).toBe('OK');
  expect(await io.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')).toBe('OK');
  try {
    await io.set('slow:k', 'v');
    await io.get('slow:k');
    const entries = (await io.call('SLOWLOG', 'GET', '10')) as Array<[number, number, number, string[], string, string]>;
    const get = entries.find((e) => e[3][0] === 'get');
    expect(get).toBeDefined();
    expect(get![3]).toEqual(['get', 'slow:k']);
    expect(get![2]).toBeGreaterThan(0); // µs, measured around the node's answer
    expect(get![5]).toBe('io-app');
    expect(await io.call('SLOWLOG', 'LEN')).toBeGreaterThanOrEqual(2);
    const err = await io.call('CONFIG', 'SET', 'appendonly', 'yes').then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ReplyError);
    expect((err as Error).message).toBe("ERR Unknown option or number of arguments for CONFIG SET - 'appendonly'");
  } finally {
    await io.call('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
  }
  expect(await io.call('CONFIG', 'GET', 'slowlog-log-slower-than')).toEqual(['slowlog-log-slower-than', '10000']);
});

/** redis-cli's output for `args` (exit code and stdout). */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(c.respPort), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

(hasCli ? test : test.skip)('redis-cli parses INFO and CLIENT LIST', async () => {
  const info = await cli('INFO');
  expect(info.code).toBe(0);
  for (const section of ['Server', 'Clients', 'Memory', 'Stats', 'Replication', 'Cpu', 'Keyspace']) expect(info.stdout).toContain(`# ${section}`);
  expect(info.stdout).toMatch(/\nused_memory:\d+/);
  const list = await cli('CLIENT', 'LIST');
  expect(list.code).toBe(0);
  const lines = parseClients(list.stdout);
  expect(lines.find((l) => l.name === 'io-app')).toBeDefined();
  expect(lines.filter((l) => l.cmd === 'client|list')).toHaveLength(1); // redis-cli's own connection
  expect((await cli('MEMORY', 'USAGE', 'mu:missing')).stdout).toBe('\n');
  expect((await cli('COMMAND', 'DOCS', 'get')).stdout).toContain('Returns the string value of a key.');
});
