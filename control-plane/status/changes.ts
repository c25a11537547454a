import type { StatusDocument } from './document';

/** One notable difference between two status documents, for the service's log. */
export interface TopologyChange {
  event: 'primary-changed' | 'shard-unhealthy' | 'shard-healthy' | 'node-joined' | 'node-left' | 'initialised';
  message: string;
  fields: Record<string, unknown>;
}

/**
 * What changed from `prev` to `next` that an operator would want in the log: new primaries (with
 * epochs), shards turning unhealthy or healthy again, nodes joining or leaving. Pure.
 */
export function topologyChanges(prev: StatusDocument | undefined, next: StatusDocument): TopologyChange[] {
  const changes: TopologyChange[] = [];
  if (next.initialised && !prev?.initialised) {
    changes.push({ event: 'initialised', message: 'cluster initialised', fields: { shards: next.config?.shards, replicas: next.config?.replicas } });
  }
  const before = new Map(prev?.shards.map((s) => [s.shardId, s]));
  for (const shard of next.shards) {
    const old = before.get(shard.shardId);
    if (shard.primary && shard.primary.epoch !== old?.primary?.epoch) {
      const fields = { shardId: shard.shardId, nodeId: shard.primary.nodeId, epoch: shard.primary.epoch, previous: old?.primary?.nodeId ?? null };
      changes.push({ event: 'primary-changed', message: `shard ${shard.shardId} primary is ${shard.primary.nodeId}`, fields });
    }
    if (old && old.healthy !== shard.healthy) {
      const event = shard.healthy ? 'shard-healthy' : 'shard-unhealthy';
      changes.push({ event, message: `shard ${shard.shardId} ${shard.healthy ? 'healthy again' : 'unhealthy'}`, fields: { shardId: shard.shardId, problems: shard.problems } });
    }
  }
  const oldNodes = new Set(prev?.nodes.map((n) => n.nodeId));
  const newNodes = new Set(next.nodes.map((n) => n.nodeId));
  for (const n of next.nodes) {
    if (!oldNodes.has(n.nodeId)) changes.push({ event: 'node-joined', message: `node ${n.nodeId} joined`, fields: { nodeId: n.nodeId, addr: n.addr, shardId: n.shardId } });
  }
  for (const id of oldNodes) {
    if (!newNodes.has(id)) changes.push({ event: 'node-left', message: `node ${id} left`, fields: { nodeId: id } });
  }
  return changes;
}
