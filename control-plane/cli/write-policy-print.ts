import type { FlushReport, FlushStatusReport, ShardFlushStatus } from '../commands/write-policy';
import { renderTable } from '../status/table';

/**
 * Text of `ns flush-status` and `ns flush`. Pure: each returns the text to print. Figures are
 * plain numbers (as `ns list` prints bytes) so the output greps and pastes; only ages get a unit.
 */

/** Milliseconds as seconds with one decimal (`1.2s`), `-` for none. */
export function formatAge(ms: number): string {
  if (ms <= 0) return '-';
  return ms < 100_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** A key as a table cell: printable ASCII as is, anything else (spaces, newlines, other scripts) JSON-quoted so one key stays one cell. */
export function keyCell(key: string): string {
  return /^[\x21-\x7e]+$/.test(key) ? key : JSON.stringify(key);
}

/** The line over both tables: which namespace and what etcd says its write policy is. */
function heading(r: { namespace: string; writePolicy: string | null; cluster: string }): string {
  const policy = r.writePolicy === null
    ? 'no policy in etcd'
    : r.writePolicy === 'cache-aside' ? 'cache-aside (the nodes write nothing to a store)' : r.writePolicy;
  return `namespace ${r.namespace} (cluster ${r.cluster}): ${policy}`;
}

/** Replicas' queue depths: `b0=12 c0=?` (`?`: no answer), `-` without replicas. */
function replicaCell(s: ShardFlushStatus): string {
  if (s.replicas.length === 0) return '-';
  return s.replicas.map((r) => `${r.nodeId}=${r.depth === null ? '?' : r.depth}`).join(' ');
}

const HEADERS = ['SHARD', 'PRIMARY', 'DEPTH', 'BYTES', 'OLDEST', 'IN_FLIGHT', 'FLUSHED', 'FAILED', 'COALESCED', 'REFUSED', 'DEAD', 'REPLICA_DEPTH', 'LAST_ERROR'];

/** One shard's row; a primary without figures or without an answer says so in the last column. */
function shardRow(s: ShardFlushStatus): string[] {
  const f = s.figures;
  const head = [String(s.shardId), s.primary ?? '-'];
  if (f === null) {
    const why = s.error !== null ? `not answered: ${s.error}` : 'no write-policy figures for this namespace on the primary';
    return [...head, ...Array<string>(9).fill('-'), replicaCell(s), why];
  }
  return [
    ...head, String(f.depth), String(f.bytes), formatAge(f.oldestMs), String(f.inFlight), String(f.flushed), String(f.failed),
    String(f.coalesced), String(f.refused), String(f.deadLetters), replicaCell(s), f.lastError ?? '-',
  ];
}

/** `ns flush-status`: the heading, one row per shard, the totals, then the dead letters. */
export function formatFlushStatus(r: FlushStatusReport): string {
  const t = r.totals;
  const lines = [
    heading(r),
    renderTable(HEADERS, r.shards.map(shardRow)),
    `total: depth ${t.depth}, bytes ${t.bytes}, oldest ${formatAge(t.oldestMs)}, in flight ${t.inFlight}, flushed ${t.flushed}, failed ${t.failed}, coalesced ${t.coalesced}, refused ${t.refused}, dead letters ${t.deadLetters}`,
    '',
  ];
  if (r.deadLetters.length === 0) {
    lines.push(t.deadLetters === 0 ? 'no dead letters' : `${t.deadLetters} dead letters, none listed by the primaries`);
  } else {
    const shown = r.deadLetters.length < t.deadLetters ? ` (the ${r.deadLetters.length} newest of ${t.deadLetters})` : '';
    lines.push(`dead letters, newest first${shown}:`);
    lines.push(renderTable(
      ['SHARD', 'KEY', 'VERSION', 'WRITE', 'AT', 'REASON'],
      r.deadLetters.map((d) => [String(d.shardId), keyCell(d.key), String(d.version), d.deleted ? 'delete' : 'put', new Date(d.at).toISOString(), d.reason]),
    ));
  }
  return lines.join('\n');
}

/** `ns flush`: one row per shard and a closing line (drained, or not: the reasons go to stderr). */
export function formatFlush(r: FlushReport): string {
  const rows = r.shards.map((s) => [
    String(s.shardId), s.primary ?? '-', s.remaining === null ? '-' : String(s.remaining), s.deadLetters === null ? '-' : String(s.deadLetters), s.error ?? '-',
  ]);
  const dead = r.shards.reduce((sum, s) => sum + (s.deadLetters ?? 0), 0);
  const lines = [heading(r), renderTable(['SHARD', 'PRIMARY', 'REMAINING', 'DEAD_LETTERS', 'ERROR'], rows)];
  lines.push(r.drained ? `flushed: every shard drained in ${formatAge(Math.max(r.elapsedMs, 1))}` : `not drained within ${r.timeoutMs} ms`);
  if (dead > 0) lines.push(`${dead} dead letter${dead === 1 ? '' : 's'} (writes the store refused for good): shardctl ns flush-status ${r.namespace}`);
  return lines.join('\n');
}
