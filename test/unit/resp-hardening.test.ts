import net from 'node:net';
import { Registry } from 'prom-client';
import type { RespLimits } from '../../proxy/front/resp/context';
import { RespServer } from '../../proxy/front/resp/server';
import { FakeBackend } from './proxy-front-fake-backend';
import { startFakeRespServer } from '../helpers/fake-resp';

/**
 * The RESP front against hostile clients, over real TCP to a RespServer in this process (a fake
 * data plane behind it): CONFIG GET patterns built to backtrack, HTTP requests sent to the port,
 * too many connections, idle and slow-loris connections, and an input budget shared by all.
 * Bounds are shown by replies and counters, and by each test finishing; nothing is timed.
 */
const LIMITS: RespLimits = { maxBulkBytes: 4 * 1024 * 1024, maxMultibulk: 1024, maxQueryBytes: 8 * 1024 * 1024, maxInFlight: 100, maxBufferedBytes: 256 * 1024 };

interface Started {
  backend: FakeBackend;
  registry: Registry;
  server: RespServer;
}

const opened: Started[] = [];
const clients: Raw[] = [];

async function start(limits: Partial<RespLimits> = {}): Promise<Started> {
  const started = await startFakeRespServer({ ...LIMITS, ...limits });
  opened.push(started);
  return started;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 10 ms until it holds or `ms` pass; resolves whether it held. */
async function until(check: () => boolean, ms = 10_000): Promise<boolean> {
  for (const deadline = Date.now() + ms; !check(); await sleep(10)) if (Date.now() > deadline) return false;
  return true;
}

/** A raw TCP client: everything the server sent, and whether it closed. */
class Raw {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  isClosed = false;
  #parts: Buffer[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => this.#parts.push(d));
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.once('close', () => {
      this.isClosed = true;
      resolve();
    }));
    clients.push(this);
  }

  /** Everything received so far. */
  get text(): string {
    return Buffer.concat(this.#parts).toString('latin1');
  }

  /** Sends `input`, then waits until `expected` more bytes came (or the socket closed); resolves them. */
  async send(input: string | Buffer, expected: string): Promise<string> {
    const before = this.text.length;
    this.socket.write(input);
    await until(() => this.text.length - before >= expected.length || this.isClosed);
    return this.text.slice(before);
  }

  close(): void {
    this.socket.destroy();
  }
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(opened.splice(0).map((s) => s.server.close()));
});

const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** Connections the listener refused or closed for `reason` (shardcache_proxy_refused_total). */
async function refused(s: Started, reason: string): Promise<number> {
  const metric = await s.registry.getSingleMetric('shardcache_proxy_refused_total')!.get();
  return metric.values.find((v) => v.labels.reason === reason && v.labels.front === 'resp')?.value ?? 0;
}

