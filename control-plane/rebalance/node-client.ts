import { NodeConnection } from '../../shared/node-connection';
import { OPEN_ACCESS, type PeerAccess } from '../../shared/peer-auth';
import { within } from '../errors';

/** Deadline of one request to a storage node made by the driver, ms. */
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Connections from the control plane to storage nodes, one per address, made on first use and
 * dropped when they fail (the next request reconnects). Each request has a deadline.
 * Owns: its connections.
 */
export class NodeClients {
  readonly #conns = new Map<string, Promise<NodeConnection>>();

  /** `access`: the cluster secret each connection proves and the node-link TLS. */
  constructor(private readonly access: PeerAccess = OPEN_ACCESS) {}

  /** Sends `[id, op, ...args]` to the node at `addr` (`host:port`); resolves with the reply (deadline 10 s). */
  request(addr: string, op: number, ...args: unknown[]): Promise<unknown[]> {
    return this.requestWithin(addr, REQUEST_TIMEOUT_MS, op, ...args);
  }

  /**
   * `request` with its own deadline, connecting included (`shardctl ns flush` waits as long as
   * the operator asked: the node answers once its queue is drained).
   */
  async requestWithin(addr: string, deadlineMs: number, op: number, ...args: unknown[]): Promise<unknown[]> {
    try {
      return await within(deadlineMs, `node ${addr}`, this.#connection(addr).then((conn) => conn.request(op, ...args)));
    } catch (err) {
      this.#drop(addr); // a late answer, or none, must not be waited for on this connection
      throw err;
    }
  }

  async close(): Promise<void> {
    const all = [...this.#conns.values()];
    this.#conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close(), () => undefined)));
  }

  #connection(addr: string): Promise<NodeConnection> {
    let conn = this.#conns.get(addr);
    if (conn === undefined) {
      const colon = addr.lastIndexOf(':');
      conn = NodeConnection.connect(Number(addr.slice(colon + 1)), addr.slice(0, colon), undefined, this.access);
      conn.then((c) => c.socket.on('close', () => this.#conns.get(addr) === conn && this.#conns.delete(addr)), () => this.#conns.delete(addr));
      this.#conns.set(addr, conn);
    }
    return conn;
  }

  #drop(addr: string): void {
    const conn = this.#conns.get(addr);
    this.#conns.delete(addr);
    void conn?.then((c) => c.close(), () => undefined);
  }
}
