import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { ShardcacheClient, ShardcacheRequestError } from '../../client/ws-client';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { startProgram } from '../helpers/process';
import { waitFor } from '../helpers/shard-nodes';
import { upgradeStatus } from '../helpers/ws-upgrade';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * Tenants end to end, through real processes: a user granted `orders:*` read reads orders keys
 * and gets 403/NOPERM on writes and on other namespaces over HTTP, WebSocket and RESP (ioredis and
 * redis-cli); no credentials get 401/NOAUTH, wrong ones 401/WRONGPASS; the admin port wants an
 * admin; a user removed or a password rotated out stops working without a restart.
 */
jest.setTimeout(90_000);

let c: TestCluster;
let dir: string;
const pw = {
  admin: 'admin-password-0123456789', reader: 'reader-password-0123456789', writer: 'writer-password-0123456789', owner: 'owner-password-0123456789',
};
const bearer = (user: keyof typeof pw): Record<string, string> => ({ authorization: `Bearer ${user}:${pw[user]}` });
const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);

async function addUser(name: keyof typeof pw, ...flags: string[]): Promise<void> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${pw[name]}\n`);
  const r = await ctl('user', 'add', name, '--password-file', file, ...flags);
  expect([r.code, r.stderr]).toEqual([0, '']);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'auth-e2e-'));
  c = await startTestCluster({ shards: 2, perShard: 1, cluster: 'auth' });
  await addUser('admin', '--grant', '*=admin');
  await addUser('reader', '--grant', 'orders:*=read');
  await addUser('writer', '--grant', 'orders=write', '--grant', 'carts=write');
  await addUser('owner', '--grant', 'carts=admin', '--namespace', 'carts');
  expect((await ctl('auth', 'on')).code).toBe(0);
  await waitFor('the proxy to require auth', async () => (await c.call('GET', '/v1/cache/orders/x')).status === 401, 10_000, 50);
  expect((await c.call('PUT', '/v1/cache/orders/o1', { value: { total: 42 } }, bearer('writer'))).status).toBe(201);
  expect((await c.call('PUT', '/v1/cache/carts/c1', { value: 'cart' }, bearer('writer'))).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await c?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('HTTP: read granted, writes and other namespaces refused, no or wrong credentials 401', async () => {
  const read = await c.call('GET', '/v1/cache/orders/o1', undefined, bearer('reader'));
  expect(read.json).toMatchObject({ hit: true, value: { total: 42 } });
  expect(await c.call('PUT', '/v1/cache/orders/o1', { value: 1 }, bearer('reader'))).toMatchObject({ status: 403, json: { error: { code: 'NOPERM' } } });
  expect(await c.call('GET', '/v1/cache/carts/c1', undefined, bearer('reader'))).toMatchObject({ status: 403, json: { error: { code: 'NOPERM' } } });
  const none = await c.call('GET', '/v1/cache/orders/o1');
  expect(none).toMatchObject({ status: 401, json: { error: { code: 'NOAUTH' } } });
  expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
  const wrong = await c.call('GET', '/v1/cache/orders/o1', undefined, { authorization: 'Bearer reader:not-the-password' });
  expect(wrong).toMatchObject({ status: 401, json: { error: { code: 'WRONGPASS' } } });
  expect(wrong.text).not.toContain('not-the-password');
  expect(await c.call('GET', '/v1/cache/orders/o1', undefined, { authorization: 'Basic cmVhZGVy' })).toMatchObject({ status: 401, json: { error: { code: 'WRONGPASS' } } });
  // Invalidating a whole namespace needs admin; the writer may invalidate a tag.
  expect(await c.call('POST', '/v1/cache/invalidate', { namespace: 'carts' }, bearer('writer'))).toMatchObject({ status: 403 });
  expect((await c.call('POST', '/v1/cache/invalidate', { namespace: 'carts', tag: 't' }, bearer('writer'))).status).toBe(200);
});

test('WebSocket: the upgrade needs credentials; each request is checked against the grants', async () => {
  expect(await upgradeStatus(c.wsUrl)).toBe(401);
  expect(await upgradeStatus(c.wsUrl, { authorization: 'Bearer reader:wrong' })).toBe(401);
  const client = await ShardcacheClient.connect(c.wsUrl, { credentials: { user: 'reader', password: pw.reader } });
  try {
    expect(await client.get('orders', 'o1')).toMatchObject({ hit: true, value: { total: 42 } });
    const write = await client.set('orders', 'o1', 1).catch((err: unknown) => err);
    expect(write).toBeInstanceOf(ShardcacheRequestError);
    expect((write as ShardcacheRequestError).code).toBe('NOPERM');
    expect(((await client.get('carts', 'c1').catch((err: unknown) => err)) as ShardcacheRequestError).code).toBe('NOPERM');
  } finally {
    await client.close();
  }
});

test('RESP with ioredis: AUTH user pass, the namespace from the grant, NOPERM on writes; NOAUTH and WRONGPASS', async () => {
  const reader = new Redis({ port: c.respPort!, host: '127.0.0.1', username: 'reader', password: pw.reader, maxRetriesPerRequest: 0 });
  // Without credentials ioredis's ready check (INFO) would get NOAUTH: these two skip it.
  const anonymous = new Redis({ port: c.respPort!, host: '127.0.0.1', maxRetriesPerRequest: 0, enableReadyCheck: false });
  const writer = new Redis({ port: c.respPort!, host: '127.0.0.1', maxRetriesPerRequest: 0, enableReadyCheck: false });
  try {
    expect(await reader.get('o1')).toBe('{"total":42}');
    await expect(reader.set('o1', 'x')).rejects.toThrow(/^NOPERM this user has no permissions/);
    await expect(anonymous.get('o1')).rejects.toThrow(/^NOAUTH Authentication required\./);
    await expect(anonymous.call('AUTH', 'reader', 'nope')).rejects.toThrow(/^WRONGPASS invalid username-password pair or user is disabled\./);
    await expect(anonymous.call('AUTH', pw.reader)).rejects.toThrow(/^WRONGPASS/); // the user "default" does not exist
    expect(await writer.call('HELLO', '2', 'AUTH', 'writer', pw.writer)).toContain('shardcache');
    expect(await writer.set('o2', 'v')).toBe('OK'); // writer's namespace: its first grant, orders
    expect(await reader.get('o2')).toBe('v');
  } finally {
    reader.disconnect();
    anonymous.disconnect();
    writer.disconnect();
  }
});

test('RESP FLUSHDB needs admin on the namespace: a writer gets NOPERM and nothing goes; the namespace admin empties that namespace only', async () => {
  const writer = new Redis({ port: c.respPort!, host: '127.0.0.1', username: 'writer', password: pw.writer, maxRetriesPerRequest: 0 });
  const owner = new Redis({ port: c.respPort!, host: '127.0.0.1', username: 'owner', password: pw.owner, maxRetriesPerRequest: 0 });
  try {
    expect(await writer.set('flush-probe', 'kept')).toBe('OK'); // in orders, the writer's namespace
    await expect(writer.flushdb()).rejects.toThrow(/^NOPERM User writer has no permissions to run the 'flushdb' command/);
    await expect(writer.flushall()).rejects.toThrow(/^NOPERM/);
    expect(await writer.get('flush-probe')).toBe('kept');
    expect(await owner.set('c2', 'v')).toBe('OK'); // carts
    expect(await owner.dbsize()).toBeGreaterThanOrEqual(2); // c1 (written over HTTP) and c2
    expect(await owner.flushdb()).toBe('OK');
    expect(await owner.dbsize()).toBe(0);
    expect(await owner.get('c2')).toBeNull();
    expect(await writer.get('flush-probe')).toBe('kept'); // orders untouched
    expect((await c.call('GET', '/v1/cache/orders/o1', undefined, bearer('reader'))).status).toBe(200);
  } finally {
    writer.disconnect();
    owner.disconnect();
  }
});

test('RESP: commands pipelined behind AUTH run once it is decided, in order', async () => {
  const reply = await new Promise<string>((resolve) => {
    const socket = net.connect(c.respPort!, '127.0.0.1');
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.split('\r\n').length >= 7) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.write(`AUTH reader ${pw.reader}\r\nGET o1\r\nAUTH reader wrong-password\r\nGET o1\r\n`);
  });
  expect(reply).toBe('+OK\r\n$12\r\n{"total":42}\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n$12\r\n{"total":42}\r\n');
});

test('RESP with redis-cli: --user/--pass reads, a write is refused with NOPERM', () => {
  const cli = (...args: string[]) => spawnSync('redis-cli', ['-p', String(c.respPort), '--user', 'reader', '--no-auth-warning', ...args], {
    encoding: 'utf8', env: { ...process.env, REDISCLI_AUTH: pw.reader }, timeout: 10_000,
  });
  expect(cli('GET', 'o1').stdout.trim()).toBe('{"total":42}');
  expect(cli('SET', 'o1', 'x').stdout).toMatch(/NOPERM/);
});

test('the admin port wants an admin; /healthz stays open', async () => {
  expect((await httpCall(c.adminUrl, 'GET', '/healthz')).status).toBe(200);
  expect(await httpCall(c.adminUrl, 'GET', '/v1/admin/topology')).toMatchObject({ status: 401, json: { error: { code: 'NOAUTH' } } });
  expect(await httpCall(c.adminUrl, 'GET', '/v1/admin/hotkeys', undefined, bearer('reader'))).toMatchObject({ status: 403, json: { error: { code: 'NOPERM' } } });
  expect((await httpCall(c.adminUrl, 'GET', '/metrics', undefined, bearer('reader'))).status).toBe(403);
  expect((await httpCall(c.adminUrl, 'GET', '/v1/admin/topology', undefined, bearer('admin'))).status).toBe(200);
  const metrics = await httpCall(c.adminUrl, 'GET', '/metrics', undefined, bearer('admin'));
  expect(metrics.text).toContain('shardcache_proxy_auth_attempts_total{result="wrongpass"}');
  for (const secret of Object.values(pw)) expect(metrics.text).not.toContain(secret);
});

test('the control plane\'s admin port wants an admin too; --metrics-public opens /metrics', async () => {
  const control = await startProgram('control-plane/main.js', ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, '--admin-port', '0', '--metrics-public']);
  try {
    const url = `http://127.0.0.1:${control.ready.adminPort as number}`;
    await waitFor('the control plane to load the topology', async () => (await httpCall(url, 'GET', '/healthz')).status === 200, 10_000, 50);
    expect(await httpCall(url, 'GET', '/v1/status')).toMatchObject({ status: 401, json: { error: { code: 'NOAUTH' } } });
    expect((await httpCall(url, 'GET', '/', undefined, bearer('reader'))).status).toBe(403);
    expect((await httpCall(url, 'GET', '/v1/status', undefined, bearer('admin'))).json).toMatchObject({ cluster: 'auth' });
    expect((await httpCall(url, 'GET', '/metrics')).status).toBe(200);
  } finally {
    await control.stop();
  }
});

