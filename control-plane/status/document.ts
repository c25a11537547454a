import type { TopologySnapshot, ShardView } from '../../shared/topology/snapshot';
import type { ReplOffsetRecord } from '../../shared/topology/schema';
import { regionsStatus, type RegionsStatus } from './regions';

/**
 * The cluster status document: what `shardctl status --json` prints and `GET /v1/status` serves.
 * Pure; field names and order are stable (scripts parse it), new fields are only ever added.
 *
 *   { cluster, revision, initialised, config, shards: [...], nodes: [...], regions: { region, peers: [...] } }
 */
export interface StatusDocument {
  cluster: string;
  revision: number;
  initialised: boolean;
  config: { shards: number; replicas: number; leaseTtlSeconds: number; slotMapEpoch: number | null } | null;
  shards: ShardStatus[];
  nodes: NodeStatus[];
  /** This cluster's region, its peers and the sender-side figures the nodes publish (`statusDocument` always sets it). */
  regions?: RegionsStatus;
}

/** One shard in the status document. */
export interface ShardStatus {
  shardId: number;
  /** Inclusive slot ranges `[from, to]` the slot map gives this shard, in slot order. */
  slots: Array<[number, number]>;
  primary: { nodeId: string; addr: string; epoch: number } | null;
  /** Live nodes of the shard other than the primary, by id. */
  replicas: Array<{ nodeId: string; addr: string }>;
  healthy: boolean;
  /** Why the shard is unhealthy, one sentence each (empty when healthy). */
  problems: string[];
  /** Epoch of a pending `shardctl failover` request, or null. */
  resignEpoch: number | null;
}

/** One registered node in the status document. */
export interface NodeStatus {
  nodeId: string;
  addr: string;
  adminAddr: string | null;
  shardId: number;
  zone: string;
  role: 'primary' | 'replica';
  /** Registered under a live lease. */
  live: boolean;
  /**
   * Replication position the node published, and for a replica its lag behind the primary (as
   * the primary measured it, else from the published offsets; null when unknown).
   */
  replication: { offset: number; lagBytes: number | null; lagMs: number | null } | null;
}

/** Decides whether a registered node is live; the default trusts registration. */
export type LivenessCheck = (nodeId: string) => boolean;

/** Builds the status document of `cluster` from a snapshot. */
export function statusDocument(
  cluster: string, snapshot: TopologySnapshot, isLive: LivenessCheck = () => true, offsets: ReadonlyMap<string, ReplOffsetRecord> = new Map(),
): StatusDocument {
  const config = snapshot.config;
  const nodes = nodeStatuses(snapshot, isLive, offsets);
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const shards = [...snapshot.shards.values()].map((view) => shardStatus(view, snapshot, byId, config?.replicas ?? 0));
  return {
    cluster,
    revision: snapshot.revision,
    initialised: config !== undefined,
    config: config
      ? { shards: config.shards, replicas: config.replicas, leaseTtlSeconds: config.leaseTtlSeconds, slotMapEpoch: snapshot.slotMap?.epoch ?? null }
      : null,
    shards,
    nodes,
    regions: regionsStatus(snapshot, offsets),
  };
}

/** A node's replication figures from the published offsets (pure). */
export function replicationOf(nodeId: string, primaryId: string | undefined, offsets: ReadonlyMap<string, ReplOffsetRecord>): NodeStatus['replication'] {
  const own = offsets.get(nodeId);
  if (!own) return null;
  const primary = primaryId === undefined ? undefined : offsets.get(primaryId);
  if (primaryId === nodeId || !primary) return { offset: own.offset, lagBytes: null, lagMs: null };
  const measured = primary.replicas?.find((r) => r.nodeId === nodeId);
  if (measured) return { offset: own.offset, lagBytes: measured.lagBytes, lagMs: measured.lagMs };
  return { offset: own.offset, lagBytes: Math.max(0, primary.offset - own.offset), lagMs: null };
}

function nodeStatuses(snapshot: TopologySnapshot, isLive: LivenessCheck, offsets: ReadonlyMap<string, ReplOffsetRecord>): NodeStatus[] {
  const out: NodeStatus[] = [];
  for (const [nodeId, node] of snapshot.nodes) {
    const primary = snapshot.shards.get(node.shardId)?.primary;
    out.push({
      nodeId,
      addr: node.addr,
      adminAddr: node.adminAddr ?? null,
      shardId: node.shardId,
      zone: node.zone,
      role: primary?.nodeId === nodeId ? 'primary' : 'replica',
      live: isLive(nodeId),
      replication: replicationOf(nodeId, primary?.nodeId, offsets),
    });
  }
  return out.sort((a, b) => a.shardId - b.shardId || a.nodeId.localeCompare(b.nodeId));
}

function shardStatus(view: ShardView, snapshot: TopologySnapshot, nodes: ReadonlyMap<string, NodeStatus>, wantReplicas: number): ShardStatus {
  const replicas = view.replicas
    .map((id) => nodes.get(id))
    .filter((n): n is NodeStatus => n !== undefined && n.live)
    .map((n) => ({ nodeId: n.nodeId, addr: n.addr }));
  const primary = view.primary ? { nodeId: view.primary.nodeId, addr: view.primary.addr, epoch: view.primary.epoch } : null;
  const problems = shardProblems(primary, nodes, replicas.length, wantReplicas);
  return {
    shardId: view.shardId,
    slots: slotRanges(snapshot, view.shardId),
    primary,
    replicas,
    healthy: problems.length === 0,
    problems,
    resignEpoch: view.resign?.epoch ?? null,
  };
}

/** Reasons a shard is unhealthy: no primary, a primary that is not live, fewer live replicas than configured. */
export function shardProblems(
  primary: ShardStatus['primary'],
  nodes: ReadonlyMap<string, NodeStatus>,
  liveReplicas: number,
  wantReplicas: number,
): string[] {
  const problems: string[] = [];
  if (!primary) problems.push('no primary');
  else if (!nodes.get(primary.nodeId)?.live) problems.push(`primary ${primary.nodeId} is not registered under a live lease`);
  if (liveReplicas < wantReplicas) problems.push(`${liveReplicas} of ${wantReplicas} replicas live`);
  return problems;
}

function slotRanges(snapshot: TopologySnapshot, shardId: number): Array<[number, number]> {
  const ranges = (snapshot.slotMap?.ranges ?? []).filter((r) => r[2] === shardId).map((r): [number, number] => [r[0], r[1]]);
  return ranges.sort((a, b) => a[0] - b[0]);
}
