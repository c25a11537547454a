import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { ShardcacheError } from './errors';
import { encodeFrame, FrameDecoder } from './frame';
import { Op, Status } from './protocol';

/**
 * The cluster secret's challenge-response (node protocol, ops HELLO and AUTH): every connection
 * to a storage node started with a secret (proxy links and subscriptions, replication, slot
 * migration, the control plane, tools) proves it knows the secret before any other frame, and
 * the node proves it back, without the secret crossing the wire:
 *
 *   client ── [1, HELLO, clientNonce] ──────────────► node      (nonces: 32 random bytes each)
 *   client ◄── [1, OK, serverNonce] ───────────────── node
 *   client ── [2, AUTH, HMAC(secret, "client" ‖ cn ‖ sn)] ──► node   verified in constant time
 *   client ◄── [2, OK, HMAC(secret, "server" ‖ cn ‖ sn)] ── node     the client checks it too
 *
 * A fresh server nonce per connection makes a recorded exchange useless to replay. Without TLS
 * the frames after the handshake are not protected from a man in the middle: the handshake keeps
 * out whoever does not know the secret; TLS keeps out whoever can see or change the traffic.
 * Anything but HELLO then AUTH on a node that requires them gets UNAUTHENTICATED and the
 * connection is closed.
 */

/** Shortest cluster secret accepted (characters). */
export const MIN_SECRET_LENGTH = 16;
const NONCE_BYTES = 32;
const CLIENT_LABEL = Buffer.from('shardcache-client\0');
const SERVER_LABEL = Buffer.from('shardcache-server\0');

/** The handshake failed: wrong secret, a node without one, or no answer in time. */
export class PeerAuthError extends ShardcacheError {
  constructor(message: string) {
    super('UNAUTHENTICATED', message);
  }
}

const proof = (secret: string, label: Buffer, clientNonce: Uint8Array, serverNonce: Uint8Array): Buffer =>
  createHmac('sha256', secret).update(label).update(clientNonce).update(serverNonce).digest();

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && timingSafeEqual(a, b);

/**
 * The node's side of one connection's handshake, as a pure state machine: `hello` answers the
 * client's nonce with the node's, `verify` checks the client's proof and returns the node's.
 */
export class PeerChallenge {
  readonly #secrets: readonly string[];
  #clientNonce: Uint8Array | null = null;
  #serverNonce: Buffer | null = null;

  /** `secrets`: the cluster secret, and during a rotation the other one accepted too. */
  constructor(...secrets: string[]) {
    this.#secrets = secrets.filter((s) => s !== '');
  }

  /** The node's nonce for the client's; throws PeerAuthError on a nonce of the wrong size or a second HELLO. */
  hello(clientNonce: unknown): Buffer {
    if (this.#serverNonce !== null) throw new PeerAuthError('HELLO was already sent on this connection');
    if (!(clientNonce instanceof Uint8Array) || clientNonce.length < 16 || clientNonce.length > 64) {
      throw new PeerAuthError('HELLO needs a nonce of 16-64 bytes');
    }
    this.#clientNonce = Uint8Array.from(clientNonce); // the decoded view may be reused
    this.#serverNonce = randomBytes(NONCE_BYTES);
    return this.#serverNonce;
  }

  /** The node's proof when `clientProof` is right; throws PeerAuthError otherwise (AUTH before HELLO too). */
  verify(clientProof: unknown): Buffer {
    const cn = this.#clientNonce;
    const sn = this.#serverNonce;
    if (cn === null || sn === null) throw new PeerAuthError('AUTH before HELLO');
    if (clientProof instanceof Uint8Array) {
      for (const secret of this.#secrets) {
        if (sameBytes(clientProof, proof(secret, CLIENT_LABEL, cn, sn))) return proof(secret, SERVER_LABEL, cn, sn);
      }
    }
    throw new PeerAuthError('wrong cluster secret');
  }
}

/**
 * Runs the client's side on a freshly connected socket, before anything else is written or read
 * on it; resolves once the node accepted and proved it knows the secret too. On failure the
 * socket is destroyed with the PeerAuthError (its 'error' listeners see it) and the promise
 * rejects with it. With an empty secret it resolves at once (a cluster without one).
 */
export function authenticatePeer(socket: Duplex, secret: string, timeoutMs = 5000): Promise<void> {
  if (secret === '') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const clientNonce = randomBytes(NONCE_BYTES);
    let step: 'hello' | 'auth' = 'hello';
    /** Ends the handshake; `tell`: destroy the socket with the error, so its owner's listeners learn why. */
    const fail = (message: string, tell = true): void => {
      cleanup();
      const err = new PeerAuthError(message);
      if (tell && !socket.destroyed) socket.destroy(err);
      else socket.destroy();
      reject(err);
    };
    const onFrame = (reply: unknown[]): boolean => {
      if (reply[1] !== Status.OK) {
        fail(`the node refused the handshake: ${typeof reply[2] === 'string' ? reply[2].slice(0, 200) : 'status ' + String(reply[1])}`);
        return false;
      }
      if (step === 'hello') {
        const serverNonce = reply[2];
        if (reply[0] !== 1 || !(serverNonce instanceof Uint8Array)) {
          fail('the node answered HELLO with something else (a node without a cluster secret?)');
          return false;
        }
        step = 'auth';
        socket.write(encodeFrame([2, Op.AUTH, proof(secret, CLIENT_LABEL, clientNonce, serverNonce)]));
        expected = proof(secret, SERVER_LABEL, clientNonce, serverNonce);
        return true;
      }
      if (reply[0] !== 2 || !(reply[2] instanceof Uint8Array) || !sameBytes(reply[2], expected)) {
        fail('the node could not prove it knows the cluster secret');
        return false;
      }
      cleanup();
      resolve();
      return false;
    };
    let expected: Buffer = Buffer.alloc(0);
    const decoder = new FrameDecoder(onFrame, 4096);
    const onData = (chunk: Buffer): void => {
      try {
        decoder.push(chunk);
      } catch {
        fail('the node answered the handshake with a malformed frame');
      }
    };
    const onClose = (): void => fail('the node closed the connection during the handshake');
    // The socket's owner heard this error itself (a TLS alert, a reset): it is not emitted twice.
    const onError = (err: Error): void => fail(`the connection failed during the handshake: ${err.message}`, false);
    const timer = setTimeout(() => fail(`no answer to the handshake within ${timeoutMs} ms`), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(encodeFrame([1, Op.HELLO, clientNonce]));
  });
}

