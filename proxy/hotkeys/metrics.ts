import { Counter, Gauge, type Registry } from 'prom-client';

/** What the hot-key metrics read at scrape time (nothing here is touched on the request path). */
export interface HotKeyGauges {
  /** The 10 hottest keys: namespace, key, estimated GETs/s, mode ('none' without a rule). */
  top(): Array<{ namespace: string; key: string; qps: number; mode: string }>;
  near(): { hits: number; misses: number; entries: number; bytes: number; pushes: number };
}

/**
 * Hot-key metrics, registered in the proxy's registry:
 *   shardcache_proxy_hotkey_qps{namespace,key,mode}          top 10 keys of this proxy (bounded labels)
 *   shardcache_proxy_near_cache_hits_total / _misses_total    near-cache lookups of keys under a near-cache rule
 *   shardcache_proxy_near_cache_entries / _bytes              near-cache size
 *   shardcache_proxy_near_cache_pushes_total                  invalidations pushed by nodes
 *   shardcache_proxy_hotkey_copy_failures_total{op}           copy writes/reads that failed (the owner's reply stands)
 *   shardcache_proxy_hotkey_auto_rules_total{outcome}         auto rules written (written | failed)
 */
export class HotKeyMetrics {
  readonly copyFailures: Counter<'op'>;
  readonly autoRules: Counter<'outcome'>;

  constructor(registry: Registry, gauges: HotKeyGauges) {
    const registers = [registry];
    new Gauge({
      name: 'shardcache_proxy_hotkey_qps', help: 'Estimated GETs per second of the hottest keys seen by this proxy (top 10)', labelNames: ['namespace', 'key', 'mode'], registers,
      collect() {
        this.reset();
        for (const t of gauges.top()) this.set({ namespace: t.namespace, key: t.key.slice(0, 128), mode: t.mode }, t.qps);
      },
    });
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()); } });
    };
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(read()); } });
    };
    counter('shardcache_proxy_near_cache_hits_total', 'Near-cache hits', () => gauges.near().hits);
    counter('shardcache_proxy_near_cache_misses_total', 'Near-cache misses', () => gauges.near().misses);
    counter('shardcache_proxy_near_cache_pushes_total', 'Invalidations pushed by storage nodes', () => gauges.near().pushes);
    gauge('shardcache_proxy_near_cache_entries', 'Entries in the near cache', () => gauges.near().entries);
    gauge('shardcache_proxy_near_cache_bytes', 'Bytes in the near cache', () => gauges.near().bytes);
    this.copyFailures = new Counter({ name: 'shardcache_proxy_hotkey_copy_failures_total', help: 'Copy operations that failed (the owner copy stands)', labelNames: ['op'], registers });
    this.autoRules = new Counter({ name: 'shardcache_proxy_hotkey_auto_rules_total', help: 'Auto hot-key rules this proxy wrote to etcd', labelNames: ['outcome'], registers });
  }
}
