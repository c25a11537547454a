import type { AdminGate } from '../../shared/admin-gate';
import { AdminHttpServer, json } from '../../shared/admin-http';
import type { Registry } from 'prom-client';
import type { StatusDocument } from '../status/document';
import { renderStatusPage } from './page';
import type { MigrationRecord } from '../../shared/topology/schema';

/** Where the admin server reads what it serves. */
export interface ControlAdminOptions {
  /** The latest status document, or undefined while the topology is not loaded yet. */
  status(): StatusDocument | undefined;
  registry: Registry;
  /** Migration records and the driver's state, as last read (for /v1/migrations and the page). */
  migrations?(): { driver: { leader: boolean; running: string[] }; migrations: readonly MigrationRecord[] };
  /** Credentials check while the cluster requires auth (absent: open). */
  gate?: AdminGate;
}

/**
 * The control plane's admin HTTP port:
 *
 *   GET /           HTML status page
 *   GET /healthz    200 once a snapshot of an initialised cluster is held, else 503
 *   GET /v1/status  the status document (as `shardctl status --json`); 503 while not loaded
 *   GET /v1/migrations  migration records and whether this service drives them
 *   GET /metrics    Prometheus text
 *
 * Every answer is computed from memory; no request awaits etcd.
 */
export function createControlAdmin(options: ControlAdminOptions): AdminHttpServer {
  const notLoaded = json(503, { error: { code: 'NOT_LOADED', message: 'the topology has not been read from etcd yet' } });
  return new AdminHttpServer({
    registry: options.registry,
    gate: options.gate,
    routes: {
      '/healthz': () => json(...health(options.status())),
      '/v1/status': () => {
        const doc = options.status();
        return doc ? json(200, doc) : notLoaded;
      },
      '/v1/migrations': () => json(200, options.migrations?.() ?? { driver: { leader: false, running: [] }, migrations: [] }),
      '/': () => ({ status: 200, text: renderStatusPage(options.status(), options.migrations?.().migrations), contentType: 'text/html; charset=utf-8' }),
    },
  });
}

/** Health answer: ok once an initialised cluster's snapshot is held. Pure. */
export function health(doc: StatusDocument | undefined): [number, Record<string, unknown>] {
  if (!doc) return [503, { ok: false, reason: 'topology not loaded from etcd yet' }];
  if (!doc.initialised) return [503, { ok: false, reason: `cluster "${doc.cluster}" is not initialised`, revision: doc.revision }];
  const unhealthyShards = doc.shards.filter((s) => !s.healthy).map((s) => s.shardId);
  return [200, { ok: true, cluster: doc.cluster, revision: doc.revision, unhealthyShards }];
}
