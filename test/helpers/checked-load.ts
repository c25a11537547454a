import { httpCall } from './cluster';

/** What a checked load saw: acknowledged values per key and every violation of the invariants. */
export interface LoadReport {
  writes: number;
  reads: number;
  /** Retryable failures (503, 504, network): counted, then retried. */
  retryable: number;
  /** Answers no client should ever get during a move (4xx, 500). */
  nonRetryable: string[];
  /** Reads that returned a value older than one acknowledged before the read began. */
  staleReads: string[];
  /** Last acknowledged value per `ns/key`. */
  acked: Map<string, number>;
}

export interface LoadOptions {
  baseUrl: string;
  namespaces: string[];
  writers: number;
  keysPerWriter: number;
  /** One read for every this many writes. */
  readEvery?: number;
}

/**
 * A checked load on the proxy's HTTP API: each writer owns its keys and writes them increasing
 * values, so every read can be checked against the last value acknowledged before it began (it
 * may be newer: a write whose answer was lost may still have landed).
 * `stop()` ends it and resolves with the report.
 */
export function startCheckedLoad(o: LoadOptions): { stop(): Promise<LoadReport>; report: LoadReport } {
  const report: LoadReport = { writes: 0, reads: 0, retryable: 0, nonRetryable: [], staleReads: [], acked: new Map() };
  let running = true;
  const writer = async (w: number): Promise<void> => {
    const counters = new Map<string, number>();
    for (let n = 0; running; n++) {
      const ns = o.namespaces[n % o.namespaces.length];
      const id = `${ns}/w${w}-k${Math.floor(n / o.namespaces.length) % o.keysPerWriter}`;
      const [, key] = id.split('/');
      if (n % (o.readEvery ?? 4) === 3) {
        const before = report.acked.get(id) ?? 0;
        const res = await httpCall(o.baseUrl, 'GET', `/v1/cache/${ns}/${key}`).catch(() => undefined);
        if (!classify(res?.status, report, `GET ${id}`)) continue;
        report.reads++;
        const seen = res!.json?.hit === true ? Number(res!.json.value) : 0;
        if (seen < before) report.staleReads.push(`${id}: read ${seen} after ${before} was acknowledged`);
        continue;
      }
      const value = (counters.get(id) ?? 0) + 1;
      const res = await httpCall(o.baseUrl, 'PUT', `/v1/cache/${ns}/${key}`, { value }).catch(() => undefined);
      if (!classify(res?.status, report, `PUT ${id}`)) continue;
      counters.set(id, value);
      report.writes++;
      if (value > (report.acked.get(id) ?? 0)) report.acked.set(id, value);
    }
  };
  const all = Promise.all(Array.from({ length: o.writers }, (_, w) => writer(w)));
  return {
    report,
    stop: async () => {
      running = false;
      await all;
      return report;
    },
  };
}

/** True for a success (200, 201, 204, 404 miss); counts the rest. */
function classify(status: number | undefined, report: LoadReport, what: string): boolean {
  if (status !== undefined && status < 300) return true;
  if (status === 404) return true;
  if (status === undefined || status === 503 || status === 504 || status === 429) {
    report.retryable++;
    return false;
  }
  if (report.nonRetryable.length < 20) report.nonRetryable.push(`${what}: HTTP ${status}`);
  return false;
}

/** Reads every acknowledged key back; returns the keys that do not hold at least their acknowledged value. */
export async function lostWrites(baseUrl: string, acked: ReadonlyMap<string, number>): Promise<string[]> {
  const lost: string[] = [];
  for (const [id, value] of acked) {
    const [ns, key] = id.split('/');
    const res = await httpCall(baseUrl, 'GET', `/v1/cache/${ns}/${key}`);
    const seen = res.json?.hit === true ? Number(res.json.value) : 0;
    if (seen < value) lost.push(`${id}: holds ${seen}, ${value} was acknowledged`);
  }
  return lost;
}
