import client from 'prom-client';
import { OP_NAME, STATUS_NAME } from '../shared/protocol';
import type { Store } from './store';
import type { ServerCounters } from './server';

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
export function createNodeMetrics(store: Store, counters: ServerCounters, replicas: () => ReplicaLag[] = () => []): client.Registry {
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
  return registry;
}
