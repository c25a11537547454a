import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface AdminOptions {
  registry: Registry;
  /** Health document; `ok: false` answers 503. */
  health(): { ok: boolean } & Record<string, unknown>;
}

/** The node's admin HTTP port: `GET /metrics` (Prometheus text) and `GET /healthz` (JSON). */
export class AdminServer {
  readonly #server: http.Server;

  constructor(options: AdminOptions) {
    this.#server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } });
      if (path === '/healthz') {
        const health = options.health();
        return send(res, health.ok ? 200 : 503, health);
      }
      if (path === '/metrics') {
        options.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': options.registry.contentType });
            res.end(text);
          },
          (err: Error) => send(res, 500, { error: { code: 'INTERNAL', message: err.message } }),
        );
        return;
      }
      send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}; try /metrics or /healthz` } });
    });
    this.#server.keepAliveTimeout = 5000;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve((this.#server.address() as AddressInfo).port));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
