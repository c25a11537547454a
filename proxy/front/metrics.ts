import client, { type Registry } from 'prom-client';

/** Front a request came through, as a metric label. */
export type FrontName = 'http' | 'ws' | 'resp';

/**
 * Caps the cardinality of a label: the first `limit` distinct values keep their name, later ones
 * are counted as `other`, so a client inventing namespaces cannot blow up the metric series.
 */
export class CappedLabel {
  readonly #seen = new Set<string>();
  constructor(readonly limit: number) {}

  of(value: string): string {
    if (this.#seen.has(value)) return value;
    if (this.#seen.size >= this.limit) return 'other';
    this.#seen.add(value);
    return value;
  }
}

/**
 * Metrics of the proxy's fronts, registered in the registry the data plane shares:
 * requests by front/op/namespace/code (code `ok` or the error code), latency by front/op,
 * hits and misses by namespace, requests in flight, open WebSocket connections and frames
 * refused. Namespace labels are capped (`maxNamespaces`).
 */
export class FrontMetrics {
  readonly #namespaces: CappedLabel;
  readonly #requests: client.Counter<'front' | 'op' | 'namespace' | 'code'>;
  readonly #latency: client.Histogram<'front' | 'op'>;
  readonly #hits: client.Counter<'namespace'>;
  readonly #misses: client.Counter<'namespace'>;
  readonly #inFlight: client.Gauge<'front'>;
  readonly #wsConnections: client.Gauge;
  readonly #refused: client.Counter<'front' | 'reason'>;

  constructor(registry: Registry, maxNamespaces = 64) {
    const registers = [registry];
    this.#namespaces = new CappedLabel(maxNamespaces);
    this.#requests = new client.Counter({ name: 'shardcache_proxy_requests_total', help: 'Requests answered by the fronts, by front, operation, namespace and code (ok or the error code).', labelNames: ['front', 'op', 'namespace', 'code'], registers });
    this.#latency = new client.Histogram({
      name: 'shardcache_proxy_request_duration_seconds', help: 'Time from a parsed request to its reply, by front and operation.', labelNames: ['front', 'op'], registers,
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
    this.#hits = new client.Counter({ name: 'shardcache_proxy_hits_total', help: 'Keys read that were found, by namespace.', labelNames: ['namespace'], registers });
    this.#misses = new client.Counter({ name: 'shardcache_proxy_misses_total', help: 'Keys read that were not found, by namespace.', labelNames: ['namespace'], registers });
    this.#inFlight = new client.Gauge({ name: 'shardcache_proxy_requests_in_flight', help: 'Requests being served, by front.', labelNames: ['front'], registers });
    this.#wsConnections = new client.Gauge({ name: 'shardcache_proxy_ws_connections', help: 'Open WebSocket connections.', registers });
    this.#refused = new client.Counter({ name: 'shardcache_proxy_refused_total', help: 'Requests refused before reaching the data plane (bad input, too large, not reading), by front and reason.', labelNames: ['front', 'reason'], registers });
  }

  /** Namespace as a label value (capped). */
  namespace(ns: string): string {
    return this.#namespaces.of(ns);
  }

  started(front: FrontName): void {
    this.#inFlight.inc({ front });
  }

  finished(front: FrontName, op: string, ns: string, code: string, seconds: number): void {
    this.#inFlight.dec({ front });
    this.#requests.inc({ front, op, namespace: this.namespace(ns), code });
    this.#latency.observe({ front, op }, seconds);
  }

  reads(ns: string, hits: number, misses: number): void {
    const namespace = this.namespace(ns);
    if (hits > 0) this.#hits.inc({ namespace }, hits);
    if (misses > 0) this.#misses.inc({ namespace }, misses);
  }

  refused(front: FrontName, reason: string): void {
    this.#refused.inc({ front, reason });
  }

  wsOpened(): void {
    this.#wsConnections.inc();
  }

  wsClosed(): void {
    this.#wsConnections.dec();
  }
}
