import type { AdminGate } from '../../shared/admin-gate';
import { AdminHttpServer, json, type AdminRoute, type AdminStreamRoute } from '../../shared/admin-http';
import type { Registry } from 'prom-client';
import type { StatusDocument } from '../status/document';
import { renderStatusPage } from './page';
import type { MigrationRecord } from '../../shared/topology/schema';
import type { DashboardAssets } from './dashboard/assets';
import type { DashboardHub } from './dashboard/hub';

/** Where the admin server reads what it serves. */
export interface ControlAdminOptions {
  /** The latest status document, or undefined while the topology is not loaded yet. */
  status(): StatusDocument | undefined;
  registry: Registry;
  /** Migration records and the driver's state, as last read (for /v1/migrations and the page). */
  migrations?(): { driver: { leader: boolean; running: string[] }; migrations: readonly MigrationRecord[] };
  /** Credentials check while the cluster requires auth (absent: open). */
  gate?: AdminGate;
  /** The live dashboard (absent: `/` is the static status page). */
  dashboard?: { hub: DashboardHub; assets: DashboardAssets };
  /** Most dashboards (event streams) open at once. */
  maxStreams?: number;
}

/** Path of the dashboard's event stream. */
export const DASHBOARD_EVENTS_PATH = '/v1/dashboard/events';

/**
 * The control plane's admin HTTP port:
 *
 *   GET /           the live dashboard (static/index.html; without one, the static page)
 *   GET /static     HTML status page (no script; reloads itself every 3 s)
 *   GET /healthz    200 once a snapshot of an initialised cluster is held, else 503
 *   GET /v1/status  the status document (as `shardctl status --json`); 503 while not loaded
 *   GET /v1/migrations  migration records and whether this service drives them
 *   GET /v1/dashboard   one dashboard frame (JSON; rates over the last second)
 *   GET /v1/dashboard/events  server-sent events: the charts' history, then one frame per second
 *   GET /assets/...  the dashboard's script, style and uPlot (versioned, cached for a year)
 *   GET /metrics    Prometheus text
 *
 * Every answer but the dashboard's is computed from memory; the dashboard's frames come from its
 * one shared sampler (DashboardHub), which reads the cluster only while a dashboard is open.
 */
export function createControlAdmin(options: ControlAdminOptions): AdminHttpServer {
  const notLoaded = json(503, { error: { code: 'NOT_LOADED', message: 'the topology has not been read from etcd yet' } });
  const staticPage: AdminRoute = () => ({ status: 200, text: renderStatusPage(options.status(), options.migrations?.().migrations), contentType: 'text/html; charset=utf-8' });
  const routes: Record<string, AdminRoute> = {
    '/healthz': () => json(...health(options.status())),
    '/v1/status': () => {
      const doc = options.status();
      return doc ? json(200, doc) : notLoaded;
    },
    '/v1/migrations': () => json(200, options.migrations?.() ?? { driver: { leader: false, running: [] }, migrations: [] }),
    '/static': staticPage,
    '/': staticPage,
  };
  const streams: Record<string, AdminStreamRoute> = {};
  const dashboard = options.dashboard;
  if (dashboard !== undefined) {
    routes['/'] = () => dashboard.assets.page;
    for (const [path, answer] of Object.entries(dashboard.assets.files)) routes[path] = () => answer;
    routes['/v1/dashboard'] = () => dashboard.hub.snapshot().then(
      (frame) => json(200, frame),
      (err: Error) => json(503, { error: { code: 'NOT_SAMPLED', message: err.message } }),
    );
    streams[DASHBOARD_EVENTS_PATH] = (stream) => {
      const leave = dashboard.hub.subscribe({ send: (data, event) => stream.send(data, event), close: () => stream.close() });
      stream.onClose(leave);
    };
  }
  return new AdminHttpServer({ registry: options.registry, gate: options.gate, routes, streams, maxStreams: options.maxStreams });
}

/** Health answer: ok once an initialised cluster's snapshot is held. Pure. */
export function health(doc: StatusDocument | undefined): [number, Record<string, unknown>] {
  if (!doc) return [503, { ok: false, reason: 'topology not loaded from etcd yet' }];
  if (!doc.initialised) return [503, { ok: false, reason: `cluster "${doc.cluster}" is not initialised`, revision: doc.revision }];
  const unhealthyShards = doc.shards.filter((s) => !s.healthy).map((s) => s.shardId);
  return [200, { ok: true, cluster: doc.cluster, revision: doc.revision, unhealthyShards }];
}
