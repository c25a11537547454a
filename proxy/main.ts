import client from 'prom-client';
import { AdminGate } from '../shared/admin-gate';
import { Authenticator } from '../shared/authenticator';
import { createLogger, type Logger } from '../shared/log';
import { connectEtcd } from '../shared/topology/etcd';
import { loadEtcdAccess } from '../shared/etcd-flags';
import type { TlsWatch } from '../shared/tls';
import { TopologyWatcher } from '../shared/topology/watcher';
import { ProxyAdminServer } from './admin/server';
import { parseProxyConfig, type ProxyConfig } from './config';
import { snapshotOf } from './backend';
import { createDataPlane, type DataPlane } from './data-plane';
import { startFront, type RunningFront } from './front/app';
import { Dispatcher } from './front/dispatcher';
import { FrontMetrics } from './front/metrics';
import { RespServer } from './front/resp/server';
import { loadClientTls, watchClientTls } from './front/tls';
import { NamespaceLimiter } from './limits/namespace-limiter';
import { startAutoPromotion } from './hotkeys/promoter';
import { clusterKeys } from '../shared/topology/schema';
import { isWorker, reportReady, runPrimary } from './workers';
import { RegionFigures } from './region/figures';
import { loadRegionSecret } from '../shared/region-secret';
import { RegionService } from './region/service';

/** Everything the proxy started, in the order it stops them. */
interface Running {
  front: RunningFront;
  resp: RespServer;
  admin: ProxyAdminServer;
  adminPort: number;
  dataPlane: DataPlane;
  watcher: TopologyWatcher;
  etcd: ReturnType<typeof connectEtcd>;
  promotion: { close(): Promise<void> };
  loading: Promise<unknown>;
  /** Certificate reloads of the TLS client ports (absent without TLS). */
  tlsWatch?: TlsWatch;
}

/** Starts the topology watch in the background: it retries while etcd is down and never rejects. */
function watchTopology(watcher: TopologyWatcher, log: Logger): Promise<unknown> {
  return watcher.start().then(
    (s) => log.info({ event: 'topology', revision: s.revision, initialised: s.config !== undefined }, 'topology loaded'),
    (err: Error) => log.error({ err: err.message }, 'topology watch failed'),
  );
}

async function start(config: ProxyConfig, log: Logger): Promise<Running> {
  const watchLog = log.child({ component: 'proxy:topology' });
  const tls = loadClientTls(config, log.child({ component: 'proxy:tls' }));
  const etcd = connectEtcd(config.etcd, { access: loadEtcdAccess(config) });
  const watcher = new TopologyWatcher({ client: etcd, cluster: config.cluster, onError: (err, during) => watchLog.warn({ err: err.message, during }, 'etcd unavailable; retrying') });
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'shardcache_proxy_' });
  const dataPlane = createDataPlane({
    topology: watcher, registry, log, requestTimeoutMs: config.requestTimeoutMs, connectionsPerNode: config.connectionsPerNode, nodeAccess: config.nodeAccess,
  });
  const metrics = new FrontMetrics(registry);
  // Each worker process is a proxy of its own for the limit: it admits limit / (proxies × workers).
  const limiter = new NamespaceLimiter({ proxyCount: config.proxyCount * config.workers, registry });
  const auth = proxyAuthenticator(dataPlane, registry);
  const dispatcher = new Dispatcher({ backend: dataPlane, metrics, log: log.child({ component: 'proxy:dispatch' }), limiter, auth });
  const region = new RegionService({
    secret: loadRegionSecret(), applier: dataPlane, backend: dataPlane, snapshot: () => dataPlane.snapshot,
    figures: new RegionFigures({ registry }), log: log.child({ component: 'proxy:region' }),
  });
  const front = await startFront({
    dispatcher, metrics, log, maxBodyBytes: config.maxBodyBytes, wsMaxBufferedBytes: config.wsMaxBufferedBytes, wsMaxInFlight: config.wsMaxInFlight,
    pipeliningPort: config.pipeliningPort, wsMaxConnections: config.maxConnections, allowedOrigins: config.allowedOrigins, tls, region,
  }, config.host, config.httpPort);
  const resp = new RespServer({
    dispatcher, backend: dataPlane, metrics, log: log.child({ component: 'proxy:resp' }), namespace: config.respNamespace, tls,
    limits: {
      maxBulkBytes: config.respMaxBulkBytes, maxMultibulk: config.respMaxMultibulk, maxQueryBytes: config.respMaxQueryBytes,
      maxInFlight: config.respMaxInFlight, maxBufferedBytes: config.respMaxBufferedBytes,
      maxClients: config.respMaxClients, idleTimeoutMs: config.respIdleTimeoutS * 1000, requestTimeoutMs: config.respRequestTimeoutMs,
      inputBudgetBytes: config.respInputBudget,
    },
  });
  try {
    await resp.listen(config.host, config.respPort);
  } catch (err) {
    await front.close();
    throw err;
  }
  const admin = new ProxyAdminServer({
    registry, snapshot: () => dataPlane.snapshot, route: (ns, key) => dataPlane.route(ns, key), hotKeys: () => dataPlane.hotKeys.report(), regions: () => region.report(),
    log: log.child({ component: 'proxy:admin' }), gate: new AdminGate(auth, config.metricsPublic ? ['/healthz', '/metrics'] : ['/healthz']),
  });
  let adminPort: number;
  try {
    adminPort = await admin.listen(config.adminPort, config.adminHost);
  } catch (err) {
    await Promise.all([front.close(), resp.close()]);
    throw new Error(`cannot listen on ${config.adminHost}:${config.adminPort} for the admin port: ${(err as Error).message}`);
  }
  const promotion = startAutoPromotion(dataPlane, etcd, clusterKeys(config.cluster), log);
  const loading = watchTopology(watcher, watchLog).then(() => warnIfOpen(dataPlane, config.host, log));
  const tlsWatch = tls ? watchClientTls(tls, [resp, ...front.reloadable], log.child({ component: 'proxy:tls' })) : undefined;
  return { front, resp, admin, adminPort, dataPlane, watcher, etcd, promotion, loading, tlsWatch };
}


