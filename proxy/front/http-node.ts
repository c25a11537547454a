import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../../shared/log';
import { serverTlsOptions, type TlsMaterial } from '../../shared/tls';
import type { RunningFront } from './app';
import type { FrontRequest, FrontResponse, HttpFront } from './http';

/**
 * The HTTP/JSON API on node:http, for clients that pipeline HTTP/1.1 requests (`--pipelining-port`).
 *
 * uWS, which serves the main client port, closes a connection that sends a request while an
 * answer is still pending, and every proxied answer is pending (it waits for a node). node:http
 * parses pipelined requests as they come and writes the answers in request order, as HTTP/1.1
 * asks. The requests of one connection run one after another (`InOrder`): a GET pipelined behind
 * a PUT of the same key must see it, and a PUT's body arrives after the GET behind it has been
 * parsed. A client must keep its side of the connection open until it has its answers: a FIN
 * ends the connection (Node's default), and requests still waiting are dropped. On shutdown the
 * requests received before it are still answered in turn, the last with `connection: close`. The same
 * HttpFront serves both ports through the two small adapters below, so routes,
 * validation, limits and errors are the same; this port costs more CPU per request than uWS's
 * (Node's HTTP parser and streams), which is why it is not the main one.
 */

/**
 * Requests one connection may have waiting for their turn. Past it the connection is closed:
 * node:http parses everything a client sends (its parser reads the socket itself, so pausing the
 * socket does not stop it), and each waiting request holds its request and response objects.
 */
export const MAX_PIPELINED = 1024;

/**
 * Runs the requests of one connection one at a time, in arrival order. Once the connection is
 * gone the waiting requests are dropped: nobody could read their answers.
 */
class InOrder {
  readonly #socket: Socket;
  readonly #waiting: Array<() => void> = [];
  #busy = false;

  constructor(socket: Socket) {
    this.#socket = socket;
    socket.once('close', () => (this.#waiting.length = 0));
  }

  /** Requests waiting for their turn. */
  get queued(): number {
    return this.#waiting.length;
  }

  /** Runs `start` now if nothing of this connection is in progress, else after what is; `res` closing frees the turn. */
  run(res: ServerResponse, start: () => void): void {
    const go = (): void => {
      this.#busy = true;
      res.once('close', this.#next);
      start();
    };
    if (!this.#busy) return go();
    if (this.#waiting.length >= MAX_PIPELINED) {
      this.#socket.destroy();
      return;
    }
    this.#waiting.push(go);
  }

  readonly #next = (): void => {
    this.#busy = false;
    if (this.#socket.destroyed) this.#waiting.length = 0;
    else this.#waiting.shift()?.();
  };
}

/** A node:http request as the front reads it. */
class NodeRequest implements FrontRequest {
  readonly #req: IncomingMessage;
  readonly #path: string;
  readonly #query: string;

  constructor(req: IncomingMessage) {
    this.#req = req;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    this.#path = q < 0 ? url : url.slice(0, q);
    this.#query = q < 0 ? '' : url.slice(q + 1);
  }

  getMethod(): string {
    return (this.#req.method ?? 'GET').toLowerCase();
  }

  getUrl(): string {
    return this.#path;
  }

  getHeader(lowerCaseName: string): string {
    const value = this.#req.headers[lowerCaseName];
    return value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
  }

  getQuery(): string {
    return this.#query;
  }
}

/** A node:http response as the front writes it. */
class NodeResponse implements FrontResponse {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #line: InOrder;
  readonly #listener: { closing: boolean };

  constructor(req: IncomingMessage, res: ServerResponse, line: InOrder, listener: { closing: boolean }) {
    this.#req = req;
    this.#res = res;
    this.#line = line;
    this.#listener = listener;
  }

  moreQueued(): boolean {
    return this.#line.queued > 0;
  }

  onAborted(handler: () => void): void {
    this.#res.once('close', () => {
      if (!this.#res.writableFinished) handler();
    });
  }

  onData(handler: (chunk: ArrayBuffer, isLast: boolean) => void): void {
    this.#req.on('data', (chunk: Buffer) => handler(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength) as ArrayBuffer, false));
    this.#req.once('end', () => handler(new ArrayBuffer(0), true));
  }

  cork(cb: () => void): void {
    cb(); // node:http sends the head with the body on end()
  }

  writeStatus(status: string): void {
    this.#res.statusCode = Number(status.slice(0, 3));
    this.#res.statusMessage = status.slice(4);
  }

  writeHeader(key: string, value: string): void {
    this.#res.setHeader(key, value);
  }

  end(body?: string | Uint8Array, closeConnection?: boolean): void {
    // Once the listener closes, the last answer a connection owes ends it.
    if (closeConnection || (this.#listener.closing && this.#line.queued === 0)) this.#res.setHeader('connection', 'close');
    this.#res.end(body);
  }

  endWithoutBody(_reportedContentLength?: number, closeConnection?: boolean): void {
    this.end(undefined, closeConnection);
  }
}

/** Serves `front` on node:http at host:port (0: any free port); with `tls`, on node:https (its certificate can be swapped). */
export function startNodeHttpFront(front: HttpFront, host: string, port: number, log: Logger, tls?: TlsMaterial): Promise<RunningFront> {
  const lines = new WeakMap<Socket, InOrder>();
  const listener = { closing: false };
  const handler: RequestListener = (req, res) => {
    let line = lines.get(req.socket);
    if (line === undefined) lines.set(req.socket, (line = new InOrder(req.socket)));
    const late = front.draining; // decided at arrival: a request received before shutdown is served in its turn
    const turn = line;
    turn.run(res, () => front.serve(new NodeResponse(req, res, turn, listener), new NodeRequest(req), late));
  };
  // A TLS handshake must finish within 10 s (node's default is 120 s): an unfinished one holds a connection.
  const server = tls ? https.createServer({ ...serverTlsOptions(tls), keepAliveTimeout: 120_000, handshakeTimeout: 10_000 }, handler) : http.createServer({ keepAliveTimeout: 120_000 }, handler);
  server.on('clientError', (err, socket) => {
    log.debug({ err: err.message }, 'bad HTTP request on the pipelining port');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${port} for the pipelining port: ${err.message}`)));
    server.listen(port, host, () => {
      let closing: Promise<void> | undefined;
      resolve({
        port: (server.address() as AddressInfo).port,
        reloadable: server instanceof https.Server ? [server] : [],
        close: (graceMs = 0) => {
          // Stops listening and closes idle keep-alive connections; the others end with their
          // last answer (`connection: close`), or when the grace runs out.
          closing ??= new Promise((done) => {
            listener.closing = true;
            const timer = setTimeout(() => server.closeAllConnections(), graceMs);
            server.close(() => {
              clearTimeout(timer);
              done();
            });
          });
          return closing;
        },
      });
    });
  });
}
