import { Counter, type Registry } from 'prom-client';

/** Origin load outcomes as counted. */
export type LoadOutcome = 'value' | 'not_found' | 'error' | 'timeout';

/**
 * Read-through metrics:
 *   shardcache_proxy_origin_loads_total{namespace,outcome}    value, not_found, error, timeout
 *   shardcache_proxy_fill_lease_waits_total{namespace}        misses that waited for another loader's fill
 *   shardcache_proxy_stale_served_total{namespace,reason}     revalidating, origin-error, lease-held
 *   shardcache_proxy_refreshes_total{namespace,trigger}       background refreshes started: stale, early
 */
export class ReadThroughMetrics {
  readonly #loads: Counter<'namespace' | 'outcome'>;
  readonly #waits: Counter<'namespace'>;
  readonly #stale: Counter<'namespace' | 'reason'>;
  readonly #refreshes: Counter<'namespace' | 'trigger'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#loads = new Counter({ name: 'shardcache_proxy_origin_loads_total', help: 'Read-through loads from an origin, by outcome', labelNames: ['namespace', 'outcome'], registers });
    this.#waits = new Counter({ name: 'shardcache_proxy_fill_lease_waits_total', help: 'Misses that waited for the fill of a loader holding the lease', labelNames: ['namespace'], registers });
    this.#stale = new Counter({ name: 'shardcache_proxy_stale_served_total', help: 'Stale read-through values served, by reason', labelNames: ['namespace', 'reason'], registers });
    this.#refreshes = new Counter({ name: 'shardcache_proxy_refreshes_total', help: 'Background refreshes started, by trigger', labelNames: ['namespace', 'trigger'], registers });
  }

  load(namespace: string, outcome: LoadOutcome): void {
    this.#loads.inc({ namespace, outcome });
  }

  waited(namespace: string): void {
    this.#waits.inc({ namespace });
  }

  stale(namespace: string, reason: string): void {
    this.#stale.inc({ namespace, reason });
  }

  refresh(namespace: string, trigger: 'stale' | 'early'): void {
    this.#refreshes.inc({ namespace, trigger });
  }
}
