import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from './errors';

/**
 * TLS material for every program: which files make a certificate, loading them with errors that
 * name the flag and the path (never the bytes: key material is not printed, logged or put in an
 * error), node `tls` options for servers and clients, and a reload on SIGHUP or when the files
 * change, for servers that can swap their context (`server.setSecureContext`). No sockets here:
 * the listeners that use it own theirs.
 *
 *   TlsFiles ──loadTls──► TlsMaterial ──serverTlsOptions──► tls.createServer / https.createServer
 *                            │         └─clientTlsOptions──► tls.connect (CA pinning)
 *   SIGHUP, file change ──watchTlsFiles──► loadTls again ──► server.setSecureContext (new connections)
 */

/** Where a certificate lives: PEM files, as the flags name them. */
export interface TlsFiles {
  /** The certificate, then any intermediates (PEM). */
  certFile: string;
  /** Its private key, unencrypted PEM. */
  keyFile: string;
  /** CA the peer's certificate must chain to: servers check client certificates against it; clients pin the server's CA. */
  caFile?: string;
  /** Servers: ask every client for a certificate of `caFile` and refuse those without one (mutual TLS). */
  requestClientCert?: boolean;
}

/** The flags that name each file, for error messages. */
export interface TlsFlagNames {
  cert: string;
  key: string;
  ca: string;
  clientAuth: string;
}

/** The client ports' flags (`--tls-cert`, `--tls-key`, `--tls-ca`, `--tls-client-auth`). */
export const TLS_FLAGS: Readonly<TlsFlagNames> = { cert: '--tls-cert', key: '--tls-key', ca: '--tls-ca', clientAuth: '--tls-client-auth' };

/** Loaded, checked TLS files: the certificate matches its key and is within its validity. */
export interface TlsMaterial {
  files: TlsFiles;
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
  requestClientCert: boolean;
  /** SHA-256 fingerprint of the leaf certificate (public; for logs). */
  fingerprint256: string;
  /** When the leaf certificate expires. */
  notAfter: Date;
}

/** What a PEM file must hold. */
export type PemKind = 'certificate' | 'private key';

const BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/g;
const FS_REASONS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory', EPERM: 'permission denied' };

/** The labels of the PEM blocks in `text` (`CERTIFICATE`, `PRIVATE KEY`, ...). */
function pemLabels(text: string): string[] {
  return [...text.matchAll(BEGIN)].map((m) => m[1]);
}

/** Reads `file` for `flag` and checks it holds a PEM block of `kind`; throws ConfigError naming both. */
export function readPem(file: string, flag: string, kind: PemKind): Buffer {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new ConfigError(`${flag}: cannot read ${file}: ${FS_REASONS[code] ?? code}`);
  }
  const labels = pemLabels(bytes.toString('latin1'));
  if (kind === 'certificate' && !labels.includes('CERTIFICATE')) {
    const hint = labels.some((l) => l.endsWith('PRIVATE KEY')) ? ' (it holds a private key: are the certificate and key flags swapped?)' : '';
    throw new ConfigError(`${flag}: ${file} holds no PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)${hint}`);
  }
  if (kind === 'private key') {
    if (labels.includes('ENCRYPTED PRIVATE KEY') || /Proc-Type: 4,ENCRYPTED/.test(bytes.toString('latin1'))) {
      throw new ConfigError(`${flag}: ${file} holds an encrypted private key; give an unencrypted one (readable by this user only)`);
    }
    if (!labels.some((l) => l.endsWith('PRIVATE KEY'))) {
      throw new ConfigError(`${flag}: ${file} holds no PEM private key (expected a "-----BEGIN PRIVATE KEY-----" block)`);
    }
  }
  return bytes;
}

/** The first certificate of a PEM file, parsed; ConfigError naming the flag when it does not parse. */
function leafOf(pem: Buffer, file: string, flag: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new ConfigError(`${flag}: ${file} holds a certificate that does not parse (damaged PEM?)`);
  }
}

function keyOf(pem: Buffer, file: string, flag: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch {
    throw new ConfigError(`${flag}: ${file} holds a private key that does not parse (damaged PEM?)`);
  }
}

/**
 * Loads and checks `files`: each file readable and of its kind, the key the certificate's, the
 * certificate not expired, every CA certificate parseable; `requestClientCert` needs `caFile`.
 * Throws ConfigError naming the flag (from `flags`) and the path.
 */
export function loadTls(files: TlsFiles, flags: TlsFlagNames = TLS_FLAGS, now = new Date()): TlsMaterial {
  if (files.requestClientCert && !files.caFile) throw new ConfigError(`${flags.clientAuth} needs ${flags.ca} (the CA client certificates must chain to)`);
  const cert = readPem(files.certFile, flags.cert, 'certificate');
  const key = readPem(files.keyFile, flags.key, 'private key');
  const ca = files.caFile === undefined ? undefined : readPem(files.caFile, flags.ca, 'certificate');
  const leaf = leafOf(cert, files.certFile, flags.cert);
  if (!leaf.checkPrivateKey(keyOf(key, files.keyFile, flags.key))) {
    throw new ConfigError(`${flags.key}: ${files.keyFile} is not the private key of the certificate in ${files.certFile} (${flags.cert})`);
  }
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() < now.getTime()) throw new ConfigError(`${flags.cert}: the certificate in ${files.certFile} expired on ${notAfter.toISOString()}`);
  if (ca !== undefined) leafOf(ca, files.caFile!, flags.ca);
  return { files, cert, key, ca, requestClientCert: files.requestClientCert === true, fingerprint256: leaf.fingerprint256, notAfter };
}

