import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Dispatcher } from '../../proxy/front/dispatcher';
import { FrontMetrics } from '../../proxy/front/metrics';
import type { RespLimits } from '../../proxy/front/resp/context';
import { RespServer } from '../../proxy/front/resp/server';
import { loadTls, reloadOnChange, TLS_FLAGS, type TlsFiles } from '../../shared/tls';
import { issue, makeCa, writePem, type Issued } from '../../scripts/tls-certs';
import { FakeBackend } from './proxy-front-fake-backend';

/**
 * The RESP listener over TLS (in process, a fake backend): the same commands and guards as on
 * plain TCP, counted per TLS socket; a client that does not speak TLS gets no RESP and is closed;
 * a certificate reload reaches new connections while open ones keep theirs.
 */
const log = pino({ level: 'silent' });
const LIMITS: RespLimits = { maxBulkBytes: 1024 * 1024, maxMultibulk: 1024, maxQueryBytes: 4 * 1024 * 1024, maxInFlight: 100, maxBufferedBytes: 256 * 1024 };

let dir: string;
let ca: Issued;
let files: TlsFiles;
let server: RespServer | undefined;
let registry: Registry;
const sockets: net.Socket[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-resp-tls-'));
  ca = makeCa();
  files = { certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server-key.pem') };
  useCertificate(issue(ca, { commonName: 'first', hosts: ['127.0.0.1'], usage: 'server' }));
});

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await server?.close();
  server = undefined;
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function useCertificate(cert: Issued): void {
  writePem(files.certFile, cert.certPem, false);
  writePem(files.keyFile, cert.keyPem, true);
}

async function start(limits: Partial<RespLimits> = {}): Promise<RespServer> {
  const backend = new FakeBackend();
  registry = new Registry();
  const metrics = new FrontMetrics(registry);
  server = new RespServer({ dispatcher: new Dispatcher({ backend, metrics, log }), backend, metrics, log, namespace: 'default', limits: { ...LIMITS, ...limits }, tls: loadTls(files) });
  await server.listen('127.0.0.1', 0);
  return server;
}

/** A TLS client trusting the test CA; resolves once the handshake is done. */
function connect(port: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', ca: ca.certPem }, () => resolve(socket));
    sockets.push(socket);
    socket.once('error', reject);
  });
}

/** Writes `input` and resolves with what came back once `expected` bytes arrived or the socket closed. */
function exchange(socket: net.Socket, input: string, expected: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const done = (): void => {
      socket.off('data', onData);
      resolve(got);
    };
    const onData = (d: Buffer): void => {
      got += d.toString('latin1');
      if (got.length >= expected) done();
    };
    socket.on('data', onData);
    socket.once('close', done);
    socket.write(input);
  });
}

const closed = (socket: net.Socket): Promise<void> => new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
const refusals = async (reason: string): Promise<number> => {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'shardcache_proxy_refused_total');
  return (metric?.values.find((v) => v.labels.reason === reason)?.value as number | undefined) ?? 0;
};

test('commands over TLS; a plain-TCP client gets no RESP and is closed', async () => {
  const s = await start();
  expect(s.tls).toBe(true);
  const client = await connect(s.port);
  expect(await exchange(client, '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nPING\r\n', 12)).toBe('+OK\r\n+PONG\r\n');
  const plain = net.connect(s.port, '127.0.0.1');
  sockets.push(plain);
  plain.on('error', () => undefined);
  const answer = await exchange(plain, 'PING\r\n', 1_000_000);
  expect(answer).not.toContain('PONG');
  await closed(plain);
  expect(await refusals('tls_handshake')).toBe(1);
});

test('guards count TLS connections: max clients (Redis\'s refusal, encrypted), idle timeout, unfinished handshakes', async () => {
  const s = await start({ maxClients: 1, idleTimeoutMs: 300, requestTimeoutMs: 300 });
  const first = await connect(s.port);
  const second = await connect(s.port);
  expect(await exchange(second, 'PING\r\n', 1000)).toBe('-ERR max number of clients reached\r\n');
  expect(await refusals('max_clients')).toBe(1);
  const started = Date.now();
  await closed(first); // idle past 300 ms
  expect(Date.now() - started).toBeLessThan(3000);
  const silent = net.connect(s.port, '127.0.0.1'); // never starts its handshake
  sockets.push(silent);
  silent.on('error', () => undefined);
  await closed(silent);
  expect(Date.now() - started).toBeLessThan(4000);
});

test('a certificate reload reaches new connections; the open one keeps its certificate and keeps working', async () => {
  const s = await start();
  const reloaded: string[] = [];
  const watch = reloadOnChange([s], files, TLS_FLAGS, { onError: (e) => reloaded.push(`error: ${e.message}`), onReload: (m) => reloaded.push(m.fingerprint256), intervalMs: 20, settleMs: 50, signal: null });
  try {
    await new Promise((r) => setTimeout(r, 100)); // the watch's first look at the files
    const before = await connect(s.port);
    const oldPrint = before.getPeerCertificate().fingerprint256;
    const next = issue(ca, { commonName: 'second', hosts: ['127.0.0.1'], usage: 'server' });
    useCertificate(next);
    for (const end = Date.now() + 5000; !reloaded.some((r) => !r.startsWith('error')) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    const after = await connect(s.port);
    const newPrint = after.getPeerCertificate().fingerprint256;
    expect(newPrint).not.toBe(oldPrint);
    expect(reloaded.at(-1)).toBe(newPrint);
    expect(after.getPeerCertificate().subject.CN).toBe('second');
    expect(await exchange(before, 'PING\r\n', 7)).toBe('+PONG\r\n');
    expect(before.getPeerCertificate().fingerprint256).toBe(oldPrint);
  } finally {
    watch.close();
  }
});
