import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Etcd3 } from 'etcd3';
import { UserRecordSchema, verifySecret } from '../../shared/credentials';
import { connectEtcd } from '../../shared/topology/etcd';
import { ClusterConfigSchema, clusterKeys } from '../../shared/topology/schema';
import { TestEtcd } from '../helpers/etcd';
import { runProgram } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * shardctl user add|passwd|grant|revoke|rm|list and auth on|off against a real etcd: what lands in
 * etcd is a salted scrypt hash, never the password; passwords come from a file or are made and
 * printed once; turning auth on needs an admin; init --auth makes one.
 */
jest.setTimeout(60_000);

const CLUSTER = 'users';
const keys = clusterKeys(CLUSTER);
let etcd: TestEtcd;
let client: Etcd3;
let dir: string;

beforeAll(async () => {
  etcd = await TestEtcd.start();
  client = connectEtcd(etcd.endpoint);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardctl-users-'));
  expect((await ctl('init', '--shards', '1', '--replicas', '0')).code).toBe(0);
});

afterAll(async () => {
  client?.close();
  await etcd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', etcd.endpoint, '--cluster', CLUSTER]);
const stored = async (name: string) => UserRecordSchema.parse(JSON.parse((await client.get(keys.user(name)).string())!));
const passwordFile = (text: string): string => {
  const file = path.join(dir, `pw-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(file, `${text}\n`);
  return file;
};

test('user add stores a salted hash of the password from a file, never the password', async () => {
  const add = await ctl('user', 'add', 'orders-reader', '--password-file', passwordFile('reader-password-0123'), '--grant', 'orders:*=read');
  expect(add).toMatchObject({ code: 0, stdout: expect.stringContaining('orders-reader: orders:*=read') });
  expect(add.stdout).not.toContain('reader-password-0123');
  const raw = (await client.get(keys.user('orders-reader')).string())!;
  expect(raw).not.toContain('reader-password-0123');
  const record = await stored('orders-reader');
  expect(record.grants).toEqual([{ pattern: 'orders:*', level: 'read' }]);
  expect(await verifySecret('reader-password-0123', record.secrets[0])).toBe(true);
  expect((await ctl('user', 'add', 'orders-reader', '--password-file', passwordFile('another-password-0123'))).stderr).toContain('exists');
});

test('without --password-file a random password is made and printed once (JSON too)', async () => {
  const add = await ctl('user', 'add', 'writer', '--grant', 'carts=write', '--grant', 'tenant-a-*=read', '--namespace', 'carts', '--json');
  expect(add.code).toBe(0);
  const out = JSON.parse(add.stdout);
  expect(out).toMatchObject({ name: 'writer', namespace: 'carts', secrets: 1, grants: [{ pattern: 'carts', level: 'write' }, { pattern: 'tenant-a-*', level: 'read' }] });
  expect(out.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(await verifySecret(out.password, (await stored('writer')).secrets[0])).toBe(true);
  const list = await ctl('user', 'list', '--json');
  expect(list.stdout).not.toContain(out.password);
  expect(list.stdout).not.toContain((await stored('writer')).secrets[0].hash);
});

test('grant, revoke, and bad patterns or levels refused with exit 1', async () => {
  expect((await ctl('user', 'grant', 'writer', 'audit', 'admin')).stdout).toContain('audit=admin');
  expect((await ctl('user', 'grant', 'writer', 'audit', 'read')).stdout).toContain('audit=read');
  expect((await stored('writer')).grants.filter((g) => g.pattern === 'audit')).toEqual([{ pattern: 'audit', level: 'read' }]);
  const revoked = await ctl('user', 'revoke', 'writer', 'audit');
  expect([revoked.code, revoked.stderr]).toEqual([0, '']);
  for (const args of [['user', 'grant', 'writer', 'a*b', 'read'], ['user', 'grant', 'writer', 'orders', 'owner'], ['user', 'revoke', 'writer', 'never'], ['user', 'grant', 'nobody', 'orders', 'read'], ['user', 'add', 'bad name!'], ['user', 'add', 'x', '--grant', 'orders']]) {
    const r = await ctl(...args);
    expect({ args, code: r.code }).toEqual({ args, code: 1 });
  }
  expect((await ctl('user', 'add', 'shortpw', '--password-file', passwordFile('short'))).stderr).toContain('16-512 characters');
});

test('passwd --keep-old keeps both passwords valid until --drop-old', async () => {
  await ctl('user', 'passwd', 'orders-reader', '--password-file', passwordFile('reader-password-NEW1'), '--keep-old');
  let record = await stored('orders-reader');
  expect(record.secrets).toHaveLength(2);
  expect(await verifySecret('reader-password-0123', record.secrets[0])).toBe(true);
  expect(await verifySecret('reader-password-NEW1', record.secrets[1])).toBe(true);
  expect((await ctl('user', 'passwd', 'orders-reader', '--drop-old')).code).toBe(0);
  record = await stored('orders-reader');
  expect(record.secrets).toHaveLength(1);
  expect(await verifySecret('reader-password-NEW1', record.secrets[0])).toBe(true);
});

test('auth on needs an admin on "*"; auth off turns it back; user rm removes', async () => {
  const refused = await ctl('auth', 'on');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain('admin grant on "*"');
  expect((await ctl('user', 'add', 'root', '--grant', '*=admin')).code).toBe(0);
  expect((await ctl('auth', 'on')).code).toBe(0);
  const config = async () => ClusterConfigSchema.parse(JSON.parse((await client.get(keys.config).string())!));
  expect((await config()).auth).toBe(true);
  expect((await ctl('auth', 'off')).code).toBe(0);
  expect((await config()).auth).toBe(false);
  expect((await ctl('user', 'rm', 'root')).code).toBe(0);
  expect((await ctl('user', 'rm', 'root')).code).toBe(1);
});

test('init --auth writes auth on and an admin whose password is printed once (the built binary)', async () => {
  const env = { SHARDCACHE_ETCD: etcd.endpoint, SHARDCACHE_CLUSTER: 'users-init' };
  const init = await runProgram('control-plane/cli/shardctl.js', ['init', '--shards', '2', '--replicas', '0', '--auth'], env);
  expect(init.code).toBe(0);
  const password = /password \(shown once\): (\S+)/.exec(init.stdout)![1];
  const initKeys = clusterKeys('users-init');
  expect(ClusterConfigSchema.parse(JSON.parse((await client.get(initKeys.config).string())!)).auth).toBe(true);
  const admin = UserRecordSchema.parse(JSON.parse((await client.get(initKeys.user('admin')).string())!));
  expect(admin.grants).toEqual([{ pattern: '*', level: 'admin' }]);
  expect(await verifySecret(password, admin.secrets[0])).toBe(true);
});
