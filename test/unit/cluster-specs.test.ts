import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { programSpecs, type ClusterLayout } from '../../scripts/cluster/processes';
import { toolEnv, writeClusterSecret } from '../../scripts/cluster/tls';
import { writeLocalTls, type LocalTls } from '../../scripts/tls-certs';
import { parseNodeConfig } from '../../storage-node/config';
import { parseProxyConfig } from '../../proxy/config';
import { parseServiceConfig } from '../../control-plane/service/config';
import { peerAccessFromEnv } from '../../shared/peer-flags';

/**
 * The flags `npm start -- --tls` and `npm run chaos -- --tls` give each program (scripts/cluster/),
 * parsed by the programs' own parsers: nodes serve mutual TLS and require the secret, the proxy and
 * the control plane dial the nodes with the client certificate and the secret, and the environment
 * printed for shardctl gives it the same access. A plain layout adds none of it.
 */
let dir: string;
let tls: LocalTls;
let secretFile: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cluster-specs-'));
  tls = writeLocalTls(path.join(dir, 'tls'));
  secretFile = writeClusterSecret(path.join(dir, 'cluster-secret'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const layout = (secured: boolean): ClusterLayout => ({
  etcdPort: 2379, etcdPeerPort: 2380, shards: 1, replicas: 1, nodeBasePort: 7000, nodeAdminBasePort: 9200, controlPort: 9300,
  proxies: [{ httpPort: 8080, respPort: 6380, adminPort: 9100 }], leaseTtl: 2, cluster: 'c',
  ...(secured ? { tls, clusterSecretFile: secretFile } : {}),
});

/** Runs a parser with no SHARDCACHE_* variables set, so only the flags count. */
function clean<T>(parse: () => T): T {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith('SHARDCACHE_')) delete process.env[key];
  try {
    return parse();
  } finally {
    process.env = saved;
  }
}

test('the cluster secret: a random line in a 0600 file, new each time', () => {
  const secret = fs.readFileSync(secretFile, 'utf8');
  expect(fs.statSync(secretFile).mode & 0o777).toBe(0o600);
  expect(secret).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
  expect(fs.readFileSync(writeClusterSecret(path.join(dir, 'again')), 'utf8')).not.toBe(secret);
});

test('over TLS every program gets its TLS flags and the secret file, and parses them', () => {
  const secret = fs.readFileSync(secretFile, 'utf8').trim();
  const specs = programSpecs(layout(true), '127.0.0.1:2379');
  expect(specs.map((s) => s.name)).toEqual(['shard0-a', 'shard0-b', 'control-plane', 'proxy']);
  for (const spec of specs) expect(spec.args.join(' ')).not.toContain(secret);
  const node = clean(() => parseNodeConfig(specs[0].args));
  expect(node).toMatchObject({ clusterSecret: secret, tls: { certFile: tls.serverCertFile, keyFile: tls.serverKeyFile, caFile: tls.caFile, requestClientCert: true } });
  const service = clean(() => parseServiceConfig(specs[2].args));
  const proxy = clean(() => parseProxyConfig(specs[3].args));
  for (const { nodeAccess } of [service, proxy]) {
    expect(nodeAccess.secret).toBe(secret);
    expect(nodeAccess.tls).toMatchObject({ ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.clientCertFile), key: fs.readFileSync(tls.clientKeyFile) });
  }
  expect(specs[3].args).toEqual(expect.arrayContaining(['--tls-cert', tls.serverCertFile, '--etcd-cert', tls.clientCertFile]));
});

test('the environment printed for shardctl gives it the same node access; a plain layout adds nothing', () => {
  const access = peerAccessFromEnv(toolEnv(tls, secretFile));
  expect(access.secret).toBe(fs.readFileSync(secretFile, 'utf8').trim());
  expect(access.tls).toMatchObject({ cert: fs.readFileSync(tls.clientCertFile) });
  expect(toolEnv(undefined, undefined)).toEqual({});
  const plain = programSpecs(layout(false), '127.0.0.1:2379');
  expect(plain.flatMap((s) => s.args).filter((a) => /tls|secret|etcd-(ca|cert|key)/.test(a))).toEqual([]);
  expect(clean(() => parseNodeConfig(plain[0].args))).toMatchObject({ clusterSecret: '', tls: undefined });
  expect(clean(() => parseProxyConfig(plain[3].args)).nodeAccess).toEqual({ secret: '' });
});
