import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../../shared/log';
import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import { createTlsListener, type SecureContextHolder, type TlsMaterial } from '../../../shared/tls';
import { snapshotOf, type CacheBackend } from '../../backend';
import type { Dispatcher } from '../dispatcher';
import type { FrontMetrics } from '../metrics';
import { RESP_COMMANDS } from './commands';
import { RespConnection } from './connection';
import type { GuardLimits, RespLimits, RespStats, ServerFacts } from './context';
import { RESP_FRONT, RespDoor } from './door';
import { RespRefusals } from './errors';
import { InputBudget, resolveGuards, sweepPeriodMs } from './guards';
import { CommandTimer, OpsRate } from './monitor';
import { error } from './reply';

/** What the RESP listener needs from the proxy. */
export interface RespServerOptions {
  dispatcher: Dispatcher;
  /** The data plane, for the snapshot INFO reports (commands go through the dispatcher). */
  backend: CacheBackend;
  metrics: FrontMetrics;
  log: Logger;
  /** Namespace of every connection's keys until AUTH selects another. */
  namespace: string;
  limits: RespLimits;
  /** TLS on the port (node's tls.Server); absent: plain TCP. */
  tls?: TlsMaterial;
}

/** Least time connections get on shutdown to finish their last write before they are dropped. */
const CLOSE_GRACE_MS = 100;
/** How long a connection refused for `maxClients` gets to read its reply before it is dropped. */
const REJECT_GRACE_MS = 1000;
const MAX_CLIENTS_REPLY = error(RespRefusals.maxClients);

/** The clock's period when no timeout needs a sweep: connections' idle times and the ops rate still read it. */
const CLOCK_PERIOD_MS = 1000;

/** How long a TLS handshake may take when the request timeout is off (node's default). */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;

/**
 * The RESP (Redis protocol) listener of the proxy: a TCP (or, with `tls`, a TLS) server whose connections speak
 * RESP2 to the same data plane as the HTTP and WebSocket fronts (see docs/resp.md). Owns the set
 * of open connections and the listener's counters; `close()` stops accepting, ends every
 * connection and resolves once the listener is closed.
 *
 * Guards (guards.ts, docs/resp.md "Limits and refusals"): a connection past `maxClients` gets
 * Redis's refusal and is closed; one input budget for every connection's parser; and one sweep
 * timer (not one per connection) that advances the connections' clock and closes those idle past
 * `idleTimeoutMs` or holding an incomplete request longer than `requestTimeoutMs`.
 *
 * With TLS a connection counts once its handshake is done: from then on the same guards apply to
 * the TLSSocket as to a plain socket (past `maxClients`, Redis's refusal, encrypted). Before that,
 * a handshake must finish within `requestTimeoutMs` (an incomplete request), and TCP connections
 * still in their handshake are bounded too: the listener holds at most 2 × `maxClients` TCP
 * connections and drops those past it. A client that does not speak TLS fails the handshake and
 * is closed without a byte of RESP.
 */