/**
 * The cluster secret of a program and, during a rotation, a second one: line 1 of
 * `--cluster-secret-file` is the secret this program proves, else the environment variable
 * SHARDCACHE_CLUSTER_SECRET, else '' (none); never argv, where `ps` shows it. A line 2 is another
 * secret a node also accepts (`docs/security.md`, "Rotating
 * the cluster secret"). From the environment, one secret. [''] when none is set.
 */
export function loadClusterSecrets(file: string | undefined, env: NodeJS.ProcessEnv = process.env): [string, ...string[]] {
  let secrets: string[];
  let source: string;
  if (file !== undefined) {
    try {
      secrets = fs.readFileSync(file, 'utf8').split(/\r?\n/).slice(0, 2).filter((line, i) => i === 0 || line !== '');
    } catch (err) {
      throw new Error(`--cluster-secret-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    source = `--cluster-secret-file ${file}`;
  } else {
    secrets = [env.SHARDCACHE_CLUSTER_SECRET ?? ''];
    source = 'SHARDCACHE_CLUSTER_SECRET';
    if (secrets[0] === '') return [''];
  }
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) throw new Error(`${source}: a cluster secret must be at least ${MIN_SECRET_LENGTH} characters`);
  }
  return secrets as [string, ...string[]];
}

/**
 * How a program reaches storage nodes: the cluster secret it proves and, when the nodes' frame
 * ports speak TLS, the client TLS options (the CA node certificates chain to, and this side's
 * certificate when nodes ask for one).
 */
export interface PeerAccess {
  /** '' = none: no handshake. */
  secret: string;
  tls?: tls.ConnectionOptions;
}

/** Plain TCP, no secret: a cluster without either. */
export const OPEN_ACCESS: PeerAccess = Object.freeze({ secret: '' });

/** Where and how to dial a storage node. */
export interface PeerDialOptions {
  host: string;
  port: number;
  access: PeerAccess;
  /** Deadline of the connect, the TLS handshake and the secret's handshake together. */
  timeoutMs: number;
  writableHighWaterMark?: number;
}

/**
 * Dials a storage node: TCP connect (TLS when `access.tls`), then the secret's handshake;
 * `onReady` runs once the connection may carry requests. The socket is returned at once so the
 * caller owns it (its 'error' and 'close' listeners report a failed connect or handshake; attach
 * 'data' listeners in `onReady`, after the handshake's frames). Every client of the node
 * protocol dials through here.
 */
export function dialPeer(o: PeerDialOptions, onReady: () => void): net.Socket {
  // Node honours writableHighWaterMark on connect (it reaches the Duplex); the typings omit it.
  const options: net.TcpNetConnectOpts & { writableHighWaterMark?: number } = { host: o.host, port: o.port, noDelay: true };
  if (o.writableHighWaterMark !== undefined) options.writableHighWaterMark = o.writableHighWaterMark;
  const access = o.access;
  // An IP address is checked against the certificate's IP names; only a DNS name goes in SNI.
  const socket = access.tls ? tls.connect({ ...options, ...access.tls, ...(net.isIP(o.host) ? {} : { servername: o.host }) }) : net.connect(options);
  socket.setNoDelay(true);
  // One deadline for the whole dial (an inactivity timer would let a peer that trickles bytes keep it pending).
  const started = Date.now();
  const deadline = setTimeout(() => socket.destroy(new Error(`connect and handshake not done within ${o.timeoutMs} ms`)), o.timeoutMs);
  socket.once('close', () => clearTimeout(deadline));
  socket.once(access.tls ? 'secureConnect' : 'connect', () => {
    authenticatePeer(socket, access.secret, Math.max(1, o.timeoutMs - (Date.now() - started))).then(() => {
      clearTimeout(deadline);
      onReady();
    }, () => undefined); // the socket was destroyed with the error: its listeners report it
  });
  return socket;
}

/**
 * `loadClusterSecrets` for a program's flags: a bad secret ends the program through `fail` (its
 * commander `program.error`, status 1) with a message naming the flag or variable.
 */
export function clusterSecretFlag(file: string | undefined, fail: (message: string) => never): [string, ...string[]] {
  try {
    return loadClusterSecrets(file);
  } catch (err) {
    return fail(`error: ${(err as Error).message}`);
  }
}
