import type { PeerAccess } from '../shared/peer-auth';
import { clientTlsOptions, loadTls, reloadOnChange, TLS_FLAGS } from '../shared/tls';
import v8 from 'node:v8';
import { createLogger, type Logger } from '../shared/log';
import { OP_NAME } from '../shared/protocol';
import { parseNodeConfig, type NodeConfig } from './config';
import { Store } from './store';
import { FrameServer } from './server';
import { InvalidationHub } from './invalidations';
import { STANDALONE, type HandlerContext, type WriteGate } from './handlers';
import type net from 'node:net';
import type { Held } from './replication/ack-wait';
import { WritePolicyRuntime, type ReplySlots } from './write-policy/runtime';
import { RegionRuntime, type RegionFigures } from './region/runtime';
import { loadRegionSecret } from '../shared/region-secret';
import { FillLeases } from './fill-leases';
import { createNodeMetrics } from './metrics';
import { createNodeAdmin } from './admin';
import { ClusterMember, NOT_JOINED, SHUTTING_DOWN } from './cluster';
import { handOver } from './shutdown';
import { NamespacePolicySync } from './cluster/namespace-policies';
import { connectEtcd, type EtcdAccess } from '../shared/topology/etcd';
import { loadEtcdAccess } from '../shared/etcd-flags';
import { NodeReplication, type ReplicationStats } from './replication/node-replication';
import type { NamespacePolicy, ReplOffsetRecord } from '../shared/topology/schema';
import type { TopologySnapshot } from '../shared/topology/snapshot';
import { SlotOwnership } from './migration/ownership';
import { NodeMigration } from './migration/node-migration';
import { EtcdCommitter } from './migration/commit';

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
  } else if (config.cluster && config.maxMemory * 2 > heapLimit * 0.8) {
    log.warn({ maxMemory: config.maxMemory, heapLimit }, 'a replica loading a full sync holds its old and its new data (up to twice max-memory); raise --max-old-space-size to match');
  }
}

/** This node's offsets record for etcd (election preference, shardctl status lag and regions). */
function offsetsRecord(repl: NodeReplication, regions: RegionFigures[]): ReplOffsetRecord {
  const s = repl.stats();
  // A replica in the middle of a full sync holds an incomplete store: it must not look up to date.
  const offset = s.state === 'full-sync' || s.replId === '' ? 0 : s.offset;
  const record: ReplOffsetRecord = { role: s.role === 'primary' ? 'primary' : 'replica', replId: s.replId, offset, at: Date.now() };
  if (s.replicas) record.replicas = s.replicas.map(({ nodeId, ackedOffset, lagBytes, lagMs }) => ({ nodeId, ackedOffset, lagBytes, lagMs }));
  if (regions.length > 0) record.regions = regions.map(({ peer, depth, oldestMs, sent, overflows, lastError }) => ({ peer, depth, oldestMs, sent, overflows, lastError }));
  return record;
}

/** Joins the cluster in the background (cluster mode only); the node is ready before etcd answers. */
function startMember(
  config: NodeConfig, addr: string, adminAddr: string, nodeId: string, repl: NodeReplication | null, log: Logger, roles: { primary(): void; replica(): void }, etcdAccess: EtcdAccess | undefined,
  regionFigures: () => RegionFigures[],
): ClusterMember | null {
  const cluster = config.cluster;
  if (!cluster || !repl) return null;
  const member = new ClusterMember(
    {
      etcd: cluster.etcd, etcdAccess, cluster: cluster.cluster, shardId: cluster.shardId, nodeId, zone: cluster.zone, leaseTtlSeconds: cluster.leaseTtlSeconds,
      stepDownMarginMs: cluster.stepDownMarginMs, addr, adminAddr, startedAt: Date.now(),
      onRole: (change) => {
        if (change.role === 'primary') {
          repl.becomePrimary();
          return roles.primary();
        }
        roles.replica();
        repl.becomeReplica();
      },
      offsets: () => offsetsRecord(repl, regionFigures()),
    },
    log.child({ component: 'storage-node:cluster' }),
  );
  return member;
}

