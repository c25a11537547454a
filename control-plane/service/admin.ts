import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { StatusDocument } from '../status/document';
import { renderStatusPage } from './page';

/** Where the admin server reads what it serves. */
export interface ControlAdminOptions {
  /** The latest status document, or undefined while the topology is not loaded yet. */
  status(): StatusDocument | undefined;
  registry: Registry;
}

/**
 * The control plane's admin HTTP port:
 *
 *   GET /           HTML status page
 *   GET /healthz    200 once a snapshot of an initialised cluster is held, else 503
 *   GET /v1/status  the status document (as `shardctl status --json`); 503 while not loaded
 *   GET /metrics    Prometheus text
 *
 * Every answer is computed from memory; no request awaits etcd.
 */
export class ControlAdminServer {
  readonly #server: http.Server;

  constructor(options: ControlAdminOptions) {
    this.#server = http.createServer((req, res) => route(options, req, res));
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

function route(options: ControlAdminOptions, req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'use GET' } });
  const doc = options.status();
  if (path === '/healthz') return sendJson(res, ...health(doc));
  if (path === '/v1/status') {
    return doc ? sendJson(res, 200, doc) : sendJson(res, 503, { error: { code: 'NOT_LOADED', message: 'the topology has not been read from etcd yet' } });
  }
  if (path === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(renderStatusPage(doc));
    return;
  }
  if (path === '/metrics') {
    options.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': options.registry.contentType });
        res.end(text);
      },
      (err: Error) => sendJson(res, 500, { error: { code: 'INTERNAL', message: err.message } }),
    );
    return;
  }
  sendJson(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${path}; try /, /healthz, /v1/status or /metrics` } });
}

/** Health answer: ok once an initialised cluster's snapshot is held. Pure. */
export function health(doc: StatusDocument | undefined): [number, Record<string, unknown>] {
  if (!doc) return [503, { ok: false, reason: 'topology not loaded from etcd yet' }];
  if (!doc.initialised) return [503, { ok: false, reason: `cluster "${doc.cluster}" is not initialised`, revision: doc.revision }];
  const unhealthyShards = doc.shards.filter((s) => !s.healthy).map((s) => s.shardId);
  return [200, { ok: true, cluster: doc.cluster, revision: doc.revision, unhealthyShards }];
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
