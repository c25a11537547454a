import { Counter, Gauge, type Registry } from 'prom-client';
import { FastHistogram } from '../fast-histogram';
import { OP_NAME, STATUS_NAME } from '../../shared/protocol';

/** Breaker state as exported: 0 closed, 1 half-open, 2 open. */
export const BREAKER_STATE_VALUE = { closed: 0, halfOpen: 1, open: 2 } as const;
/** closed, halfOpen or open (opossum's event names). */
export type BreakerStateName = keyof typeof BREAKER_STATE_VALUE;

/** Outcome of one upstream request when no reply came: a transport error code. */
export type TransportOutcome = 'TIMEOUT' | 'NODE_UNAVAILABLE' | 'BREAKER_OPEN' | 'ERROR';
const TRANSPORT_INDEX: Record<TransportOutcome, number> = { TIMEOUT: 32, NODE_UNAVAILABLE: 33, BREAKER_OPEN: 34, ERROR: 35 };

interface Observe {
  observe(value: number): void;
}

/** Plain request counts of one node, indexed `(op & 63) * 64 + outcome` (opcodes go up to 63); exported at scrape time. */
interface NodeCounts {
  readonly counts: Float64Array;
  readonly exported: Float64Array;
  readonly labels: Map<number, Record<string, string>>;
}

const OUTCOMES = 64;
/** Opcodes counted apart (every opcode of `shared/protocol.ts` is below this). */
const OPS = 64;
const NAME_OF_TRANSPORT = Object.fromEntries(Object.entries(TRANSPORT_INDEX).map(([name, i]) => [i, name])) as Record<number, string>;

/**
 * Metrics of one node. Recording a request is an array increment and one observation on a
 * pre-bound histogram child; request counts reach prom-client when the registry is scraped.
 */
export interface NodeMetrics {
  /** One request that got a reply with `status`, after `seconds`. */
  reply(op: number, status: number, seconds: number): void;
  /** One request that ended without a reply. */
  failed(op: number, outcome: TransportOutcome): void;
  breaker(state: BreakerStateName): void;
}

/**
 * The data plane's metrics, registered in the given registry:
 *   shardcache_proxy_upstream_requests_total{node,op,status}   status: node status name, TIMEOUT, NODE_UNAVAILABLE, BREAKER_OPEN
 *   shardcache_proxy_upstream_latency_seconds{node}             requests that got a reply
 *   shardcache_proxy_breaker_state{node}                        0 closed, 1 half-open, 2 open
 *   shardcache_proxy_inflight{node}                             read from the pools at scrape time
 *   shardcache_proxy_coalesced_total, _redirects_total{reason}, _late_replies_total
 */
export class UpstreamMetrics {
  readonly lateReplies: Counter;
  readonly #redirects: Counter<'reason'>;
  readonly #requests: Counter<'node' | 'op' | 'status'>;
  readonly #latency: FastHistogram;
  readonly #breaker: Gauge<'node'>;
  readonly #nodes = new Map<string, NodeCounts>();

  /** `inflight` and `coalesced` are read at scrape time, so the request path never touches prom-client for them. */
  constructor(registry: Registry, inflight: () => Iterable<readonly [string, number]>, coalesced: () => number = () => 0) {
    const registers = [registry];
    const flush = (): void => this.#flushCounts();
    this.#requests = new Counter({
      name: 'shardcache_proxy_upstream_requests_total', help: 'Requests sent to storage nodes, by node, op and outcome', labelNames: ['node', 'op', 'status'], registers,
      collect: flush,
    });
    this.#latency = new FastHistogram({
      name: 'shardcache_proxy_upstream_latency_seconds', help: 'Time from the write that carried a request to a node to the read of its reply', labelNames: ['node'], registers,
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    });
    this.#breaker = new Gauge({ name: 'shardcache_proxy_breaker_state', help: 'Breaker state per node: 0 closed, 1 half-open, 2 open', labelNames: ['node'], registers });
    new Gauge({
      name: 'shardcache_proxy_inflight', help: 'Requests awaiting a reply per node', labelNames: ['node'], registers,
      collect() {
        this.reset();
        for (const [node, n] of inflight()) this.labels({ node }).set(n);
      },
    });
    new Counter({
      name: 'shardcache_proxy_coalesced_total', help: 'GETs that joined an identical GET already in flight', registers,
      collect() {
        this.reset();
        this.inc(coalesced());
      },
    });
    this.lateReplies = new Counter({ name: 'shardcache_proxy_late_replies_total', help: 'Replies that came after their request timed out (dropped)', registers });
    this.#redirects = new Counter({ name: 'shardcache_proxy_redirects_total', help: 'Requests retried or held after NOT_PRIMARY, MOVED, a shard without primary or a primary gone', labelNames: ['reason'], registers });
  }

  /** Counts one redirect or wait for a newer topology. */
  redirect(reason: string): void {
    this.#redirects.inc({ reason });
  }

  /** The metrics of `node`, bound once. */
  forNode(node: string): NodeMetrics {
    const counts: NodeCounts = { counts: new Float64Array(OPS * OUTCOMES), exported: new Float64Array(OPS * OUTCOMES), labels: new Map() };
    this.#nodes.set(node, counts);
    const c = counts.counts;
    const latency: Observe = this.#latency.bind({ node });
    const breaker = this.#breaker.labels({ node });
    breaker.set(BREAKER_STATE_VALUE.closed);
    return {
      reply: (op, status, seconds) => {
        c[(op & (OPS - 1)) * OUTCOMES + (status & 31)]++;
        latency.observe(seconds);
      },
      failed: (op, outcome) => {
        c[(op & (OPS - 1)) * OUTCOMES + TRANSPORT_INDEX[outcome]]++;
      },
      breaker: (state) => breaker.set(BREAKER_STATE_VALUE[state]),
    };
  }

  /** Drops every series of a node that left the topology. */
  removeNode(node: string): void {
    const counts = this.#nodes.get(node);
    if (counts === undefined) return;
    this.#nodes.delete(node);
    this.#latency.remove({ node });
    this.#breaker.remove({ node });
    for (const labels of counts.labels.values()) this.#requests.remove(labels);
  }

  /** Adds what each node counted since the last scrape to the prom-client counter. */
  #flushCounts(): void {
    for (const [node, n] of this.#nodes) {
      for (let i = 0; i < n.counts.length; i++) {
        const delta = n.counts[i] - n.exported[i];
        if (delta === 0) continue;
        n.exported[i] = n.counts[i];
        let labels = n.labels.get(i);
        if (labels === undefined) n.labels.set(i, (labels = outcomeLabels(node, i)));
        this.#requests.inc(labels, delta);
      }
    }
  }
}

function outcomeLabels(node: string, index: number): Record<string, string> {
  const op = Math.floor(index / OUTCOMES);
  const outcome = index % OUTCOMES;
  const status = outcome < 32 ? (STATUS_NAME[outcome] ?? String(outcome)) : NAME_OF_TRANSPORT[outcome];
  return { node, op: OP_NAME[op] ?? String(op), status };
}
