import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { Etcd3 } from 'etcd3';
import Redis from 'ioredis';
import WebSocket from 'ws';
import { ShardcacheClient } from '../../client/ws-client';
import { connectEtcd } from '../../shared/topology/etcd';
import { issue, makeCa, writeLocalTls, writePem, type Issued, type LocalTls } from '../../scripts/tls-certs';
import { TestEtcd } from '../helpers/etcd';
import { runProgram, startProgram, type Started } from '../helpers/process';
import { electedOne, startShardNode, TEST_LEASE_TTL, waitFor, type ShardNode } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * TLS end to end with real processes: etcd over TLS with client certificates and etcd auth on
 * (user root), a storage node, shardctl and proxies reaching it with the --etcd-* flags, and the
 * proxy's client ports over TLS: HTTPS and WSS on the uWS port, HTTPS on the pipelining port, RESP
 * over TLS with ioredis and redis-cli. Without the CA a client is refused; plain TCP on the TLS
 * RESP port gets nothing; with --tls-client-auth the ports ask for a certificate of the CA; a
 * SIGHUP reloads the certificate of the RESP and pipelining ports.
 */
jest.setTimeout(90_000);

const CLUSTER = 'tls';
const PASSWORD = 'etcd-root-password-0123';
let dir: string;
let certs: LocalTls;
let ca: Buffer;
let stranger: Issued; // a client certificate of another CA
let etcd: TestEtcd;
let admin: Etcd3;
let pwFile: string;
let node: ShardNode;
let proxy: Started;
let proxyFiles: { cert: string; key: string };
const started: Array<{ close(): Promise<unknown> }> = [];

const etcdFlags = (): string[] => ['--etcd', etcd.endpoint, ...etcd.clientArgs, '--etcd-user', 'root'];
const ctl = (...args: string[]) => shardctlInProcess([...args, ...etcdFlags(), '--etcd-password-file', pwFile, '--cluster', CLUSTER]);

/** A proxy over TLS against the TLS etcd, its password from the environment; waits until it routes. */
async function startTlsProxy(extra: string[]): Promise<Started> {
  const p = await startProgram('proxy/main.js', [
    ...etcdFlags(), '--cluster', CLUSTER, '--http-port', '0', '--admin-port', '0', '--resp-port', '0', '--pipelining-port', '0', ...extra,
  ], { SHARDCACHE_ETCD_PASSWORD: PASSWORD });
  started.push({ close: () => p.stop() });
  await waitFor('the proxy to route', async () => {
    const res = await fetch(`http://127.0.0.1:${p.ready.adminPort as number}/healthz`).catch(() => undefined);
    return res?.status === 200;
  }, 15_000, 50);
  return p;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-tls-e2e-'));
  certs = writeLocalTls(path.join(dir, 'tls'));
  ca = fs.readFileSync(certs.caFile);
  stranger = issue(makeCa('another CA'), { commonName: 'stranger', usage: 'client' });
  pwFile = path.join(dir, 'etcd-password');
  fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  etcd = await TestEtcd.start({ tls: certs });
  // etcd's own auth on: user root (role root); from here on every client logs in.
  const setup = connectEtcd(etcd.endpoint, { access: etcd.access });
  await setup.user('root').create(PASSWORD);
  await setup.user('root').addRole('root');
  await setup.auth.authEnable();
  setup.close();
  admin = connectEtcd(etcd.endpoint, { access: { ...etcd.access, auth: { username: 'root', password: PASSWORD } } });
  const init = await ctl('init', '--shards', '1', '--replicas', '0', '--lease-ttl', String(TEST_LEASE_TTL));
  if (init.code !== 0) throw new Error(`shardctl init failed: ${init.stderr}`);
  node = await startShardNode(etcd.endpoint, CLUSTER, 0, [...etcd.clientArgs, '--etcd-user', 'root', '--etcd-password-file', pwFile]);
  started.push(node);
  await electedOne([node]);
  // The proxy gets copies of the server certificate, so the reload test can replace them.
  proxyFiles = { cert: path.join(dir, 'proxy.pem'), key: path.join(dir, 'proxy-key.pem') };
  fs.copyFileSync(certs.serverCertFile, proxyFiles.cert);
  fs.copyFileSync(certs.serverKeyFile, proxyFiles.key);
  proxy = await startTlsProxy(['--tls-cert', proxyFiles.cert, '--tls-key', proxyFiles.key]);
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((s) => s.close().catch(() => undefined)));
  admin?.close();
  await etcd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const port = (p: Started, name: 'httpPort' | 'respPort' | 'pipeliningPort'): number => p.ready[name] as number;