const STANDALONE_REPLICATION: ReplicationStats = { role: 'standalone', state: 'idle', replId: '', replId2: '', offset: 0, syncs: { full: 0, partial: 0 }, ackTimeouts: 0 };

/**
 * Storage node program: store + frame server + admin port + expiry sweep, and in cluster mode
 * (`--etcd`) membership, election and fencing. Clean shutdown on SIGTERM/SIGINT: stop taking
 * writes, let the replicas catch up (`--shutdown-sync-ms`, `shutdown.ts`) and answer the writes
 * still held, hand the primary role over and leave etcd (bounded), close the servers, exit 0.
 */
async function main(): Promise<void> {
  const config = parseNodeConfig(process.argv.slice(2));
  const log = createLogger('storage-node', config.logLevel);
  // TLS of the frame port; the same certificate and CA serve the node's own links to its peers.
  const tlsMaterial = config.tls ? loadTls(config.tls, TLS_FLAGS) : undefined;
  const access: PeerAccess = {
    secret: config.clusterSecret, tls: tlsMaterial ? clientTlsOptions({ ca: tlsMaterial.ca, cert: tlsMaterial.cert, key: tlsMaterial.key }) : undefined,
  };
  warnAboutHeap(config, log);
  // The replication log exists before the store can remove anything, so every removal the
  // primary decides (expiry, eviction, invalidation reclaim) is replicated as a delete.
  let repl: NodeReplication | null = null;
  const store = new Store({
    maxMemoryBytes: config.maxMemory,
    defaultMaxItemBytes: config.maxItemBytes,
    defaultEviction: config.eviction,
    evictionSamples: config.evictionSamples,
    maxNamespaces: config.maxNamespaces,
  }, {
    removed: (ns, key) => {
      repl?.removed(ns, key);
      subscriptions.written(ns, key); // near-cached keys that expire or are evicted are pushed too
    },
  });
  const startedAt = Date.now();
  let gate: WriteGate = config.cluster ? NOT_JOINED : STANDALONE;
  const cluster = config.cluster;
  let identity = (): Identity => ({ role: cluster ? 'replica' : 'standalone', epoch: 0, nodeId: cluster?.nodeId ?? '', shardId: cluster?.shardId ?? null, primary: null });
  let server: FrameServer;
  const subscriptions = new InvalidationHub(log.child({ component: 'storage-node:invalidations' }));
  const leases = new FillLeases(() => performance.now());
  const stats = (): Record<string, unknown> => {
    const c = server.counters;
    const ops: Record<string, number> = {};
    for (const [code, name] of Object.entries(OP_NAME)) ops[name] = c.ops[Number(code)];
    const replication = repl ? repl.stats() : STANDALONE_REPLICATION;
    return {
      ...store.stats(), fillLeases: { ...leases.counters, inTable: leases.size }, ops, subscriptions: subscriptions.size, invalidationPushes: subscriptions.pushes,
      connections: c.connections, connectionsTotal: c.connectionsTotal,
      connectionLimits: { refused: c.refusedConnections, idleClosed: c.idleClosed, slowFrames: c.slowFrames, budgetRefusals: c.budgetRefusals, inputBufferedBytes: c.inputBufferedBytes, unauthenticated: c.unauthenticated },
      uptimeMs: Date.now() - startedAt, ...identity(), replication, regions: regionFigures(),
      ...(migration ? { slotMapEpoch: migration.ownership.epoch, slotMapKnown: migration.ownership.known, migration: { ...migration.counters, exports: migration.exports.size } } : {}),
    };
  };
  if (cluster) {
    const replOptions = {
      backlogBytes: cluster.replBacklogBytes, writeAckTimeoutMs: cluster.writeAckTimeoutMs, replTimeoutMs: cluster.replTimeoutMs, access,
      maxFrameBytes: config.maxFrameBytes, maxHeldReplyBytes: config.maxPendingReplyBytes,
    };
    repl = new NodeReplication(store, replOptions, log.child({ component: 'storage-node:replication' }));
  }
  const ownership = cluster ? new SlotOwnership(cluster.shardId) : null;
  if (ownership) ownership.strict = true;
  const etcdAccess = config.cluster ? loadEtcdAccess(config.cluster.etcdAccess) : undefined;
  const policyClient = config.cluster ? connectEtcd(config.cluster.etcd, { access: etcdAccess }) : null;
  let member: ClusterMember | null = null;
  const migration = cluster && repl && ownership && policyClient
    ? new NodeMigration(
      store, ownership, { check: (epoch) => gate.check(epoch), get isPrimary() { return member?.role.isPrimary ?? false; } }, repl.log,
      new EtcdCommitter(policyClient, cluster.cluster), {
        nodeId: cluster.nodeId ?? '', access, maxFrameBytes: config.maxFrameBytes,
        replicatedTo: (offset) => repl.source.size === 0 || repl.source.maxAcked >= offset,
        replicaLagBytes: () => (repl.source.size === 0 ? 0 : Math.max(0, repl.log.offset - repl.source.maxAcked)),
      },
      log.child({ component: 'storage-node:migration' }),
    )
    : null;
  const ctx: HandlerContext = {
    store, gate: { check: (epoch) => gate.check(epoch) }, slots: ownership ?? undefined, repl: repl?.log, stats, leases, writes: subscriptions,
    policiesFromEtcd: cluster !== undefined,
  };
  server = new FrameServer(
    ctx,
    { ...config, subscriptions, migration: migration ?? undefined, tls: tlsMaterial, secrets: [config.clusterSecret, ...config.alsoAcceptedSecrets] }, log.child({ component: 'storage-node:server' }), repl,
  );
  // Write-through and write-behind: cluster nodes only (the policies come from etcd).
  const writePolicies = repl !== null && cluster ? newWritePolicies(ctx, server, repl, log) : undefined;
  server.writePolicies = writePolicies;
  let regionFigures = (): RegionFigures[] => [];
  const admin = createNodeAdmin({ registry: createNodeMetrics(store, server.counters, () => repl?.source.info() ?? [], writePolicies, () => regionFigures()), health: () => ({
    ok: true, ...identity(), items: store.size, replication: repl ? repl.stats() : STANDALONE_REPLICATION, ...(migration ? { slotMapEpoch: migration.ownership.epoch } : {}),
  }) });
  const port = await server.listen(config.port, config.host);
  const tlsServer = server.tlsServer;
  const tlsWatch = tlsMaterial && tlsServer ? reloadOnChange([tlsServer], tlsMaterial.files, TLS_FLAGS, {
    onReload: (m) => {
      // The node's own links to its peers (replication, migration) dial with the new one too.
      access.tls = clientTlsOptions({ ca: m.ca, cert: m.cert, key: m.key });
      log.info({ event: 'tls-reload', fingerprint256: m.fingerprint256, notAfter: m.notAfter.toISOString() }, 'frame-port certificate reloaded for new connections and the node\'s own links');
    },
    onError: (err) => log.error({ event: 'tls-reload-failed', err: err.message }, 'frame-port certificate not reloaded; the current one stays'),
  }) : undefined;
  const adminPort = await admin.listen(config.adminPort, config.adminHost);
  const sweep = setInterval(() => {
    store.sweep(config.sweepBudgetMs);
    leases.sweep();
  }, config.sweepIntervalMs);

  const host = config.cluster?.advertiseHost ?? config.host;
  const nodeId = config.cluster?.nodeId ?? `${host}-${port}`;
  repl?.setIdentity(nodeId, `${host}:${port}`);
  // Regions: a cluster node ships its primary's writes of replicated namespaces to the peer regions, and guards their invalidations here.
  const regions = cluster && repl ? new RegionRuntime(ctx, {
    nodeId, dataDir: cluster.dataDir, spoolMax: cluster.regionSpoolMax, secret: loadRegionSecret(), isPrimary: () => repl?.isPrimary ?? false,
    log: log.child({ component: 'storage-node:regions' }),
  }) : undefined;
  server.regions = regions;
  regionFigures = () => regions?.figures() ?? [];
  member = startMember(config, `${host}:${port}`, `${host}:${adminPort}`, nodeId, repl, log, { primary: () => migration?.becamePrimary(), replica: () => migration?.stepDown() }, etcdAccess, () => regionFigures());
  const follow = member && repl ? setInterval(() => repl?.follow(member.role.isPrimary ? null : (member.role.view?.addr ?? null)), 100) : undefined;
  const standalone: Identity = { role: 'standalone', epoch: 0, nodeId, shardId: null, primary: `${host}:${port}` };
  identity = member ? () => ({ ...member.stats(), lastWriteByEpoch: member.role.lastWriteByEpoch() }) : () => standalone;
  if (member) gate = member.role;
  // Writes wait for the slot map (ownership.strict), so the node never takes one for a slot that moved away.
  const onSnapshot = (snapshot: TopologySnapshot): void => {
    if (writePolicies !== undefined) applyWritePolicies(writePolicies, snapshot.namespaces);
    regions?.apply(snapshot);
    if (snapshot.slotMap) migration?.applySlotMap(snapshot.slotMap);
    // Not initialised yet: every slot is ours. (A config without a readable slot map leaves writes BUSY.)
    else if (snapshot.config === undefined) migration?.applySlotMap({ epoch: 0, ranges: [[0, 16383, cluster!.shardId]] });
  };
  member?.start();
  const policies = policyClient && config.cluster
    ? new NamespacePolicySync(policyClient, config.cluster.cluster, (ns, policy) => store.setNamespacePolicy(ns, policy), log.child({ component: 'storage-node:policies' }), (acks) => repl?.setAckNamespaces(acks), onSnapshot)
    : null;
  policies?.start();
  log.info({ event: 'ready', host: config.host, port, adminPort, maxMemory: config.maxMemory, nodeId, shard: config.cluster?.shardId ?? null }, 'storage node ready');

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down');
    clearInterval(sweep);
    clearInterval(follow);
    tlsWatch?.close();
    const m = member;
    if (m && repl && cluster) {
      const r = repl;
      await handOver({
        isPrimary: () => m.role.isPrimary, closeGate: () => void (gate = SHUTTING_DOWN), releaseParked: () => migration?.releaseParked(),
        syncReplicas: (ms) => r.syncReplicas(ms), failHeld: () => r.failHeld(), syncMs: cluster.shutdownSyncMs, log,
      });
    }
    migration?.close();
    writePolicies?.close();
    regions?.close();
    await member?.stop();
    repl?.close();
    await policies?.close();
    policyClient?.close();
    await Promise.all([server.close(), admin.close()]);
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

/** The write-policy runtime of a cluster node, its replies kept in order through the replication's held-reply queues. */
function newWritePolicies(ctx: HandlerContext, server: FrameServer, repl: NodeReplication, log: Logger): WritePolicyRuntime<net.Socket> {
  const slots: ReplySlots<net.Socket> = {
    sendPending: (socket) => server.sendPending(socket),
    reserve: (socket, id) => repl.reserve(socket, id),
    fill: (socket, held, reply, offset) => {
      server.regions?.beforeReply(); // the write's invalidations on disk before its reply leaves
      repl.fill(socket, held as Held, reply, offset);
    },
    takeAckWait: () => repl.log.takeAckWait(),
  };
  return new WritePolicyRuntime<net.Socket>(ctx, slots, repl.log, log.child({ component: 'storage-node:write-policy' }), () => repl.isPrimary, (err) => log.error({ err }, 'write policy failed'));
}

/** Every namespace's write policy from a topology snapshot (the ones gone: none). */
function applyWritePolicies(runtime: WritePolicyRuntime<net.Socket>, namespaces: ReadonlyMap<string, NamespacePolicy>): void {
  for (const [ns, policy] of namespaces) runtime.apply(ns, policy);
  for (const p of [...runtime.policies.all()]) if (!namespaces.has(p.ns)) runtime.apply(p.ns, undefined);
}

main().catch((err: unknown) => {
  console.error(`storage-node: ${(err as Error).message}`);
  process.exit(1);
});
