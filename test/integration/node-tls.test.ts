import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { writeLocalTls, type LocalTls } from '../../scripts/tls-certs';
import { FrameDecoder } from '../../shared/frame';
import { NodeConnection } from '../../shared/node-connection';
import type { PeerAccess } from '../../shared/peer-auth';
import { Op, Status } from '../../shared/protocol';
import { clientTlsOptions } from '../../shared/tls';
import { httpCall, startProxyProcess, startTestCluster, type TestCluster } from '../helpers/cluster';
import { startProgram } from '../helpers/process';
import { waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * Node links over mutual TLS and the cluster secret, with real processes: nodes serve their frame
 * port with TLS and ask every client for a certificate of the cluster's CA; the proxy, the
 * replicas, a slot migration driven by the control plane and the test's own connections all
 * dial over TLS and prove the secret. A client without a certificate, without TLS, or without the
 * secret gets nowhere.
 */
jest.setTimeout(120_000);

const SECRET = 'node-tls-secret-0123456789';
let dir: string;
let certs: LocalTls;
let c: TestCluster;
let access: PeerAccess;
let nodeTls: string[];
let proxyTls: string[];
const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-tls-'));
  certs = writeLocalTls(dir);
  const read = (file: string): Buffer => fs.readFileSync(file);
  access = { secret: SECRET, tls: clientTlsOptions({ ca: read(certs.caFile), cert: read(certs.clientCertFile), key: read(certs.clientKeyFile) }) };
  nodeTls = ['--tls-cert', certs.serverCertFile, '--tls-key', certs.serverKeyFile, '--tls-ca', certs.caFile, '--tls-client-auth', '--request-timeout-ms', '2000'];
  proxyTls = ['--node-tls-ca', certs.caFile, '--node-tls-cert', certs.clientCertFile, '--node-tls-key', certs.clientKeyFile];
  c = await startTestCluster({ shards: 2, perShard: 2, cluster: 'nodetls', access, nodeArgs: nodeTls, proxyArgs: proxyTls });
}, 60_000);

afterAll(async () => {
  await c?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the proxy reaches the nodes over TLS; replicas sync over TLS', async () => {
  for (let i = 0; i < 40; i++) expect((await c.call('PUT', `/v1/cache/app/k${i}`, { value: i })).status).toBe(201);
  for (let i = 0; i < 40; i++) expect((await c.call('GET', `/v1/cache/app/k${i}`)).json).toMatchObject({ hit: true, value: i });
  await waitFor('a replica to serve the last write', async () => (await c.call('GET', '/v1/cache/app/k39?readPreference=replica')).json?.hit === true, 10_000, 50);
  for (const group of c.nodes) for (const n of group) expect((await n.stats()).connectionLimits.unauthenticated).toBe(0);
});

test('without a client certificate, without TLS or without the secret, a node is out of reach', async () => {
  const port = c.nodes[0][0].port;
  const ca = fs.readFileSync(certs.caFile);
  // TLS 1.3: the node's refusal of a missing certificate arrives as an alert after the client's handshake.
  await expect(NodeConnection.connect(port, '127.0.0.1', undefined, { secret: SECRET, tls: clientTlsOptions({ ca }) })).rejects.toThrow(/certificate required/);
  // Plain TCP: the node's TLS listener drops the connection at its first bytes.
  await expect(NodeConnection.connect(port, '127.0.0.1', undefined, { secret: SECRET })).rejects.toThrow(/closed the connection/);
  await expect(NodeConnection.connect(port, '127.0.0.1', undefined, { secret: 'not-the-secret-0123456789', tls: access.tls })).rejects.toThrow(/wrong cluster secret/);
  const ok = await NodeConnection.connect(port, '127.0.0.1', undefined, access);
  expect((await ok.request(Op.PING))[1]).toBe(Status.OK);
  await ok.close();
});

test('a peer that opens a connection and never proves the secret is closed after the request timeout', async () => {
  const frames: unknown[][] = [];
  const closed = await new Promise<boolean>((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port: c.nodes[0][0].port, ...access.tls });
    const decoder = new FrameDecoder((m) => void frames.push(m));
    socket.on('data', (d: Buffer) => decoder.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(true));
    setTimeout(() => resolve(false), 10_000).unref();
  });
  expect(closed).toBe(true);
  expect(frames).toEqual([[0, Status.UNAUTHENTICATED, expect.stringMatching(/handshake was not completed within 2000 ms/)]]);
});

test('TCP connections that never start their TLS handshake are closed after the request timeout, and do not hold the port', async () => {
  const port = c.nodes[0][0].port;
  const started = Date.now();
  const silent = Array.from({ length: 20 }, () => net.connect(port, '127.0.0.1'));
  const closed = silent.map((s) => new Promise<void>((resolve) => {
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  }));
  await Promise.all(closed); // the node's handshake timeout is --request-timeout-ms 2000
  expect(Date.now() - started).toBeLessThan(6000);
  // The node still serves its peers: a write through the proxy lands and reads back.
  expect((await c.call('PUT', '/v1/cache/app/after-silent', { value: 1 })).status).toBe(201);
  expect((await c.call('GET', '/v1/cache/app/after-silent')).json).toMatchObject({ hit: true, value: 1 });
});

test('a proxy without node-link TLS cannot serve the data', async () => {
  const plainProxy = await startProxyProcess(c.etcd.endpoint, c.cluster, [], { SHARDCACHE_CLUSTER_SECRET: SECRET });
  try {
    expect((await httpCall(plainProxy.httpUrl, 'GET', '/v1/cache/app/k1')).status).toBeGreaterThanOrEqual(500);
  } finally {
    await plainProxy.proc.stop();
  }
});

test('a slot migration runs over TLS between the primaries, driven by a control plane with the flags', async () => {
  const secretFile = path.join(dir, 'secret');
  fs.writeFileSync(secretFile, `${SECRET}\n`);
  const control = await startProgram('control-plane/main.js', ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, '--admin-port', '0', '--cluster-secret-file', secretFile, ...proxyTls]);
  try {
    await waitFor('the control plane to drive migrations', async () => (await httpCall(`http://127.0.0.1:${control.ready.adminPort as number}`, 'GET', '/v1/migrations')).json?.driver?.leader === true, 10_000, 50);
    const moved = await ctl('migrate', '0-4095', '--to', '1', '--max-bytes-per-sec', '0', '--timeout', '60');
    expect([moved.code, moved.stderr]).toEqual([0, '']);
    for (let i = 0; i < 40; i++) expect((await c.call('GET', `/v1/cache/app/k${i}`)).json).toMatchObject({ hit: true, value: i });
  } finally {
    await control.stop();
  }
});
