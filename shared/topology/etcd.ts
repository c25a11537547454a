import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, noop, retry, type IBackoff } from 'cockatiel';
import { Etcd3, GRPCUnavailableError, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import { ShardcacheError } from '../errors';

/** Default etcd endpoint; `SHARDCACHE_ETCD` overrides it for every program and shardctl. */
export const DEFAULT_ETCD = process.env.SHARDCACHE_ETCD ?? '127.0.0.1:2379';

/** etcd could not be reached (or did not answer in time). */
export class EtcdUnavailableError extends ShardcacheError {
  constructor(endpoints: string, cause: string) {
    super('ETCD_UNAVAILABLE', `cannot reach etcd at ${endpoints}: ${cause}. Is etcd running? (start one with "npm start", or pass --etcd host:port)`);
  }
}

/**
 * How a program proves itself to etcd and checks etcd: TLS (CA to verify etcd's certificate, and
 * a client certificate for `--client-cert-auth`) and etcd's own user and password. Loaded from the
 * `--etcd-*` flags by `loadEtcdAccess` (shared/etcd-flags.ts).
 */
export interface EtcdAccess {
  /** Present: endpoints are dialled over TLS (https://). */
  tls?: {
    /** CA etcd's certificate must chain to (absent: the system's roots). */
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
  };
  auth?: { username: string; password: string };
}

export interface EtcdOptions {
  /** TLS and credentials; absent: plain TCP without authentication. */
  access?: EtcdAccess;
  /** Deadline of each unary call, ms. */
  callTimeoutMs?: number;
  dialTimeoutMs?: number;
  /** Retry a failed unary call (up to 3 times, etcd3's default); tools that must answer fast pass false. */
  retry?: boolean;
}

/**
 * An etcd client for `host:port[,host:port...]`, with a deadline on every unary call so no caller
 * hangs while etcd is down (watches and lease keep-alives are streams and have none). With
 * `access.tls` the endpoints are dialled as https:// and etcd's certificate must be valid for the
 * host dialled; with `access.auth` the client logs in as that etcd user (and renews its token).
 */
export function connectEtcd(endpoints: string, options: EtcdOptions = {}): Etcd3 {
  const callTimeoutMs = options.callTimeoutMs ?? 5000;
  const { tls, auth } = options.access ?? {};
  return new Etcd3({
    hosts: endpoints.split(',').map((h) => `${tls ? 'https' : 'http'}://${h.trim()}`),
    // etcd3 passes these to grpc's createSsl; a null root certificate means the system's roots.
    ...(tls ? { credentials: { rootCertificate: (tls.ca ?? null) as Buffer, privateKey: tls.key, certChain: tls.cert } } : {}),
    ...(auth ? { auth: { username: auth.username, password: auth.password } } : {}),
    dialTimeout: options.dialTimeoutMs ?? 3000,
    // gRPC's own reconnect backoff (1 s, growing 1.6x up to 120 s by default) sits under etcd3's
    // watch backoff: after an etcd restart a channel whose first attempts failed could wait many
    // seconds before it dialled again, and a watch on it saw nothing meanwhile. Bounded to 2 s.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 2000 },
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // A host that failed three times in a row is skipped for one second (etcd3's default is five),
      // so a restarted etcd is used again quickly; watches reconnect within two seconds at most.
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      global: options.retry === false ? noop : retry(handleWhen(isRecoverableError), { maxAttempts: 3 }),
      // etcd3 types this option against an older cockatiel; the factory is what it calls at run time.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }) as unknown as IBackoff<unknown>,
    },
  });
}

/** Turns connection-level etcd errors into EtcdUnavailableError; other errors pass through. */
export function explainEtcdError(err: unknown, endpoints: string): Error {
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError) {
    return new EtcdUnavailableError(endpoints, err.message.split('\n')[0]);
  }
  const message = (err as Error)?.message ?? String(err);
  if (/ECONNREFUSED|\b14 UNAVAILABLE\b|DEADLINE_EXCEEDED|Deadline exceeded|No connection established/.test(message)) {
    return new EtcdUnavailableError(endpoints, message.split('\n')[0]);
  }
  return err as Error;
}
