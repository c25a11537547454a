import type { StatusDocument } from './document';
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
  return out.join('\n');
}

/** The node table: id, addresses, shard, zone, role and liveness. */
export function renderNodes(doc: Pick<StatusDocument, 'nodes'>): string {
  return renderTable(
    ['NODE', 'ADDR', 'ADMIN', 'SHARD', 'ZONE', 'ROLE', 'LIVE'],
    doc.nodes.map((n) => [n.nodeId, n.addr, n.adminAddr ?? '-', String(n.shardId), n.zone || '-', n.role, n.live ? 'yes' : 'no']),
  );
}
