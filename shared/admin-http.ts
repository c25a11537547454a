import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AdminGate } from './admin-gate';

/** What a route answers: JSON (`body`), or text with its content type. */
export type AdminAnswer =
  | { status: number; body: unknown }
  | { status: number; text: string; contentType: string };

/** A GET route of an admin port, keyed by exact path; `path` is the request path without query. */
export type AdminRoute = (path: string) => AdminAnswer | Promise<AdminAnswer>;

export interface AdminHttpOptions {
  registry: Registry;
  /** Routes besides `/metrics`, by exact path. */
  routes: Record<string, AdminRoute>;
  /** Answer for paths no route matches (default 404 naming the routes). */
  fallback?: AdminRoute;
  /** Credentials check before any route (absent: open). */
  gate?: AdminGate;
}

/**
 * The admin HTTP port every program has: `GET /metrics` (Prometheus text from `registry`) plus
 * the program's own routes (`/healthz`, status pages...). Errors are `{ error: { code, message } }`.
 * Nothing here is on a request path of the cache.
 */
export class AdminHttpServer {
  readonly #server: http.Server;

  constructor(options: AdminHttpOptions) {
    const routes: Record<string, AdminRoute> = { ...options.routes, '/metrics': () => metrics(options.registry) };
    const fallback = options.fallback ?? ((path: string) => notFound(path, Object.keys(routes)));
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, { status: 405, body: { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } } });
      }
      const gate = options.gate;
      Promise.resolve()
        .then(() => gate?.check(req.headers.authorization, path))
        .then((refused) => {
          if (refused === undefined) return (routes[path] ?? fallback)(path);
          for (const [name, value] of Object.entries(refused.headers)) res.setHeader(name, value);
          return refused;
        })
        .then(
          (answer) => send(res, answer),
          (err: Error) => send(res, { status: 500, body: { error: { code: 'INTERNAL', message: err.message } } }),
        );
    });
    this.#server.keepAliveTimeout = 5000;
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

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
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
    res.writeHead(answer.status, { 'content-type': answer.contentType });
    res.end(answer.text);
    return;
  }
  res.writeHead(answer.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer.body));
}
