import client from 'prom-client';
import { OP_NAME, STATUS_NAME } from '../shared/protocol';
import type { Store } from './store';
import type { ServerCounters } from './server-hooks';
import type { WritePolicyRuntime } from './write-policy/runtime';
import { BATCH_BUCKETS, type RegionFigures } from './region/runtime';

/** One replica's lag as the primary sees it. */
export interface ReplicaLag {
  nodeId: string;
  lagBytes: number;
  lagMs: number;
}

/**
 * Prometheus metrics of a storage node. Nothing here runs on the request path: the store and the
 * server keep plain counters and every metric reads them when scraped (`collect`), so a request
 * costs no label lookup. Counters advance by the difference since the previous scrape.
 */
export function createNodeMetrics(
  store: Store, counters: ServerCounters, replicas: () => ReplicaLag[] = () => [], writePolicies?: WritePolicyRuntime<unknown>, regions?: () => RegionFigures[],
): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'shardcache_node_' });
  const gauge = (name: string, help: string, read: () => number): void => {
    new client.Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  };
  const last = new Map<string, number>();
  const counter = <L extends string>(name: string, help: string, labelNames: L[], read: () => Array<[Record<L, string>, number]>): void => {
    new client.Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        for (const [labels, total] of read()) {
          const id = name + JSON.stringify(labels);
          const delta = total - (last.get(id) ?? 0);
          if (delta > 0) this.inc(labels, delta);
          last.set(id, total);
        }
      },
    });
  };

  gauge('shardcache_node_items', 'Entries held, including invalidated ones not yet reclaimed.', () => store.stats().items);
  gauge('shardcache_node_bytes', 'Accounted bytes of all entries.', () => store.stats().bytes);
  gauge('shardcache_node_limit_bytes', 'Configured memory limit for accounted bytes.', () => store.stats().maxMemoryBytes);
  gauge('shardcache_node_connections', 'Open client connections.', () => counters.connections);
  counter('shardcache_node_hits_total', 'Reads that found a live entry.', [], () => [[{}, store.stats().hits]]);
  counter('shardcache_node_misses_total', 'Reads that found nothing.', [], () => [[{}, store.stats().misses]]);
  counter('shardcache_node_expired_total', 'Entries removed because their TTL passed.', [], () => [[{}, store.stats().expired]]);
  counter('shardcache_node_evictions_total', 'Entries evicted, by reason.', ['reason'], () => {
    const s = store.stats();
    return [[{ reason: 'memory' }, s.evictedMemory], [{ reason: 'quota' }, s.evictedQuota], [{ reason: 'invalidated' }, s.reclaimedInvalidated]];
  });
  counter('shardcache_node_ops_total', 'Requests served, by operation.', ['op'], () =>
    Object.entries(OP_NAME).map(([code, op]) => [{ op }, counters.ops[Number(code)]]));
  counter('shardcache_node_errors_total', 'Error replies, by status.', ['status'], () =>
    Object.entries(STATUS_NAME).filter(([code]) => Number(code) > 1).map(([code, status]) => [{ status }, counters.statuses[Number(code)]]));
  const lagGauge = (name: string, help: string, read: (r: ReplicaLag) => number): void => {
    new client.Gauge({
      name, help, labelNames: ['replica'], registers: [registry],
      collect() {
        this.reset();
        for (const r of replicas()) this.set({ replica: r.nodeId }, read(r));
      },
    });
  };
  lagGauge('shardcache_node_replica_lag_bytes', 'Replication stream bytes a replica has not acknowledged (primary only).', (r) => r.lagBytes);
  lagGauge('shardcache_node_replica_lag_seconds', 'Age of the oldest change a replica has not acknowledged (primary only).', (r) => r.lagMs / 1000);
  counter('shardcache_node_protocol_errors_total', 'Connections closed for a malformed frame.', [], () => [[{}, counters.protocolErrors]]);
  counter('shardcache_node_unauthenticated_total', 'Connections closed for failing or skipping the cluster secret\'s handshake.', [], () => [[{}, counters.unauthenticated]]);
  counter('shardcache_node_connections_closed_total', 'Connections the node refused or closed, by limit.', ['reason'], () => [
    [{ reason: 'max_connections' }, counters.refusedConnections], [{ reason: 'idle' }, counters.idleClosed],
    [{ reason: 'incomplete_frame' }, counters.slowFrames], [{ reason: 'input_budget' }, counters.budgetRefusals],
  ]);
  gauge('shardcache_node_input_buffered_bytes', 'Bytes held for incomplete request frames over every connection.', () => counters.inputBufferedBytes);
  if (writePolicies !== undefined) writePolicyMetrics(registry, writePolicies, counter);
  if (regions !== undefined) regionMetrics(registry, regions, counter);
  return registry;
}

