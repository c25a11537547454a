import { UserRecordSchema, type UserRecord } from '../credentials';
import { SLOT_COUNT } from '../slot';
import {
  ClusterConfigSchema, HotKeyRuleSchema, RegionPeerSchema, RegionSelfSchema, type RegionPeer, type RegionSelf, NamespacePolicySchema, NodeRecordSchema, PrimaryRecordSchema, ResignRequestSchema,
  SlotMapSchema, parseRecord, type ClusterConfig, type ClusterKeys, type HotKeyRule, type NamespacePolicy, type NodeRecord,
  type ResignRequest, type SlotMap,
} from './schema';

/** One key-value of the cluster prefix as read from etcd. */
export interface TopologyKv {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  /** Lease the key is attached to; absent or '0' when none. */
  lease?: string;
}

/** The shard's elected primary; `epoch` is the create revision of its primary key (fencing token). */
export interface ShardPrimary {
  nodeId: string;
  addr: string;
  epoch: number;
}

export interface ShardView {
  shardId: number;
  primary?: ShardPrimary;
  /** Live nodes of the shard other than the primary, sorted by id. */
  replicas: string[];
  resign?: ResignRequest;
}

/**
 * An immutable view of a cluster's topology at one etcd revision. Request paths read it; nothing
 * in it awaits etcd. `slotShard[slot]` is the shard that owns each slot (-1 when no slot map).
 */
export interface TopologySnapshot {
  revision: number;
  config?: ClusterConfig;
  slotMap?: SlotMap;
  slotShard: Int16Array;
  nodes: ReadonlyMap<string, NodeRecord>;
  /** Nodes whose registration is attached to a lease (a live node keeps it alive). */
  liveNodes: ReadonlySet<string>;
  shards: ReadonlyMap<number, ShardView>;
  namespaces: ReadonlyMap<string, NamespacePolicy>;
  /** Hot-key rules by `namespace + "\n" + key`; `createRevision` tells a re-added rule from the one before. */
  hotkeys: ReadonlyMap<string, HotKeyRule & { namespace: string; key: string; createRevision: number }>;
  /** Users by name (`users/<name>`): secret hashes and grants, read by the proxies' authenticator. */
  users: ReadonlyMap<string, UserRecord>;
  /** This cluster's region (`region`), when it has one. */
  region?: RegionSelf;
  /** Peer regions by name (`regions/<name>`). */
  regions: ReadonlyMap<string, RegionPeer>;
  /** Keys whose value failed validation, with the reason (reported, never used). */
  invalid: ReadonlyArray<{ key: string; reason: string }>;
}

/** What a key under the cluster prefix holds for a snapshot. */
type SnapshotRecord =
  | { kind: 'config' }
  | { kind: 'slotmap' }
  | { kind: 'node'; nodeId: string }
  | { kind: 'primary' | 'resign'; shardId: number }
  | { kind: 'namespace'; ns: string }
  | { kind: 'hotkey'; ns: string; key: string }
  | { kind: 'user'; name: string }
  | { kind: 'region' }
  | { kind: 'regionPeer'; name: string };

/** The record a key (relative to the cluster prefix) holds, or null for a key no snapshot reads (replication offsets, migrations...). Pure. */
function recordOf(rel: string): SnapshotRecord | null {
  if (rel === 'config') return { kind: 'config' };
  if (rel === 'slotmap') return { kind: 'slotmap' };
  const parts = rel.split('/');
  if (parts[0] === 'nodes' && parts.length === 2) return { kind: 'node', nodeId: parts[1] };
  if (parts[0] === 'shards' && parts.length === 3 && /^\d+$/.test(parts[1]) && (parts[2] === 'primary' || parts[2] === 'resign')) {
    return { kind: parts[2], shardId: Number(parts[1]) };
  }
  if (parts[0] === 'namespaces' && parts.length === 2) return { kind: 'namespace', ns: parts[1] };
  if (parts[0] === 'hotkeys' && parts.length === 3) return { kind: 'hotkey', ns: parts[1], key: safeDecode(parts[2]) };
  if (parts[0] === 'users' && parts.length === 2) return { kind: 'user', name: parts[1] };
  if (rel === 'region') return { kind: 'region' };
  if (parts[0] === 'regions' && parts.length === 2) return { kind: 'regionPeer', name: parts[1] };
  return null;
}

