import type { PeerAccess } from '../../shared/peer-auth';
import type { Logger } from '../../shared/log';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import type { NodePicker } from '../routing/router';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { NodeClient, type BreakerOptions } from './breaker';
import type { BreakerStateName, UpstreamMetrics } from './metrics';
import { NodePool } from './pool';

/** Settings shared by every node's client, pool and links. */
export interface UpstreamsOptions {
  connectionsPerNode: number;
  requestTimeoutMs: number;
  maxInFlightPerNode: number;
  breaker: BreakerOptions;
  backoff?: BackoffOptions;
  random: () => number;
  now: () => number;
  log: Logger;
  metrics: UpstreamMetrics;
  /** The cluster secret and node-link TLS of every link (shared/peer-auth.ts); absent: plain TCP, no secret. */
  access?: PeerAccess;
}

/**
 * Every node the proxy talks to: a breaker-guarded pool per node, made on first use and closed
 * when the node leaves the topology (or shows up at another address). Implements the router's
 * `NodePicker` seam.
 *
 *   Upstreams ─ nodeId ─► NodeClient (opossum) ─► NodePool ─► Link × connectionsPerNode
 *
 * guards: the node → client map.
 */
export class Upstreams implements NodePicker {
  readonly #o: UpstreamsOptions;
  readonly #clients = new Map<string, NodeClient>();
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: UpstreamsOptions) {
    this.#o = options;
  }

  /** The client of a node, made on first use (or anew when its address changed). */
  channel(nodeId: string, addr: string): NodeClient {
    const client = this.#clients.get(nodeId);
    if (client !== undefined && client.addr === addr) return client;
    if (client !== undefined) this.#drop(nodeId, client, 'address changed');
    return this.#create(nodeId, addr);
  }

  /** A node with no client yet has shown no failure: healthy. */
  isHealthy(nodeId: string): boolean {
    const client = this.#clients.get(nodeId);
    return client === undefined || client.healthy;
  }

  /** A node with no client has not been found unreachable. */
  isUnreachable(nodeId: string): boolean {
    return this.#clients.get(nodeId)?.unreachable ?? false;
  }

  /** Breaker state of a node (closed when no client exists). */
  breakerState(nodeId: string): BreakerStateName {
    return this.#clients.get(nodeId)?.state ?? 'closed';
  }

  /** In-flight requests per node, for the metrics scrape. */
  *inflight(): Iterable<readonly [string, number]> {
    for (const [nodeId, client] of this.#clients) yield [nodeId, client.inFlight];
  }

  /** Closes the clients of nodes that are no longer in the topology at the same address. */
  sync(snapshot: TopologySnapshot): void {
    for (const [nodeId, client] of this.#clients) {
      if (!inTopology(snapshot, nodeId, client.addr)) this.#drop(nodeId, client, 'left the topology');
    }
  }

  /** Closes every client; requests in flight fail with NODE_UNAVAILABLE. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [nodeId, client] of this.#clients) this.#drop(nodeId, client, 'data plane closed');
    await Promise.all(this.#closing);
  }

  #create(nodeId: string, addr: string): NodeClient {
    const o = this.#o;
    const log = o.log.child({ nodeId });
    const pool = new NodePool({
      nodeId, addr, size: o.connectionsPerNode, maxInFlight: o.maxInFlightPerNode, timeoutMs: o.requestTimeoutMs,
      backoff: o.backoff ?? DEFAULT_BACKOFF, random: o.random, now: o.now, log: log.child({ component: 'proxy:link' }),
      onLateReply: () => o.metrics.lateReplies.inc(), access: o.access,
    });
    const client = new NodeClient(pool, o.breaker, o.metrics.forNode(nodeId), log.child({ component: 'proxy:breaker' }));
    if (!this.#closed) this.#clients.set(nodeId, client);
    else this.#track(client.close());
    o.log.debug({ event: 'node', nodeId, addr }, 'node pool created');
    return client;
  }

  #drop(nodeId: string, client: NodeClient, reason: string): void {
    this.#clients.delete(nodeId);
    this.#o.metrics.removeNode(nodeId);
    this.#o.log.info({ event: 'node', nodeId, addr: client.addr, reason }, 'node pool closed');
    this.#track(client.close());
  }

  #track(closing: Promise<void>): void {
    this.#closing.add(closing);
    void closing.finally(() => this.#closing.delete(closing));
  }
}

function inTopology(snapshot: TopologySnapshot, nodeId: string, addr: string): boolean {
  if (snapshot.nodes.get(nodeId)?.addr === addr) return true;
  for (const shard of snapshot.shards.values()) {
    if (shard.primary?.nodeId === nodeId && shard.primary.addr === addr) return true;
  }
  return false;
}