/** What a server's context holds (what `setSecureContext` swaps): certificate, key and client CA. */
export function secureContextOptions(m: TlsMaterial): tls.SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/**
 * Options for `tls.createServer` / `https.createServer`: the certificate, and with
 * `requestClientCert` a client certificate that chains to the CA is required (others are refused
 * during the handshake).
 */
export function serverTlsOptions(m: TlsMaterial): tls.TlsOptions {
  return { ...secureContextOptions(m), requestCert: m.requestClientCert, rejectUnauthorized: m.requestClientCert };
}

/** What a client presents and trusts; all optional (no CA: the system's roots). */
export interface ClientTlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Options for `tls.connect`: the server must present a certificate valid for the host dialled,
 * chaining to `ca` alone when it is given (CA pinning: the system's roots are not trusted then);
 * `cert` and `key` are this side's certificate for servers that ask for one.
 */
export function clientTlsOptions(m: ClientTlsMaterial, servername?: string): tls.ConnectionOptions {
  return {
    rejectUnauthorized: true, minVersion: 'TLSv1.2',
    ...(m.ca ? { ca: m.ca } : {}), ...(m.cert ? { cert: m.cert } : {}), ...(m.key ? { key: m.key } : {}),
    ...(servername ? { servername } : {}),
  };
}

/** A running watch of TLS files. */
export interface TlsWatch {
  /** Loads the files now; true when they loaded (and `onReload` ran). */
  reload(): boolean;
  /** Stops watching the files and the signal. */
  close(): void;
}

/** How `watchTlsFiles` watches. */
export interface TlsWatchOptions {
  /** Called with the reason when the files cannot be loaded: the caller keeps what it serves. */
  onError(err: Error): void;
  /** Poll period of the files (ms); default 2000. */
  intervalMs?: number;
  /** Signal that asks for a reload; default SIGHUP; null: none. */
  signal?: NodeJS.Signals | null;
  /** Quiet time after a change before loading (a certificate and its key are rarely replaced at the same instant); default 250 ms. */
  settleMs?: number;
}

/**
 * Reloads `files` on SIGHUP and when any of them changes (polled, so a symlink swap as Kubernetes
 * does for secrets counts too), and hands the new material to `onReload`; a load that fails (say,
 * the certificate was replaced and its key not yet) goes to `onError` and changes nothing, and
 * the next change tries again. Timers and watchers are unref'd: they never keep a process alive.
 */
export function watchTlsFiles(files: TlsFiles, flags: TlsFlagNames, onReload: (m: TlsMaterial) => void, options: TlsWatchOptions): TlsWatch {
  const paths = [files.certFile, files.keyFile, ...(files.caFile ? [files.caFile] : [])];
  let timer: NodeJS.Timeout | undefined;
  const reload = (): boolean => {
    try {
      onReload(loadTls(files, flags));
      return true;
    } catch (err) {
      options.onError(err as Error);
      return false;
    }
  };
  const changed = (now: fs.Stats, before: fs.Stats): void => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
    clearTimeout(timer);
    timer = setTimeout(reload, options.settleMs ?? 250);
    timer.unref();
  };
  const onSignal = (): void => void reload();
  for (const file of paths) fs.watchFile(file, { interval: options.intervalMs ?? 2000, persistent: false }, changed);
  const signal = options.signal === undefined ? 'SIGHUP' : options.signal;
  if (signal) process.on(signal, onSignal);
  return {
    reload,
    close: () => {
      clearTimeout(timer);
      for (const file of paths) fs.unwatchFile(file, changed);
      if (signal) process.off(signal, onSignal);
    },
  };
}

/** A listener whose certificate can be swapped for new connections (node's tls.Server and https.Server). */
export interface SecureContextHolder {
  setSecureContext(options: tls.SecureContextOptions): void;
}

/** `watchTlsFiles` that swaps the context of `servers`; `onReload` is told after each swap. */
export function reloadOnChange(servers: readonly SecureContextHolder[], files: TlsFiles, flags: TlsFlagNames, options: TlsWatchOptions & { onReload?(m: TlsMaterial): void }): TlsWatch {
  return watchTlsFiles(files, flags, (m) => {
    for (const server of servers) server.setSecureContext(secureContextOptions(m));
    options.onReload?.(m);
  }, options);
}

/** Options of `createTlsListener`. */
export interface TlsListenerOptions {
  /** A handshake not done by then fails and its socket closes. */
  handshakeTimeoutMs: number;
  /** Sockets the listener holds, handshakes in progress included (net.Server.maxConnections). */
  maxSockets: number;
  /** Further options of the listener (noDelay, allowHalfOpen, ...). */
  options?: tls.TlsOptions;
  /** Told of each failed handshake, after its socket was closed. */
  onHandshakeError?(err: Error & { code?: string }): void;
}

/**
 * A TLS listener whose `onSecure` gets each connection once its handshake is done. A handshake
 * that fails or outlasts the timeout closes its socket: Node leaves the socket open after some
 * handshake errors (a timeout among them), so silent TCP connections would otherwise hold the
 * listener's places for good. Shared by every TLS port on node:tls (the nodes' frame port, RESP).
 */
export function createTlsListener(m: TlsMaterial, o: TlsListenerOptions, onSecure: (socket: tls.TLSSocket) => void): tls.Server {
  const server = tls.createServer({ ...serverTlsOptions(m), ...o.options, handshakeTimeout: o.handshakeTimeoutMs }, onSecure);
  server.maxConnections = o.maxSockets;
  server.on('tlsClientError', (err: Error & { code?: string }, socket: tls.TLSSocket) => {
    socket.destroy();
    o.onHandshakeError?.(err);
  });
  return server;
}