export class RespServer implements SecureContextHolder {
  readonly #server: net.Server;
  readonly #connections = new Set<RespConnection>();
  readonly #o: RespServerOptions;
  readonly #stats: RespStats = { connectionsTotal: 0, connected: 0, commands: 0, protocolErrors: 0, rejected: 0, hits: 0, misses: 0 };
  readonly #timer = new CommandTimer();
  readonly #rate = new OpsRate();
  readonly #facts: ServerFacts;
  readonly #door: RespDoor;
  readonly #limits: RespLimits & GuardLimits;
  readonly #budget: InputBudget;
  /** The sweep's clock: connections stamp times from it; the sweep timer advances it. */
  readonly #clock = { now: Date.now() };
  /** Refused connections still reading their reply. */
  readonly #rejected = new Set<net.Socket>();
  #sweep: NodeJS.Timeout | undefined;
  #port = 0;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(options: RespServerOptions) {
    this.#o = options;
    const { dispatcher, backend, metrics, log } = options;
    this.#limits = resolveGuards(options.limits);
    this.#budget = new InputBudget(this.#limits.inputBudgetBytes);
    this.#door = new RespDoor({ dispatcher, log, reads: this.#stats, timer: this.#timer });
    this.#facts = {
      port: () => this.#port, startedAt: Date.now(), stats: this.#stats, limits: this.#limits,
      snapshot: (): TopologySnapshot | undefined => snapshotOf(backend),
      clients: () => this.#connections, timer: this.#timer,
      opsPerSec: () => this.#rate.perSecond(Date.now(), this.#stats.commands),
      nodeStats: recentFor(NODE_STATS_TTL_MS, () => backend.nodeStats?.() ?? Promise.resolve([])),
      keyspace: recentByKey(NODE_STATS_TTL_MS, KEYSPACE_MEMO_MAX),
      countKeys: (ns) => new Promise((resolve, reject) => backend.run({ op: 'dbsize', ns }, 'primary', (err, outcome) => {
        if (err != null) reject(err);
        else if (outcome?.op === 'dbsize') resolve({ keys: outcome.count, expires: outcome.expires });
        else reject(new Error('DBSIZE answered another outcome'));
      })),
    };
    this.#server = options.tls ? this.#tlsListener(options.tls) : net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
  }

  #tlsListener(material: TlsMaterial): tls.Server {
    const handshakeTimeout = this.#limits.requestTimeoutMs > 0 ? this.#limits.requestTimeoutMs : DEFAULT_HANDSHAKE_TIMEOUT_MS;
    return createTlsListener(material, {
      handshakeTimeoutMs: handshakeTimeout, maxSockets: 2 * this.#limits.maxClients, options: { allowHalfOpen: true, pauseOnConnect: false },
      onHandshakeError: (err) => {
        this.#o.metrics.refused(RESP_FRONT, 'tls_handshake');
        this.#o.log.debug({ err: err.message, code: err.code }, 'RESP TLS handshake failed');
      },
    }, (socket) => this.#accept(socket));
  }

  /** Whether the port speaks TLS. */
  get tls(): boolean {
    return this.#server instanceof tls.Server;
  }

  /** Swaps the certificate (and client CA) for connections accepted from now on; the open ones keep theirs. */
  setSecureContext(options: tls.SecureContextOptions): void {
    if (!(this.#server instanceof tls.Server)) throw new Error('the RESP port does not use TLS');
    this.#server.setSecureContext(options);
  }

  /** The bound port (the real one when 0 was asked). */
  get port(): number {
    return this.#port;
  }

  /** Bytes the connections' parsers hold for requests not yet taken on (what the input budget counts). */
  get inputBytes(): number {
    return this.#budget.used;
  }

  /** Starts listening; rejects with a message naming the address when it cannot. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${port} for RESP: ${err.message}`));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        this.#port = (this.#server.address() as net.AddressInfo).port;
        this.#startSweep();
        resolve(this.#port);
      });
    });
  }

  /**
   * Stops accepting; after this event-loop turn each connection reads nothing more, answers the
   * commands it has read, and ends (`RespConnection.end`). Connections still open after
   * `graceMs` (at least a short grace) are dropped. Resolves when every connection is closed.
   */
  close(graceMs = 0): Promise<void> {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const socket of this.#rejected) socket.destroy();
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      const timer = setTimeout(() => {
        for (const conn of this.#connections) conn.destroy();
      }, Math.max(graceMs, CLOSE_GRACE_MS));
      this.#server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      setImmediate(() => {
        for (const conn of this.#connections) conn.end();
      });
    });
    return this.#closing;
  }

  /**
   * One timer for every connection's timeouts (when any timeout is on), the connections' clock
   * and the ops-rate samples; unref'd, cleared by close().
   */
  #startSweep(): void {
    const period = sweepPeriodMs(this.#limits);
    if (this.#sweep !== undefined || this.#closing !== undefined) return;
    this.#sweep = setInterval(() => {
      const now = (this.#clock.now = Date.now());
      this.#rate.sample(now, this.#stats.commands);
      if (period > 0) for (const conn of this.#connections) conn.sweep(now);
    }, period > 0 ? period : CLOCK_PERIOD_MS);
    this.#sweep.unref();
  }

  /** Redis's refusal past maxclients: the error line, then the connection ends (what it sends is dropped). */
  #reject(socket: net.Socket): void {
    this.#o.metrics.refused(RESP_FRONT, 'max_clients');
    this.#stats.rejected++;
    this.#rejected.add(socket);
    const timer = setTimeout(() => socket.destroy(), REJECT_GRACE_MS);
    timer.unref();
    socket.on('error', () => undefined);
    socket.once('end', () => socket.destroy());
    socket.once('close', () => {
      clearTimeout(timer);
      this.#rejected.delete(socket);
    });
    socket.end(MAX_CLIENTS_REPLY);
    socket.resume();
  }

  #accept(socket: net.Socket): void {
    if (this.#connections.size >= this.#limits.maxClients) return this.#reject(socket);
    const id = this.#nextId++;
    this.#stats.connectionsTotal++;
    this.#stats.connected++;
    const { namespace, metrics, log } = this.#o;
    const conn: RespConnection = new RespConnection(socket, {
      id, namespace, limits: this.#limits, budget: this.#budget, clock: this.#clock, door: this.#door, server: this.#facts, commands: RESP_COMMANDS, metrics, log,
      onClose: () => {
        this.#stats.connected--;
        this.#connections.delete(conn);
      },
    });
    this.#connections.add(conn);
  }
}

/**
 * How long INFO reuses the nodes' STATS: ioredis sends INFO on every connect, and each INFO would
 * otherwise ask every node of the cluster (a reconnect storm would become a STATS storm).
 */
const NODE_STATS_TTL_MS = 1000;

/** Namespaces whose INFO keyspace figures are remembered at once (past it, the expired ones are dropped, then all). */
const KEYSPACE_MEMO_MAX = 1024;

/**
 * `recentFor` by key: a key's `load` is called at most once per `ttlMs`, callers within that
 * time share its promise; at most `max` keys are remembered.
 */
function recentByKey<T>(ttlMs: number, max: number): (key: string, load: () => Promise<T>) => Promise<T> {
  const recent = new Map<string, { at: number; value: Promise<T> }>();
  return (key, load) => {
    const now = Date.now();
    const hit = recent.get(key);
    if (hit !== undefined && now - hit.at < ttlMs) return hit.value;
    if (hit === undefined && recent.size >= max) {
      for (const [k, v] of recent) if (now - v.at >= ttlMs) recent.delete(k);
      if (recent.size >= max) recent.clear();
    }
    const value = load();
    recent.set(key, { at: now, value });
    return value;
  };
}

/** `load`, called at most once per `ttlMs`: callers within that time share its promise. */
function recentFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  const recent = recentByKey<T>(ttlMs, 1);
  return () => recent('', load);
}
