import net from 'node:net';
import type { Logger } from '../../../shared/log';
import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import type { CacheBackend } from '../../backend';
import type { Dispatcher } from '../dispatcher';
import type { FrontMetrics } from '../metrics';
import { RESP_COMMANDS } from './commands';
import { RespConnection } from './connection';
import type { RespLimits, RespStats, ServerFacts } from './context';
import { RespDoor } from './door';

/** What the RESP listener needs from the proxy. */
export interface RespServerOptions {
  dispatcher: Dispatcher;
  /** The data plane, for the one operation the command layer lacks (SET NX/XX); see RespDoor. */
  backend: CacheBackend;
  metrics: FrontMetrics;
  log: Logger;
  /** Namespace of every connection's keys until AUTH selects another. */
  namespace: string;
  limits: RespLimits;
}

/** How long connections get to finish their last write on shutdown before they are dropped. */
const CLOSE_GRACE_MS = 100;

/**
 * The RESP (Redis protocol) listener of the proxy: a plain TCP server whose connections speak
 * RESP2 to the same data plane as the HTTP and WebSocket fronts (see docs/resp.md). Owns the set
 * of open connections and the listener's counters; `close()` stops accepting, ends every
 * connection and resolves once the listener is closed.
 */
export class RespServer {
  readonly #server: net.Server;
  readonly #connections = new Set<RespConnection>();
  readonly #o: RespServerOptions;
  readonly #stats: RespStats = { connectionsTotal: 0, connected: 0, commands: 0, protocolErrors: 0, hits: 0, misses: 0 };
  readonly #facts: ServerFacts;
  readonly #door: RespDoor;
  #port = 0;
  #nextId = 1;
  #closing: Promise<void> | undefined;

  constructor(options: RespServerOptions) {
    this.#o = options;
    const { dispatcher, backend, metrics, log } = options;
    this.#door = new RespDoor({ dispatcher, backend, metrics, log, reads: this.#stats });
    this.#facts = {
      port: () => this.#port, startedAt: Date.now(), stats: this.#stats, limits: options.limits,
      snapshot: (): TopologySnapshot | undefined => snapshotOf(backend),
    };
    this.#server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
  }

  /** The bound port (the real one when 0 was asked). */
  get port(): number {
    return this.#port;
  }

  /** Starts listening; rejects with a message naming the address when it cannot. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new Error(`cannot listen on ${host}:${port} for RESP: ${err.message}`));
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        this.#port = (this.#server.address() as net.AddressInfo).port;
        resolve(this.#port);
      });
    });
  }

  /** Stops accepting, ends every connection (dropped after a short grace), resolves when closed. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      for (const conn of this.#connections) conn.end();
      const timer = setTimeout(() => {
        for (const conn of this.#connections) conn.destroy();
      }, CLOSE_GRACE_MS);
      timer.unref();
    });
    return this.#closing;
  }

  #accept(socket: net.Socket): void {
    const id = this.#nextId++;
    this.#stats.connectionsTotal++;
    this.#stats.connected++;
    const { limits, namespace, metrics, log } = this.#o;
    const conn: RespConnection = new RespConnection(socket, {
      id, namespace, limits, door: this.#door, server: this.#facts, commands: RESP_COMMANDS, metrics, log,
      onClose: () => {
        this.#stats.connected--;
        this.#connections.delete(conn);
      },
    });
    this.#connections.add(conn);
  }
}

/** The backend's snapshot; a watcher-backed getter may throw before the first load. */
function snapshotOf(backend: CacheBackend): TopologySnapshot | undefined {
  try {
    return backend.snapshot;
  } catch {
    return undefined;
  }
}
