import http from 'node:http';
import net from 'node:net';
import { TestEtcd } from '../helpers/etcd';
import { startProgram, type Started } from '../helpers/process';

/**
 * The RESP guards of a real proxy process, set by its flags (and one by its environment
 * variable): CONFIG GET shows them, HTTP requests are dropped and logged without their bytes, a
 * connection past the cap gets Redis's refusal, idle and slow-loris connections are closed, and a
 * client that would pass the process's input budget is refused while others go on. No cluster is
 * needed: every refusal happens before the data plane is asked anything.
 */
jest.setTimeout(60_000);

let etcd: TestEtcd;
let proxy: Started;
let respPort: number;
let adminPort: number;

beforeAll(async () => {
  etcd = await TestEtcd.start();
  proxy = await startProgram('proxy/main.js', [
    '--etcd', etcd.endpoint, '--cluster', 'resp-hardening', '--http-port', '0', '--admin-port', '0', '--resp-port', '0',
    '--resp-idle-timeout-s', '1', '--resp-request-timeout-ms', '300', '--resp-input-budget', '1mb',
  ], { SHARDCACHE_PROXY_RESP_MAX_CLIENTS: '3' });
  respPort = proxy.ready.respPort as number;
  adminPort = proxy.ready.adminPort as number;
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await etcd?.stop();
});

const PONG = '+PONG\r\n';
const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;

/** A connection: what it received, whether the proxy closed it, and a way to wait for a reply. */
interface Conn {
  socket: net.Socket;
  text(): string;
  closed: Promise<void>;
  isClosed(): boolean;
  /** Writes `input` and resolves what comes back once it is as long as `expected` (or the proxy closed). */
  ask(input: string | Buffer, expected: string): Promise<string>;
}

function connect(): Conn {
  const socket = net.connect(respPort, '127.0.0.1');
  let received = '';
  let done = false;
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    done = true;
    resolve();
  }));
  const ask = async (input: string | Buffer, expected: string): Promise<string> => {
    const from = received.length;
    socket.write(input);
    for (let i = 0; i < 1000 && received.length - from < expected.length && !done; i++) await new Promise((r) => setTimeout(r, 10));
    return received.slice(from);
  };
  return { socket, text: () => received, closed, isClosed: () => done, ask };
}

/** The proxy's refusals of RESP connections for `reason`, from its admin /metrics. */
function refused(reason: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const line = body.split('\n').find((l) => l.startsWith('shardcache_proxy_refused_total{') && l.includes('front="resp"') && l.includes(`reason="${reason}"`));
        resolve(line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1)));
      });
    }).on('error', reject);
  });
}

test('CONFIG GET lists the cap and the idle timeout; a 30-star pattern is answered, an over-long one refused', async () => {
  const c = connect();
  try {
    const limits = '*4\r\n$10\r\nmaxclients\r\n$1\r\n3\r\n$7\r\ntimeout\r\n$1\r\n1\r\n';
    expect(await c.ask(cmd('CONFIG', 'GET', 'maxclients', 'timeout'), limits)).toBe(limits);
    expect(await c.ask(cmd('CONFIG', 'GET', `${'*a'.repeat(30)}*b`), '*0\r\n')).toBe('*0\r\n');
    const tooLong = '-ERR pattern longer than 256 bytes\r\n';
    expect(await c.ask(cmd('CONFIG', 'GET', '?'.repeat(300)), tooLong)).toBe(tooLong);
  } finally {
    c.socket.destroy();
    await c.closed;
  }
});

test('HTTP requests are dropped without a reply and logged once each, without their bytes', async () => {
  const requests = ['GET /secret-path HTTP/1.1\r\nHost: x\r\n\r\n', 'POST /secret-path HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nFLUSHALL\n'];
  const before = await refused('cross_protocol');
  const linesBefore = proxy.lines.length;
  for (const request of requests) {
    const c = connect();
    c.socket.write(request);
    await c.closed;
    expect({ request, reply: c.text() }).toEqual({ request, reply: '' });
  }
  expect(await refused('cross_protocol')).toBe(before + requests.length);
  // The counter is read over HTTP; the log lines come through the proxy's stdout, maybe later.
  const warningsNow = (): string[] => proxy.lines.slice(linesBefore).filter((l) => l.includes('Possible SECURITY ATTACK detected'));
  for (let i = 0; i < 100 && warningsNow().length < requests.length; i++) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 100)); // and no third line follows
  const warnings = warningsNow();
  expect(warnings).toHaveLength(requests.length);
  for (const w of warnings) expect(w).not.toMatch(/secret-path|FLUSHALL|HTTP\/1/);
});

/** A connection that answered PING: retried while the proxy has not yet seen earlier ones close. */
async function admitted(): Promise<Conn> {
  for (let i = 0; ; i++) {
    const c = connect();
    if ((await c.ask(cmd('PING'), PONG)) === PONG || i === 50) return c;
    await c.closed;
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("past --resp-max-clients a connection gets Redis's reply and is closed", async () => {
  const open: Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) open.push(await admitted());
    for (const c of open) expect(c.text()).toBe(PONG);
    const extra = connect();
    extra.socket.write(cmd('PING'));
    await extra.closed;
    expect(extra.text()).toBe('-ERR max number of clients reached\r\n');
  } finally {
    for (const c of open) c.socket.destroy();
    await Promise.all(open.map((c) => c.closed));
  }
});

test('an idle connection is closed, a slow-loris one refused, one in use kept', async () => {
  const [idle, busy, loris] = [await admitted(), await admitted(), await admitted()];
  const request = Buffer.from(cmd('SET', 'k', 'v'.repeat(100)));
  let sent = 0;
  const trickle = setInterval(() => {
    if (sent < request.length && !loris.isClosed()) loris.socket.write(request.subarray(sent, ++sent));
  }, 50);
  try {
    // At least 2 s (twice the idle timeout), and on until the other two are closed.
    for (let i = 0; i < 100 && (i < 10 || !idle.isClosed() || !loris.isClosed()); i++) {
      expect(await busy.ask(cmd('PING'), PONG)).toBe(PONG);
      await new Promise((r) => setTimeout(r, 200));
    }
    await Promise.all([idle.closed, loris.closed]);
  } finally {
    clearInterval(trickle);
  }
  expect(idle.text()).toBe(PONG);
  expect(loris.text()).toBe(`${PONG}-ERR request not completed within 300 ms\r\n`);
  expect(sent).toBeLessThan(request.length);
  expect(busy.isClosed()).toBe(false);
  busy.socket.destroy();
  await busy.closed;
});

test('the connection that would pass --resp-input-budget is refused; another client is served', async () => {
  const [big, other] = [await admitted(), await admitted()];
  try {
    big.socket.write(`*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n${'x'.repeat(1_200_000)}`);
    await big.closed;
    expect(big.text()).toBe(`${PONG}-ERR proxy input buffer budget exceeded\r\n`);
    expect(await other.ask(cmd('PING'), PONG)).toBe(PONG);
    expect(await refused('input_budget')).toBe(1);
  } finally {
    other.socket.destroy();
    await other.closed;
  }
});
