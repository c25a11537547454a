import type { PeerAccess } from '../../shared/peer-auth';
import type { Logger } from '../../shared/log';
import type { BackoffOptions } from './backoff';
import { nodeUnavailable } from './failures';
import { Link, type InFlightCounter, type LinkState } from './link';
import type { ReplyCallback } from './pending';

/** Settings of one node's pool; timing and randomness are injected. */
export interface PoolOptions {
  nodeId: string;
  /** `host:port` of the node. */
  addr: string;
  /** Links to open (connectionsPerNode). */
  size: number;
  /** Requests in flight to this node above which `send` refuses with NODE_UNAVAILABLE. */
  maxInFlight: number;
  timeoutMs: number;
  /** Period of the deadline check; default timeoutMs / 10, within 5..100 ms. */
  tickMs?: number;
  /** See LinkOptions.wedgedMs; default max(5 × timeoutMs, 2000). */
  wedgedMs?: number;
  connectTimeoutMs?: number;
  /** Largest request frame (payload bytes) a link sends; default the protocol's. */
  maxFrameBytes?: number;
  /** The cluster secret and node-link TLS of each link (absent: plain TCP, no secret). */
  access?: PeerAccess;
  /**
   * A link that sent nothing this long sends a PING, well inside the nodes' idle timeout
   * (`--idle-timeout-ms`, default 300 s), so the node never closes it; default 30 s, 0 = never.
   */
  keepaliveMs?: number;
  backoff: BackoffOptions;
  random: () => number;
  now: () => number;
  log: Logger;
  onLateReply?: () => void;
  onLinkState?: (state: LinkState) => void;
}

/** Default of `PoolOptions.keepaliveMs`: a tenth of the nodes' default idle timeout. */
export const DEFAULT_KEEPALIVE_MS = 30_000;

/** `host:port` → parts; throws on anything else. */
export function parseAddr(addr: string): { host: string; port: number } {
  const colon = addr.lastIndexOf(':');
  const port = Number(addr.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`bad node address "${addr}"`);
  return { host: addr.slice(0, colon), port };
}

/**
 * The links to one node: `size` pipelined connections used round-robin (a writable one first,
 * then any not down), one timer for all of them (deadlines and keepalive PINGs), and an
 * in-flight cap. Requests over the cap are refused at once with NODE_UNAVAILABLE ("too many in
 * flight") rather than queued: a node that far behind would only make them time out, and the
 * caller can retry elsewhere.
 * guards: the links and the in-flight count.
 */
export class NodePool {
  readonly nodeId: string;
  readonly addr: string;
  readonly #links: Link[] = [];
  readonly #counter: InFlightCounter = { inFlight: 0 };
  readonly #maxInFlight: number;
  readonly #ticker: NodeJS.Timeout;
  readonly #now: () => number;
  readonly #keepaliveMs: number;
  #next = 0;

  constructor(o: PoolOptions) {
    this.nodeId = o.nodeId;
    this.addr = o.addr;
    this.#maxInFlight = o.maxInFlight;
    this.#now = o.now;
    this.#keepaliveMs = o.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    const { host, port } = parseAddr(o.addr);
    const wedgedMs = o.wedgedMs ?? Math.max(5 * o.timeoutMs, 2000);
    const connectTimeoutMs = o.connectTimeoutMs ?? Math.max(o.timeoutMs, 1000);
    for (let i = 0; i < Math.max(1, o.size); i++) {
      this.#links.push(new Link({
        nodeId: o.nodeId, host, port, timeoutMs: o.timeoutMs, wedgedMs, connectTimeoutMs, backoff: o.backoff, random: o.random,
        now: o.now, counter: this.#counter, log: o.log, maxFrameBytes: o.maxFrameBytes, onLateReply: o.onLateReply, onStateChange: o.onLinkState, access: o.access,
      }));
    }
    const tickMs = o.tickMs ?? Math.min(100, Math.max(5, Math.floor(o.timeoutMs / 10)));
    this.#ticker = setInterval(() => this.#tick(), tickMs);
    this.#ticker.unref();
  }

  /** Requests whose caller still waits on this node. */
  get inFlight(): number {
    return this.#counter.inFlight;
  }

  /** True when a new request would pass the in-flight cap. */
  get saturated(): boolean {
    return this.#counter.inFlight >= this.#maxInFlight;
  }

  /** Every link is down after failed connection attempts: the node refuses connections or is gone. */
  get unreachable(): boolean {
    for (const link of this.#links) if (!link.unreachable) return false;
    return true;
  }

  /** Links currently connected. */
  get connected(): number {
    let n = 0;
    for (const link of this.#links) if (link.state === 'open') n++;
    return n;
  }

  /** Sends on the next usable link; `cb` gets the reply or a transport error (see Link.send). */
  send(message: unknown[], cb: ReplyCallback): void {
    if (this.saturated) {
      cb(nodeUnavailable(this.nodeId, `too many requests in flight (${this.#maxInFlight})`));
      return;
    }
    const link = this.#pick();
    if (link === undefined) {
      cb(nodeUnavailable(this.nodeId, 'not connected', this.unreachable));
      return;
    }
    link.send(message, cb);
  }

  /** Closes every link; waiting requests fail with NODE_UNAVAILABLE. */
  async close(): Promise<void> {
    clearInterval(this.#ticker);
    await Promise.all(this.#links.map((link) => link.close()));
  }

  /**
   * The link that already holds this turn's writes, so a turn's requests to one node leave in one
   * writev; else round-robin over writable links (the next turn moves on); else the first link
   * that is open or connecting.
   */
  #pick(): Link | undefined {
    const links = this.#links;
    const n = links.length;
    const last = links[(this.#next + n - 1) % n];
    if (last.batching) return last;
    let fallback: Link | undefined;
    for (let i = 0; i < n; i++) {
      const index = (this.#next + i) % n;
      const link = links[index];
      if (link.writable) {
        this.#next = (index + 1) % n;
        return link;
      }
      if (fallback === undefined && (link.state === 'open' || link.state === 'connecting')) fallback = link;
    }
    return fallback;
  }

  #tick(): void {
    const now = this.#now();
    const keepalive = this.#keepaliveMs;
    for (const link of this.#links) {
      link.expire(now);
      if (keepalive > 0) link.keepalive(now, keepalive);
    }
  }
}