/** One HTTPS request; resolves status and body, or the TLS error's code. */
function request(url: string, options: https.RequestOptions & { body?: string } = {}): Promise<{ status?: number; body?: string; error?: string; cert?: string }> {
  return new Promise((resolve) => {
    const req = https.request(url, { agent: false, method: options.body ? 'PUT' : 'GET', headers: options.body ? { 'content-type': 'application/json' } : {}, ...options }, (res) => {
      let body = '';
      const cert = (res.socket as tls.TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode, body, cert }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
    req.end(options.body);
  });
}

/** Runs a tool to completion; resolves its exit code and output. */
function run(tool: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A TLS connection to `port` with `options`; resolves the socket once secure, or the error code. */
function tlsConnect(p: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket | string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ port: p, host: '127.0.0.1', ...options }, () => resolve(socket));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** What a secure socket gets back for `input` within a second, then closes it. */
async function ask(socket: tls.TLSSocket, input: string): Promise<string> {
  let got = '';
  socket.on('data', (d: Buffer) => (got += d.toString()));
  socket.on('error', () => undefined);
  socket.write(input);
  const closed = new Promise((r) => socket.once('close', r));
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  socket.destroy();
  return got;
}

test('etcd over TLS with client certificates and etcd users: programs and shardctl get in with the flags, not without', async () => {
  expect(proxy.ready.tls).toBe(true);
  const status = await ctl('status', '--json');
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout).shards[0].primary.nodeId).toBe(node.nodeId);
  // The real program, the password from the environment.
  const real = await runProgram('control-plane/cli/shardctl.js', ['status', ...etcdFlags(), '--cluster', CLUSTER], { SHARDCACHE_ETCD_PASSWORD: PASSWORD });
  expect(real).toMatchObject({ code: 0 });
  expect(real.stdout).toContain(`cluster ${CLUSTER}`);
  // Env fallbacks for the files.
  const byEnv = await runProgram('control-plane/cli/shardctl.js', ['status', '--etcd', etcd.endpoint, '--cluster', CLUSTER], {
    SHARDCACHE_ETCD_CA: certs.caFile, SHARDCACHE_ETCD_CERT: certs.clientCertFile, SHARDCACHE_ETCD_KEY: certs.clientKeyFile, SHARDCACHE_ETCD_USER: 'root', SHARDCACHE_ETCD_PASSWORD: PASSWORD,
  });
  expect(byEnv.code).toBe(0);

  const plain = await shardctlInProcess(['status', '--etcd', etcd.endpoint, '--cluster', CLUSTER]);
  expect(plain.code).toBe(2);
  expect(plain.stderr).toContain('if etcd speaks TLS, pass --etcd-ca');
  const noCert = await shardctlInProcess(['status', '--etcd', etcd.endpoint, '--etcd-ca', certs.caFile, '--cluster', CLUSTER]);
  expect(noCert.code).toBe(2);
  const strangerCa = path.join(dir, 'stranger-ca.pem');
  writePem(strangerCa, makeCa('not etcd\'s').certPem, false);
  const wrongCa = await shardctlInProcess(['status', '--etcd', etcd.endpoint, '--etcd-ca', strangerCa, '--etcd-cert', certs.clientCertFile, '--etcd-key', certs.clientKeyFile, '--cluster', CLUSTER]);
  expect(wrongCa.code).toBe(2);
  expect(wrongCa.stderr).toContain('TLS handshake failed; check --etcd-ca, --etcd-cert and --etcd-key');
  const wrongPassword = path.join(dir, 'wrong');
  fs.writeFileSync(wrongPassword, 'nope\n');
  const refused = await shardctlInProcess(['status', ...etcdFlags(), '--etcd-password-file', wrongPassword, '--cluster', CLUSTER]);
  expect(refused).toMatchObject({ code: 1, stderr: 'shardctl: etcd refused the login as etcd user "root": wrong user or password (--etcd-user, $SHARDCACHE_ETCD_PASSWORD or --etcd-password-file)\n' });
  const missing = await shardctlInProcess(['status', '--etcd', etcd.endpoint, '--etcd-cert', certs.clientCertFile, '--cluster', CLUSTER]);
  expect(missing).toMatchObject({ code: 1, stderr: 'shardctl: --etcd-cert needs --etcd-key (its private key)\n' });
});

