import type { Registry } from 'prom-client';
import { AdminHttpServer, json } from '../shared/admin-http';

export interface AdminOptions {
  registry: Registry;
  /** Health document; `ok: false` answers 503. */
  health(): { ok: boolean } & Record<string, unknown>;
}

/** The node's admin HTTP port: `GET /metrics` (Prometheus text) and `GET /healthz` (JSON). */
export function createNodeAdmin(options: AdminOptions): AdminHttpServer {
  return new AdminHttpServer({
    registry: options.registry,
    routes: {
      '/healthz': () => {
        const health = options.health();
        return json(health.ok ? 200 : 503, health);
      },
    },
  });
}
