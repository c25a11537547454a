import Redis, { ReplyError } from 'ioredis';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Authenticator } from '../../shared/authenticator';
import { hashSecret, type UserRecord } from '../../shared/credentials';
import { Dispatcher } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import { clientLine, filterMatches, hostPort, killFilter, listFilter, type ClientFacts } from '../../proxy/front/resp/clients';
import { memoryFigures } from '../../proxy/front/resp/cmd-server';
import { RespCommandError } from '../../proxy/front/resp/errors';
import { CommandTimer, LatencyMonitor, LATENCY_HISTORY_LEN, OpsRate, packArgs, Slowlog, unpackArgs } from '../../proxy/front/resp/monitor';

/** What the slow log keeps of `args` (packed, then cut apart). */
const slowArgs = (args: readonly Buffer[]): Buffer[] => unpackArgs(packArgs(args));
import { RespServer } from '../../proxy/front/resp/server';
import { startFakeRespServer, type FakeRespServer } from '../helpers/fake-resp';
import { FakeBackend } from './proxy-front-fake-backend';

const LIMITS = { maxBulkBytes: 1024 * 1024, maxMultibulk: 1024, maxQueryBytes: 4 * 1024 * 1024, maxInFlight: 100, maxBufferedBytes: 256 * 1024 };
const b = (s: string): Buffer => Buffer.from(s);
const refusal = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof RespCommandError) return err.line;
    throw err;
  }
  throw new Error('no refusal');
};

describe('CLIENT LIST lines and filters (pure)', () => {
  const facts: ClientFacts = {
    id: 7, addr: '127.0.0.1:50000', laddr: '127.0.0.1:6380', fd: 12, name: 'web', age: 90, idle: 3, qbuf: 26, qbufPeak: 4096, oll: 1, omem: 10,
    cmd: 'client|list', user: 'default', resp: 3, libName: 'redis-py', libVer: '5.0.1',
  };

  test('Redis 7.2\'s field order and names; figures the proxy has no counterpart for as Redis gives a plain client', () => {
    expect(clientLine(facts)).toBe(
      'id=7 addr=127.0.0.1:50000 laddr=127.0.0.1:6380 fd=12 name=web age=90 idle=3 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=0 '
      + 'argv-mem=0 multi-mem=0 rbs=26 rbp=4096 obl=0 oll=1 omem=10 tot-mem=36 events=rw cmd=client|list user=default redir=-1 resp=3 lib-name=redis-py lib-ver=5.0.1',
    );
    const plain = clientLine({ ...facts, name: null, libName: null, libVer: null, omem: 0 });
    expect(plain).toContain(' name= age=');
    expect(plain).toContain(' events=r cmd=');
    expect(plain.endsWith('lib-name= lib-ver=')).toBe(true);
    // Every field parses as Redis clients parse it: space-separated key=value.
    expect(Object.fromEntries(plain.split(' ').map((kv) => kv.split('=', 2)))).toMatchObject({ id: '7', resp: '3', 'tot-mem': '26' });
  });

  test('CLIENT LIST TYPE / ID and CLIENT KILL filters, with Redis\'s errors', () => {
    expect(listFilter([b('CLIENT'), b('LIST'), b('TYPE'), b('normal')], 2)).toEqual({ skipMe: false, type: 'normal' });
    expect(listFilter([b('CLIENT'), b('LIST'), b('ID'), b('3'), b('9')], 2).ids).toEqual(new Set([3, 9]));
    expect(refusal(() => listFilter([b('CLIENT'), b('LIST'), b('TYPE'), b('bogus')], 2))).toBe("ERR Unknown client type 'bogus'");
    expect(refusal(() => listFilter([b('CLIENT'), b('LIST'), b('ID'), b('x')], 2))).toBe('ERR Invalid client ID');
    expect(refusal(() => listFilter([b('CLIENT'), b('LIST'), b('ID'), b('0')], 2))).toBe('ERR Invalid client ID');
    expect(refusal(() => listFilter([b('CLIENT'), b('LIST'), b('NOPE')], 2))).toBe('ERR syntax error');
    const kill = killFilter([b('CLIENT'), b('KILL'), b('ID'), b('5'), b('SKIPME'), b('no'), b('USER'), b('alice')], 2);
    expect(kill).toEqual({ skipMe: false, ids: new Set([5]), user: 'alice' });
    expect(refusal(() => killFilter([b('CLIENT'), b('KILL'), b('ID'), b('-1')], 2))).toBe('ERR client-id should be greater than 0');
    expect(refusal(() => killFilter([b('CLIENT'), b('KILL'), b('ID'), b('1'), b('ADDR')], 2))).toBe('ERR syntax error');
    expect(refusal(() => killFilter([b('CLIENT'), b('KILL'), b('SKIPME'), b('maybe')], 2))).toBe('ERR syntax error');
    // SKIPME yes (the default) never matches the caller; TYPE other than normal matches nothing here.
    expect(filterMatches({ skipMe: true }, facts, true)).toBe(false);
    expect(filterMatches({ skipMe: true }, facts, false)).toBe(true);
    expect(filterMatches({ skipMe: false, type: 'pubsub' }, facts, false)).toBe(false);
    expect(filterMatches({ skipMe: false, laddr: '127.0.0.1:6380', user: 'default' }, facts, false)).toBe(true);
    expect(filterMatches({ skipMe: false, addr: '127.0.0.1:1' }, facts, false)).toBe(false);
    expect([hostPort('10.1.2.3', 80), hostPort('::1', 6380), hostPort(undefined, undefined)]).toEqual(['10.1.2.3:80', '[::1]:6380', '?:0']);
  });
});

