import v8 from 'node:v8';
import { createLogger, type Logger } from '../shared/log';
import { OP_NAME } from '../shared/protocol';
import { parseNodeConfig, type NodeConfig } from './config';
import { Store } from './store';
import { FrameServer } from './server';
import { InvalidationHub } from './invalidations';
import { STANDALONE, type WriteGate } from './handlers';
import { FillLeases } from './fill-leases';
import { createNodeMetrics } from './metrics';
import { createNodeAdmin } from './admin';
import { ClusterMember, NOT_JOINED } from './cluster';
import { NamespacePolicySync } from './cluster/namespace-policies';
import { connectEtcd } from '../shared/topology/etcd';

/** Who the node is, for STATS, /healthz and the ready line. */
interface Identity {
  role: string;
  epoch: number;
  nodeId: string;
  shardId: number | null;
  primary: string | null;
  /** Per epoch held, the wall-clock ms of the last write accepted under it (cluster mode). */
  lastWriteByEpoch?: Array<[number, number]>;
}

function warnAboutHeap(config: NodeConfig, log: Logger): void {
  const heapLimit = v8.getHeapStatistics().heap_size_limit;
  if (config.maxMemory > heapLimit * 0.6) {
    log.warn({ maxMemory: config.maxMemory, heapLimit }, 'max-memory is above 60% of the V8 heap limit; start node with --max-old-space-size to match');
  }
}

/** Joins the cluster in the background (cluster mode only); the node is ready before etcd answers. */
function startMember(config: NodeConfig, addr: string, adminAddr: string, nodeId: string, log: Logger): ClusterMember | null {
  const cluster = config.cluster;
  if (!cluster) return null;
  const member = new ClusterMember(
    {
      etcd: cluster.etcd, cluster: cluster.cluster, shardId: cluster.shardId, nodeId, zone: cluster.zone, leaseTtlSeconds: cluster.leaseTtlSeconds,
      stepDownMarginMs: cluster.stepDownMarginMs, addr, adminAddr, startedAt: Date.now(),
    },
    log.child({ component: 'storage-node:cluster' }),
  );
  member.start();
  return member;
}

/**
 * Storage node program: store + frame server + admin port + expiry sweep, and in cluster mode
 * (`--etcd`) membership, election and fencing. Clean shutdown on SIGTERM/SIGINT: stop taking
 * writes, hand the primary role over and leave etcd (bounded), close the servers, exit 0.
 */
async function main(): Promise<void> {
  const config = parseNodeConfig(process.argv.slice(2));
  const log = createLogger('storage-node', config.logLevel);
  warnAboutHeap(config, log);
  const store = new Store({
    maxMemoryBytes: config.maxMemory,
    defaultMaxItemBytes: config.maxItemBytes,
    defaultEviction: config.eviction,
    evictionSamples: config.evictionSamples,
  });
  const startedAt = Date.now();
  let gate: WriteGate = config.cluster ? NOT_JOINED : STANDALONE;
  const cluster = config.cluster;
  let identity = (): Identity => ({ role: cluster ? 'replica' : 'standalone', epoch: 0, nodeId: cluster?.nodeId ?? '', shardId: cluster?.shardId ?? null, primary: null });
  let server: FrameServer;
  const leases = new FillLeases(() => performance.now());
  const stats = (): Record<string, unknown> => {
    const c = server.counters;
    const ops: Record<string, number> = {};
    for (const [code, name] of Object.entries(OP_NAME)) ops[name] = c.ops[Number(code)];
    return {
      ...store.stats(), fillLeases: { ...leases.counters, inTable: leases.size }, ops, subscriptions: subscriptions.size, invalidationPushes: subscriptions.pushes,
      connections: c.connections, connectionsTotal: c.connectionsTotal, uptimeMs: Date.now() - startedAt, ...identity(),
    };
  };
  const subscriptions = new InvalidationHub(log.child({ component: 'storage-node:invalidations' }));
  server = new FrameServer(
    { store, gate: { check: (epoch) => gate.check(epoch) }, stats, leases, writes: subscriptions }, { ...config, subscriptions }, log.child({ component: 'storage-node:server' }),
  );
  const admin = createNodeAdmin({ registry: createNodeMetrics(store, server.counters), health: () => ({ ok: true, ...identity(), items: store.size }) });
  const port = await server.listen(config.port, config.host);
  const adminPort = await admin.listen(config.adminPort, config.adminHost);
  const sweep = setInterval(() => {
    store.sweep(config.sweepBudgetMs);
    leases.sweep();
  }, config.sweepIntervalMs);

  const host = config.cluster?.advertiseHost ?? config.host;
  const nodeId = config.cluster?.nodeId ?? `${host}-${port}`;
  const member = startMember(config, `${host}:${port}`, `${host}:${adminPort}`, nodeId, log);
  const standalone: Identity = { role: 'standalone', epoch: 0, nodeId, shardId: null, primary: `${host}:${port}` };
  identity = member ? () => ({ ...member.stats(), lastWriteByEpoch: member.role.lastWriteByEpoch() }) : () => standalone;
  if (member) gate = member.role;
  const policyClient = config.cluster ? connectEtcd(config.cluster.etcd) : null;
  const policies = policyClient && config.cluster
    ? new NamespacePolicySync(policyClient, config.cluster.cluster, (ns, policy) => store.setNamespacePolicy(ns, policy), log.child({ component: 'storage-node:policies' }))
    : null;
  policies?.start();
  log.info({ event: 'ready', host: config.host, port, adminPort, maxMemory: config.maxMemory, nodeId, shard: config.cluster?.shardId ?? null }, 'storage node ready');

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down');
    clearInterval(sweep);
    await member?.stop();
    await policies?.close();
    policyClient?.close();
    await Promise.all([server.close(), admin.close()]);
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`storage-node: ${(err as Error).message}`);
  process.exit(1);
});