/**
 * Write-policy metrics (docs/operations.md, "Write policies"), per namespace: the write-behind
 * queue (depth, oldest unflushed write), store writes flushed and failed, dead letters, writes
 * refused with a full queue, and the store's latency seen by write-through writes.
 */
function writePolicyMetrics(
  registry: client.Registry, runtime: WritePolicyRuntime<unknown>,
  counter: (name: string, help: string, labelNames: 'namespace'[], read: () => Array<[Record<'namespace', string>, number]>) => void,
): void {
  const figures = (): ReturnType<WritePolicyRuntime<unknown>['figures']> => runtime.figures(null);
  const perNs = (name: string, help: string, read: (f: ReturnType<typeof figures>[number]) => number): void => {
    new client.Gauge({
      name, help, labelNames: ['namespace'], registers: [registry],
      collect() {
        this.reset();
        for (const f of figures()) if (f.policy === 'write-behind') this.set({ namespace: f.namespace }, read(f));
      },
    });
  };
  perNs('shardcache_write_behind_queue_depth', 'Write-behind keys waiting to be flushed to the store (a key written many times counts once).', (f) => f.depth);
  perNs('shardcache_write_behind_queue_bytes', 'Value bytes of the write-behind keys waiting to be flushed.', (f) => f.bytes);
  perNs('shardcache_write_behind_oldest_seconds', 'Age of the oldest write not yet flushed to the store.', (f) => f.oldestMs / 1000);
  const total = (name: string, help: string, read: (f: ReturnType<typeof figures>[number]) => number): void =>
    counter(name, help, ['namespace'], () => figures().map((f) => [{ namespace: f.namespace }, read(f)]));
  total('shardcache_write_behind_flushed_total', 'Store writes that succeeded (write-behind flushes and write-through writes).', (f) => f.flushed);
  total('shardcache_write_behind_failed_total', 'Store writes that failed (each attempt).', (f) => f.failed);
  total('shardcache_write_behind_dead_letters_total', 'Write-behind writes given up (a store answer that will not change, or attempts exhausted).', (f) => f.deadLetters);
  total('shardcache_write_behind_refused_total', 'Writes refused because the write-behind queue was full (WRITE_QUEUE_FULL).', (f) => f.refused);
  const latency = new client.Histogram({
    name: 'shardcache_write_through_store_seconds', help: 'Store latency seen by write-through writes.', labelNames: ['namespace'], registers: [registry],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
  runtime.onStoreLatency = (ns, seconds) => latency.observe({ namespace: ns }, seconds);
}

/**
 * Region sender metrics (docs/operations.md "Regions"), per peer region: the spool (depth, oldest
 * unacknowledged invalidation), invalidations acknowledged, batches sent and failed and their
 * sizes, and spills into wholesale invalidation.
 */
function regionMetrics(
  registry: client.Registry, figures: () => RegionFigures[],
  counter: (name: string, help: string, labelNames: string[], read: () => Array<[Record<string, string>, number]>) => void,
): void {
  const perPeer = (name: string, help: string, read: (f: RegionFigures) => number): void => {
    new client.Gauge({
      name, help, labelNames: ['peer'], registers: [registry],
      collect() {
        this.reset();
        for (const f of figures()) this.set({ peer: f.peer }, read(f));
      },
    });
  };
  perPeer('shardcache_region_spool_depth', 'Invalidations spooled for a peer region and not yet acknowledged.', (f) => f.depth);
  perPeer('shardcache_region_spool_oldest_seconds', 'Age of the oldest invalidation a peer region has not acknowledged.', (f) => f.oldestMs / 1000);
  const total = (name: string, help: string, read: (f: RegionFigures) => number): void => counter(name, help, ['peer'], () => figures().map((f) => [{ peer: f.peer }, read(f)]));
  total('shardcache_region_sent_total', 'Invalidations a peer region acknowledged.', (f) => f.sent);
  total('shardcache_region_batches_total', 'Invalidation batches sent to a peer region (heartbeats included).', (f) => f.batches);
  total('shardcache_region_batch_failures_total', 'Invalidation batches a peer region did not acknowledge (retried).', (f) => f.failed);
  total('shardcache_region_spool_overflows_total', 'Times a full spool was replaced by wholesale invalidations of its namespaces.', (f) => f.overflows);
  counter('shardcache_region_batch_size_total', 'Invalidation batches by size (items, at most `le`).', ['peer', 'le'], () =>
    figures().flatMap((f) => f.batchSizes.map((n, i): [Record<string, string>, number] => [{ peer: f.peer, le: String(BATCH_BUCKETS[i]) }, n])));
}
