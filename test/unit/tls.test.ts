import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../../shared/errors';
import { ETCD_PASSWORD_ENV, loadEtcdAccess } from '../../shared/etcd-flags';
import { clientTlsOptions, loadTls, readPem, serverTlsOptions, watchTlsFiles, TLS_FLAGS, type TlsMaterial } from '../../shared/tls';
import { clientTlsFiles } from '../../proxy/front/tls';
import { issue, makeCa, writeLocalTls, writePem, type LocalTls } from '../../scripts/tls-certs';
import { thrownBy } from '../helpers/thrown';

/**
 * shared/tls.ts and shared/etcd-flags.ts: every refusal names the flag and the path and never
 * prints key material; flags that go together are checked; a watch reloads changed files and
 * keeps the old material when the new files do not load.
 */
let dir: string;
let certs: LocalTls;
let keyText: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-tls-unit-'));
  certs = writeLocalTls(path.join(dir, 'tls'));
  keyText = fs.readFileSync(certs.serverKeyFile, 'utf8');
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};
const configError = (fn: () => unknown): ConfigError => thrownBy(fn, ConfigError);
/** The key's base64 body never appears in a message. */
const noKeyIn = (message: string): void => expect(message).not.toContain(keyText.split('\n')[1]);

test('the certificates made for a local cluster: CA, server (127.0.0.1, localhost) and client; keys 0600', () => {
  const m = loadTls({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: certs.caFile, requestClientCert: true });
  expect(m.requestClientCert).toBe(true);
  expect(m.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  expect(m.notAfter.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
  const leaf = new X509Certificate(m.cert);
  expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
  expect(leaf.checkIssued(new X509Certificate(m.ca!))).toBe(true);
  expect(leaf.checkHost('localhost')).toBe('localhost');
  expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(new X509Certificate(fs.readFileSync(certs.clientCertFile)).checkIssued(new X509Certificate(m.ca!))).toBe(true);
  for (const key of [certs.serverKeyFile, certs.clientKeyFile]) expect(fs.statSync(key).mode & 0o777).toBe(0o600);
  expect(serverTlsOptions(m)).toMatchObject({ requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
  expect(clientTlsOptions({ ca: m.ca })).toEqual({ ca: m.ca, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
});

test('missing, unreadable and wrong files: the flag, the path and the reason', () => {
  const missing = path.join(dir, 'nope.pem');
  expect(configError(() => loadTls({ certFile: missing, keyFile: certs.serverKeyFile })).message).toBe(`--tls-cert: cannot read ${missing}: no such file`);
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: dir })).message).toBe(`--tls-key: cannot read ${dir}: it is a directory`);
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, caFile: missing, requestClientCert: true })).message)
    .toBe(`--tls-ca: cannot read ${missing}: no such file`);
  const notPem = file('not.pem', 'hello\n');
  expect(configError(() => readPem(notPem, '--tls-cert', 'certificate')).message).toBe(`--tls-cert: ${notPem} holds no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
  expect(configError(() => readPem(notPem, '--tls-key', 'private key')).message).toBe(`--tls-key: ${notPem} holds no PEM private key (expected a "-----BEGIN PRIVATE KEY-----" block)`);
});

test('swapped, damaged, mismatched, encrypted or expired material is refused without printing a key', () => {
  const swapped = configError(() => loadTls({ certFile: certs.serverKeyFile, keyFile: certs.serverCertFile }));
  expect(swapped.message).toBe(`--tls-cert: ${certs.serverKeyFile} holds no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block) (it holds a private key: are the certificate and key flags swapped?)`);
  noKeyIn(swapped.message);
  const damaged = file('damaged.pem', '-----BEGIN CERTIFICATE-----\nAAAAnotbase64!!\n-----END CERTIFICATE-----\n');
  expect(configError(() => loadTls({ certFile: damaged, keyFile: certs.serverKeyFile })).message).toBe(`--tls-cert: ${damaged} holds a certificate that does not parse (damaged PEM?)`);
  const badKey = file('bad-key.pem', '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: badKey })).message).toBe(`--tls-key: ${badKey} holds a private key that does not parse (damaged PEM?)`);
  const mismatch = configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: certs.clientKeyFile }));
  expect(mismatch.message).toBe(`--tls-key: ${certs.clientKeyFile} is not the private key of the certificate in ${certs.serverCertFile} (--tls-cert)`);
  noKeyIn(mismatch.message);
  const encrypted = file('enc.pem', '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n');
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: encrypted })).message).toMatch(/^--tls-key: .* holds an encrypted private key/);
  const later = new Date(Date.now() + 40 * 86_400_000);
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile }, TLS_FLAGS, later)).message).toMatch(/^--tls-cert: the certificate in .* expired on /);
  expect(configError(() => loadTls({ certFile: certs.serverCertFile, keyFile: certs.serverKeyFile, requestClientCert: true })).message).toBe('--tls-client-auth needs --tls-ca (the CA client certificates must chain to)');
});

test('the proxy\'s client-port flags: off, on, and the combinations it refuses', () => {
  expect(clientTlsFiles({ tlsClientAuth: false })).toBeUndefined();
  expect(clientTlsFiles({ tlsCert: 'c', tlsKey: 'k', tlsClientAuth: false })).toEqual({ certFile: 'c', keyFile: 'k', caFile: undefined, requestClientCert: false });
  expect(clientTlsFiles({ tlsCert: 'c', tlsKey: 'k', tlsCa: 'a', tlsClientAuth: true })).toEqual({ certFile: 'c', keyFile: 'k', caFile: 'a', requestClientCert: true });
  expect(configError(() => clientTlsFiles({ tlsCert: 'c', tlsClientAuth: false })).message).toBe('--tls-cert needs --tls-key (its private key)');
  expect(configError(() => clientTlsFiles({ tlsKey: 'k', tlsClientAuth: false })).message).toBe('--tls-key needs --tls-cert (the certificate of that key)');
  expect(configError(() => clientTlsFiles({ tlsClientAuth: true })).message).toBe('--tls-client-auth needs --tls-cert and --tls-key (TLS on the client ports)');
  expect(configError(() => clientTlsFiles({ tlsCert: 'c', tlsKey: 'k', tlsCa: 'a', tlsClientAuth: false })).message).toMatch(/^--tls-ca is the CA of client certificates and needs --tls-client-auth/);
});

test('etcd access flags: TLS material, the password from a file or the environment, never from argv', () => {
  expect(loadEtcdAccess({}, {})).toEqual({});
  const caOnly = loadEtcdAccess({ etcdCa: certs.caFile }, {});
  expect(caOnly.tls?.ca?.toString()).toBe(fs.readFileSync(certs.caFile, 'utf8'));
  const full = loadEtcdAccess({ etcdCa: certs.caFile, etcdCert: certs.clientCertFile, etcdKey: certs.clientKeyFile, etcdUser: 'root' }, { [ETCD_PASSWORD_ENV]: 's3cret' });
  expect(full.tls?.cert?.toString()).toBe(fs.readFileSync(certs.clientCertFile, 'utf8'));
  expect(full.auth).toEqual({ username: 'root', password: 's3cret' });
  const pw = file('pw', 'from-file\nignored\n');
  expect(loadEtcdAccess({ etcdUser: 'root', etcdPasswordFile: pw }, { [ETCD_PASSWORD_ENV]: 'env' }).auth).toEqual({ username: 'root', password: 'from-file' });

  expect(configError(() => loadEtcdAccess({ etcdCert: certs.clientCertFile }, {})).message).toBe('--etcd-cert needs --etcd-key (its private key)');
  expect(configError(() => loadEtcdAccess({ etcdKey: certs.clientKeyFile }, {})).message).toBe('--etcd-key needs --etcd-cert (the certificate of that key)');
  expect(configError(() => loadEtcdAccess({ etcdUser: 'root' }, {})).message).toBe('--etcd-user root needs a password: set SHARDCACHE_ETCD_PASSWORD or pass --etcd-password-file <file>');
  expect(configError(() => loadEtcdAccess({ etcdPasswordFile: pw }, {})).message).toBe('--etcd-password-file needs --etcd-user');
  expect(configError(() => loadEtcdAccess({ etcdUser: 'root', etcdPasswordFile: file('empty', '\n') }, {})).message).toMatch(/^--etcd-password-file: .*empty is empty$/);
  const mismatch = configError(() => loadEtcdAccess({ etcdCert: certs.clientCertFile, etcdKey: certs.serverKeyFile }, {}));
  expect(mismatch.message).toBe(`--etcd-key: ${certs.serverKeyFile} is not the private key of the certificate in ${certs.clientCertFile} (--etcd-cert)`);
  noKeyIn(mismatch.message);
  expect(configError(() => loadEtcdAccess({ etcdCa: path.join(dir, 'none.pem') }, {})).message).toBe(`--etcd-ca: cannot read ${path.join(dir, 'none.pem')}: no such file`);
});

test('watchTlsFiles: a changed pair is loaded; a half-replaced pair is refused and the current one stays', async () => {
  const live = fs.mkdtempSync(path.join(dir, 'live-'));
  const files = { certFile: path.join(live, 'cert.pem'), keyFile: path.join(live, 'key.pem') };
  const ca = makeCa();
  const first = issue(ca, { commonName: 'first', hosts: ['127.0.0.1'], usage: 'server' });
  const second = issue(ca, { commonName: 'second', hosts: ['127.0.0.1'], usage: 'server' });
  writePem(files.certFile, first.certPem, false);
  writePem(files.keyFile, first.keyPem, true);
  const loaded: TlsMaterial[] = [];
  const errors: string[] = [];
  const watch = watchTlsFiles(files, TLS_FLAGS, (m) => loaded.push(m), { onError: (e) => errors.push(e.message), intervalMs: 20, settleMs: 10, signal: null });
  try {
    await new Promise((r) => setTimeout(r, 100)); // the watch's first look at the files
    replace(files.certFile, second.certPem); // the key is still the first one's
    const mismatch = `--tls-key: ${files.keyFile} is not the private key of the certificate in ${files.certFile} (--tls-cert)`;
    await waitUntil(() => errors.includes(mismatch));
    expect(loaded).toEqual([]);
    replace(files.keyFile, second.keyPem);
    await waitUntil(() => loaded.length > 0);
    expect(loaded[0].cert.toString()).toBe(second.certPem);
    expect(watch.reload()).toBe(true);
  } finally {
    watch.close();
  }
});

/** Replaces a file as rotation should: write beside it, then rename over it (never a half-written file). */
function replace(target: string, text: string): void {
  const next = `${target}.next`;
  writePem(next, text, true);
  fs.renameSync(next, target);
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !cond(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() > end) throw new Error('timed out');
  }
}
