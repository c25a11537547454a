import { NodeConnection } from '../../shared/node-connection';
import { OPEN_ACCESS, type PeerAccess } from '../../shared/peer-auth';
import { Status } from '../../shared/protocol';

/**
 * One-shot requests from shardctl to storage nodes, each with its own deadline. `NodeClients`
 * (rebalance/) gives every request the driver's fixed 10 s, but `ns flush` waits as long as the
 * operator asked (the node answers once the queue is drained), so its deadline is per call here.
 * Connections are made on first use, one per address, and all closed by `close`.
 * Owns: its connections.
 */
export class NodeRequests {
  readonly #conns = new Map<string, Promise<NodeConnection>>();

  /** `access`: the cluster secret and node-link TLS (shardctl: `peerAccessFromEnv()`, as rebalance and top). */
  constructor(private readonly access: PeerAccess = OPEN_ACCESS) {}

  /** Sends `[id, op, ...args]` to `addr` (`host:port`); rejects when no reply came within `deadlineMs`, connecting included. */
  async request(addr: string, deadlineMs: number, op: number, ...args: unknown[]): Promise<unknown[]> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    try {
      return await Promise.race([this.#connection(addr).then((c) => c.request(op, ...args)), deadline]);
    } finally {
      clearTimeout(timer);
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
      this.#conns.set(addr, conn);
    }
    return conn;
  }
}

/** The name of a reply status (`UNKNOWN_OP`), or its number when it has none. */
export function statusName(status: unknown): string {
  const found = Object.entries(Status).find(([, code]) => code === status);
  return found ? found[0] : String(status);
}

/** One line for a failed request (a socket error, a deadline, a handshake refused). */
export function failureText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = String(e?.message ?? err).split('\n')[0];
  return e?.code !== undefined && !text.includes(e.code) ? `${e.code}: ${text}` : text;
}