test('a rotated-out password and a removed user stop working without a restart', async () => {
  const file = path.join(dir, 'new-reader');
  fs.writeFileSync(file, 'reader-password-ROTATED-0001\n');
  const held = new Redis({ port: c.respPort!, host: '127.0.0.1', username: 'reader', password: pw.reader, maxRetriesPerRequest: 0 });
  try {
    expect(await held.get('o1')).toBe('{"total":42}');
    expect((await ctl('user', 'passwd', 'reader', '--password-file', file, '--keep-old')).code).toBe(0);
    await waitFor('the new password to work', async () => (await c.call('GET', '/v1/cache/orders/o1', undefined, { authorization: 'Bearer reader:reader-password-ROTATED-0001' })).status === 200, 10_000, 50);
    expect((await c.call('GET', '/v1/cache/orders/o1', undefined, bearer('reader'))).status).toBe(200);
    expect(await held.get('o1')).toBe('{"total":42}');
    expect((await ctl('user', 'passwd', 'reader', '--drop-old')).code).toBe(0);
    await waitFor('the old password to stop working', async () => (await c.call('GET', '/v1/cache/orders/o1', undefined, bearer('reader'))).status === 401, 10_000, 50);
    await expect(held.get('o1')).rejects.toThrow(/^NOAUTH/);
    expect((await ctl('user', 'rm', 'writer')).code).toBe(0);
    await waitFor('the removed user to be refused', async () => (await c.call('GET', '/v1/cache/orders/o1', undefined, bearer('writer'))).status === 401, 10_000, 50);
  } finally {
    held.disconnect();
  }
});