describe('slow log, latency monitor and ops rate (pure)', () => {
  const who = { addr: '10.0.0.1:4000', name: null, ns: 'app' };

  test('arguments are cut as Redis cuts them: 32 at most, 128 bytes each, copied', () => {
    const args = Array.from({ length: 40 }, (_, i) => b(`a${i}`));
    const kept = slowArgs(args);
    expect(kept).toHaveLength(32);
    expect(kept[30].toString()).toBe('a30');
    expect(kept[31].toString()).toBe('... (9 more arguments)');
    expect(slowArgs(Array.from({ length: 32 }, () => b('x')))).toHaveLength(32);
    // Credentials never reach the log: AUTH's arguments, HELLO's AUTH user and password.
    expect(slowArgs([b('AUTH'), b('alice'), b('s3cret')]).map(String)).toEqual(['AUTH', '(redacted)', '(redacted)']);
    expect(slowArgs([b('auth'), b('s3cret')]).map(String)).toEqual(['auth', '(redacted)']);
    expect(slowArgs([b('HELLO'), b('3'), b('auth'), b('alice'), b('s3cret'), b('SETNAME'), b('me')]).map(String)).toEqual(['HELLO', '3', 'auth', '(redacted)', '(redacted)', 'SETNAME', 'me']);
    expect(slowArgs([b('GET'), b('auth')]).map(String)).toEqual(['GET', 'auth']);
    // An entry keeps copies: the request's buffers may be reused at once.
    const log = new Slowlog();
    log.thresholdMicros = 0;
    const request = [b('SET'), b('k1'), b('v1')];
    log.observe(request, 1, { addr: 'a:1', name: null, ns: 'n' }, 0);
    for (const arg of request) arg.fill(0x78);
    expect(unpackArgs(log.get(1)[0].args).map(String)).toEqual(['SET', 'k1', 'v1']);
    const long = Buffer.alloc(1000, 0x61);
    const [cut] = slowArgs([long]);
    expect(cut.toString()).toBe(`${'a'.repeat(128)}... (872 more bytes)`);
    expect(slowArgs([Buffer.alloc(128, 0x62)])[0].length).toBe(128);
    long[0] = 0x7a;
    expect(cut[0]).toBe(0x61); // a copy: the entry does not pin or follow the request's buffer
  });

  test('a bounded ring: newest first, ids count every entry, max-len shrinks it, negative threshold is off', () => {
    const log = new Slowlog();
    log.thresholdMicros = 100;
    log.maxLen = 3;
    log.observe([b('GET'), b('fast')], 99, who, 1_000);
    for (let i = 0; i < 5; i++) log.observe([b('GET'), b(`k${i}`)], 100 + i, who, 2_000 + i * 1000);
    expect(log.len()).toBe(3);
    const got = log.get(-1);
    expect(got.map((e) => [e.id, unpackArgs(e.args)[1].toString(), e.micros, e.time])).toEqual([[4, 'k4', 104, 6], [3, 'k3', 103, 5], [2, 'k2', 102, 4]]);
    expect(got[0]).toMatchObject({ addr: '10.0.0.1:4000', name: '', ns: 'app' });
    expect(log.get(1)).toHaveLength(1);
    expect(log.get(0)).toHaveLength(0);
    log.observe([b('SET')], 500, { ...who, ns: 'other', name: 'w' }, 9_000);
    expect(log.get(10, (e) => e.ns === 'other').map((e) => e.id)).toEqual([5]);
    expect(log.len((e) => e.ns === 'app')).toBe(2);
    log.maxLen = 1;
    expect(log.get(-1).map((e) => e.id)).toEqual([5]);
    log.thresholdMicros = -1;
    log.observe([b('SET')], 10 ** 9, who, 10_000);
    expect(log.len()).toBe(1);
    log.reset();
    expect(log.len()).toBe(0);

    // Many wraps of the ring, then a longer and a shorter length: always the newest, in order.
    log.thresholdMicros = 0;
    log.maxLen = 7;
    for (let i = 0; i < 1000; i++) log.observe([b(`c${i}`)], 1, who, 0);
    const newest = (): string[] => log.get(-1).map((e) => unpackArgs(e.args)[0].toString());
    expect(newest()).toEqual(['c999', 'c998', 'c997', 'c996', 'c995', 'c994', 'c993']);
    log.maxLen = 10;
    for (let i = 1000; i < 1005; i++) log.observe([b(`c${i}`)], 1, who, 0);
    expect(newest()).toEqual(['c1004', 'c1003', 'c1002', 'c1001', 'c1000', 'c999', 'c998', 'c997', 'c996', 'c995']);
    log.maxLen = 2;
    expect(newest()).toEqual(['c1004', 'c1003']);
    log.observe([b('last')], 1, who, 0);
    expect(newest()).toEqual(['last', 'c1004']);
  });

  test('the timer\'s floor is the smaller threshold; the latency monitor keeps the worst of each second', () => {
    const timer = new CommandTimer();
    expect(timer.floorSeconds).toBe(0.01);
    timer.configure(-1, 0);
    expect(timer.floorSeconds).toBe(Infinity);
    timer.configure(-1, 5);
    expect(timer.floorSeconds).toBe(0.005);
    timer.configure(0, 5);
    expect(timer.floorSeconds).toBe(0);
    timer.observe([b('PING')], 0.007, who, 1_500);
    timer.observe([b('PING')], 0.009, who, 1_900);
    timer.observe([b('PING')], 0.002, who, 2_100); // under the latency threshold: slow-logged only
    expect(timer.slowlog.len()).toBe(3);
    expect(timer.latency.latest()).toEqual([['command', 1, 9, 9]]);
    expect(timer.latency.history('command')).toEqual([[1, 9]]);

    const latency = new LatencyMonitor();
    latency.observe('command', 100, 0);
    expect(latency.latest()).toEqual([]); // off at 0
    latency.thresholdMs = 1;
    for (let s = 0; s < LATENCY_HISTORY_LEN + 10; s++) latency.observe('command', s + 1, s * 1000);
    expect(latency.history('command')).toHaveLength(LATENCY_HISTORY_LEN);
    expect(latency.history('command')[0]).toEqual([10, 11]);
    expect(latency.doctor()).toContain('command: 160 latency spikes');
    expect(latency.reset(['command', 'command', 'nosuch'])).toBe(1);
    expect(latency.reset([])).toBe(0);
  });

  test('ops per second from samples the timer takes, not from each command', () => {
    const rate = new OpsRate();
    expect(rate.perSecond(0, 0)).toBe(0);
    rate.sample(0, 0);
    rate.sample(50, 10); // closer than 100 ms to the last sample: skipped
    rate.sample(1000, 500);
    expect(rate.perSecond(2000, 2000)).toBe(1000);
    for (let t = 2000; t <= 40_000; t += 1000) rate.sample(t, t * 3);
    expect(rate.perSecond(41_000, 41_000 * 3)).toBe(3000); // only the last 16 samples count
  });

  test('INFO memory adds up the nodes that answered', () => {
    expect(memoryFigures([
      { nodeId: 'a', shardId: 0, stats: { bytes: 100, maxMemoryBytes: 1000 } },
      { nodeId: 'b', shardId: 0, stats: { bytes: 50, maxMemoryBytes: 1000 } },
      { nodeId: 'c', shardId: 1, error: new Error('down') },
    ])).toEqual({ usedBytes: 150, maxBytes: 2000, nodes: 2, failed: 1 });
  });
});