test('HTTPS and WSS on the client port and HTTPS on the pipelining port, with the CA; refused without it', async () => {
  const base = `https://127.0.0.1:${port(proxy, 'httpPort')}`;
  expect(await request(`${base}/v1/cache/app/greeting`, { ca, body: '{"value":{"hello":"tls"}}' })).toMatchObject({ status: 201 });
  expect(JSON.parse((await request(`${base}/v1/cache/app/greeting`, { ca })).body!)).toMatchObject({ hit: true, value: { hello: 'tls' } });
  expect(JSON.parse((await request(`https://localhost:${port(proxy, 'pipeliningPort')}/v1/cache/app/greeting`, { ca })).body!)).toMatchObject({ hit: true });
  expect((await request(`${base}/v1/cache/app/greeting`)).error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  expect((await request(`https://127.0.0.1:${port(proxy, 'pipeliningPort')}/v1/cache/app/greeting`)).error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  // Plain HTTP to the HTTPS pipelining port: node answers 400 (or drops it), never the entry.
  const plainHttp = await fetch(`http://127.0.0.1:${port(proxy, 'pipeliningPort')}/v1/cache/app/greeting`).then(async (r) => `${r.status} ${await r.text()}`, (e: Error) => e.message);
  expect(plainHttp).not.toContain('tls');
  expect(plainHttp).toMatch(/^400 |fetch failed/);

  const client = await ShardcacheClient.connect(`wss://127.0.0.1:${port(proxy, 'httpPort')}/v1/ws`, { ca });
  try {
    await client.set('app', 'ws-key', { over: 'wss' });
    expect(await client.get('app', 'greeting')).toMatchObject({ hit: true, value: { hello: 'tls' } });
    expect(await client.get('app', 'ws-key')).toMatchObject({ hit: true, value: { over: 'wss' } });
  } finally {
    await client.close();
  }
  const noCa = new WebSocket(`wss://127.0.0.1:${port(proxy, 'httpPort')}/v1/ws`);
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => noCa.once('error', resolve));
  expect(err.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});

test('RESP over TLS: ioredis and redis-cli --tls with the CA; plain TCP gets nothing and is closed; no CA is refused', async () => {
  const redis = new Redis({ host: '127.0.0.1', port: port(proxy, 'respPort'), tls: { ca }, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    expect(await redis.set('resp-key', 'over tls')).toBe('OK');
    expect(await redis.get('resp-key')).toBe('over tls');
  } finally {
    redis.disconnect();
  }
  if (spawnSync('redis-cli', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('redis-cli not on the PATH: install Debian\'s redis-tools');
  const cli = (...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(port(proxy, 'respPort')), ...args]);
  expect(await cli('--tls', '--cacert', certs.caFile, 'get', 'resp-key')).toMatchObject({ code: 0, stdout: 'over tls\n' });
  const noCa = await cli('--tls', 'ping');
  expect(noCa.stdout + noCa.stderr).toMatch(/certificate verify failed|SSL/i);
  expect(noCa.stdout).not.toContain('PONG');

  const plain = net.connect(port(proxy, 'respPort'), '127.0.0.1');
  let got = '';
  plain.on('data', (d: Buffer) => (got += d.toString('latin1')));
  plain.on('error', () => undefined);
  plain.write('PING\r\n');
  await new Promise((r) => plain.once('close', r));
  expect(got).not.toContain('PONG');
  expect(got).not.toContain('-ERR');
});

test('--tls-client-auth: RESP and pipelining refuse clients without a certificate of the CA; uWS refuses another CA\'s', async () => {
  const mtls = await startTlsProxy(['--tls-cert', certs.serverCertFile, '--tls-key', certs.serverKeyFile, '--tls-ca', certs.caFile, '--tls-client-auth']);
  expect(mtls.lines.join('\n')).toContain('cannot refuse a client that sends none');
  const mine = { cert: fs.readFileSync(certs.clientCertFile), key: fs.readFileSync(certs.clientKeyFile) };
  const theirs = { cert: stranger.certPem, key: stranger.keyPem };
  const resp = port(mtls, 'respPort');
  const withCert = await tlsConnect(resp, { ca, ...mine });
  expect(typeof withCert).not.toBe('string');
  expect(await ask(withCert as tls.TLSSocket, 'PING\r\n')).toBe('+PONG\r\n');
  for (const who of [{}, theirs]) {
    const socket = await tlsConnect(resp, { ca, ...who });
    // TLS 1.3: the client may finish its side before the server refuses; either way no RESP answer comes.
    if (typeof socket !== 'string') expect(await ask(socket, 'PING\r\n')).toBe('');
  }
  const pipelining = `https://127.0.0.1:${port(mtls, 'pipeliningPort')}/v1/cache/app/greeting`;
  expect(await request(pipelining, { ca, ...mine })).toMatchObject({ status: 200 });
  expect((await request(pipelining, { ca })).status).toBeUndefined();
  const uws = `https://127.0.0.1:${port(mtls, 'httpPort')}/v1/cache/app/greeting`;
  expect(await request(uws, { ca, ...mine })).toMatchObject({ status: 200 });
  expect((await request(uws, { ca, ...theirs })).status).toBeUndefined();
  expect(await request(uws, { ca })).toMatchObject({ status: 200 }); // uWS cannot require a certificate (docs/security.md)
});

test('SIGHUP: new RESP and pipelining connections get the new certificate, open ones keep working; uWS keeps the old one', async () => {
  const rotatedCa = makeCa('rotated CA');
  const next = issue(rotatedCa, { commonName: 'rotated', hosts: ['127.0.0.1', 'localhost'], usage: 'server' });
  const both = [ca, Buffer.from(rotatedCa.certPem)];
  const redis = new Redis({ host: '127.0.0.1', port: port(proxy, 'respPort'), tls: { ca: both }, lazyConnect: true, maxRetriesPerRequest: 0 });
  try {
    await redis.connect();
    const oldPrint = (await tlsConnect(port(proxy, 'respPort'), { ca: both }) as tls.TLSSocket);
    const before = oldPrint.getPeerCertificate().fingerprint256;
    oldPrint.destroy();
    writePem(proxyFiles.cert, next.certPem, false);
    writePem(proxyFiles.key, next.keyPem, true);
    proxy.child.kill('SIGHUP');
    await waitFor('the reload', () => proxy.lines.some((l) => l.includes('"event":"tls-reload"')), 10_000, 20);
    const fresh = await tlsConnect(port(proxy, 'respPort'), { ca: both }) as tls.TLSSocket;
    expect(fresh.getPeerCertificate().subject.CN).toBe('rotated');
    const after = fresh.getPeerCertificate().fingerprint256;
    expect(after).not.toBe(before);
    expect(await ask(fresh, 'PING\r\n')).toBe('+PONG\r\n');
    expect(await redis.ping()).toBe('PONG'); // the connection opened before the reload
    const pipelining = await request(`https://127.0.0.1:${port(proxy, 'pipeliningPort')}/v1/cache/app/greeting`, { ca: both });
    expect(pipelining.status).toBe(200);
    expect(pipelining.cert).toBe(after);
    const uws = await request(`https://127.0.0.1:${port(proxy, 'httpPort')}/v1/cache/app/greeting`, { ca: both });
    expect(uws).toMatchObject({ status: 200, cert: before });
    expect(proxy.child.exitCode).toBeNull();
  } finally {
    redis.disconnect();
  }
});

test('bad TLS flags stop the proxy at start with the flag and the path', async () => {
  const missing = path.join(dir, 'missing.pem');
  const r = await runProgram('proxy/main.js', ['--etcd', etcd.endpoint, '--http-port', '0', '--admin-port', '0', '--resp-port', '0', '--tls-cert', missing, '--tls-key', certs.serverKeyFile]);
  expect(r).toMatchObject({ code: 1, stderr: `proxy: --tls-cert: cannot read ${missing}: no such file\n` });
  const noKey = await runProgram('proxy/main.js', ['--etcd', etcd.endpoint, '--tls-cert', certs.serverCertFile]);
  expect(noKey).toMatchObject({ code: 1, stderr: 'proxy: --tls-cert needs --tls-key (its private key)\n' });
  const node2 = await runProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0', '--etcd', etcd.endpoint, '--shard', '0', '--etcd-user', 'root'], { SHARDCACHE_ETCD_PASSWORD: '' });
  expect(node2).toMatchObject({ code: 1, stderr: 'storage-node: --etcd-user root needs a password: set SHARDCACHE_ETCD_PASSWORD or pass --etcd-password-file <file>\n' });
});
