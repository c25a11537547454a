import { EventEmitter } from 'node:events';
import { SLOT_COUNT } from '../../shared/slot';
import { clusterKeys, evenSlotMap, type NamespacePolicy } from '../../shared/topology/schema';
import { buildSnapshot, type TopologyKv, type TopologySnapshot } from '../../shared/topology/snapshot';

/** One shard of a fake topology: its primary (with epoch) and replicas, by node id. */
export interface FakeShardSpec {
  primary?: { nodeId: string; epoch: number };
  replicas?: string[];
}

export interface FakeTopologySpec {
  shards: FakeShardSpec[];
  namespaces?: Record<string, NamespacePolicy>;
  revision?: number;
  /** Address of each node; default 127.0.0.1:(20000 + index). */
  addrs?: Record<string, string>;
}

/**
 * A TopologySnapshot built the way the watcher builds one (buildSnapshot over etcd-shaped
 * key-values), from a short description: shards with primaries, epochs and replicas, namespaces.
 */
export function fakeSnapshot(spec: FakeTopologySpec): TopologySnapshot {
  const keys = clusterKeys('test');
  const revision = spec.revision ?? 100;
  const kvs: TopologyKv[] = [];
  const put = (key: string, value: unknown, createRevision = 1, lease?: string): void => {
    kvs.push({ key, value: JSON.stringify(value), createRevision, modRevision: createRevision, lease });
  };
  put(keys.config, { slots: SLOT_COUNT, shards: spec.shards.length, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 });
  put(keys.slotmap, evenSlotMap(spec.shards.length));
  let port = 20000;
  const addrOf = (nodeId: string): string => spec.addrs?.[nodeId] ?? `127.0.0.1:${port++}`;
  spec.shards.forEach((shard, shardId) => {
    for (const nodeId of [...(shard.primary ? [shard.primary.nodeId] : []), ...(shard.replicas ?? [])]) {
      const addr = addrOf(nodeId);
      put(keys.node(nodeId), { addr, shardId, zone: '' }, 1, '7');
      if (shard.primary?.nodeId === nodeId) put(keys.primary(shardId), { nodeId, addr }, shard.primary.epoch, '7');
    }
  });
  for (const [ns, policy] of Object.entries(spec.namespaces ?? {})) put(keys.namespace(ns), policy);
  return buildSnapshot(keys, kvs, revision);
}

/** A topology source the data plane and router accept: holds a snapshot and emits 'change' on `set`. */
export class FakeTopology extends EventEmitter {
  snapshot: TopologySnapshot | undefined;

  constructor(snapshot?: TopologySnapshot) {
    super();
    this.snapshot = snapshot;
  }

  set(snapshot: TopologySnapshot): void {
    this.snapshot = snapshot;
    this.emit('change', snapshot);
  }
}
