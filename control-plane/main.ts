import { createLogger } from '../shared/log';
import { connectEtcd } from '../shared/topology/etcd';
import { loadEtcdAccess } from '../shared/etcd-flags';
import { TopologyWatcher } from '../shared/topology/watcher';
import type { TopologySnapshot } from '../shared/topology/snapshot';
import { AdminGate } from '../shared/admin-gate';
import { Authenticator } from '../shared/authenticator';
import { createControlAdmin } from './service/admin';
import { parseServiceConfig } from './service/config';
import { createControlMetrics } from './service/metrics';
import { topologyChanges } from './status/changes';
import { statusDocument, type StatusDocument } from './status/document';
import { DriverService } from './rebalance/driver-service';
import { DRIVER_DEFAULTS } from './rebalance/driver';
import { readMigrations } from './rebalance/records';
import { migrationMetrics } from './service/migration-metrics';
import { clusterKeys, type MigrationRecord } from '../shared/topology/schema';
import { hostname } from 'node:os';
import { NodeClients } from './rebalance/node-client';
import { commandContext } from './commands/context';
import { clusterStatus } from './commands/status';
import { ClusterSampler } from './sample/sampler';
import { DashboardHub } from './service/dashboard/hub';
import { dashboardFrame } from './service/dashboard/frame';
import { loadDashboardAssets } from './service/dashboard/assets';

/**
 * Control-plane service: one topology watch on etcd, turned into a status document on every
 * change and served on the admin port (status page, /healthz, /v1/status, /metrics), and the live
 * dashboard, whose one sampler reads the cluster only while a dashboard is open.
 *
 *   etcd ──watch──► TopologyWatcher ──change──► statusDocument ──► admin HTTP (memory only)
 *   dashboards (SSE) ◄── DashboardHub ◄── ClusterSampler: etcd read, nodes' STATS, proxies' /metrics (1/s, while subscribed)
 *
 * The admin port opens at once (healthz 503) and the watcher keeps retrying while etcd is down.
 * SIGTERM/SIGINT: close the watch, the server and the etcd client, exit 0.
 */
async function main(): Promise<void> {
  const config = parseServiceConfig(process.argv.slice(2));
  const log = createLogger('control-plane', config.logLevel);
  const watchLog = log.child({ component: 'control-plane:watch' });
  const client = connectEtcd(config.etcd, { access: loadEtcdAccess(config) });
  let current: StatusDocument | undefined;
  let snapshot: TopologySnapshot | undefined;
  const onSnapshot = (next: TopologySnapshot): void => {
    snapshot = next;
    onStatus(next);
  };
  const onStatus = (snapshot: TopologySnapshot): void => {
    const next = statusDocument(config.cluster, snapshot);
    for (const change of topologyChanges(current, next)) watchLog.info({ event: change.event, ...change.fields }, change.message);
    current = next;
  };
  const watcher = new TopologyWatcher({
    client,
    cluster: config.cluster,
    onError: (err, during) => watchLog.warn({ err: err.message, during }, 'etcd unavailable; retrying'),
  });
  watcher.on('change', onSnapshot);
  // Migrations: the list is re-read every second for the status page and /metrics; one service drives them.
  let migrations: MigrationRecord[] = [];
  const keys = clusterKeys(config.cluster);
  const refresh = setInterval(() => {
    void readMigrations(client, keys).then((list) => (migrations = list.map((m) => m.record)), () => undefined);
  }, 1000);
  const registry = createControlMetrics(() => current);
  const events = migrationMetrics(registry, () => migrations);
  const driver = new DriverService(client, config.cluster, `${hostname()}:${process.pid}`, log.child({ component: 'control-plane:driver' }), { ...DRIVER_DEFAULTS, maxParallel: 4, cutSlots: config.cutSlots, freezeMs: config.freezeMs, nodeAccess: config.nodeAccess }, events);
  driver.start();
  const auth = new Authenticator({ users: () => snapshot?.users, enabled: () => snapshot?.config?.auth === true });
  // The dashboard: its files are read now (a missing file fails the start, not the first visit).
  const assets = loadDashboardAssets();
  const ctx = commandContext(client, config.cluster);
  const sampler = new ClusterSampler(() => clusterStatus(ctx), config.proxyAdmin, { nodes: new NodeClients(config.nodeAccess), proxyAuthorization: config.proxyAuthorization });
  const migrationState = () => ({ driver: driver.state(), migrations });
  const hub = new DashboardHub({
    sampler,
    compose: (frame, error, now) => dashboardFrame({ cluster: config.cluster, frame, error, topology: snapshot, migrations: migrationState(), now }),
  });
  // Asset files hold code only: open, like /healthz; the page, its data and its stream are gated (Basic too, for the browser).
  const publicPaths = ['/healthz', ...(config.metricsPublic ? ['/metrics'] : []), ...Object.keys(assets.files)];
  const gate = new AdminGate(auth, publicPaths, { basic: true });
  const admin = createControlAdmin({ status: () => current, registry, migrations: migrationState, gate, dashboard: { hub, assets }, maxStreams: config.dashboardClients });
  const adminPort = await admin.listen(config.adminPort, config.adminHost);
  log.info({ event: 'ready', adminHost: config.adminHost, adminPort, cluster: config.cluster, etcd: config.etcd }, 'control plane ready');
  const started = watcher.start().then(
    (snapshot) => watchLog.info({ revision: snapshot.revision, initialised: snapshot.config !== undefined }, 'topology loaded'),
    (err: Error) => watchLog.error({ err: err.message }, 'topology watch failed'),
  );

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down');
    clearInterval(refresh);
    await hub.close();
    await driver.close();
    await watcher.close();
    await Promise.race([started, new Promise((r) => setTimeout(r, 1000))]);
    await admin.close();
    client.close();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`control-plane: ${(err as Error).message}`);
  process.exit(1);
});
