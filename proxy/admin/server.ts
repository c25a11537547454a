import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { AdminGate } from '../../shared/admin-gate';
import type { Logger } from '../../shared/log';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import type { RouteInfo } from '../backend';
import { ProxyErrorCode } from '../errors';
import { httpStatusOf } from '../front/http-status';
import { keyArg, namespaceArg } from '../front/validate';
import { toWireError, type WireError } from '../front/wire-error';
import { healthJson, topologyJson } from './topology-json';

export interface AdminOptions {
  registry: Registry;
  /** The snapshot requests are routed by; undefined before the first load. */
  snapshot(): TopologySnapshot | undefined;
  route(ns: string, key: string): RouteInfo;
  /** `/v1/admin/hotkeys`: the hot-key report (top keys, rules, near cache); absent = 404. */
  hotKeys?(): unknown;
  /** `/v1/admin/regions`: this region, its peers and what was received from them; absent = 404. */
  regions?(): unknown;
  log: Logger;
  /** Credentials check before any route while the cluster requires auth (absent: open). */
  gate?: AdminGate;
}

type Answer = { status: number; body: unknown } | { status: number; text: Promise<string>; type: string };

const ROUTE_PREFIX = '/v1/admin/route/';

/**
 * The proxy's admin port (node:http; nothing here is on the request path):
 *   GET /metrics                         Prometheus text of the registry shared with the data plane
 *   GET /healthz                         200 with a snapshot of an initialised cluster, else 503
 *   GET /v1/admin/topology               the snapshot requests are routed by, as JSON
 *   GET /v1/admin/route/{namespace}/{key} slot, shard, primary, replicas and hot-key rule of a key
 *   GET /v1/admin/hotkeys                 this proxy's hottest keys (estimated GETs/s, mode), active rules, near cache
 *   GET /v1/admin/regions                 this region, its peers, invalidations received per peer (lag, behind)
 * Errors use the same `{ error: { code, message } }` body and status table as the HTTP front.
 * While the cluster requires auth, `gate` asks every path but the public ones for an admin's
 * bearer token (hot-key names and routes of keys are for admins only).
 */
export class ProxyAdminServer {
  readonly #server: http.Server;
  readonly #options: AdminOptions;

  constructor(options: AdminOptions) {
    this.#options = options;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 5000;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    const gate = this.#options.gate;
    if (gate === undefined) return this.#serve(req, res, path);
    gate.check(req.headers.authorization, path).then((refused) => {
      if (refused === undefined) return this.#serve(req, res, path);
      for (const [name, value] of Object.entries(refused.headers)) res.setHeader(name, value);
      send(res, refused.status, refused.body);
    }, (err: unknown) => send(res, 500, { error: toWireError(err, (e) => this.#options.log.error({ err: e }, 'admin credentials check failed')) }));
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse, path: string): void {
    const answer = this.#answer(req.method ?? 'GET', path);
    if ('body' in answer) return send(res, answer.status, answer.body);
    answer.text.then(
      (text) => {
        res.writeHead(answer.status, { 'content-type': answer.type });
        res.end(text);
      },
      (err: unknown) => send(res, 500, { error: toWireError(err, (e) => this.#options.log.error({ err: e }, 'metrics collection failed')) }),
    );
  }

  #answer(method: string, path: string): Answer {
    if (method !== 'GET' && method !== 'HEAD') return failure({ code: 'METHOD_NOT_ALLOWED', message: 'the admin port answers GET only' });
    if (path === '/metrics') return { status: 200, text: this.#options.registry.metrics(), type: this.#options.registry.contentType };
    const snapshot = this.#options.snapshot();
    if (path === '/healthz') {
      const health = healthJson(snapshot);
      return { status: health.ok ? 200 : 503, body: health };
    }
    if (path === '/v1/admin/topology') {
      return snapshot ? { status: 200, body: topologyJson(snapshot) } : failure({ code: ProxyErrorCode.UNAVAILABLE, message: 'topology not loaded from etcd yet' });
    }
    if (path.startsWith(ROUTE_PREFIX)) return this.#route(path.slice(ROUTE_PREFIX.length));
    if (path === '/v1/admin/hotkeys' && this.#options.hotKeys !== undefined) return { status: 200, body: this.#options.hotKeys() };
    if (path === '/v1/admin/regions' && this.#options.regions !== undefined) return { status: 200, body: this.#options.regions() };
    return failure({ code: ProxyErrorCode.NOT_FOUND, message: `no route ${path.slice(0, 200)}; try /metrics, /healthz, /v1/admin/topology, /v1/admin/hotkeys, /v1/admin/regions or /v1/admin/route/{namespace}/{key}` });
  }

  #route(rest: string): Answer {
    const parts = rest.split('/');
    try {
      if (parts.length !== 2) throw new Error('shape');
      const [ns, key] = parts.map((p) => decodeURIComponent(p));
      return { status: 200, body: this.#options.route(namespaceArg(ns), keyArg(key)) };
    } catch (err) {
      if (err instanceof URIError || (err as Error).message === 'shape') {
        return failure({ code: ProxyErrorCode.BAD_REQUEST, message: 'expected /v1/admin/route/{namespace}/{key} with a percent-encoded key' });
      }
      return failure(toWireError(err, (e) => this.#options.log.error({ err: e }, 'route lookup failed')));
    }
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

function failure(error: WireError): Answer {
  return { status: httpStatusOf(error.code), body: { error } };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
