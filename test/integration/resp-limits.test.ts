import fs from 'node:fs';
import net from 'node:net';
import { startProxyProcess, type StartedProxy } from '../helpers/cluster';
import { TestEtcd } from '../helpers/etcd';

/**
 * Hostile RESP clients against a real proxy process: length headers that announce a gigabyte or
 * a million elements are refused and disconnected, and announced-but-unsent bulks hold only the
 * bytes that arrived. The proxy's resident memory is read from /proc before and after.
 * (No cluster is needed: the RESP port parses and refuses before any data-plane call.)
 */
jest.setTimeout(50_000);

let etcd: TestEtcd;
let proxy: StartedProxy;

beforeAll(async () => {
  etcd = await TestEtcd.start();
  proxy = await startProxyProcess(etcd.endpoint, 'limits', ['--resp-max-bulk-bytes', '16mb', '--resp-max-multibulk', '65536']);
}, 30_000);

afterAll(async () => {
  await proxy?.proc.stop();
  await etcd?.stop();
});

/** Resident memory of the proxy process in bytes (VmRSS). */
function rss(): number {
  const status = fs.readFileSync(`/proc/${proxy.proc.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Connects, writes `payload` (errors on write are ignored: the proxy may close first), resolves what came back once closed. */
function attack(payload: Buffer): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(proxy.respPort!, '127.0.0.1');
    let reply = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ reply, closed: false });
    }, 10_000);
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
    socket.write(payload);
  });
}

test('a 1 GB bulk header and a million-element array are refused and disconnected without memory growth', async () => {
  const junk = Buffer.alloc(64 * 1024, 0x78);
  const gigabyte = Buffer.concat([Buffer.from('*1\r\n$1000000000\r\n'), junk]);
  const million = Buffer.concat([Buffer.from('*1000000\r\n'), Buffer.from('$1\r\nx\r\n'.repeat(10_000))]);
  await attack(Buffer.from('PING\r\n')); // warm-up: the first connection loads code paths
  const before = rss();
  for (let round = 0; round < 5; round++) {
    const answers = await Promise.all([
      ...Array.from({ length: 20 }, () => attack(gigabyte)),
      ...Array.from({ length: 20 }, () => attack(million)),
    ]);
    for (const a of answers.slice(0, 20)) expect(a).toEqual({ reply: '-ERR Protocol error: invalid bulk length\r\n', closed: true });
    for (const a of answers.slice(20)) expect(a).toEqual({ reply: '-ERR Protocol error: invalid multibulk length\r\n', closed: true });
  }
  const grown = rss() - before;
  console.log(`RESP length attacks: proxy RSS ${(before / 2 ** 20).toFixed(1)} MiB before, grew ${(grown / 2 ** 20).toFixed(1)} MiB after 200 hostile connections`);
  expect(grown).toBeLessThan(64 * 2 ** 20);
});

test('announced 16 MB bulks that never arrive hold only the bytes sent', async () => {
  const before = rss();
  const sockets = await Promise.all(Array.from({ length: 40 }, () => new Promise<net.Socket>((resolve) => {
    const socket = net.connect(proxy.respPort!, '127.0.0.1', () => {
      socket.write('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$16000000\r\nabc');
      resolve(socket);
    });
    socket.on('error', () => undefined);
  })));
  await new Promise((r) => setTimeout(r, 500));
  const grown = rss() - before;
  console.log(`40 clients announcing 16 MB each: proxy RSS grew ${(grown / 2 ** 20).toFixed(1)} MiB (640 MiB if allocated from the headers)`);
  expect(grown).toBeLessThan(64 * 2 ** 20);
  // They are still connected and waiting: the announced length is legal.
  expect(sockets.every((s) => !s.destroyed)).toBe(true);
  for (const s of sockets) s.destroy();
});

test('the ready line names the RESP port and it answers PING', async () => {
  expect(typeof proxy.proc.ready.respPort).toBe('number');
  expect(await attack(Buffer.from('PING\r\nQUIT\r\n'))).toEqual({ reply: '+PONG\r\n+OK\r\n', closed: true });
});
