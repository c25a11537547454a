import type { StatusDocument } from '../status/document';
import { formatSlots } from '../status/text';
import type { MigrationRecord } from '../../shared/topology/schema';
import { formatRanges } from '../../shared/slot-ranges';

/**
 * The static status page served at `GET /static` (and at `/` when the service runs without its
 * dashboard): one self-contained HTML document (no scripts, no assets)
 * that reloads itself every few seconds. Pure; every value from etcd is escaped.
 */
export function renderStatusPage(doc: StatusDocument | undefined, migrations: readonly MigrationRecord[] = [], refreshSeconds = 3): string {
  const body = (doc ? statusBody(doc) : '<p class="bad">Loading the topology from etcd…</p>') + migrationsBody(migrations);
  const title = doc ? `shardcache · ${escapeHtml(doc.cluster)}` : 'shardcache';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${refreshSeconds}">
<title>${title}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}.ok{color:#176117}.bad{color:#a31515;font-weight:600}code{font-size:13px}
</style></head><body>
<h1>${title}</h1>
${body}
<p><a href="/">live dashboard</a> · <a href="/v1/status">/v1/status</a> · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>
</body></html>
`;
}

function statusBody(doc: StatusDocument): string {
  if (!doc.initialised || !doc.config) {
    return `<p class="bad">Cluster not initialised (revision ${doc.revision}). Run <code>shardctl init --cluster ${escapeHtml(doc.cluster)} --shards N --replicas R</code>.</p>`;
  }
  const c = doc.config;
  const unhealthy = doc.shards.filter((s) => !s.healthy);
  const summary = `<p>revision ${doc.revision} · ${c.shards} shards · ${c.replicas} replicas per shard · lease TTL ${c.leaseTtlSeconds}s · slot map epoch ${c.slotMapEpoch ?? '-'} · ${
    unhealthy.length === 0 ? '<span class="ok">all shards healthy</span>' : `<span class="bad">${unhealthy.length} unhealthy</span>`
  }</p>`;
  const shards = table(
    ['shard', 'slots', 'primary', 'epoch', 'replicas', 'health'],
    doc.shards.map((s) => [
      String(s.shardId),
      formatSlots(s.slots),
      s.primary ? `${s.primary.nodeId} (${s.primary.addr})` : '-',
      s.primary ? String(s.primary.epoch) : '-',
      s.replicas.map((r) => `${r.nodeId} (${r.addr})`).join(', ') || '-',
      s.healthy ? 'ok' : s.problems.join('; '),
    ]),
    (row) => (row[5] === 'ok' ? '' : 'bad'),
  );
  const nodes = table(
    ['node', 'addr', 'admin', 'shard', 'zone', 'role', 'live'],
    doc.nodes.map((n) => [n.nodeId, n.addr, n.adminAddr ?? '-', String(n.shardId), n.zone || '-', n.role, n.live ? 'yes' : 'no']),
    (row) => (row[6] === 'yes' ? '' : 'bad'),
  );
  return `${summary}\n<h2>Shards</h2>\n${shards}\n<h2>Nodes</h2>\n${doc.nodes.length ? nodes : '<p>No nodes registered.</p>'}`;
}

/** The migrations section: the newest 20 records, with their progress. */
function migrationsBody(migrations: readonly MigrationRecord[]): string {
  if (migrations.length === 0) return '';
  const rows = migrations.slice(-20).reverse().map((m) => [
    m.id, m.state, `${m.from} → ${m.to}`, formatRanges(m.ranges), `${m.progress.slotsDone}/${m.progress.slotsTotal}`, String(m.progress.keys), String(m.progress.bytes),
    m.progress.coldSlots > 0 ? `${m.progress.coldSlots} cold` : '-', `${Math.round(m.progress.freezeMsMax)} ms`, m.reason ?? '',
  ]);
  return `\n<h2>Migrations</h2>\n${table(['id', 'state', 'shards', 'slots', 'done', 'keys', 'bytes', 'cold', 'max freeze', 'note'], rows, (row) => (row[1] === 'aborted' || row[7] !== '-' ? 'bad' : ''))}`;
}

function table(headers: string[], rows: string[][], rowClass: (row: string[]) => string): string {
  const head = `<tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((row) => `<tr class="${rowClass(row)}">${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n${head}\n${body}\n</table>`;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}
