import type { TopologySnapshot } from '../../shared/topology/snapshot';

/**
 * JSON views of the topology snapshot the proxy routes by (Maps and Sets become objects and
 * lists; the 16384-entry slot table is left out: `slotMap.ranges` says the same). Pure.
 */
export function topologyJson(s: TopologySnapshot): Record<string, unknown> {
  return {
    revision: s.revision,
    initialised: s.config !== undefined,
    config: s.config ?? null,
    slotMap: s.slotMap ?? null,
    shards: [...s.shards.values()].map((v) => ({ shardId: v.shardId, primary: v.primary ?? null, replicas: v.replicas, resign: v.resign ?? null })),
    nodes: Object.fromEntries([...s.nodes].map(([id, node]) => [id, { ...node, live: s.liveNodes.has(id) }])),
    namespaces: Object.fromEntries(s.namespaces),
    hotkeys: [...s.hotkeys.values()],
    invalid: s.invalid,
  };
}

/** Health of the proxy: ok only with a snapshot of an initialised cluster (else it cannot route). */
export function healthJson(s: TopologySnapshot | undefined): { ok: boolean } & Record<string, unknown> {
  if (!s) return { ok: false, reason: 'topology not loaded from etcd yet' };
  if (!s.config) return { ok: false, revision: s.revision, reason: 'cluster not initialised (run shardctl init)' };
  const shards = [...s.shards.values()];
  return {
    ok: true,
    revision: s.revision,
    shards: shards.length,
    shardsWithoutPrimary: shards.filter((v) => !v.primary).map((v) => v.shardId),
    liveNodes: s.liveNodes.size,
  };
}
