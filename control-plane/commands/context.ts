import type { Etcd3 } from 'etcd3';
import { ClusterConfigSchema, clusterKeys, parseRecord, ReplOffsetRecordSchema, type ClusterConfig, type ClusterKeys, type ReplOffsetRecord } from '../../shared/topology/schema';
import { buildSnapshot, type TopologySnapshot } from '../../shared/topology/snapshot';
import { NotInitialisedError } from '../errors';

/** What every command needs: an etcd client and the key layout of one cluster. */
export interface CommandContext {
  client: Etcd3;
  cluster: string;
  keys: ClusterKeys;
}

/** A context for `cluster` on `client` (throws on an invalid cluster name). */
export function commandContext(client: Etcd3, cluster: string): CommandContext {
  return { client, cluster, keys: clusterKeys(cluster) };
}

/**
 * A one-shot read of the cluster: the snapshot at one revision, plus the ids of the nodes whose
 * registration is attached to a lease (a key under a lease exists only while the lease lives, so
 * those nodes are live; a hand-written record with no lease is not).
 */
export interface TopologyRead {
  snapshot: TopologySnapshot;
  leasedNodes: ReadonlySet<string>;
  /** Replication offsets the nodes publish (`shards/<n>/offsets/<nodeId>`), by node id. */
  offsets: ReadonlyMap<string, ReplOffsetRecord>;
}

/** Reads every key of the cluster in one range request and builds its snapshot. */
export async function readTopology(ctx: CommandContext): Promise<TopologyRead> {
  const res = await ctx.client.getAll().prefix(ctx.keys.prefix).exec();
  const kvs = res.kvs.map((kv) => ({
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
  }));
  const leasedNodes = new Set<string>();
  const offsets = new Map<string, ReplOffsetRecord>();
  const offsetsKey = /^shards\/\d+\/offsets\/([^/]+)$/;
  for (const kv of res.kvs) {
    const key = kv.key.toString();
    if (key.startsWith(ctx.keys.nodesPrefix) && kv.lease !== '0') leasedNodes.add(key.slice(ctx.keys.nodesPrefix.length));
    const match = offsetsKey.exec(key.slice(ctx.keys.prefix.length));
    const parsed = match ? parseRecord(ReplOffsetRecordSchema, kv.value.toString()) : undefined;
    if (match && parsed?.ok) offsets.set(match[1], parsed.value);
  }
  return { snapshot: buildSnapshot(ctx.keys, kvs, Number(res.header.revision)), leasedNodes, offsets };
}

/** The cluster's config (one read); NotInitialisedError when it is absent or unreadable. */
export async function readConfig(ctx: CommandContext): Promise<ClusterConfig> {
  const text = await ctx.client.get(ctx.keys.config).string();
  const parsed = text === null ? undefined : parseRecord(ClusterConfigSchema, text);
  if (!parsed?.ok) throw new NotInitialisedError(ctx.cluster);
  return parsed.value;
}

/** Throws NotInitialisedError unless the cluster has a valid `config`. */
export async function assertInitialised(ctx: CommandContext): Promise<void> {
  await readConfig(ctx);
}
