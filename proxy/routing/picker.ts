import type { ShardView, TopologySnapshot } from '../../shared/topology/snapshot';
import type { ReadPreference } from '../backend';

/**
 * What a request needs from a shard: its primary for a write, a node by read preference, or
 * `spread`: any healthy node of the shard, primary included (reads of a replica-spread hot key).
 */
export type Intent = 'write' | ReadPreference | 'spread';

/** Health of nodes as the router sees it (owned here; the upstream directory implements it). */
export interface NodeHealth {
  /** False while the node's breaker is not closed. */
  isHealthy(nodeId: string): boolean;
  /** True while the node refuses connections (its connection attempts fail): it is gone, not slow. */
  isUnreachable(nodeId: string): boolean;
}

/** The node chosen for one attempt; `epoch` is the shard primary's (0 when reading a replica of a shard without one). */
export interface NodeChoice {
  ok: true;
  nodeId: string;
  addr: string;
  epoch: number;
}

/**
 * Why no node was chosen: `no-shard` (no slot map or the slot's shard is unknown), `no-primary`
 * (the shard has none right now: wait for an election), `unhealthy` (the node that would serve
 * has its breaker open: fail fast).
 */
export interface NoChoice {
  ok: false;
  reason: 'no-shard' | 'no-primary' | 'unhealthy';
  nodeId?: string;
}

/** The outcome of `pickNode`. */
export type Pick = NodeChoice | NoChoice;

/**
 * Chooses the node of `shardId` for `intent`. Pure.
 *  - write, primary: the shard's primary; `unhealthy` when its breaker is open (a primary read
 *    never falls over: the caller did not allow stale data).
 *  - replica: a random healthy live replica; else the primary when healthy; else `unhealthy`,
 *    or `no-primary` when the shard has no node at all to wait on.
 */
export function pickNode(snapshot: TopologySnapshot, shardId: number, intent: Intent, health: NodeHealth, random: () => number): Pick {
  const shard = snapshot.shards.get(shardId);
  if (shard === undefined) return { ok: false, reason: 'no-shard' };
  const primary = shard.primary;
  if (intent === 'spread') return pickSpread(snapshot, shard.replicas, primary, health, random);
  if (intent === 'replica') {
    const replica = pickReplica(snapshot, shard.replicas, health, random);
    if (replica !== undefined) return replica;
  }
  if (primary === undefined) {
    const waiting = intent !== 'replica' || shard.replicas.length === 0;
    return waiting ? { ok: false, reason: 'no-primary' } : { ok: false, reason: 'unhealthy', nodeId: shard.replicas[0] };
  }
  if (!health.isHealthy(primary.nodeId)) return { ok: false, reason: 'unhealthy', nodeId: primary.nodeId };
  return { ok: true, nodeId: primary.nodeId, addr: primary.addr, epoch: primary.epoch };
}

/**
 * A random healthy node among the primary and the live replicas (each with the same chance);
 * when the drawn node is unhealthy the next one is tried. Falls back as a replica read does.
 */
function pickSpread(snapshot: TopologySnapshot, replicas: readonly string[], primary: ShardView['primary'], health: NodeHealth, random: () => number): Pick {
  const n = replicas.length + (primary === undefined ? 0 : 1);
  const start = Math.floor(random() * n);
  for (let i = 0; i < n; i++) {
    const at = (start + i) % n;
    if (at === replicas.length && primary !== undefined) {
      if (health.isHealthy(primary.nodeId)) return { ok: true, nodeId: primary.nodeId, addr: primary.addr, epoch: primary.epoch };
      continue;
    }
    const nodeId = replicas[at];
    const node = snapshot.nodes.get(nodeId);
    if (node === undefined || !snapshot.liveNodes.has(nodeId) || !health.isHealthy(nodeId)) continue;
    return { ok: true, nodeId, addr: node.addr, epoch: primary?.epoch ?? 0 };
  }
  return primary === undefined && replicas.length === 0 ? { ok: false, reason: 'no-primary' } : { ok: false, reason: 'unhealthy', nodeId: primary?.nodeId ?? replicas[0] };
}

/** A random healthy live replica with a known address, without allocating in the common case. */
function pickReplica(snapshot: TopologySnapshot, replicas: readonly string[], health: NodeHealth, random: () => number): NodeChoice | undefined {
  const n = replicas.length;
  if (n === 0) return undefined;
  const start = n === 1 ? 0 : Math.floor(random() * n);
  for (let i = 0; i < n; i++) {
    const nodeId = replicas[(start + i) % n];
    const node = snapshot.nodes.get(nodeId);
    if (node === undefined || !snapshot.liveNodes.has(nodeId) || !health.isHealthy(nodeId)) continue;
    return { ok: true, nodeId, addr: node.addr, epoch: snapshot.shards.get(node.shardId)?.primary?.epoch ?? 0 };
  }
  return undefined;
}

/** The shard of a slot in `snapshot`, or -1 when no slot map assigns it. */
export function shardOfSlot(snapshot: TopologySnapshot, slot: number): number {
  return slot >= 0 && slot < snapshot.slotShard.length ? snapshot.slotShard[slot] : -1;
}

/** The shard primary's epoch in `snapshot`, or undefined when the shard has no primary. */
export function primaryEpoch(snapshot: TopologySnapshot, shardId: number): number | undefined {
  return snapshot.shards.get(shardId)?.primary?.epoch;
}
