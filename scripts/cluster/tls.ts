import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import { loadEtcdAccess } from '../../shared/etcd-flags';
import type { EtcdAccess } from '../../shared/topology/etcd';
import type { LocalTls } from '../tls-certs';

/**
 * TLS and the cluster secret of a local cluster (`npm start -- --tls`, `npm run chaos -- --tls`,
 * the TLS tests): what etcd and each program are started with when the certificates of
 * scripts/tls-certs.ts are in use. Every function takes the certificates (or the secret's file)
 * or undefined (plain cluster) and then returns nothing to add.
 *
 *   etcd      https client URL, --client-cert-auth against the CA (its peer URL stays plain, on loopback)
 *   programs  --etcd-ca, --etcd-cert, --etcd-key (the client certificate)
 *   nodes     also --tls-cert, --tls-key (the server certificate, which is their client certificate
 *             toward their peers too), --tls-ca, --tls-client-auth on the frame port
 *   proxies   also --tls-cert, --tls-key on the client ports (HTTPS/WSS, RESP over TLS)
 *   proxies, control plane   --node-tls-ca, --node-tls-cert, --node-tls-key (the client certificate)
 *   nodes, proxies, control plane   --cluster-secret-file (a random secret in a 0600 file)
 *   shardctl  the same through the environment (toolEnv)
 */

/** etcd's flags for TLS with client-certificate authentication on its client URL. */
export function etcdServerTlsArgs(tls: LocalTls | undefined): string[] {
  if (!tls) return [];
  return ['--cert-file', tls.serverCertFile, '--key-file', tls.serverKeyFile, '--trusted-ca-file', tls.caFile, '--client-cert-auth'];
}

/** The `--etcd-*` flags of every program and shardctl. */
export function etcdClientArgs(tls: LocalTls | undefined): string[] {
  if (!tls) return [];
  return ['--etcd-ca', tls.caFile, '--etcd-cert', tls.clientCertFile, '--etcd-key', tls.clientKeyFile];
}

/** The proxy's client-port TLS flags. */
export function proxyTlsArgs(tls: LocalTls | undefined): string[] {
  if (!tls) return [];
  return ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile];
}

/** A storage node's frame-port TLS: mutual TLS against the CA; it dials its peers with the same certificate. */
export function nodeTlsArgs(tls: LocalTls | undefined): string[] {
  if (!tls) return [];
  return ['--tls-cert', tls.serverCertFile, '--tls-key', tls.serverKeyFile, '--tls-ca', tls.caFile, '--tls-client-auth'];
}

/** How the proxy and the control plane dial the nodes: TLS against the CA, with the client certificate the nodes ask for. */
export function nodeClientTlsArgs(tls: LocalTls | undefined): string[] {
  if (!tls) return [];
  return ['--node-tls-ca', tls.caFile, '--node-tls-cert', tls.clientCertFile, '--node-tls-key', tls.clientKeyFile];
}

/** `--cluster-secret-file` of every node, proxy and control plane (the file's path; the secret never goes on argv). */
export function clusterSecretArgs(file: string | undefined): string[] {
  return file === undefined ? [] : ['--cluster-secret-file', file];
}

/** Writes a fresh random cluster secret (32 bytes, base64url) to `file` with mode 0600; returns the path. */
export function writeClusterSecret(file: string): string {
  fs.writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  fs.chmodSync(file, 0o600); // an existing file keeps its mode through writeFileSync
  return file;
}

/**
 * The environment of shardctl (or another tool) for a cluster with these certificates and this
 * secret: etcd over TLS with the client certificate, node links over TLS with it, and the path of
 * the secret's file (never the secret). Empty for a plain cluster.
 */
export function toolEnv(tls: LocalTls | undefined, clusterSecretFile: string | undefined): Record<string, string> {
  return {
    ...(tls ? {
      SHARDCACHE_ETCD_CA: tls.caFile, SHARDCACHE_ETCD_CERT: tls.clientCertFile, SHARDCACHE_ETCD_KEY: tls.clientKeyFile,
      SHARDCACHE_NODE_TLS_CA: tls.caFile, SHARDCACHE_NODE_TLS_CERT: tls.clientCertFile, SHARDCACHE_NODE_TLS_KEY: tls.clientKeyFile,
    } : {}),
    ...(clusterSecretFile === undefined ? {} : { SHARDCACHE_CLUSTER_SECRET_FILE: clusterSecretFile }),
  };
}

/** What this process uses to reach etcd (the programs' client certificate). */
export function etcdAccessOf(tls: LocalTls | undefined): EtcdAccess {
  if (!tls) return {};
  return loadEtcdAccess({ etcdCa: tls.caFile, etcdCert: tls.clientCertFile, etcdKey: tls.clientKeyFile }, {});
}

/** Scheme of etcd's client URL. */
export const etcdScheme = (tls: LocalTls | undefined): string => (tls ? 'https' : 'http');

/** Whether etcd answers its /health with 200 (over TLS with the client certificate when `tls`). */
export function etcdHealthy(url: string, tls: LocalTls | undefined): Promise<boolean> {
  if (!tls) return fetch(`${url}/health`).then((r) => r.ok, () => false);
  return new Promise((resolve) => {
    const req = https.get(`${url}/health`, {
      ca: fs.readFileSync(tls.caFile), cert: fs.readFileSync(tls.clientCertFile), key: fs.readFileSync(tls.clientKeyFile), agent: false, timeout: 2000,
    }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