/**
 * Whether a key under the cluster prefix can change a snapshot. Replication offsets
 * (`shards/<n>/offsets/<node>`) cannot: nodes republish them every few seconds, and a watcher
 * that rebuilt its snapshot for each would wake every proxy for nothing.
 */
export function shapesSnapshot(keys: ClusterKeys, key: string): boolean {
  return recordOf(key.slice(keys.prefix.length)) !== null;
}

/** Builds a snapshot from every key-value under the cluster prefix. Pure. */
export function buildSnapshot(keys: ClusterKeys, kvs: Iterable<TopologyKv>, revision: number): TopologySnapshot {
  const nodes = new Map<string, NodeRecord>();
  const liveNodes = new Set<string>();
  const primaries = new Map<number, ShardPrimary>();
  const resigns = new Map<number, ResignRequest>();
  const namespaces = new Map<string, NamespacePolicy>();
  const hotkeys = new Map<string, HotKeyRule & { namespace: string; key: string; createRevision: number }>();
  const users = new Map<string, UserRecord>();
  const regions = new Map<string, RegionPeer>();
  let region: RegionSelf | undefined;
  const invalid: Array<{ key: string; reason: string }> = [];
  let config: ClusterConfig | undefined;
  let slotMap: SlotMap | undefined;

  for (const kv of kvs) {
    const record = recordOf(kv.key.slice(keys.prefix.length));
    if (record === null) continue;
    const take = <T>(schema: Parameters<typeof parseRecord<T>>[0], use: (value: T) => void): void => {
      const parsed = parseRecord(schema, kv.value);
      if (parsed.ok) use(parsed.value);
      else invalid.push({ key: kv.key, reason: parsed.reason });
    };
    switch (record.kind) {
      case 'config':
        take(ClusterConfigSchema, (v) => (config = v));
        break;
      case 'slotmap':
        take(SlotMapSchema, (v) => (slotMap = v));
        break;
      case 'node':
        take(NodeRecordSchema, (v) => nodes.set(record.nodeId, v));
        if (kv.lease && kv.lease !== '0') liveNodes.add(record.nodeId);
        break;
      case 'primary':
        take(PrimaryRecordSchema, (v) => primaries.set(record.shardId, { ...v, epoch: kv.createRevision }));
        break;
      case 'resign':
        take(ResignRequestSchema, (v) => resigns.set(record.shardId, v));
        break;
      case 'namespace':
        take(NamespacePolicySchema, (v) => namespaces.set(record.ns, v));
        break;
      case 'hotkey':
        take(HotKeyRuleSchema, (v) => hotkeys.set(`${record.ns}\n${record.key}`, { ...v, namespace: record.ns, key: record.key, createRevision: kv.createRevision }));
        break;
      case 'user':
        take(UserRecordSchema, (v) => users.set(record.name, v));
        break;
      case 'region':
        take(RegionSelfSchema, (v) => (region = v));
        break;
      case 'regionPeer':
        take(RegionPeerSchema, (v) => regions.set(record.name, v));
        break;
    }
  }
  return { revision, config, slotMap, slotShard: slotTable(slotMap), nodes, liveNodes, shards: shardViews(config, nodes, primaries, resigns), namespaces, hotkeys, users, region, regions, invalid };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function slotTable(slotMap: SlotMap | undefined): Int16Array {
  const table = new Int16Array(SLOT_COUNT).fill(-1);
  for (const [from, to, shard] of slotMap?.ranges ?? []) table.fill(shard, from, to + 1);
  return table;
}

function shardViews(
  config: ClusterConfig | undefined,
  nodes: ReadonlyMap<string, NodeRecord>,
  primaries: ReadonlyMap<number, ShardPrimary>,
  resigns: ReadonlyMap<number, ResignRequest>,
): Map<number, ShardView> {
  const shards = new Map<number, ShardView>();
  const view = (shardId: number): ShardView => {
    let v = shards.get(shardId);
    if (!v) shards.set(shardId, (v = { shardId, primary: primaries.get(shardId), replicas: [], resign: resigns.get(shardId) }));
    return v;
  };
  for (let s = 0; s < (config?.shards ?? 0); s++) view(s);
  for (const shardId of primaries.keys()) view(shardId);
  for (const [nodeId, node] of [...nodes].sort(([a], [b]) => a.localeCompare(b))) {
    const v = view(node.shardId);
    if (v.primary?.nodeId !== nodeId) v.replicas.push(nodeId);
  }
  return new Map([...shards].sort(([a], [b]) => a - b));
}