/** Credentials from the users every proxy watches; attempts counted by result. */
function proxyAuthenticator(dataPlane: DataPlane, registry: client.Registry): Authenticator {
  const attempts = new client.Counter({ name: 'shardcache_proxy_auth_attempts_total', help: 'credential verifications, by result', labelNames: ['result'], registers: [registry] });
  return new Authenticator({
    users: () => snapshotOf(dataPlane)?.users,
    enabled: () => snapshotOf(dataPlane)?.config?.auth === true,
    onVerify: (ok) => attempts.inc({ result: ok ? 'ok' : 'wrongpass' }),
  });
}

/** Auth off is for loopback deployments: say so when the client ports listen beyond it. */
function warnIfOpen(dataPlane: DataPlane, host: string, log: Logger): void {
  const loopback = host === 'localhost' || host === '::1' || host.startsWith('127.');
  if (!loopback && snapshotOf(dataPlane)?.config?.auth !== true) {
    log.warn({ event: 'auth-off', host }, 'the cluster does not require authentication and the client ports listen beyond loopback: anyone who reaches them reads and writes every namespace (shardctl auth on; docs/security.md)');
  }
}

/**
 * Proxy program: one client port (HTTP/JSON + WebSocket on uWebSockets.js), one RESP port (Redis
 * clients, on node:net; node:tls with --tls-cert) and one admin port, routing by a topology watched from etcd; with
 * `--pipelining-port`, the HTTP/JSON API on node:http too, for clients that pipeline.
 *
 *   etcd ──watch──► TopologyWatcher ──change──► data plane (routes, links, breakers)
 *   clients ──► front (HTTP, WS, RESP) ──► Dispatcher ──► data plane ──► storage nodes
 *
 * The ports open at once; until a topology of an initialised cluster is loaded the fronts answer
 * 503 UNAVAILABLE and /healthz 503, while the watcher keeps retrying etcd. SIGTERM/SIGINT: stop
 * accepting, answer the requests already received (`--shutdown-grace-ms`) and close the client
 * connections, then the data plane, the watch and etcd; exit 0. SIGHUP (with TLS): reload the client-port
 * certificate for the RESP and pipelining ports (proxy/front/tls.ts).
 */
async function main(): Promise<void> {
  const config = parseProxyConfig(process.argv.slice(2));
  const log = createLogger('proxy', config.logLevel);
  if (config.workers > 1 && !isWorker()) return runPrimary(config, process.argv.slice(2), log.child({ component: 'proxy:primary' }));
  const running = await start(config, log);
  const ports = { httpPort: running.front.port, respPort: running.resp.port, adminPort: running.adminPort, pipeliningPort: running.front.pipeliningPort };
  if (isWorker()) reportReady(ports);
  log.info({ event: isWorker() ? 'worker-ready' : 'ready', host: config.host, ...ports, tls: running.resp.tls, cluster: config.cluster, etcd: config.etcd }, 'proxy ready');

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down');
    running.tlsWatch?.close();
    // New connections are refused at once; requests already received are answered (bounded).
    await Promise.all([running.front.close(config.shutdownGraceMs), running.resp.close(config.shutdownGraceMs), running.admin.close()]);
    await running.promotion.close();
    await running.dataPlane.close();
    await running.watcher.close();
    await Promise.race([running.loading, new Promise((r) => setTimeout(r, 1000))]);
    running.etcd.close();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`proxy: ${(err as Error).message}`);
  process.exit(1);
});
