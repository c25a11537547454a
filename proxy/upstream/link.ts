import net from 'node:net';
import { FrameDecoder } from '../../shared/frame';
import { dialPeer, OPEN_ACCESS, type PeerAccess } from '../../shared/peer-auth';
import type { Logger } from '../../shared/log';
import { Limits } from '../../shared/protocol';
import { ProxyError, ProxyErrorCode } from '../errors';
import { reconnectDelay, type BackoffOptions } from './backoff';
import { nodeUnavailable, timeoutError } from './failures';
import { FrameWriter } from './frame-writer';
import { PendingQueue, type ReplyCallback } from './pending';
import { buildRequest, ERROR_REPLY, ID, MGET, OP, PING } from '../../shared/ops';
import { readMgetReply } from './mget-reply';

/** connecting ─► open ─► down (backoff) ─► connecting ...; closed is final. */
export type LinkState = 'connecting' | 'open' | 'down' | 'closed';

/** Requests whose caller still waits, counted across the links of one pool. */
export interface InFlightCounter {
  inFlight: number;
}

/** Settings and hooks of one link (the pool fills them in). */
export interface LinkOptions {
  nodeId: string;
  host: string;
  port: number;
  /** Deadline of every request, from the first request handed to the link in its event-loop turn (they leave in one write). */
  timeoutMs: number;
  /** A link whose oldest expired request is still unanswered this long after its deadline is wedged: it reconnects. */
  wedgedMs: number;
  connectTimeoutMs: number;
  backoff: BackoffOptions;
  random: () => number;
  /** Monotonic clock, ms. */
  now: () => number;
  counter: InFlightCounter;
  log: Logger;
  maxFrameBytes?: number;
  /** The cluster secret and node-link TLS (absent: plain TCP, no secret). */
  access?: PeerAccess;
  /** A reply came for a request that had already timed out (it is dropped). */
  onLateReply?: () => void;
  onStateChange?: (state: LinkState) => void;
}

/** Bytes a link may hand the socket before `write` reports backpressure. */
const WRITE_HIGH_WATER_MARK = 256 * 1024;
/** A connection lost after less than this is a flapping node: reconnect with backoff, not at once. */
const HEALTHY_CONNECTION_MS = 1000;
/** The keepalive PING's reply (or failure) is of no interest: it only keeps the connection busy. */
const ignoreReply: ReplyCallback = () => undefined;
const MGET_CODE = MGET.code;

/**
 * One pipelined TCP connection to a storage node.
 *
 *   send ─► id, encode into this turn's FrameWriter ─► one socket.write per event-loop turn ─► node
 *            │ connecting, or write() said false: the frames wait in the writer, written on connect / 'drain'
 *   'data' ─► FrameDecoder ─► reply id == oldest pending id ─► its callback
 *   owner's tick ─► expire(now): oldest waiting requests past their deadline fail with TIMEOUT
 *
 * Timeouts: the link stays open. A timed-out request keeps its place in the FIFO, and its late
 * reply is matched by id and dropped, so later replies still match. If the oldest expired request
 * stays unanswered `wedgedMs` past its deadline the connection is taken as wedged and reconnected.
 * On disconnect every waiting request fails with NODE_UNAVAILABLE. A connection that had been up
 * for a while is re-dialled at once (requests queue meanwhile); failed attempts, and connections
 * that die young, back off exponentially with jitter, and while down `send` fails at once. A link
 * whose connection attempts fail is `unreachable`, and the requests it could not send say so
 * (`detail.unreachable`). A reply out of step with the FIFO (or the node's protocol-error notice,
 * id 0) closes the connection. An open link that sent nothing for the owner's keepalive period
 * sends a PING (`keepalive`), so the node's idle timeout never closes a pooled connection.
 * guards: the socket, its ids and its pending queue.
 */
export class Link {
  readonly #o: LinkOptions;
  readonly #pending = new PendingQueue();
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  #state: LinkState = 'connecting';
  #socket: net.Socket | null = null;
  /** Frames not handed to the socket yet: this turn's, or all since the socket pushed back or while connecting. */
  readonly #frames = new FrameWriter();
  #blocked = false;
  /**
   * The deadline of this turn's requests: one clock read per turn, since they leave in one write
   * (a request queued late in a turn gets at most the turn's length less than its timeout).
   */
  #turnDeadline = 0;
  /** When the chunk being decoded was read: a reply's latency is this less its request's write time. */
  #readAt = 0;
  /** A write of this turn's frames is scheduled (setImmediate). */
  #flushQueued = false;
  #broken = false;
  #nextId = 1;
  #attempt = 0;
  #openedAt = 0;
  /** When the last turn with requests began, or the connection opened (for `keepalive`). */
  #sentAt = 0;
  /** The last connection attempt failed, or the connection died young; cleared when one opens. */
  #failing = false;
  #lastError: Error | null = null;
  #reconnectTimer: NodeJS.Timeout | undefined;

