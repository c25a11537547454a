import type { AppOptions } from 'uWebSockets.js';
import { ConfigError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { TLS_FLAGS, loadTls, reloadOnChange, type SecureContextHolder, type TlsFiles, type TlsMaterial, type TlsWatch } from '../../shared/tls';

/**
 * TLS on the proxy's client ports (docs/security.md, "TLS"): which files the flags name, the uWS
 * options of the HTTP/WebSocket port, and the reload of the ports that can swap a certificate.
 *
 *   port                      listener            certificate reload (SIGHUP, file change)
 *   HTTP/WebSocket (client)   uWS SSLApp          no: uWS loads the files once; restart the proxy
 *   RESP                      node tls.Server     yes, for new connections
 *   pipelining                node https.Server   yes, for new connections
 *   admin                     plain HTTP          -
 */

/** The client-port TLS flags as the proxy's config holds them. */
export interface ClientTlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth: boolean;
}

/**
 * The files of `--tls-cert`, `--tls-key`, `--tls-ca`, `--tls-client-auth`; undefined when TLS is
 * off. Throws ConfigError naming the flag when they do not go together.
 */
export function clientTlsFiles(flags: ClientTlsFlags): TlsFiles | undefined {
  const { tlsCert, tlsKey, tlsCa, tlsClientAuth } = flags;
  if (tlsCert === undefined && tlsKey === undefined) {
    if (tlsCa !== undefined || tlsClientAuth) throw new ConfigError(`${tlsCa !== undefined ? TLS_FLAGS.ca : TLS_FLAGS.clientAuth} needs ${TLS_FLAGS.cert} and ${TLS_FLAGS.key} (TLS on the client ports)`);
    return undefined;
  }
  if (tlsCert === undefined) throw new ConfigError(`${TLS_FLAGS.key} needs ${TLS_FLAGS.cert} (the certificate of that key)`);
  if (tlsKey === undefined) throw new ConfigError(`${TLS_FLAGS.cert} needs ${TLS_FLAGS.key} (its private key)`);
  if (tlsCa !== undefined && !tlsClientAuth) {
    throw new ConfigError(`${TLS_FLAGS.ca} is the CA of client certificates and needs ${TLS_FLAGS.clientAuth} (intermediates of the server's certificate go in ${TLS_FLAGS.cert}, after it)`);
  }
  return { certFile: tlsCert, keyFile: tlsKey, caFile: tlsCa, requestClientCert: tlsClientAuth };
}

/**
 * Options of uWS `SSLApp`, which reads the files itself. With a CA, uWS asks for a client
 * certificate and refuses one that does not chain to it, but lets a client that sends none in:
 * the proxy says so at start (`warnings`), and docs/security.md tells what to rely on instead.
 */
export function uwsTlsOptions(files: TlsFiles): AppOptions {
  return { cert_file_name: files.certFile, key_file_name: files.keyFile, ...(files.requestClientCert && files.caFile ? { ca_file_name: files.caFile } : {}) };
}

/** A warning when the certificate expires within 14 days. */
function expiryWarning(m: TlsMaterial, now = Date.now()): string | undefined {
  const days = (m.notAfter.getTime() - now) / 86_400_000;
  if (days >= 14) return undefined;
  return `the client-port certificate expires in ${Math.max(0, Math.floor(days))} day(s) (${m.notAfter.toISOString()}); rotate it (docs/security.md)`;
}

/**
 * Loads the client-port TLS files the flags name (undefined when TLS is off) and logs what the
 * operator should know: the certificate's fingerprint and expiry, an expiry within 14 days, and
 * the limit of `--tls-client-auth` on the uWS port. Throws ConfigError naming the flag.
 */
export function loadClientTls(flags: ClientTlsFlags, log: Logger): TlsMaterial | undefined {
  const files = clientTlsFiles(flags);
  if (files === undefined) return undefined;
  const m = loadTls(files, TLS_FLAGS);
  log.info({ event: 'tls', fingerprint256: m.fingerprint256, notAfter: m.notAfter.toISOString(), clientAuth: m.requestClientCert }, 'TLS on the client ports');
  if (m.requestClientCert) {
    log.warn({ event: 'tls' }, '--tls-client-auth: the RESP and pipelining ports refuse clients without a certificate of --tls-ca; the HTTP/WebSocket port (uWS) refuses a certificate of another CA but cannot refuse a client that sends none: turn auth on (shardctl auth on) for that port');
  }
  const expiry = expiryWarning(m);
  if (expiry) log.warn({ event: 'tls' }, expiry);
  return m;
}

/**
 * Reloads the client-port certificate on SIGHUP or when its files change, into `servers` (the
 * RESP and pipelining listeners); a failed load is logged and the current certificate stays.
 * The uWS client port keeps the certificate it started with: each reload says so.
 */
export function watchClientTls(m: TlsMaterial, servers: readonly SecureContextHolder[], log: Logger): TlsWatch {
  return reloadOnChange(servers, m.files, TLS_FLAGS, {
    onReload: (next) => {
      log.info({ event: 'tls-reload', fingerprint256: next.fingerprint256, notAfter: next.notAfter.toISOString() }, 'client-port certificate reloaded for new RESP and pipelining connections; the HTTP/WebSocket port serves the old one until the proxy restarts');
      const expiry = expiryWarning(next);
      if (expiry) log.warn({ event: 'tls' }, expiry);
    },
    onError: (err) => log.error({ event: 'tls-reload-failed', err: err.message }, 'client-port certificate not reloaded; the current one stays'),
  });
}
