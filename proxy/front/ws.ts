import type { HttpRequest, HttpResponse, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { Principal } from '../../shared/authenticator';
import type { Logger } from '../../shared/log';
import { resolveCredentials } from './auth';
import { EdgeErrorCode, ProxyErrorCode } from '../errors';
import type { Dispatcher } from './dispatcher';
import { SHUTTING_DOWN, writeReply } from './http';
import { originRefusal } from './http-guards';
import { errorReply as httpErrorReply } from './http-replies';
import type { FrontMetrics } from './metrics';
import { MsgpackWriter } from '../msgpack-writer';
import { appendReply, decodeMessage, errorReply, okReply, resultOf, type Decoded } from './ws-protocol';
import { toWireError, type EdgeError, type WireError } from './wire-error';

export interface WsFrontOptions {
  dispatcher: Dispatcher;
  metrics: FrontMetrics;
  log: Logger;
  /** Largest message accepted; uWS drops the connection on a larger one. */
  maxMessageBytes: number;
  /** Unsent reply bytes a client may leave unread before the connection is closed (1008). */
  maxBufferedBytes: number;
  /** Requests one connection may have in flight; more are answered RATE_LIMITED. */
  maxInFlight: number;
  /** Open connections this front keeps (`--max-connections`); an upgrade past it gets 503 TOO_MANY_CONNECTIONS. */
  maxConnections: number;
  /** Origins a browser may connect from (`--allowed-origins`); others get 403 FORBIDDEN_ORIGIN. Absent: no check. */
  allowedOrigins?: ReadonlySet<string>;
}

const NO_CREDENTIALS: EdgeError = { code: ProxyErrorCode.NOAUTH, message: 'authentication required: send "Authorization: Bearer <user>:<password>" with the upgrade' };

/** Per-connection state (uWS user data). `open` turns false in the close handler. */
export interface WsConnection {
  open: boolean;
  /** Who authenticated at the upgrade (undefined: no credentials, or auth off). */
  principal: Principal | undefined;
  /** The client connected with `?batch=1`: a turn's replies may share one message. */
  batched: boolean;
  /** Replies waiting for the end of this event-loop turn, encoded back to back... */
  out: MsgpackWriter;
  /** ...and where each ends in `out`. */
  ends: number[];
  inFlight: number;
}

/**
 * Reply buffers: each connection's starts small; after a flush it keeps what it grew to only while
 * requests are in flight (and at most 1 MiB), so idle connections hold at most a few KiB each.
 */
const REPLY_BUFFER_BYTES = 512;
const KEEP_REPLY_BUFFER_BUSY = 1024 * 1024;
const KEEP_REPLY_BUFFER_IDLE = 4096;

/** Largest message of batched replies the front builds; a longer turn's replies take several. */
export const MAX_BATCH_REPLY_BYTES = 256 * 1024;

type Socket = WebSocket<WsConnection>;

/** Close codes the front uses (RFC 6455). */
export const WsClose = { GOING_AWAY: 1001, POLICY: 1008 } as const;

/**
 * The WebSocket binary front (`/v1/ws`); ws-protocol.ts has the frames:
 *
 *   message ─► (text? ─► error id 0) ─► backlog check ─► decodeMessage ─► dispatcher.dispatch (each) ─► corked send
 *
 * Requests are pipelined: each runs as soon as it arrives and its reply leaves when it completes,
 * carrying its id. A message may carry several requests (a batch), and a client that connected
 * with `?batch=1` gets the replies of one event-loop turn in one message: one WebSocket frame and
 * one callback for many requests, on both sides. Bounds: message size (uWS), requests in flight per connection, and unread reply
 * bytes: a client that stops reading is closed with 1008 instead of growing the proxy's memory.
 * Upgrades are refused over HTTP before a socket exists: a foreign Origin (403 FORBIDDEN_ORIGIN,
 * when `allowedOrigins` is set) and a full front (503 TOO_MANY_CONNECTIONS, `maxConnections`).
 * Owns the set of open sockets (on shutdown, each ended with 1001 once its replies are sent).
 */
export class WsFront {
  readonly behavior: WebSocketBehavior<WsConnection>;
  readonly #options: WsFrontOptions;
  readonly #sockets = new Set<Socket>();
  readonly #errorOf: (err: Error) => WireError;
  /** Set by `drain`; resolved once every socket is closed. */
  #draining = false;
  #drained: (() => void) | undefined;

  constructor(options: WsFrontOptions) {
    this.#options = options;
    this.#errorOf = (err) => toWireError(err, (e) => options.log.error({ err: e }, 'unexpected failure of one key in a batch'));
    this.behavior = {
      maxPayloadLength: options.maxMessageBytes,
      maxBackpressure: options.maxBufferedBytes,
      closeOnBackpressureLimit: 1,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.#onUpgrade(res, req, context),
      open: (ws) => {
        this.#sockets.add(ws);
        options.metrics.wsOpened();
      },
      message: (ws, message, isBinary) => this.#onMessage(ws, message, isBinary),
      close: (ws) => {
        ws.getUserData().open = false;
        this.#sockets.delete(ws);
        options.metrics.wsClosed();
        if (this.#draining && this.#sockets.size === 0) this.#drained?.();
      },
    };
  }

  /**
   * Accepts an upgrade, or refuses it with an HTTP answer before any WebSocket exists: a foreign
   * Origin (403), then a full front (503). The refused connection is closed.
   */
  #onUpgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const refusal = originRefusal(req.getHeader('origin'), this.#options.allowedOrigins) ?? this.#capacityRefusal();
    if (refusal !== undefined) return this.#refuseUpgrade(res, refusal);
    // uWS frees `req` when this returns: read what the upgrade needs before any wait.
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const batched = req.getQuery('batch') === '1';
    const dispatcher = this.#options.dispatcher;
    const authorization = dispatcher.authRequired ? req.getHeader('authorization') : '';
    let aborted = false;
    let sync = true;
    res.onAborted(() => (aborted = true));
    resolveCredentials(dispatcher.auth, authorization, (who) => {
      if (aborted) return;
      const upgrade = (): void => {
        // With auth on, a socket opens only with valid credentials (each request is still checked against the grants).
        const refused = !who.ok ? who.error : dispatcher.authRequired && who.principal === undefined ? NO_CREDENTIALS : this.#capacityRefusal();
        if (refused !== undefined) return this.#refuseUpgrade(res, refused);
        const conn: WsConnection = { open: true, principal: who.ok ? who.principal : undefined, batched, inFlight: 0, out: new MsgpackWriter(REPLY_BUFFER_BYTES), ends: [] };
        res.upgrade(conn, key, protocol, extensions, context);
      };
      if (sync) upgrade();
      else res.cork(upgrade);
    });
    sync = false;
  }

  #refuseUpgrade(res: HttpResponse, refusal: EdgeError): void {
    this.#options.metrics.refused('ws', refusal.code);
    writeReply(res, httpErrorReply(refusal), { close: true });
  }

  /** 503 once `maxConnections` sockets are open (uWS runs `open` within `res.upgrade`, so an accepted upgrade counts at once). */
  #capacityRefusal(): EdgeError | undefined {
    if (this.#draining) return SHUTTING_DOWN;
    const max = this.#options.maxConnections;
    if (this.#sockets.size < max) return undefined;
    return { code: EdgeErrorCode.TOO_MANY_CONNECTIONS, message: `this proxy already holds its maximum of ${max} WebSocket connections (--max-connections); retry later or use another proxy` };
  }

  /**
   * Proxy shutdown: a request arriving from now on is answered UNAVAILABLE, and each connection
   * is closed with 1001 once its requests in flight are answered and their replies sent.
   * Resolves when every connection is closed.
   */
  drain(): Promise<void> {
    this.#draining = true;
    const done = new Promise<void>((resolve) => (this.#drained = resolve));
    for (const ws of [...this.#sockets]) this.#endIfDone(ws, ws.getUserData());
    if (this.#sockets.size === 0) this.#drained?.();
    return done;
  }

  /** While draining: closes a connection with nothing in flight and nothing left to send. */
  #endIfDone(ws: Socket, conn: WsConnection): void {
    if (conn.open && conn.inFlight === 0 && conn.ends.length === 0) ws.end(WsClose.GOING_AWAY, 'proxy shutting down');
  }

  /** Ends every open connection with 1001 (going away); returns how many there were. */
  closeAll(): number {
    const open = [...this.#sockets];
    for (const ws of open) ws.end(WsClose.GOING_AWAY, 'proxy shutting down');
    return open.length;
  }

  #onMessage(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const conn = ws.getUserData();
    const { maxBufferedBytes, maxInFlight } = this.#options;
    if (ws.getBufferedAmount() > maxBufferedBytes) {
      this.#options.metrics.refused('ws', 'not_reading');
      ws.end(WsClose.POLICY, 'client is not reading its replies');
      return;
    }
    if (!isBinary) return this.#refuse(ws, conn, 0, { code: ProxyErrorCode.BAD_REQUEST, message: 'text messages are not accepted; send binary msgpack [id, op, ...args]' }, 'text_message');
    const requests = decodeMessage(new Uint8Array(message));
    for (let i = 0; i < requests.length; i++) this.#run(ws, conn, requests[i], maxInFlight);
  }

  #run(ws: Socket, conn: WsConnection, decoded: Decoded, maxInFlight: number): void {
    if (!decoded.ok) return this.#refuse(ws, conn, decoded.id, decoded.error, decoded.error.code);
    if (this.#draining) return this.#refuse(ws, conn, decoded.id, { code: ProxyErrorCode.UNAVAILABLE, message: SHUTTING_DOWN.message }, 'shutting_down');
    if (conn.inFlight >= maxInFlight) {
      const error = { code: ProxyErrorCode.RATE_LIMITED, message: `more than ${maxInFlight} requests in flight on this connection; wait for replies` };
      return this.#refuse(ws, conn, decoded.id, error, 'in_flight');
    }
    conn.inFlight++;
    this.#options.dispatcher.dispatch('ws', decoded.command, (reply) => {
      conn.inFlight--;
      this.#send(ws, conn, reply.ok ? okReply(decoded.id, resultOf(reply.outcome, Date.now(), this.#errorOf)) : errorReply(decoded.id, reply.error));
    }, conn.principal);
  }

  #refuse(ws: Socket, conn: WsConnection, id: number, error: WireError, reason: string): void {
    this.#options.metrics.refused('ws', reason);
    this.#send(ws, conn, errorReply(id, error));
  }

  /**
   * Queues a reply, encoded into the connection's buffer; the replies of one event-loop turn go
   * out together under one cork (one syscall per connection per turn rather than one per reply:
   * replies arrive from upstream data callbacks, each of which would otherwise send on its own).
   * A closed uWS socket throws on any call: the connection's own flag is checked first.
   */
  #send(ws: Socket, conn: WsConnection, reply: unknown[]): void {
    if (!conn.open) return;
    appendReply(conn.out, reply);
    conn.ends.push(conn.out.size);
    if (conn.ends.length === 1) setImmediate(this.#flush, ws, conn);
  }

  readonly #flush = (ws: Socket, conn: WsConnection): void => {
    flushReplies(ws, conn);
    if (this.#draining) this.#endIfDone(ws, conn);
  };
}

/** Sends a turn's replies: one message each, or (batched) back to back, at most MAX_BATCH_REPLY_BYTES a message. */
export function flushReplies(ws: Pick<Socket, 'cork' | 'send'>, conn: WsConnection): void {
  const { out, ends } = conn;
  if (conn.open) {
    ws.cork(() => {
      let from = 0;
      // A send over the backpressure limit closes the socket (conn.open turns false) mid-loop.
      for (let i = 0; i < ends.length && conn.open; ) {
        let to = i + 1;
        if (conn.batched) while (to < ends.length && ends[to] - from <= MAX_BATCH_REPLY_BYTES) to++;
        ws.send(out.view(from, ends[to - 1]), true);
        from = ends[to - 1];
        i = to;
      }
    });
  }
  ends.length = 0;
  if (out.capacity > (conn.inFlight > 0 ? KEEP_REPLY_BUFFER_BUSY : KEEP_REPLY_BUFFER_IDLE)) conn.out = new MsgpackWriter(REPLY_BUFFER_BYTES);
  else out.clear();
}
