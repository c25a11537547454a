import type { StatusDocument } from './document';
import { renderRegions } from './regions';
import { renderTable } from './table';

/** Slot ranges as `0-5460,10923-16383` (`-` when the shard owns no slot). */
export function formatSlots(slots: ReadonlyArray<readonly [number, number]>): string {
  return slots.length === 0 ? '-' : slots.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`)).join(',');
}

/**
 * The readable form of a status document: a summary line, a shard table, a node table and one
 * line per unhealthy shard. Pure.
 */
export function renderStatus(doc: StatusDocument): string {
  if (!doc.initialised || !doc.config) return `cluster ${doc.cluster}: not initialised (revision ${doc.revision})`;
  const c = doc.config;
  const out = [
    `cluster ${doc.cluster}  revision ${doc.revision}  shards ${c.shards}  replicas ${c.replicas}  lease ttl ${c.leaseTtlSeconds}s  slot map epoch ${c.slotMapEpoch ?? '-'}`,
    '',
    renderTable(
      ['SHARD', 'SLOTS', 'PRIMARY', 'ADDR', 'EPOCH', 'REPLICAS', 'HEALTH'],
      doc.shards.map((s) => [
        String(s.shardId),
        formatSlots(s.slots),
        s.primary?.nodeId ?? '-',
        s.primary?.addr ?? '-',
        s.primary ? String(s.primary.epoch) : '-',
        s.replicas.map((r) => `${r.nodeId}@${r.addr}`).join(',') || '-',
        s.healthy ? 'ok' : 'UNHEALTHY',
      ]),
    ),
    '',
    doc.nodes.length === 0 ? 'no nodes registered' : renderNodes(doc),
  ];
  const unhealthy = doc.shards.filter((s) => !s.healthy);
  if (unhealthy.length > 0) out.push('', ...unhealthy.map((s) => `shard ${s.shardId} unhealthy: ${s.problems.join('; ')}`));
  // Regions: shown once this cluster has a region or a peer (docs/operations.md "Regions").
  const regions = doc.regions;
  if (regions !== undefined && (regions.region !== null || regions.peers.length > 0)) out.push('', renderRegions(regions));
  return out.join('\n');
}

/** A replica's lag as `1.2kb/35ms` (`-` for a primary or when unknown). */
export function formatLag(n: Pick<StatusDocument['nodes'][number], 'role' | 'replication'>): string {
  const r = n.replication;
  if (n.role === 'primary' || r === null || r.lagBytes === null) return '-';
  const bytes = r.lagBytes < 1024 ? `${r.lagBytes}b` : r.lagBytes < 1024 ** 2 ? `${(r.lagBytes / 1024).toFixed(1)}kb` : `${(r.lagBytes / 1024 ** 2).toFixed(1)}mb`;
  return r.lagMs === null ? bytes : `${bytes}/${Math.round(r.lagMs)}ms`;
}

/** The node table: id, addresses, shard, zone, role, liveness and replication lag. */
export function renderNodes(doc: Pick<StatusDocument, 'nodes'>): string {
  return renderTable(
    ['NODE', 'ADDR', 'ADMIN', 'SHARD', 'ZONE', 'ROLE', 'LIVE', 'REPL LAG'],
    doc.nodes.map((n) => [n.nodeId, n.addr, n.adminAddr ?? '-', String(n.shardId), n.zone || '-', n.role, n.live ? 'yes' : 'no', formatLag(n)]),
  );
}
