import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import type { MigrationRecord, NamespacePolicy } from '../../../shared/topology/schema';
import { formatRanges } from '../../../shared/slot-ranges';
import type { ClusterFrame, HotKeySample, NodeSample, ProxySample } from '../../sample/sampler';
import type { SeriesPoint, SeriesValues } from '../../sample/series';

/**
 * What one dashboard frame carries (`GET /v1/dashboard`, one SSE event per second): the sampler's
 * frame (nodes' STATS, proxies' /metrics) joined with what the service holds from etcd (the watched
 * topology's namespace policies and hot-key rules, the migration records). Pure: built from its
 * inputs, no I/O; strings from etcd pass through as data (the page writes them with textContent).
 */

/** A hot-key rule from etcd, as the page shows it. */
export interface RuleView {
  namespace: string;
  key: string;
  mode: string;
  source: string;
  copies: number | null;
  ttlMs: number | null;
  /** Milliseconds since the epoch; null for a rule that never lapses. */
  expiresAt: number | null;
}

/** One shard: health from etcd (and from its primary answering), figures of its nodes. */
export interface ShardRow {
  shardId: number;
  primary: string | null;
  healthy: boolean;
  problems: string[];
  /** Client ops/s over every node of the shard (reads may go to replicas). */
  opsPerSec: number | null;
  hitRatio: number | null;
  /** The primary's figures (replicas hold the same entries). */
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  items: number | null;
  evictionsPerSec: number | null;
  expirationsPerSec: number | null;
  /** The largest replication lag of its replicas (bytes; ms when measured), null when unknown. */
  replLagBytes: number | null;
  replLagMs: number | null;
}

export interface NamespaceRow {
  name: string;
  /** The policy in etcd (`shardctl ns set`); null for a namespace only seen in the nodes' data. */
  policy: NamespacePolicy | null;
  /** Summed over the primaries. */
  items: number;
  bytes: number;
}

export interface MigrationRow {
  id: string;
  state: string;
  from: number;
  to: number;
  slots: string;
  slotsDone: number;
  slotsTotal: number;
  keys: number;
  bytes: number;
  coldSlots: number;
  freezeMsMax: number;
  reason: string | null;
}

export interface DashboardFrame {
  cluster: string;
  revision: number | null;
  /** ISO time of the sample. */
  at: string;
  elapsedMs: number | null;
  /** Why the last sample failed (etcd unreachable, cluster not initialised...); the rest is then what etcd's watch holds. */
  error: string | null;
  summary: {
    shards: number;
    healthyShards: number;
    unhealthyShards: number;
    nodes: number;
    liveNodes: number;
    slotMapEpoch: number | null;
    proxies: number;
    opsPerSec: number | null;
    hitRatio: number | null;
    memoryBytes: number | null;
    memoryLimitBytes: number | null;
    requestsPerSec: number | null;
    errorRate: number | null;
  };
  shards: ShardRow[];
  nodes: NodeSample[];
  proxies: ProxySample[];
  /** The hottest keys the proxies report, each with its rule from etcd (null: none). */
  hotKeys: Array<HotKeySample & { rule: RuleView | null }>;
  /** Every active hot-key rule in etcd. */
  rules: RuleView[];
  namespaces: NamespaceRow[];
  migrations: { leader: boolean; running: string[]; list: MigrationRow[] };
  /** This frame's values for the charts. */
  point: SeriesPoint;
}

export interface DashboardInputs {
  cluster: string;
  /** The sampler's frame; with `error`, the last good one (shown as it was, not charted), or undefined. */
  frame: ClusterFrame | undefined;
  error: string | undefined;
  topology: TopologySnapshot | undefined;
  migrations: { driver: { leader: boolean; running: string[] }; migrations: readonly MigrationRecord[] };
  /** Milliseconds since the epoch (rules past `expiresAt` are left out; the point's time). */
  now: number;
}

const sum = (values: Array<number | null>): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
};

/** Hit ratios combined by their lookups; null without lookups. */
export function combinedHitRatio(nodes: ReadonlyArray<Pick<NodeSample, 'hitRatio' | 'lookupsPerSec'>>): number | null {
  let lookups = 0;
  let hits = 0;
  for (const n of nodes) {
    if (n.hitRatio === null || n.lookupsPerSec === null || n.lookupsPerSec <= 0) continue;
    lookups += n.lookupsPerSec;
    hits += n.hitRatio * n.lookupsPerSec;
  }
  return lookups > 0 ? hits / lookups : null;
}

/** The active hot-key rules of a snapshot, by namespace and key. */
export function activeRules(topology: TopologySnapshot | undefined, now: number): RuleView[] {
  if (!topology) return [];
  const out: RuleView[] = [];
  for (const r of topology.hotkeys.values()) {
    if (r.expiresAt !== undefined && r.expiresAt <= now) continue;
    out.push({ namespace: r.namespace, key: r.key, mode: r.mode, source: r.source, copies: r.copies ?? null, ttlMs: r.ttlMs ?? null, expiresAt: r.expiresAt ?? null });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key));
}

