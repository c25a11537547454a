import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import forge from 'node-forge';

/**
 * Throwaway certificates for a local cluster (`npm start -- --tls`) and for the tests: one CA, a
 * server certificate for 127.0.0.1 and localhost, and a client certificate (for etcd's
 * `--client-cert-auth`, and for clients of a port with `--tls-client-auth`).
 *
 * Made with node-forge: pure JavaScript without dependencies (nothing to compile, nothing
 * downloaded at install), kept up to date, and it runs where `npm start` runs, including machines
 * without an `openssl` binary or with one whose flags differ (LibreSSL on macOS). Keys are
 * RSA 2048 made by Node's own crypto (forge hands the key pair to it), so this takes milliseconds.
 * These certificates are for trying TLS out and for tests; production certificates come from the
 * operator's own CA.
 */

/** A certificate and its private key, both PEM. */
export interface Issued {
  certPem: string;
  keyPem: string;
}

/** What a certificate may be used for. */
export type CertUsage = 'server' | 'client' | 'both';

/** One certificate to issue. */
export interface CertRequest {
  commonName: string;
  /** IP addresses and DNS names it is valid for (subjectAltName); servers need one per name clients dial. */
  hosts?: readonly string[];
  usage: CertUsage;
  /** Validity in days from now (default 30). */
  days?: number;
}

/** Files written by `writeLocalTls`, all PEM; keys are readable by their owner only. */
export interface LocalTls {
  dir: string;
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

const DEFAULT_DAYS = 30;
/** Hosts of a local cluster's server certificate. */
export const LOCAL_HOSTS: readonly string[] = ['127.0.0.1', 'localhost', '::1'];

function keyPair(): forge.pki.rsa.KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicKey: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
    privateKey: forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }).toString()),
  };
}

/** A positive 16-byte serial number (DER INTEGER without a sign byte). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number): void {
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60 * 1000); // an hour back: clocks of a test machine differ a little
  cert.validity.notAfter = new Date(now + days * 24 * 60 * 60 * 1000);
}

/** A self-signed CA that may sign leaf certificates only (pathlen 0). */
export function makeCa(commonName = 'shardcache local CA', days = DEFAULT_DAYS): Issued {
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, days);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** subjectAltName entries: IP addresses as type 7, names as type 2. */
function altNames(hosts: readonly string[]): Array<{ type: number; ip?: string; value?: string }> {
  return hosts.map((host) => (net.isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }));
}

/** A leaf certificate signed by `ca`. */
export function issue(ca: Issued, request: CertRequest): Issued {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = keyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  validity(cert, request.days ?? DEFAULT_DAYS);
  cert.setSubject([{ name: 'commonName', value: request.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const extensions: unknown[] = [
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: request.usage !== 'client', clientAuth: request.usage !== 'server' },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ];
  if (request.hosts && request.hosts.length > 0) extensions.push({ name: 'subjectAltName', altNames: altNames(request.hosts) });
  cert.setExtensions(extensions);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** Writes a PEM file; private keys get mode 0600. */
export function writePem(file: string, pem: string, secret: boolean): void {
  fs.writeFileSync(file, pem, { mode: secret ? 0o600 : 0o644 });
  if (secret) fs.chmodSync(file, 0o600); // an existing file keeps its mode through writeFileSync
}

/**
 * Makes a fresh CA, a server certificate for `hosts` (127.0.0.1, localhost and ::1 by default)
 * and a client certificate (common name `clientName`) into `dir` (created 0700 if missing):
 * ca.pem, server.pem, server-key.pem, client.pem, client-key.pem. The CA's key is not kept.
 */
export function writeLocalTls(dir: string, options: { hosts?: readonly string[]; clientName?: string; days?: number } = {}): LocalTls {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const days = options.days ?? DEFAULT_DAYS;
  const ca = makeCa('shardcache local CA', days);
  // Client use too: etcd with --client-cert-auth dials its own gRPC gateway with its server certificate.
  const server = issue(ca, { commonName: 'shardcache local server', hosts: options.hosts ?? LOCAL_HOSTS, usage: 'both', days });
  const client = issue(ca, { commonName: options.clientName ?? 'shardcache', usage: 'client', days });
  const files: LocalTls = {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    serverCertFile: path.join(dir, 'server.pem'),
    serverKeyFile: path.join(dir, 'server-key.pem'),
    clientCertFile: path.join(dir, 'client.pem'),
    clientKeyFile: path.join(dir, 'client-key.pem'),
  };
  writePem(files.caFile, ca.certPem, false);
  writePem(files.serverCertFile, server.certPem, false);
  writePem(files.serverKeyFile, server.keyPem, true);
  writePem(files.clientCertFile, client.certPem, false);
  writePem(files.clientKeyFile, client.keyPem, true);
  return files;
}