  constructor(options: LinkOptions) {
    this.#o = options;
    this.#maxFrameBytes = options.maxFrameBytes ?? Limits.DEFAULT_MAX_FRAME_BYTES;
    this.#decoder = new FrameDecoder((reply) => this.#onReply(reply), this.#maxFrameBytes, this.#onRaw);
    this.#connect();
  }

  get state(): LinkState {
    return this.#state;
  }

  /** Not open, and its last connection attempt failed (the node refuses connections or is gone). */
  get unreachable(): boolean {
    return this.#failing && this.#state !== 'open';
  }

  /** Open and not pushing back: a write now goes straight to the socket. */
  get writable(): boolean {
    return this.#state === 'open' && !this.#blocked;
  }

  /** Open, not pushing back, and already holding frames of this event-loop turn. */
  get batching(): boolean {
    return this.#flushQueued && this.writable;
  }

  /** Requests whose caller still waits. */
  get waiting(): number {
    return this.#pending.waiting;
  }

  /** Replies the node still owes, expired requests included. */
  get owed(): number {
    return this.#pending.size;
  }

  /**
   * Sends `message` (slot 0 is overwritten with the request id) and calls `cb` once: with the
   * reply, TIMEOUT, NODE_UNAVAILABLE, or TOO_LARGE when the frame exceeds the frame limit.
   */
  send(message: unknown[], cb: ReplyCallback): void {
    if (this.#state === 'down' || this.#state === 'closed') {
      cb(nodeUnavailable(this.#o.nodeId, this.#state === 'closed' ? 'link closed' : 'not connected', this.unreachable));
      return;
    }
    const id = this.#nextId;
    this.#nextId = id >= 0x7fffffff ? 1 : id + 1;
    message[ID] = id;
    const before = this.#frames.size;
    const length = this.#frames.append(message);
    if (length > this.#maxFrameBytes) {
      this.#frames.truncate(before);
      cb(new ProxyError(ProxyErrorCode.TOO_LARGE, `request of ${length} bytes exceeds the frame limit of ${this.#maxFrameBytes} bytes`));
      return;
    }
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      this.#sentAt = this.#o.now();
      this.#turnDeadline = this.#sentAt + this.#o.timeoutMs;
      setImmediate(this.#flushTurn);
    }
    this.#pending.push(id, this.#turnDeadline, cb, message[OP] as number);
    this.#o.counter.inFlight++;
  }

  /** Fails waiting requests past their deadline; reconnects a wedged connection. Called by the owner's timer. */
  expire(now: number): void {
    if (this.#pending.waiting > 0) this.#pending.expire(now, this.#failTimeout);
    const oldest = this.#pending.oldestDeadline;
    if (this.#pending.expired === 0 || oldest === undefined || oldest + this.#o.wedgedMs > now || this.#socket === null || this.#socket.destroyed) return;
    this.#o.log.warn({ event: 'link', nodeId: this.#o.nodeId, state: 'wedged', owed: this.#pending.size }, 'no reply for too long; reconnecting');
    this.#socket.destroy();
  }

  /**
   * Sends a PING when the link is open and sent nothing for `idleMs`: a pooled connection that
   * carries no traffic stays under the node's idle timeout. Called by the owner's timer.
   */
  keepalive(now: number, idleMs: number): void {
    if (this.#state === 'open' && now - this.#sentAt >= idleMs) this.send(buildRequest(PING), ignoreReply);
  }

  /** Closes for good: waiting requests fail with NODE_UNAVAILABLE; resolves when the socket is gone. */
  close(): Promise<void> {
    this.#setState('closed');
    clearTimeout(this.#reconnectTimer);
    const socket = this.#socket;
    if (socket === null || socket.destroyed) {
      this.#failWaiting('link closed', false);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.destroy();
    });
  }

  #connect(): void {
    this.#setState('connecting');
    const dial = { host: this.#o.host, port: this.#o.port, access: this.#o.access ?? OPEN_ACCESS, timeoutMs: this.#o.connectTimeoutMs, writableHighWaterMark: WRITE_HIGH_WATER_MARK };
    const socket = dialPeer(dial, () => {
      socket.on('data', (chunk: Buffer) => {
        this.#readAt = this.#o.now();
        try {
          this.#decoder.push(chunk);
        } catch (err) {
          socket.destroy(err as Error);
        }
      });
      this.#attempt = 0;
      this.#failing = false;
      this.#openedAt = this.#o.now();
      this.#sentAt = this.#openedAt;
      this.#o.log.debug({ event: 'link', nodeId: this.#o.nodeId, state: 'open' }, 'connected');
      this.#setState('open');
      this.#flush();
    });
    this.#socket = socket;
    this.#broken = false;
    this.#lastError = null;
    socket.on('drain', () => {
      this.#blocked = false;
      this.#flush();
    });
    socket.on('error', (err) => (this.#lastError = err));
    // The node sent FIN (it died or is shutting down): no reply can follow, so stop using the
    // connection now rather than when 'close' comes, and no new request is written into it.
    socket.on('end', () => {
      socket.destroy();
      this.#onClose(socket);
    });
    socket.on('close', () => this.#onClose(socket));
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    const wasOpen = this.#state === 'open';
    this.#socket = null;
    this.#decoder.reset();
    this.#frames.clear();
    this.#blocked = false;
    if (this.#state === 'closed') {
      this.#failWaiting('link closed', false);
      return;
    }
    const healthy = wasOpen && this.#o.now() - this.#openedAt >= HEALTHY_CONNECTION_MS;
    this.#failing = !healthy;
    const why = wasOpen ? 'connection lost' : `cannot connect: ${this.#lastError?.message ?? 'closed'}`;
    const level = wasOpen || this.#attempt === 0 ? 'warn' : 'debug';
    this.#o.log[level]({ event: 'link', nodeId: this.#o.nodeId, state: 'down', reason: why, attempt: this.#attempt }, 'link down');
    // Requests queued while connecting were never sent; those in flight on a lost connection were.
    this.#failWaiting(why, !wasOpen);
    if (healthy) {
      this.#connect();
      return;
    }
    this.#setState('down');
    const delay = reconnectDelay(this.#attempt++, this.#o.backoff, this.#o.random);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
    this.#reconnectTimer.unref();
  }

  /**
   * Writes the frames of this turn. Runs on setImmediate, not nextTick: the fronts call in from
   * native uWS callbacks, and the nextTick queue drains after each of them, which would make
   * every request its own write; setImmediate runs once after the whole poll phase, so a turn's
   * requests to this link leave in one write.
   */
  readonly #flushTurn = (): void => {
    this.#flushQueued = false;
    this.#flush();
  };

  /** Hands every held frame to the socket in one write, unless it is not open or pushes back. */
  #flush(): void {
    const socket = this.#socket;
    if (socket === null || this.#state !== 'open' || this.#blocked || this.#frames.size === 0) return;
    this.#pending.markWritten(this.#o.now());
    if (!socket.write(this.#frames.take())) this.#blocked = true;
  }

  /** MGET's OK reply is read in place (`readMgetReply`: no object per key); any other frame is decoded by msgpackr. */
  readonly #onRaw = (bytes: Buffer, start: number, end: number): boolean | undefined => {
    if (this.#pending.headOp !== MGET_CODE) return undefined;
    const reply = readMgetReply(bytes, start, end);
    return reply === undefined ? undefined : this.#onReply(reply);
  };

  #onReply(reply: unknown[]): boolean {
    if (this.#broken) return false;
    if (this.#pending.size === 0 || reply[ID] !== this.#pending.headId) {
      this.#broken = true; // a refusal notice (id 0) or a reply out of step: nothing after it can be matched
      const why = reply[ID] === 0 ? `node refused a frame: ${String(reply[ERROR_REPLY.message])}` : `reply id ${String(reply[ID])} out of step`;
      this.#o.log.warn({ event: 'link', nodeId: this.#o.nodeId, state: 'broken', reason: why }, 'closing link');
      this.#socket?.destroy();
      return false;
    }
    const writtenAt = this.#pending.headWrittenAt as number;
    const cb = this.#pending.shift();
    if (cb === null) {
      this.#o.onLateReply?.();
      return true;
    }
    this.#o.counter.inFlight--;
    cb(null, reply, this.#readAt - writtenAt);
    return true;
  }

  readonly #failTimeout = (cb: ReplyCallback): void => {
    this.#o.counter.inFlight--;
    cb(timeoutError(this.#o.nodeId, this.#o.timeoutMs));
  };

  #failWaiting(why: string, unreachable: boolean): void {
    const waiting = this.#pending.clear();
    if (waiting.length === 0) return;
    this.#o.counter.inFlight -= waiting.length;
    const err = nodeUnavailable(this.#o.nodeId, why, unreachable);
    for (const cb of waiting) cb(err);
  }

  #setState(state: LinkState): void {
    if (this.#state === state) return;
    if (this.#state === 'closed') return;
    this.#state = state;
    this.#o.onStateChange?.(state);
  }
}
