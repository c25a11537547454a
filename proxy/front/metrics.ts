import client, { type Registry } from 'prom-client';
import { FastHistogram, type Observer } from '../fast-histogram';

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

/** Requests of one (front, op, namespace, code), counted in plain numbers between scrapes. */
interface RequestCount {
  readonly labels: { front: string; op: string; namespace: string; code: string };
  count: number;
  exported: number;
}

/** What one (front, op) records into: its bound latency child and its counts by namespace and code. */
interface OpSeries {
  readonly latency: Observer;
  readonly byNamespace: Map<string, Map<string, RequestCount>>;
  /** The namespace of the last `ok` counted here, and its count: a request like the last costs no lookup. */
  lastNs: string | undefined;
  lastOk: RequestCount | undefined;
}

/** Hits and misses of one namespace label, counted in plain numbers between scrapes. */
interface ReadCount {
  hits: number;
  misses: number;
  exportedHits: number;
  exportedMisses: number;
}

/**
 * Metrics of the proxy's fronts, registered in the registry the data plane shares:
 * requests by front/op/namespace/code (code `ok` or the error code), latency by front/op,
 * hits and misses by namespace, requests in flight, open WebSocket connections and frames
 * refused. Namespace labels are capped (`maxNamespaces`).
 *
 * The request path never hashes a label set: request, hit and miss counts and the in-flight
 * gauge are plain numbers that reach prom-client when the registry is scraped (`collect`), and
 * latency goes to a histogram series bound once per (front, op) (FastHistogram). (prom-client
 * hashes the label object on every `inc`/`observe`, bound children included: 9 % of the proxy's
 * CPU under RESP load.)
 */
export class FrontMetrics {
  readonly #namespaces: CappedLabel;
  readonly #requests: client.Counter<'front' | 'op' | 'namespace' | 'code'>;
  readonly #latency: FastHistogram;
  readonly #refused: client.Counter<'front' | 'reason'>;
  readonly #wsConnections: client.Gauge;
  readonly #series = new Map<string, Map<string, OpSeries>>();
  readonly #reads = new Map<string, ReadCount>();
  /** The namespace `reads` counted last, and its counts. */
  #lastReadNs: string | undefined;
  #lastRead: ReadCount | undefined;
  /** Requests in flight by front: a record of the fronts, not a Map (two lookups per request). */
  readonly #inFlight: Record<FrontName, number> = { http: 0, ws: 0, resp: 0 };
  /** Every RequestCount made, for the scrape. */
  readonly #counts: RequestCount[] = [];

  constructor(registry: Registry, maxNamespaces = 64) {
    const registers = [registry];
    this.#namespaces = new CappedLabel(maxNamespaces);
    const flushRequests = (): void => this.#flushRequests();
    this.#requests = new client.Counter({ name: 'shardcache_proxy_requests_total', help: 'Requests answered by the fronts, by front, operation, namespace and code (ok or the error code).', labelNames: ['front', 'op', 'namespace', 'code'], registers, collect: flushRequests });
    this.#latency = new FastHistogram({
      name: 'shardcache_proxy_request_duration_seconds', help: 'Time from a parsed request to its reply, by front and operation.', labelNames: ['front', 'op'], registers,
      buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    });
    const reads = this.#reads;
    const flushReads = (which: 'hits' | 'misses', counter: client.Counter<'namespace'>): void => {
      for (const [namespace, r] of reads) {
        const delta = which === 'hits' ? r.hits - r.exportedHits : r.misses - r.exportedMisses;
        if (delta === 0) continue;
        if (which === 'hits') r.exportedHits = r.hits;
        else r.exportedMisses = r.misses;
        counter.inc({ namespace }, delta);
      }
    };
    new client.Counter({ name: 'shardcache_proxy_hits_total', help: 'Keys read that were found, by namespace.', labelNames: ['namespace'], registers, collect() { flushReads('hits', this); } });
    new client.Counter({ name: 'shardcache_proxy_misses_total', help: 'Keys read that were not found, by namespace.', labelNames: ['namespace'], registers, collect() { flushReads('misses', this); } });
    const inFlight = this.#inFlight;
    new client.Gauge({
      name: 'shardcache_proxy_requests_in_flight', help: 'Requests being served, by front.', labelNames: ['front'], registers,
      collect() {
        for (const [front, n] of Object.entries(inFlight)) this.set({ front }, n);
      },
    });
    this.#wsConnections = new client.Gauge({ name: 'shardcache_proxy_ws_connections', help: 'Open WebSocket connections.', registers });
    this.#refused = new client.Counter({ name: 'shardcache_proxy_refused_total', help: 'Requests refused before reaching the data plane (bad input, too large, not reading), by front and reason.', labelNames: ['front', 'reason'], registers });
  }

  /** Namespace as a label value (capped). */
  namespace(ns: string): string {
    return this.#namespaces.of(ns);
  }

  started(front: FrontName): void {
    this.#inFlight[front]++;
  }

  finished(front: FrontName, op: string, ns: string, code: string, seconds: number): void {
    this.#inFlight[front]--;
    const series = this.#seriesOf(front, op);
    series.latency.observe(seconds);
    if (code === 'ok' && ns === series.lastNs) {
      (series.lastOk as RequestCount).count++;
      return;
    }
    const namespace = this.namespace(ns);
    let byCode = series.byNamespace.get(namespace);
    if (byCode === undefined) series.byNamespace.set(namespace, (byCode = new Map()));
    let count = byCode.get(code);
    if (count === undefined) {
      byCode.set(code, (count = { labels: { front, op, namespace, code }, count: 0, exported: 0 }));
      this.#counts.push(count);
    }
    count.count++;
    if (code === 'ok') {
      series.lastNs = ns;
      series.lastOk = count;
    }
  }

  reads(ns: string, hits: number, misses: number): void {
    let r = ns === this.#lastReadNs ? (this.#lastRead as ReadCount) : undefined;
    if (r === undefined) {
      const namespace = this.namespace(ns);
      r = this.#reads.get(namespace);
      if (r === undefined) this.#reads.set(namespace, (r = { hits: 0, misses: 0, exportedHits: 0, exportedMisses: 0 }));
      this.#lastReadNs = ns;
      this.#lastRead = r;
    }
    r.hits += hits;
    r.misses += misses;
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

  #seriesOf(front: string, op: string): OpSeries {
    let byOp = this.#series.get(front);
    if (byOp === undefined) this.#series.set(front, (byOp = new Map()));
    let series = byOp.get(op);
    if (series === undefined) byOp.set(op, (series = { latency: this.#latency.bind({ front, op }), byNamespace: new Map(), lastNs: undefined, lastOk: undefined }));
    return series;
  }

  /** Adds what was counted since the last scrape to the prom-client counter. */
  #flushRequests(): void {
    for (const c of this.#counts) {
      if (c.count === c.exported) continue;
      this.#requests.inc(c.labels, c.count - c.exported);
      c.exported = c.count;
    }
  }
}