/** An ioredis client of `port` that never reconnects (a killed connection stays closed). */
async function client(port: number, options: { name?: string; username?: string; password?: string } = {}): Promise<Redis> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectionName: options.name, ...options });
  r.on('error', () => undefined);
  await r.connect();
  return r;
}

const rejection = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return (err as Error).message;
};

const lines = (text: string): Array<Record<string, string>> => text.trim().split('\n').map((l) => Object.fromEntries(l.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));

describe('through a RESP listener in this process (fake data plane, auth off)', () => {
  let s: FakeRespServer;
  const clients: Redis[] = [];
  const open = async (name?: string): Promise<Redis> => {
    const r = await client(s.server.port, { name });
    clients.push(r);
    return r;
  };

  beforeEach(async () => {
    s = await startFakeRespServer(LIMITS);
  });
  afterEach(async () => {
    for (const r of clients.splice(0)) if (r.status !== 'end') r.disconnect();
    await s.server.close();
  });

  test('CLIENT LIST / INFO / SETINFO / KILL (new and old form), NO-EVICT / NO-TOUCH', async () => {
    const a = await open('alpha');
    const bb = await open('beta');
    expect(await a.call('CLIENT', 'SETINFO', 'LIB-NAME', 'mylib')).toBe('OK');
    expect(await a.call('CLIENT', 'SETINFO', 'lib-ver', '1.2.3')).toBe('OK');
    expect(await rejection(a.call('CLIENT', 'SETINFO', 'lib-name', 'has space'))).toBe('ERR lib-name cannot contain spaces, newlines or special characters.');
    expect(await rejection(a.call('CLIENT', 'SETINFO', 'nope', 'x'))).toBe("ERR Unrecognized option 'nope'");
    expect(await rejection(a.call('CLIENT', 'SETINFO', 'lib-ver', 'v'.repeat(129)))).toBe('ERR lib-ver is longer than 128 bytes');
    await bb.get('some-key');
    const list = lines(String(await a.call('CLIENT', 'LIST')));
    const me = list.find((l) => l.name === 'alpha')!;
    const other = list.find((l) => l.name === 'beta')!;
    expect(me).toMatchObject({ cmd: 'client|list', 'lib-name': 'mylib', 'lib-ver': '1.2.3', resp: '2', user: 'default', db: '0', flags: 'N', laddr: `127.0.0.1:${s.server.port}` });
    expect(other).toMatchObject({ cmd: 'get', resp: '2' });
    expect(Number(me.fd)).toBeGreaterThan(0);
    expect(me.addr).toBe(`127.0.0.1:${(a as unknown as { stream: { localPort: number } }).stream.localPort}`);
    const info = lines(String(await a.call('CLIENT', 'INFO')));
    expect(info).toHaveLength(1);
    expect(info[0]).toMatchObject({ id: me.id, cmd: 'client|info' });
    expect(lines(String(await a.call('CLIENT', 'LIST', 'ID', other.id)))).toEqual([expect.objectContaining({ name: 'beta' })]);
    expect(String(await a.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))).toBe('');
    expect(await a.call('CLIENT', 'NO-EVICT', 'on')).toBe('OK');
    expect(await a.call('CLIENT', 'NO-TOUCH', 'off')).toBe('OK');
    expect(await rejection(a.call('CLIENT', 'NO-EVICT', 'maybe'))).toBe('ERR syntax error');

    // SKIPME yes by default: the caller survives a filter that matches it.
    expect(await a.call('CLIENT', 'KILL', 'ID', me.id)).toBe(0);
    const closed = new Promise((resolve) => bb.once('end', resolve));
    expect(await a.call('CLIENT', 'KILL', 'ID', other.id)).toBe(1);
    await closed;
    expect(await rejection(bb.get('k'))).toMatch(/closed|writable/i);
    expect(await a.ping()).toBe('PONG');

    const c = await open('gamma');
    const cAddr = lines(String(await c.call('CLIENT', 'INFO')))[0].addr;
    expect(await rejection(a.call('CLIENT', 'KILL', '127.0.0.1:1'))).toBe('ERR No such client');
    expect(await a.call('CLIENT', 'KILL', cAddr)).toBe('OK');
    await new Promise((resolve) => (c.status === 'end' ? resolve(undefined) : c.once('end', resolve)));
    // SKIPME no kills the caller too, after its reply.
    const selfEnd = new Promise((resolve) => a.once('end', resolve));
    expect(await a.call('CLIENT', 'KILL', 'ID', me.id, 'SKIPME', 'no')).toBe(1);
    await selfEnd;
  });

  test('SLOWLOG and CONFIG GET / SET: thresholds, truncated arguments, Redis\'s errors', async () => {
    const a = await open('slow');
    expect(await a.call('CONFIG', 'GET', 'slowlog-*')).toEqual(['slowlog-log-slower-than', '10000', 'slowlog-max-len', '128']);
    expect(await a.call('CONFIG', 'GET', 'latency-monitor-threshold')).toEqual(['latency-monitor-threshold', '0']);
    expect(await a.call('SLOWLOG', 'LEN')).toBe(0);
    expect(await a.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0', 'slowlog-max-len', '5')).toBe('OK');
    await a.set('k', 'v'.repeat(200));
    await a.get('k');
    await a.ping();
    const entries = (await a.call('SLOWLOG', 'GET', '3')) as Array<[number, number, number, string[], string, string]>;
    expect(entries.map((e) => e[3][0])).toEqual(['ping', 'get', 'set']);
    const [id, time, micros, args, addr, name] = entries[2];
    expect([typeof id, Math.abs(time - Date.now() / 1000) < 5, micros >= 0, addr.startsWith('127.0.0.1:'), name]).toEqual(['number', true, true, true, 'slow']);
    expect(args).toEqual(['set', 'k', `${'v'.repeat(128)}... (72 more bytes)`]);
    // A command is logged once it finished: SLOWLOG GET 3 is there now, then this GET too; the ring holds 5.
    expect(((await a.call('SLOWLOG', 'GET')) as string[][])[0][3]).toEqual(['SLOWLOG', 'GET', '3']);
    expect(await a.call('SLOWLOG', 'LEN')).toBe(5);
    expect(((await a.call('SLOWLOG', 'GET', '-1')) as unknown[]).length).toBe(5);
    expect(await rejection(a.call('SLOWLOG', 'GET', '-2'))).toBe('ERR count should be greater than or equal to -1');
    expect(await rejection(a.call('SLOWLOG', 'GET', 'x'))).toBe('ERR count should be greater than or equal to -1');
    expect(await a.call('SLOWLOG', 'RESET')).toBe('OK');
    expect(await a.call('SLOWLOG', 'LEN')).toBe(1); // SLOWLOG RESET itself, logged once it finished
    expect(await a.call('CONFIG', 'SET', 'slowlog-log-slower-than', '-1')).toBe('OK');
    await a.call('SLOWLOG', 'RESET');
    await a.ping();
    expect(await a.call('SLOWLOG', 'LEN')).toBe(0);

    expect(await rejection(a.call('CONFIG', 'SET', 'maxclients', '5'))).toBe("ERR Unknown option or number of arguments for CONFIG SET - 'maxclients'");
    expect(await rejection(a.call('CONFIG', 'SET', 'slowlog-max-len', 'x'))).toBe("ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument couldn't be parsed into an integer");
    expect(await rejection(a.call('CONFIG', 'SET', 'slowlog-max-len', '10001'))).toBe("ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument must be between 0 and 10000 inclusive");
    expect(await rejection(a.call('CONFIG', 'SET', 'slowlog-max-len', '1', 'slowlog-max-len', '2'))).toBe("ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - duplicate parameter");
    expect(await rejection(a.call('CONFIG', 'SET', 'slowlog-max-len', '1', 'timeout'))).toBe("ERR wrong number of arguments for 'config|set' command");
    // Checked whole before any is set.
    expect(await rejection(a.call('CONFIG', 'SET', 'slowlog-max-len', '7', 'save', ''))).toMatch(/Unknown option/);
    expect(await a.call('CONFIG', 'GET', 'slowlog-max-len')).toEqual(['slowlog-max-len', '5']);
  });

  test('LATENCY: off by default, on with CONFIG SET latency-monitor-threshold', async () => {
    const a = await open();
    expect(await a.call('LATENCY', 'LATEST')).toEqual([]);
    expect(String(await a.call('LATENCY', 'DOCTOR'))).toContain('Latency monitoring is disabled');
    expect(await a.call('CONFIG', 'SET', 'latency-monitor-threshold', '10', 'slowlog-log-slower-than', '-1')).toBe('OK');
    await a.get('slow:30'); // the fake data plane answers this key after 30 ms
    await a.ping(); // under the threshold
    const latest = (await a.call('LATENCY', 'LATEST')) as Array<[string, number, number, number]>;
    expect(latest).toHaveLength(1);
    expect(latest[0][0]).toBe('command');
    expect(latest[0][2]).toBeGreaterThanOrEqual(25);
    expect(((await a.call('LATENCY', 'HISTORY', 'command')) as unknown[]).length).toBe(1);
    expect(await a.call('LATENCY', 'HISTORY', 'nosuch')).toEqual([]);
    expect(await a.call('LATENCY', 'RESET')).toBe(1);
    expect(await a.call('LATENCY', 'LATEST')).toEqual([]);
  });

  test('INFO: clients, stats, replication, cpu; MEMORY USAGE through the data plane', async () => {
    const a = await open();
    const info = String(await a.info());
    expect(info).toMatch(/# Clients\r\nconnected_clients:1\r\nmaxclients:10000\r\nblocked_clients:0\r\n/);
    expect(info).toMatch(/# Memory\r\nused_memory:0\r\n/); // the fake data plane has no nodes to ask
    expect(info).toMatch(/instantaneous_ops_per_sec:\d+\r\nrejected_connections:0\r\n/);
    expect(info).toMatch(/# Replication\r\nrole:master\r\nconnected_slaves:0\r\n/);
    expect(info).toMatch(/# Cpu\r\nused_cpu_sys:\d+\.\d{6}\r\nused_cpu_user:\d+\.\d{6}\r\n/);
    await a.set('m', 'x'.repeat(100));
    expect(await a.call('MEMORY', 'USAGE', 'm')).toBeGreaterThanOrEqual(100);
    expect(await a.call('MEMORY', 'USAGE', 'm', 'SAMPLES', '0')).toBeGreaterThanOrEqual(100);
    expect(await a.call('MEMORY', 'USAGE', 'missing')).toBeNull();
    expect(await rejection(a.call('MEMORY', 'USAGE', 'm', 'SAMPLES'))).toBe('ERR syntax error');
    expect(await rejection(a.call('MEMORY', 'DOCTOR'))).toBe("ERR unknown subcommand 'DOCTOR'. Try MEMORY HELP.");
  });
});

describe('tenants while auth is on: a client sees and kills only its namespace\'s connections', () => {
  const CHEAP = { N: 1024, r: 8, p: 1 };
  let server: RespServer;
  const clients: Redis[] = [];

  beforeAll(async () => {
    const user = async (grants: UserRecord['grants'], namespace?: string): Promise<UserRecord> => ({
      secrets: [await hashSecret('secret-0123456789', CHEAP)], grants, createdAt: 0, updatedAt: 0, ...(namespace === undefined ? {} : { namespace }),
    });
    const users = new Map([
      ['alice', await user([{ pattern: 'a', level: 'admin' }])],
      ['anna', await user([{ pattern: 'a', level: 'read' }])],
      ['bob', await user([{ pattern: 'b', level: 'admin' }])],
      ['root', await user([{ pattern: '*', level: 'admin' }], 'ops')],
    ]);
    const log = pino({ level: 'silent' });
    const backend = new FakeBackend();
    const metrics = new FrontMetrics(new Registry());
    const auth = new Authenticator({ users: () => users, enabled: () => true });
    server = new RespServer({ dispatcher: new Dispatcher({ backend, metrics, log, auth }), backend, metrics, log, namespace: 'default', limits: LIMITS });
    await server.listen('127.0.0.1', 0);
  });
  afterAll(async () => {
    for (const r of clients) if (r.status !== 'end') r.disconnect();
    await server.close();
  });

  const login = async (username: string, name: string): Promise<Redis> => {
    const r = await client(server.port, { username, password: 'secret-0123456789', name });
    clients.push(r);
    return r;
  };

  test('CLIENT LIST / KILL, SLOWLOG and CONFIG SET across tenants', async () => {
    const alice = await login('alice', 'alice-app');
    const anna = await login('anna', 'anna-app');
    const bob = await login('bob', 'bob-app');
    const root = await login('root', 'root-app');
    const unauthenticated = new Redis({ host: '127.0.0.1', port: server.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    unauthenticated.on('error', () => undefined);
    clients.push(unauthenticated);
    await unauthenticated.connect().catch(() => undefined);

    const names = async (r: Redis): Promise<string[]> => lines(String(await r.call('CLIENT', 'LIST'))).map((l) => l.name).sort();
    expect(await names(alice)).toEqual(['alice-app', 'anna-app']);
    expect(await names(bob)).toEqual(['bob-app']);
    const bobId = lines(String(await bob.call('CLIENT', 'INFO')))[0].id;
    expect(await alice.call('CLIENT', 'LIST', 'ID', bobId)).toBe('');
    expect(await alice.call('CLIENT', 'KILL', 'ID', bobId)).toBe(0); // invisible: not killed
    expect(await rejection(alice.call('CLIENT', 'KILL', lines(String(await bob.call('CLIENT', 'INFO')))[0].addr))).toBe('ERR No such client');
    expect(await bob.ping()).toBe('PONG');
    // Killing needs the admin grant on the namespace.
    expect(await rejection(anna.call('CLIENT', 'KILL', 'USER', 'alice'))).toBe("NOPERM User anna has no permissions to run the 'client|kill' command");

    // Process-wide settings need admin on every namespace.
    expect(await rejection(alice.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0'))).toBe("NOPERM User alice has no permissions to run the 'config|set' command");
    expect(await rejection(alice.call('SLOWLOG', 'RESET'))).toBe("NOPERM User alice has no permissions to run the 'slowlog|reset' command");
    expect(await root.call('CONFIG', 'SET', 'slowlog-log-slower-than', '0')).toBe('OK');
    await alice.get('alice-secret-key');
    await bob.get('bob-secret-key');
    const seen = async (r: Redis): Promise<string[]> => ((await r.call('SLOWLOG', 'GET', '-1')) as Array<[number, number, number, string[]]>).map((e) => e[3].join(' '));
    expect(await seen(alice)).toContain('get alice-secret-key');
    expect((await seen(alice)).join('\n')).not.toContain('bob-secret-key');
    expect((await seen(bob)).join('\n')).not.toContain('alice-secret-key');
    expect(await root.call('SLOWLOG', 'RESET')).toBe('OK');
  });
});
