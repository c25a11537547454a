import type { Registry } from 'prom-client';

/** One bound series: what the request path holds and calls. */
export interface Observer {
  observe(value: number): void;
}

/** Options, as prom-client's Histogram takes them. */
export interface FastHistogramOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  /** Upper bounds, ascending; +Inf is implied. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

/** One label set's counts: per bucket (not cumulative), +Inf last; sum and count. */
class Series implements Observer {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** A sample in prom-client's exposition shape (what `Registry` formats). */
interface Sample {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/**
 * A Prometheus histogram whose series are bound once and then observed with a loop over the
 * bucket bounds and three additions. Hand-written because prom-client's `Histogram` converts,
 * validates and hashes the label set on every `observe`, a bound child included: 5–6 % of the
 * proxy's CPU with two observations per request (front latency, upstream latency).
 *
 * It registers itself in prom-client registries as a metric of type `histogram` and exposes the
 * same series prom-client would (`_bucket{le}` cumulative, `_sum`, `_count`).
 * guards: the series map.
 */
export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #labelNames: readonly string[];
  readonly #bounds: readonly number[];
  readonly #series = new Map<string, Series>();

  constructor(o: FastHistogramOptions) {
    this.name = o.name;
    this.help = o.help;
    this.#labelNames = o.labelNames;
    this.#bounds = [...o.buckets].sort((a, b) => a - b);
    // The registry takes any object with name, help, type and get(); its types name its own classes only.
    for (const registry of o.registers) registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of `labels`, made on first use. Keep it: observing through it costs no lookup. */
  bind(labels: Readonly<Record<string, string>>): Observer {
    const key = this.#key(labels);
    let series = this.#series.get(key);
    if (series === undefined) {
      const ordered = Object.fromEntries(this.#labelNames.filter((n) => labels[n] !== undefined).map((n) => [n, labels[n]]));
      this.#series.set(key, (series = new Series(ordered, this.#bounds)));
    }
    return series;
  }

  /** Drops the series of `labels`. */
  remove(labels: Readonly<Record<string, string>>): void {
    this.#series.delete(this.#key(labels));
  }

  /** Zeroes every series (prom-client's `resetMetrics`). */
  reset(): void {
    for (const s of this.#series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  /** The metric in prom-client's shape, for the registry's exposition. */
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const s of this.#series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= this.#bounds.length; i++) {
        cumulative += s.counts[i];
        const le = i < this.#bounds.length ? this.#bounds[i] : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  #key(labels: Readonly<Record<string, string>>): string {
    return this.#labelNames.map((n) => labels[n] ?? '').join('\u0000');
  }
}
