import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AdminGate } from './admin-gate';

/** What a route answers: JSON (`body`), or text with its content type (and extra headers, e.g. cache-control). */
export type AdminAnswer =
  | { status: number; body: unknown }
  | { status: number; text: string; contentType: string; headers?: Record<string, string> };

/** A GET route of an admin port, keyed by exact path; `path` is the request path without query. */
export type AdminRoute = (path: string) => AdminAnswer | Promise<AdminAnswer>;

/**
 * An open server-sent-events stream (`text/event-stream`). The route owns it until it ends: the
 * client went away, the route closed it, or the server is closing.
 */
export interface EventStream {
  /**
   * Writes one event: `data` (a line of JSON; newlines are split into data lines) with an optional
   * event name. False, and the stream is closed, when the client does not read (more than
   * `STREAM_BUFFER_LIMIT` bytes wait in its buffer) or the stream has ended.
   */
  send(data: string, event?: string): boolean;
  close(): void;
  /** Called once when the stream ends, whoever ends it. */
  onClose(listener: () => void): void;
}

/** A GET route that answers with an event stream; it is handed the stream once the headers are out. */
export type AdminStreamRoute = (stream: EventStream) => void;

/** Bytes an event stream may hold unsent before its client counts as gone. */
export const STREAM_BUFFER_LIMIT = 1024 * 1024;

/** Event streams open at once by default (over all stream routes). */
export const DEFAULT_MAX_STREAMS = 32;

export interface AdminHttpOptions {
  registry: Registry;
  /** Routes besides `/metrics`, by exact path. */
  routes: Record<string, AdminRoute>;
  /** Event-stream routes, by exact path (behind the gate like the others). */
  streams?: Record<string, AdminStreamRoute>;
  /** Most event streams open at once; one more is answered 503 (default DEFAULT_MAX_STREAMS). */
  maxStreams?: number;
  /** Answer for paths no route matches (default 404 naming the routes). */
  fallback?: AdminRoute;
  /** Credentials check before any route (absent: open). */
  gate?: AdminGate;
}

/**
 * The admin HTTP port every program has: `GET /metrics` (Prometheus text from `registry`) plus
 * the program's own routes (`/healthz`, status pages...) and event streams (the dashboard's live
 * frames). Errors are `{ error: { code, message } }`. Nothing here is on a request path of the cache.
 * Owns: its open event streams, bounded by `maxStreams` and ended by `close`.
 */
export class AdminHttpServer {
  readonly #server: http.Server;
  readonly #streams = new Set<http.ServerResponse>();
  readonly #maxStreams: number;

  constructor(options: AdminHttpOptions) {
    const routes: Record<string, AdminRoute> = { ...options.routes, '/metrics': () => metrics(options.registry) };
    const streams = options.streams ?? {};
    this.#maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    const fallback = options.fallback ?? ((path: string) => notFound(path, [...Object.keys(routes), ...Object.keys(streams)]));
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } } });
      }
      const gate = options.gate;
      Promise.resolve()
        .then(() => gate?.check(req.headers.authorization, path))
        .then((refused) => {
          if (refused !== undefined) {
            for (const [name, value] of Object.entries(refused.headers)) res.setHeader(name, value);
            return refused;
          }
          const stream = Object.hasOwn(streams, path) ? streams[path] : undefined;
          if (stream !== undefined) return this.#openStream(req, res, stream);
          return (Object.hasOwn(routes, path) ? routes[path] : fallback)(path);
        })
        .then(
          (answer) => answer !== undefined && send(res, answer),
          (err: Error) => send(res, { status: 500, body: { error: { code: 'INTERNAL', message: err.message } } }),
        );
    });
    this.#server.keepAliveTimeout = 5000;
  }

  /** Event streams open now. */
  get openStreams(): number {
    return this.#streams.size;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /** Ends every event stream (their routes hear it), then stops listening and closes every connection. */
  close(): Promise<void> {
    for (const res of [...this.#streams]) res.end();
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /** Answers 503 over the bound; else sends the headers and hands the stream to its route (undefined: answered). */
  #openStream(req: http.IncomingMessage, res: http.ServerResponse, route: AdminStreamRoute): AdminAnswer | undefined {
    // The client may have left while its credentials were checked: its 'close' has fired already.
    if (req.destroyed || res.destroyed || res.socket === null || res.socket.destroyed) return undefined;
    if (this.#streams.size >= this.#maxStreams) {
      res.setHeader('retry-after', '5');
      return { status: 503, body: { error: { code: 'TOO_MANY_STREAMS', message: `${this.#maxStreams} event streams are open already; close one or retry later` } } };
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return undefined;
    }
    res.socket?.setNoDelay(true);
    // The browser's EventSource reconnects after this long when the stream drops.
    res.write('retry: 2000\n\n');
    this.#streams.add(res);
    const listeners: Array<() => void> = [];
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      this.#streams.delete(res);
      for (const listener of listeners) listener();
    };
    res.once('close', end);
    const stream: EventStream = {
      send: (data, event) => {
        if (ended || res.writableEnded) return false;
        if (res.writableLength > STREAM_BUFFER_LIMIT) {
          res.destroy();
          return false;
        }
        // A JSON frame has no newline: one `data:` line without splitting the frame per client.
        const lines = data.includes('\n') ? data.split('\n').map((line) => `data: ${line}\n`).join('') : `data: ${data}\n`;
        res.write(`${event === undefined ? '' : `event: ${event}\n`}${lines}\n`);
        return true;
      },
      close: () => {
        if (!res.writableEnded) res.end();
      },
      onClose: (listener) => {
        if (ended) listener();
        else listeners.push(listener);
      },
    };
    route(stream);
    return undefined;
  }
}

/** A JSON answer. */
export const json = (status: number, body: unknown): AdminAnswer => ({ status, body });

async function metrics(registry: Registry): Promise<AdminAnswer> {
  return { status: 200, text: await registry.metrics(), contentType: registry.contentType };
}

function notFound(path: string, paths: string[]): AdminAnswer {
  return json(404, { error: { code: 'NOT_FOUND', message: `no route ${path}; try ${paths.sort().join(', ')}` } });
}

function send(res: http.ServerResponse, answer: AdminAnswer): void {
  if ('text' in answer) {
    res.writeHead(answer.status, { ...answer.headers, 'content-type': answer.contentType });
    res.end(answer.text);
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer.body));
}
