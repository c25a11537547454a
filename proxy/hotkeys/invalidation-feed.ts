import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import type { Logger } from '../../shared/log';
import { dialPeer, OPEN_ACCESS, type PeerAccess } from '../../shared/peer-auth';
import { PUSH_ID, Status } from '../../shared/protocol';
import { buildRequest, ERROR_REPLY, FRAME, INVALIDATION, SUBSCRIBE_INVALIDATIONS, UNSUBSCRIBE_INVALIDATIONS } from '../../shared/ops';
import { parseAddr } from '../upstream/pool';

/** Called for every invalidation a node pushes; `key` null = the whole namespace. */
export type OnInvalidation = (ns: string, key: string | null) => void;

export interface InvalidationFeedOptions {
  log: Logger;
  onInvalidation: OnInvalidation;
  /** Wait before re-dialling a node whose subscription connection dropped (ms, default 250). */
  retryMs?: number;
  /** The cluster secret and node-link TLS of each connection (absent: plain TCP, no secret). */
  access?: PeerAccess;
}

/** Deadline of a subscription connection's connect and handshake. */
const CONNECT_TIMEOUT_MS = 5000;

/** The subscription connection to one node and the keys (`ns + "\n" + key`) it subscribes to. */
interface Feed {
  addr: string;
  keys: Set<string>;
  socket: net.Socket | null;
  open: boolean;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Invalidation pushes from storage nodes for near-cached keys. One subscription connection per
 * node, apart from the request links (whose FIFO reply matching never sees a push):
 *
 *   subscribe(node, ns, key) ─► [id, SUBSCRIBE_INVALIDATIONS, ns, [key]] on the node's feed
 *   node push [-1, INVALIDATION, ns, key|null] ─► onInvalidation(ns, key)
 *   connection lost ─► every key of that node is invalidated (pushes may have been missed),
 *                      re-dial after retryMs, subscribe again
 *
 * A node that cannot be reached only loses the pushes: the near cache's TTL still bounds staleness.
 * guards: the feeds and their sockets.
 */
export class InvalidationFeed {
  readonly #o: InvalidationFeedOptions;
  readonly #feeds = new Map<string, Feed>();
  #nextId = 1;
  #closed = false;
  pushes = 0;

  constructor(options: InvalidationFeedOptions) {
    this.#o = options;
  }

  /** Asks `nodeId` (at `addr`) to push invalidations of `ns/key`; idempotent. */
  subscribe(nodeId: string, addr: string, ns: string, key: string): void {
    if (this.#closed) return;
    let feed = this.#feeds.get(nodeId);
    if (feed !== undefined && feed.addr !== addr) {
      this.#drop(nodeId, feed);
      feed = undefined;
    }
    if (feed === undefined) {
      feed = { addr, keys: new Set(), socket: null, open: false, timer: undefined };
      this.#feeds.set(nodeId, feed);
      this.#connect(nodeId, feed);
    }
    const id = `${ns}\n${key}`;
    if (feed.keys.has(id)) return;
    feed.keys.add(id);
    if (feed.open) this.#send(feed, buildRequest(SUBSCRIBE_INVALIDATIONS, ns, [key]));
  }

  /** Stops the pushes of `ns/key` from every node. */
  unsubscribe(ns: string, key: string): void {
    const id = `${ns}\n${key}`;
    for (const [nodeId, feed] of this.#feeds) {
      if (!feed.keys.delete(id)) continue;
      if (feed.keys.size === 0) this.#drop(nodeId, feed);
      else if (feed.open) this.#send(feed, buildRequest(UNSUBSCRIBE_INVALIDATIONS, ns, [key]));
    }
  }

  /** Closes the connections to nodes for which `keep` is false (nodes that left the topology). */
  retain(keep: (nodeId: string, addr: string) => boolean): void {
    for (const [nodeId, feed] of this.#feeds) {
      if (keep(nodeId, feed.addr)) continue;
      this.#lost(feed);
      this.#drop(nodeId, feed);
    }
  }

  /** Nodes with a subscription connection (open or being dialled). */
  get nodes(): number {
    return this.#feeds.size;
  }

  close(): void {
    this.#closed = true;
    for (const [nodeId, feed] of this.#feeds) this.#drop(nodeId, feed);
  }

  #connect(nodeId: string, feed: Feed): void {
    const { host, port } = parseAddr(feed.addr);
    const decoder = new FrameDecoder((frame) => this.#onFrame(nodeId, frame));
    const socket = dialPeer({ host, port, access: this.#o.access ?? OPEN_ACCESS, timeoutMs: CONNECT_TIMEOUT_MS }, () => {
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
        }
      });
      feed.open = true;
      const byNs = new Map<string, string[]>();
      for (const id of feed.keys) {
        const cut = id.indexOf('\n');
        const ns = id.slice(0, cut);
        let keys = byNs.get(ns);
        if (keys === undefined) byNs.set(ns, (keys = []));
        keys.push(id.slice(cut + 1));
      }
      for (const [ns, keys] of byNs) this.#send(feed, buildRequest(SUBSCRIBE_INVALIDATIONS, ns, keys));
    });
    feed.socket = socket;
    socket.on('error', (err) => this.#o.log.debug({ nodeId, err: err.message }, 'invalidation feed error'));
    socket.on('close', () => {
      if (feed.socket !== socket) return;
      feed.open = false;
      feed.socket = null;
      this.#lost(feed);
      if (this.#closed || this.#feeds.get(nodeId) !== feed) return;
      feed.timer = setTimeout(() => {
        feed.timer = undefined;
        if (!this.#closed && this.#feeds.get(nodeId) === feed) this.#connect(nodeId, feed);
      }, this.#o.retryMs ?? 250);
      feed.timer.unref();
    });
  }

  #onFrame(nodeId: string, frame: unknown[]): void {
    if (frame[FRAME.id] === PUSH_ID && frame[FRAME.op] === INVALIDATION.code) {
      const ns = frame[INVALIDATION.at.ns];
      const key = frame[INVALIDATION.at.key];
      if (typeof ns !== 'string' || (key !== null && typeof key !== 'string')) return;
      this.pushes++;
      this.#o.onInvalidation(ns, key);
      return;
    }
    const status = frame[FRAME.status];
    if (status !== Status.OK) this.#o.log.warn({ nodeId, status, message: frame[ERROR_REPLY.message] }, 'invalidation subscription refused');
  }

  /** Pushes may have been missed: every key the feed covered is invalidated. */
  #lost(feed: Feed): void {
    for (const id of feed.keys) {
      const cut = id.indexOf('\n');
      this.#o.onInvalidation(id.slice(0, cut), id.slice(cut + 1));
    }
  }

  /** Sends `message` (built with id 0) under the next request id. */
  #send(feed: Feed, message: unknown[]): void {
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    message[FRAME.id] = id;
    feed.socket?.write(encodeFrame(message));
  }

  #drop(nodeId: string, feed: Feed): void {
    this.#feeds.delete(nodeId);
    clearTimeout(feed.timer);
    const socket = feed.socket;
    feed.socket = null;
    feed.open = false;
    socket?.destroy();
  }
}
