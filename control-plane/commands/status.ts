import { statusDocument, type NodeStatus, type StatusDocument } from '../status/document';
import { NotInitialisedError } from '../errors';
import { readTopology, type CommandContext } from './context';

/** The status document of the cluster from one read; `initialised: false` when `config` is absent. */
export async function clusterStatus(ctx: CommandContext): Promise<StatusDocument> {
  const { snapshot, leasedNodes, offsets } = await readTopology(ctx);
  return statusDocument(ctx.cluster, snapshot, (nodeId) => leasedNodes.has(nodeId), offsets);
}

/** Every registered node with its address, shard, zone, role and liveness (cluster must exist). */
export async function listNodes(ctx: CommandContext): Promise<NodeStatus[]> {
  const doc = await clusterStatus(ctx);
  if (!doc.initialised) throw new NotInitialisedError(ctx.cluster);
  return doc.nodes;
}
