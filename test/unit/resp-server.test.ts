import net from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RESP_COMMANDS } from '../../proxy/front/resp/commands';
import type { RespLimits } from '../../proxy/front/resp/context';
import { RespServer } from '../../proxy/front/resp/server';
import { FakeBackend } from './proxy-front-fake-backend';
import { startFakeRespServer } from '../helpers/fake-resp';

const log = pino({ level: 'silent' });
const LIMITS: RespLimits = { maxBulkBytes: 1024 * 1024, maxMultibulk: 1024, maxQueryBytes: 4 * 1024 * 1024, maxInFlight: 100, maxBufferedBytes: 256 * 1024 };

interface Started {
  backend: FakeBackend;
  registry: Registry;
  server: RespServer;
}

const start = (limits: Partial<RespLimits> = {}): Promise<Started> => startFakeRespServer({ ...LIMITS, ...limits });

/** A raw client: writes bytes, collects everything the server sends, and notes each data event. */
class Raw {
  readonly socket: net.Socket;
  #parts: Buffer[] = [];
  #length = 0;
  closed: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => {
      this.#parts.push(d);
      this.#length += d.length;
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Everything received since the last `send`. */
  get received(): Buffer {
    return Buffer.concat(this.#parts);
  }

  /** 'data' events since the last `send`. */
  get chunks(): number {
    return this.#parts.length;
  }

  /** Sends `input` and resolves with the text received once it has `expected` bytes (or the socket closed). */
  async send(input: string | Buffer, expected: string): Promise<string> {
    this.#parts = [];
    this.#length = 0;
    this.socket.write(input);
    const deadline = Date.now() + 5000;
    while (this.#length < Buffer.byteLength(expected, 'latin1') && !this.socket.destroyed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    return this.received.toString('latin1');
  }

  close(): void {
    this.socket.destroy();
  }
}

let s: Started;
let raw: Raw;

beforeEach(async () => {
  s = await start();
  raw = new Raw(s.server.port);
});

afterEach(async () => {
  raw.close();
  await s.server.close();
});

const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

async function expectReply(input: string | Buffer, expected: string): Promise<void> {
  expect(await raw.send(input, expected)).toBe(expected);
}

test('PING, ECHO, inline PING, and a pipeline answered in one write', async () => {
  await expectReply(cmd('PING'), '+PONG\r\n');
  await expectReply(cmd('ping', 'hi'), '$2\r\nhi\r\n');
  await expectReply('PING\r\n', '+PONG\r\n');
  await expectReply(cmd('ECHO', 'a\r\nb'), '$4\r\na\r\nb\r\n');
  await expectReply(cmd('PING') + cmd('ECHO', 'x') + 'PING\r\n', '+PONG\r\n$1\r\nx\r\n+PONG\r\n');
  expect(raw.chunks).toBe(1);
});

test('strings: SET, GET, MGET, DEL, EXISTS, INCR family, binary values', async () => {
  await expectReply(cmd('SET', 'k', 'v'), '+OK\r\n');
  await expectReply(cmd('GET', 'k') + cmd('GET', 'nope'), '$1\r\nv\r\n$-1\r\n');
  await expectReply(cmd('MSET', 'a', '1', 'b', '2'), '+OK\r\n');
  await expectReply(cmd('MGET', 'a', 'nope', 'b'), '*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n');
  await expectReply(cmd('EXISTS', 'a', 'a', 'nope'), ':2\r\n');
  await expectReply(cmd('INCR', 'n') + cmd('INCRBY', 'n', '10') + cmd('DECR', 'n') + cmd('DECRBY', 'n', '-5'), ':1\r\n:11\r\n:10\r\n:15\r\n');
  await expectReply(cmd('INCR', 'k'), '-ERR value is not an integer or out of range\r\n');
  await expectReply(cmd('DECRBY', 'n', '-9223372036854775808'), '-ERR decrement would overflow\r\n');
  await expectReply(cmd('DEL', 'a', 'b', 'nope') + cmd('TYPE', 'a') + cmd('TYPE', 'k'), ':2\r\n+none\r\n+string\r\n');
  const bin = Buffer.from([0, 13, 10, 255]);
  await expectReply(Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$3\r\nbin\r\n$4\r\n'), bin, Buffer.from('\r\n')]), '+OK\r\n');
  expect(s.backend.entries.get('default\nbin')).toMatchObject({ value: bin, flags: 0 });
  await expectReply(cmd('GET', 'bin'), `$4\r\n${bin.toString('latin1')}\r\n`);
});

test('a JSON value written by another front reads back as its JSON text', async () => {
  await s.backend.set('default', 'doc', { value: Buffer.from('{"a":1}'), flags: 1 });
  await expectReply(cmd('GET', 'doc'), '$7\r\n{"a":1}\r\n');
});

test('GETDEL, GETEX, SETEX, TTL, PTTL, EXPIRE, PERSIST', async () => {
  await expectReply(cmd('SETEX', 't', '100', 'v') + cmd('TTL', 't') + cmd('TTL', 'nope'), '+OK\r\n:100\r\n:-2\r\n');
  const pttl = await raw.send(cmd('PTTL', 't'), ':99999\r\n');
  expect(Number(pttl.slice(1))).toBeGreaterThan(99_000);
  await expectReply(cmd('PERSIST', 't') + cmd('TTL', 't') + cmd('PERSIST', 't'), ':1\r\n:-1\r\n:0\r\n');
  await expectReply(cmd('EXPIRE', 't', '50') + cmd('TTL', 't') + cmd('EXPIRE', 'nope', '5'), ':1\r\n:50\r\n:0\r\n');
  await expectReply(cmd('GETEX', 't', 'PERSIST') + cmd('TTL', 't'), '$1\r\nv\r\n:-1\r\n');
  await expectReply(cmd('GETEX', 't', 'EX', '7') + cmd('TTL', 't'), '$1\r\nv\r\n:7\r\n');
  await expectReply(cmd('GETDEL', 't') + cmd('GETDEL', 't'), '$1\r\nv\r\n$-1\r\n');
  await expectReply(cmd('EXPIRE', 'x', '10', 'Fast'), '-ERR Unsupported option Fast\r\n');
  await expectReply(cmd('EXPIRE', 'x', 'ten', 'NX', 'GT'), '-ERR NX and XX, GT or LT options at the same time are not compatible\r\n'); // options first, as Redis
  await expectReply(cmd('PEXPIRE', 'x', '10', 'GT', 'LT'), '-ERR GT and LT options at the same time are not compatible\r\n');
  await expectReply(cmd('SETEX', 't', '0', 'v'), "-ERR invalid expire time in 'setex' command\r\n");
});

test("Redis's errors: arity, unknown commands, syntax, integers, SELECT, HELLO, AUTH", async () => {
  await expectReply(cmd('GET'), "-ERR wrong number of arguments for 'get' command\r\n");
  await expectReply(cmd('foo', 'a', 'b'), "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  await expectReply(cmd('SET', 'k', 'v', 'NX', 'XX'), '-ERR syntax error\r\n');
  await expectReply(cmd('SET', 'k', 'v', 'EX', 'x'), '-ERR value is not an integer or out of range\r\n');
  await expectReply(cmd('MSET', 'a', '1', 'b'), "-ERR wrong number of arguments for 'mset' command\r\n");
  await expectReply(cmd('SELECT', '0') + cmd('SELECT', '1'), '+OK\r\n-ERR DB index is out of range\r\n');
  await expectReply(cmd('HELLO', '4') + cmd('HELLO', '1'), '-NOPROTO unsupported protocol version\r\n-NOPROTO unsupported protocol version\r\n');
  await expectReply(cmd('HELLO', 'x'), '-ERR Protocol version is not an integer or out of range\r\n');
  await expectReply(cmd('HELLO', '2', 'FOO'), "-ERR Syntax error in HELLO option 'FOO'\r\n");
  await expectReply(cmd('CLIENT', 'SETNAME', 'a b'), '-ERR Client names cannot contain spaces, newlines or special characters.\r\n');
  await expectReply(cmd('CLIENT', 'FOO'), "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n");
  await expectReply(cmd('CLIENT', 'SETNAME'), "-ERR wrong number of arguments for 'client|setname' command\r\n");
  await expectReply(cmd('AUTH', 'bad name!'), '-WRONGPASS invalid username-password pair or user is disabled.\r\n');
  await expectReply(cmd('GET', 'fail:TIMEOUT'), '-TIMEOUT failing as asked (TIMEOUT)\r\n');
  await expectReply(cmd('GET', 'fail:BUG'), '-ERR internal error in the proxy; see its log\r\n');
  await expectReply(Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\n\xff\r\n', 'latin1'), '-ERR keys must be valid UTF-8 text in shardcache\r\n');
});

test('HELLO 3 switches the connection to RESP3: maps, and `_` for every null; HELLO 2 switches back', async () => {
  const hello = await raw.send(cmd('HELLO', '3'), '%7\r\n');
  expect(hello).toMatch(/^%7\r\n\$6\r\nserver\r\n\$10\r\nshardcache\r\n\$7\r\nversion\r\n\$5\r\n7\.0\.0\r\n\$5\r\nproto\r\n:3\r\n/);
  await expectReply(cmd('SET', 'r3', '$-1\r\n') + cmd('GET', 'r3:none') + cmd('MGET', 'r3', 'r3:none'), '+OK\r\n_\r\n*2\r\n$5\r\n$-1\r\n\r\n_\r\n');
  await expectReply(cmd('SET', 'r3', 'v', 'NX') + cmd('COMMAND', 'INFO', 'nosuch'), '_\r\n*1\r\n_\r\n');
  await expectReply(cmd('CONFIG', 'GET', 'save') + cmd('COMMAND', 'DOCS', 'nosuch'), '%1\r\n$4\r\nsave\r\n$0\r\n\r\n%0\r\n');
  expect(await raw.send(cmd('COMMAND', 'DOCS', 'echo'), '%1\r\n$4\r\necho\r\n%5\r\n$7\r\nsummary\r\n')).toMatch(/^%1\r\n\$4\r\necho\r\n%5\r\n\$7\r\nsummary\r\n/);
  await raw.send(cmd('HELLO', '2'), '*14\r\n');
  await expectReply(cmd('GET', 'r3:none') + cmd('CONFIG', 'GET', 'save'), '$-1\r\n*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
});

test('HELLO 2, CLIENT, COMMAND, CONFIG GET, INFO, DBSIZE', async () => {
  const hello = await raw.send(cmd('HELLO', '2', 'SETNAME', 'me'), '*14\r\n');
  expect(hello).toMatch(/^\*14\r\n\$6\r\nserver\r\n\$10\r\nshardcache\r\n\$7\r\nversion\r\n\$5\r\n7\.0\.0\r\n\$5\r\nproto\r\n:2\r\n/);
  await expectReply(cmd('CLIENT', 'GETNAME') + cmd('CLIENT', 'SETINFO', 'lib-name', 'x'), '$2\r\nme\r\n+OK\r\n');
  await expectReply(cmd('CONFIG', 'GET', 'save') + cmd('CONFIG', 'GET', 'nosuch'), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n*0\r\n');
  await expectReply(cmd('COMMAND', 'DOCS', 'nosuch') + cmd('DBSIZE'), '*0\r\n:0\r\n');
  await expectReply(cmd('COMMAND', 'INFO', 'get', 'nosuch'), '*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n*-1\r\n');
  await expectReply(cmd('COMMAND', 'COUNT'), `:${RESP_COMMANDS.size}\r\n`);
  const info = await raw.send(cmd('INFO', 'keyspace'), '$');
  expect(info).toMatch(/shardcache_namespace:default\r\nshardcache_shards:2\r\n/);
});

test('AUTH selects the namespace of the connection', async () => {
  await expectReply(cmd('AUTH', 'tenant-a') + cmd('SET', 'k', 'a'), '+OK\r\n+OK\r\n');
  await expectReply(cmd('AUTH', 'tenant-b', 'ignored') + cmd('SET', 'k', 'b'), '+OK\r\n+OK\r\n');
  expect(s.backend.entries.get('tenant-a\nk')?.value.toString()).toBe('a');
  expect(s.backend.entries.get('tenant-b\nk')?.value.toString()).toBe('b');
  await expectReply(cmd('AUTH', 'a', 'b', 'c'), '-ERR syntax error\r\n');
});

test('pipelined commands on one key run in order (read-your-writes); other keys do not wait', async () => {
  const input = cmd('SET', 'slow:40', 'v1') + cmd('GET', 'slow:40') + cmd('SET', 'slow:40', 'v2') + cmd('GET', 'slow:40') + cmd('PING');
  // Each command sleeps 40 ms in the fake backend: run at once, both GETs would miss.
  await expectReply(input, '+OK\r\n$2\r\nv1\r\n+OK\r\n$2\r\nv2\r\n+PONG\r\n');
  await expectReply(cmd('SET', 'k', '1') + cmd('AUTH', 'other') + cmd('GET', 'k') + cmd('SET', 'k', '2'), '+OK\r\n+OK\r\n$-1\r\n+OK\r\n');
  expect(s.backend.entries.get('other\nk')?.value.toString()).toBe('2');
});

test('replies leave in request order although the backend completes them out of order', async () => {
  await s.backend.set('default', 'x', { value: Buffer.from('X') });
  const input = cmd('GET', 'slow:60') + cmd('GET', 'slow:30') + cmd('GET', 'x') + cmd('PING');
  await expectReply(input, '$-1\r\n$-1\r\n$1\r\nX\r\n+PONG\r\n');
});

test('a protocol error answers what came before, then the error, then closes', async () => {
  const reply = await raw.send(`PING\r\n*1\r\n$999999999\r\n${cmd('PING')}`, '+PONG\r\n-ERR Protocol error: invalid bulk length\r\n');
  expect(reply).toBe('+PONG\r\n-ERR Protocol error: invalid bulk length\r\n');
  await raw.closed;
});

test('QUIT answers +OK and closes; what follows it is not run', async () => {
  expect(await raw.send(cmd('QUIT') + cmd('SET', 'after', 'quit'), '+OK\r\n')).toBe('+OK\r\n');
  await raw.closed;
  expect(s.backend.entries.has('default\nafter')).toBe(false);
});

test('a client that half-closes still gets every reply', async () => {
  raw.socket.end(cmd('GET', 'slow:30') + cmd('PING'));
  await raw.closed;
  expect(raw.received.toString()).toBe('$-1\r\n+PONG\r\n');
});

test('more commands than the in-flight bound are taken on as replies leave, in order', async () => {
  const small = await start({ maxInFlight: 3 });
  const client = new Raw(small.server.port);
  try {
    const input = Array.from({ length: 20 }, (_, i) => cmd('ECHO', String(i)) + cmd('GET', 'slow:5')).join('');
    const expected = Array.from({ length: 20 }, (_, i) => `$${String(i).length}\r\n${i}\r\n$-1\r\n`).join('');
    expect(await client.send(input, expected)).toBe(expected);
  } finally {
    client.close();
    await small.server.close();
  }
});

/** Connections refused because they did not read their replies. */
async function notReading(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('shardcache_proxy_refused_total')!.get();
  return metric.values.find((v) => v.labels.reason === 'not_reading')?.value ?? 0;
}

test('a client that stops reading its replies is disconnected instead of buffering them', async () => {
  const tight = await start({ maxBufferedBytes: 64 * 1024, maxInFlight: 1000, stallMs: 200 });
  await tight.backend.set('default', 'big', { value: Buffer.alloc(16 * 1024, 1) });
  const client = new Raw(tight.server.port);
  try {
    client.socket.pause();
    client.socket.write(cmd('GET', 'big').repeat(1000));
    const deadline = Date.now() + 5000;
    while ((await notReading(tight.registry)) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await notReading(tight.registry)).toBe(1);
  } finally {
    client.close();
    await tight.server.close();
  }
});

test('a client that reads gets a pipeline of replies far larger than the buffer bound', async () => {
  const tight = await start({ maxBufferedBytes: 256 * 1024, maxInFlight: 1000, stallMs: 1000 });
  const value = Buffer.alloc(16 * 1024, 0x61);
  await tight.backend.set('default', 'big', { value });
  const client = new Raw(tight.server.port);
  try {
    const one = `$${value.length}\r\n${value.toString('latin1')}\r\n`;
    const reply = await client.send(cmd('GET', 'big').repeat(2000), one.repeat(2000));
    expect(reply.length).toBe(one.length * 2000);
    expect(reply === one.repeat(2000)).toBe(true);
    expect(await notReading(tight.registry)).toBe(0);
  } finally {
    client.close();
    await tight.server.close();
  }
});

test('requests are counted under front="resp"', async () => {
  await expectReply(cmd('SET', 'm', '1') + cmd('GET', 'm'), '+OK\r\n$1\r\n1\r\n');
  const text = await s.registry.metrics();
  expect(text).toMatch(/shardcache_proxy_requests_total\{front="resp",op="get",namespace="default",code="ok"\} 1/);
  expect(text).toMatch(/shardcache_proxy_hits_total\{namespace="default"\} 1/);
});