function shardRows(frame: ClusterFrame): ShardRow[] {
  return frame.shards.map((s) => {
    const nodes = frame.nodes.filter((n) => n.shardId === s.shardId);
    const primary = nodes.find((n) => n.nodeId === s.primary);
    const problems = [...s.problems];
    // etcd learns a primary died only when its lease lapses; a primary that does not answer STATS is a problem now.
    if (primary && primary.error !== null) problems.push(`primary ${primary.nodeId} not answering: ${primary.error}`);
    if (nodes.length === 0) problems.push('no nodes registered');
    const replicas = nodes.filter((n) => n.role === 'replica' && n.replication !== null);
    const lagBytes = replicas.map((n) => n.replication!.lagBytes).filter((v): v is number => v !== null);
    const lagMs = replicas.map((n) => n.replication!.lagMs).filter((v): v is number => v !== null);
    return {
      shardId: s.shardId,
      primary: s.primary,
      healthy: problems.length === 0,
      problems,
      opsPerSec: sum(nodes.map((n) => n.opsPerSec)),
      hitRatio: combinedHitRatio(nodes),
      memoryBytes: primary?.memoryBytes ?? null,
      memoryLimitBytes: primary?.memoryLimitBytes ?? null,
      items: primary?.items ?? null,
      evictionsPerSec: primary?.evictionsPerSec ?? null,
      expirationsPerSec: primary?.expirationsPerSec ?? null,
      replLagBytes: lagBytes.length === 0 ? null : Math.max(...lagBytes),
      replLagMs: lagMs.length === 0 ? null : Math.max(...lagMs),
    };
  });
}

function namespaceRows(frame: ClusterFrame | undefined, topology: TopologySnapshot | undefined): NamespaceRow[] {
  const rows = new Map<string, NamespaceRow>();
  for (const [name, policy] of topology?.namespaces ?? []) rows.set(name, { name, policy, items: 0, bytes: 0 });
  for (const n of frame?.nodes ?? []) {
    if (n.role !== 'primary' || n.namespaces === null) continue;
    for (const [name, usage] of Object.entries(n.namespaces)) {
      const row = rows.get(name) ?? { name, policy: null, items: 0, bytes: 0 };
      row.items += usage.items;
      row.bytes += usage.bytes;
      rows.set(name, row);
    }
  }
  return [...rows.values()].sort((a, b) => a.name.localeCompare(b.name));
}

function migrationRows(records: readonly MigrationRecord[]): MigrationRow[] {
  return records.slice(-20).reverse().map((m) => ({
    id: m.id, state: m.state, from: m.from, to: m.to, slots: formatRanges(m.ranges),
    slotsDone: m.progress.slotsDone, slotsTotal: m.progress.slotsTotal, keys: m.progress.keys, bytes: m.progress.bytes,
    coldSlots: m.progress.coldSlots, freezeMsMax: m.progress.freezeMsMax, reason: m.reason ?? null,
  }));
}

/** The charts' values of a frame: per shard ops/s, hit ratio and memory; per proxy requests/s and errors/s. */
export function seriesValues(shards: readonly ShardRow[], proxies: readonly ProxySample[]): SeriesValues {
  const values: SeriesValues = {};
  for (const s of shards) {
    values[`ops:${s.shardId}`] = s.opsPerSec;
    values[`hit:${s.shardId}`] = s.hitRatio;
    values[`mem:${s.shardId}`] = s.memoryBytes;
  }
  for (const p of proxies) {
    values[`req:${p.url}`] = p.requestsPerSec;
    values[`err:${p.url}`] = p.errorsPerSec;
  }
  return values;
}

/** One dashboard frame from the sample (or its failure) and what the service holds from etcd. */
export function dashboardFrame(inputs: DashboardInputs): DashboardFrame {
  const { frame, topology, now } = inputs;
  const shards = frame ? shardRows(frame) : [];
  const nodes = frame?.nodes ?? [];
  const proxies = frame?.proxies ?? [];
  const rules = activeRules(topology, now);
  const ruleOf = new Map(rules.map((r) => [`${r.namespace}\n${r.key}`, r]));
  const primaries = nodes.filter((n) => n.role === 'primary');
  const requests = sum(proxies.map((p) => p.requestsPerSec));
  const errors = sum(proxies.map((p) => p.errorsPerSec));
  return {
    cluster: inputs.cluster,
    revision: frame?.revision ?? topology?.revision ?? null,
    at: new Date(now).toISOString(),
    elapsedMs: frame?.elapsedMs ?? null,
    error: inputs.error ?? null,
    summary: {
      shards: shards.length,
      healthyShards: shards.filter((s) => s.healthy).length,
      unhealthyShards: shards.filter((s) => !s.healthy).length,
      nodes: nodes.length,
      liveNodes: nodes.filter((n) => n.live && n.error === null).length,
      slotMapEpoch: topology?.slotMap?.epoch ?? null,
      proxies: proxies.length,
      opsPerSec: sum(nodes.map((n) => n.opsPerSec)),
      hitRatio: combinedHitRatio(nodes),
      memoryBytes: sum(primaries.map((n) => n.memoryBytes)),
      memoryLimitBytes: sum(primaries.map((n) => n.memoryLimitBytes)),
      requestsPerSec: requests,
      errorRate: requests === null || requests === 0 || errors === null ? null : errors / requests,
    },
    shards,
    nodes,
    proxies,
    hotKeys: (frame?.hotKeys ?? []).map((h) => ({ ...h, rule: ruleOf.get(`${h.namespace}\n${h.key}`) ?? null })),
    rules,
    namespaces: namespaceRows(frame, topology),
    migrations: { leader: inputs.migrations.driver.leader, running: inputs.migrations.driver.running, list: migrationRows(inputs.migrations.migrations) },
    point: { t: now, values: frame && inputs.error === undefined ? seriesValues(shards, proxies) : {} },
  };
}