describe('CONFIG GET patterns', () => {
  test('patterns built to backtrack are answered; the guards are listed; an over-long pattern is refused', async () => {
    const s = await start({ maxClients: 7, idleTimeoutMs: 120_000 });
    const raw = new Raw(s.server.port);
    // The RegExp translation took about 0.6 s per parameter name for the second one, 85 s for a 40-byte name with the third.
    for (const pattern of [`${'*a'.repeat(30)}*b`, `${'*?'.repeat(16)}#`, `*${'?*'.repeat(20)}#`]) {
      expect(await raw.send(cmd('CONFIG', 'GET', pattern), '*0\r\n')).toBe('*0\r\n');
    }
    expect(await raw.send(cmd('CONFIG', 'GET', 'MAX*CLIENTS', 'tim?out'), '*4\r\n$10\r\nmaxclients\r\n$1\r\n7\r\n$7\r\ntimeout\r\n$3\r\n120\r\n'))
      .toBe('*4\r\n$10\r\nmaxclients\r\n$1\r\n7\r\n$7\r\ntimeout\r\n$3\r\n120\r\n');
    const tooLong = '-ERR pattern longer than 256 bytes\r\n';
    expect(await raw.send(cmd('CONFIG', 'GET', 'save', '*'.repeat(257)), tooLong)).toBe(tooLong);
    expect(await raw.send(cmd('CONFIG', 'GET', `${'*'.repeat(252)}save`), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n')).toBe('*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
    const tooMany = '-ERR more than 64 patterns in one CONFIG GET\r\n';
    expect(await raw.send(cmd('CONFIG', 'GET', ...Array.from({ length: 65 }, () => '[a][b][c]*')), tooMany)).toBe(tooMany);
    expect(await raw.send(cmd('CONFIG', 'GET', ...Array.from({ length: 63 }, () => 'x'), 'save'), '*2\r\n$4\r\nsave\r\n$0\r\n\r\n')).toBe('*2\r\n$4\r\nsave\r\n$0\r\n\r\n');
    expect(await raw.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n'); // a refused pattern is a command error only
  });
});

describe('HTTP sent to the RESP port', () => {
  const requests = [
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 15\r\n\r\nSET pwned yes\r\n',
    'PUT /v1/cache/default/k HTTP/1.1\r\nHost: x\r\n\r\n',
    cmd('Host:', 'x'),
    cmd('POST', '/'),
  ];

  test.each(requests)('%j closes the connection without a reply', async (request) => {
    const s = await start();
    const other = new Raw(s.server.port);
    expect(await other.send(cmd('SET', 'k', 'v'), '+OK\r\n')).toBe('+OK\r\n');
    const raw = new Raw(s.server.port);
    raw.socket.write(request);
    await raw.closed;
    expect(raw.text).toBe('');
    expect(s.backend.entries.has('default\npwned')).toBe(false);
    expect(await refused(s, 'cross_protocol')).toBe(1);
    expect(await other.send(cmd('GET', 'k'), '$1\r\nv\r\n')).toBe('$1\r\nv\r\n');
  });

  test('Redis commands that resemble HTTP keep working: inline GET key, a value HTTP/1.1 in an array', async () => {
    const s = await start();
    const raw = new Raw(s.server.port);
    expect(await raw.send(cmd('SET', 'HTTP/1.1', 'HTTP/1.1'), '+OK\r\n')).toBe('+OK\r\n');
    expect(await raw.send('GET HTTP/1.1\r\n', '$8\r\nHTTP/1.1\r\n')).toBe('$8\r\nHTTP/1.1\r\n');
    expect(await raw.send(cmd('GET', '/'), '$-1\r\n')).toBe('$-1\r\n');
    expect(await raw.send('GET /\r\n', '$-1\r\n')).toBe('$-1\r\n');
    expect(await refused(s, 'cross_protocol')).toBe(0);
    expect(raw.isClosed).toBe(false);
  });
});

describe('connection cap', () => {
  test("past maxClients a connection gets Redis's reply and is closed; a freed place is taken again", async () => {
    const s = await start({ maxClients: 2 });
    const [a, b] = [new Raw(s.server.port), new Raw(s.server.port)];
    expect(await a.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n');
    expect(await b.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n');
    const third = new Raw(s.server.port);
    third.socket.write(cmd('PING'));
    await third.closed;
    expect(third.text).toBe('-ERR max number of clients reached\r\n');
    expect(await refused(s, 'max_clients')).toBe(1);
    expect(await a.send(cmd('CONFIG', 'GET', 'maxclients'), '*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n')).toBe('*2\r\n$10\r\nmaxclients\r\n$1\r\n2\r\n');
    b.close();
    await b.closed;
    // The server learns of b's close a moment after b does: connect again until a place is free.
    let reply = '';
    for (let i = 0; i < 100 && reply !== '+PONG\r\n'; i++) reply = await new Raw(s.server.port).send(cmd('PING'), '+PONG\r\n');
    expect(reply).toBe('+PONG\r\n');
  });
});

describe('idle timeout and incomplete requests (one sweep timer)', () => {
  test('an idle connection is closed; one in use, or waiting on a slow command, is not', async () => {
    const s = await start({ idleTimeoutMs: 1000, requestTimeoutMs: 0 });
    const idle = new Raw(s.server.port);
    const active = new Raw(s.server.port);
    const waiting = new Raw(s.server.port);
    expect(await idle.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n');
    waiting.socket.write(cmd('GET', 'slow:1800'));
    // At least 1.6 s (past the timeout and the slow command), and on until the idle one is closed.
    for (let i = 0; i < 50 && (i < 8 || !idle.isClosed); i++) {
      expect(await active.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n');
      await sleep(200);
    }
    expect(idle.isClosed).toBe(true);
    expect(idle.text).toBe('+PONG\r\n');
    expect(active.isClosed).toBe(false);
    await until(() => waiting.text.length > 0);
    expect(waiting.text).toBe('$-1\r\n');
    expect(await refused(s, 'idle_timeout')).toBe(1);
  });

  test('a command trickled a byte every 50 ms is refused after the request timeout', async () => {
    const s = await start({ requestTimeoutMs: 300, idleTimeoutMs: 0 });
    const raw = new Raw(s.server.port);
    const request = Buffer.from(cmd('SET', 'k', 'v'.repeat(200)));
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < request.length && !raw.isClosed) raw.socket.write(request.subarray(sent, ++sent));
    }, 50);
    try {
      await raw.closed;
    } finally {
      clearInterval(timer);
    }
    expect(raw.text).toBe('-ERR request not completed within 300 ms\r\n');
    expect(sent).toBeLessThan(request.length);
    expect(s.backend.entries.has('default\nk')).toBe(false);
    expect(await refused(s, 'request_timeout')).toBe(1);
    expect(s.server.inputBytes).toBe(0);
  });

  test('a pipeline whose commands are always cut by chunk borders is not taken for a slow request', async () => {
    const s = await start({ requestTimeoutMs: 300, idleTimeoutMs: 1000 });
    const raw = new Raw(s.server.port);
    const stream = cmd('PING').repeat(40);
    // 7-byte pieces every 25 ms for a second: some command is always incomplete, none for long.
    for (let at = 0; at < stream.length; at += 7) {
      raw.socket.write(stream.slice(at, at + 7));
      await sleep(25);
    }
    await until(() => raw.text.length >= '+PONG\r\n'.length * 40 || raw.isClosed);
    expect(raw.text).toBe('+PONG\r\n'.repeat(40));
    expect(raw.isClosed).toBe(false);
    expect(await refused(s, 'request_timeout')).toBe(0);
  });
});

describe('input budget of the process', () => {
  test('the connection whose bytes would pass the budget is refused; the others go on', async () => {
    const s = await start({ inputBudgetBytes: 1024 * 1024, requestTimeoutMs: 0 });
    // Two 900 KiB values, each within the 1 MiB budget alone; 600 KiB of each together are not.
    const [value, part] = [900 * 1024, 600 * 1024];
    const header = (key: string): string => `*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value}\r\n`;
    const a = new Raw(s.server.port);
    a.socket.write(header('a') + 'x'.repeat(part));
    expect(await until(() => s.server.inputBytes >= part)).toBe(true);
    const b = new Raw(s.server.port);
    b.socket.write(header('b') + 'y'.repeat(part));
    await b.closed;
    expect(b.text).toBe('-ERR proxy input buffer budget exceeded\r\n');
    expect(await refused(s, 'input_budget')).toBe(1);
    expect(s.server.inputBytes).toBeLessThanOrEqual(1024 * 1024);
    const c = new Raw(s.server.port);
    expect(await c.send(cmd('PING'), '+PONG\r\n')).toBe('+PONG\r\n');
    expect(await a.send(`${'x'.repeat(value - part)}\r\n`, '+OK\r\n')).toBe('+OK\r\n');
    expect(s.backend.entries.get('default\na')?.value.length).toBe(value);
    expect(a.isClosed).toBe(false);
    expect(s.server.inputBytes).toBe(0);
  });
});
