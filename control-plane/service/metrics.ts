import client from 'prom-client';
import type { StatusDocument } from '../status/document';

/**
 * Prometheus metrics of the control plane, read from the latest status document when scraped
 * (nothing is updated on a watch event). Absent document (topology not loaded yet) reads as zeros.
 */
export function createControlMetrics(current: () => StatusDocument | undefined): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'shardcache_control_process_' });
  const gauge = (name: string, help: string, read: (doc: StatusDocument) => number): void => {
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const doc = current();
        this.set(doc ? read(doc) : 0);
      },
    });
  };
  gauge('shardcache_control_initialised', '1 when the cluster config exists, else 0.', (d) => (d.initialised ? 1 : 0));
  gauge('shardcache_control_shards', 'Shards of the cluster.', (d) => d.shards.length);
  gauge('shardcache_control_shards_without_primary', 'Shards that have no elected primary.', (d) => d.shards.filter((s) => !s.primary).length);
  gauge('shardcache_control_shards_unhealthy', 'Shards without a live primary or with fewer live replicas than configured.', (d) => d.shards.filter((s) => !s.healthy).length);
  gauge('shardcache_control_live_nodes', 'Storage nodes registered under a live lease.', (d) => d.nodes.filter((n) => n.live).length);
  gauge('shardcache_control_topology_revision', 'etcd revision of the topology snapshot.', (d) => d.revision);
  gauge('shardcache_control_slot_map_epoch', 'Epoch of the slot map (0 when none).', (d) => d.config?.slotMapEpoch ?? 0);
  return registry;
}
