import { renderTable } from '../status/table';
import { palette } from './colour';
import type { ClusterFrame } from '../sample/sampler';

/**
 * The text of `shardctl top`: a header line, the node table (grouped by shard, primary first),
 * the proxy table and the hot keys. Pure.
 */

/** Bytes as `512b`, `1.5kb`, `64.0mb`, `2.0gb`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes}b`;
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)}kb`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)}mb`;
  return `${(bytes / 1024 ** 3).toFixed(1)}gb`;
}

/** A rate per second: whole numbers from 10 up, one decimal below; `-` when unknown. */
export function formatRate(rate: number | null): string {
  if (rate === null) return '-';
  return rate >= 10 || rate === 0 ? String(Math.round(rate)) : rate.toFixed(1);
}

/** A ratio 0..1 as a percentage with one decimal; `-` when unknown. */
export function formatPercent(ratio: number | null): string {
  return ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`;
}

export interface RenderOptions {
  colour?: boolean;
  /** Refresh interval and the quit hint, for the interactive header. */
  intervalMs?: number;
  interactive?: boolean;
  /** An error of the last refresh, shown under the header (the frame is the last good one). */
  error?: string;
}

/** The whole screen (or the `--once` snapshot) for one frame. */
export function renderTop(frame: ClusterFrame, options: RenderOptions = {}): string {
  const paint = palette(options.colour === true);
  const unhealthy = frame.shards.filter((s) => !s.healthy).length;
  const head = [
    `shardctl top  cluster ${frame.cluster}  revision ${frame.revision}  shards ${frame.shards.length}${unhealthy > 0 ? ` (${paint.red(`${unhealthy} unhealthy`)})` : ''}  nodes ${frame.nodes.length}  ${frame.at.slice(11, 19)}`
      + (frame.elapsedMs === null ? '  (rates from the next refresh)' : `  rates over ${(frame.elapsedMs / 1000).toFixed(1)}s`)
      + (options.interactive ? `  every ${((options.intervalMs ?? 1000) / 1000).toFixed(1)}s, q to quit` : ''),
  ];
  if (options.error !== undefined) head.push(paint.red(`refresh failed: ${options.error}`));
  const byShard = [...frame.nodes].sort((a, b) => a.shardId - b.shardId || (a.role === b.role ? a.nodeId.localeCompare(b.nodeId) : a.role === 'primary' ? -1 : 1));
  const rows = byShard.map((n) => {
    const role = n.role === 'primary' ? paint.green(n.role) : n.role;
    const state = !n.live ? paint.red('not live') : n.error !== null ? paint.red(`no stats: ${n.error}`) : '';
    if (n.error !== null) return [String(n.shardId), n.nodeId, role, n.addr, '-', '-', '-', '-', '-', n.replLag, state];
    const memory = n.memoryBytes === null ? '-' : `${formatBytes(n.memoryBytes)}/${n.memoryLimitBytes === null ? '-' : formatBytes(n.memoryLimitBytes)}`;
    return [String(n.shardId), n.nodeId, role, n.addr, formatRate(n.opsPerSec), formatPercent(n.hitRatio), memory, n.items === null ? '-' : String(n.items), formatRate(n.evictionsPerSec), n.replLag, state];
  });
  // Shards with no registered node still get a line, so every shard shows up.
  for (const s of frame.shards) {
    if (!frame.nodes.some((n) => n.shardId === s.shardId)) rows.push([String(s.shardId), '-', '-', '-', '-', '-', '-', '-', '-', '-', paint.red('no nodes registered')]);
  }
  rows.sort((a, b) => Number(a[0]) - Number(b[0]));
  const nodeTable = paintedTable(['SHARD', 'NODE', 'ROLE', 'ADDR', 'OPS/S', 'HIT%', 'MEM USED/LIMIT', 'ITEMS', 'EVICT/S', 'REPL LAG', 'STATE'], rows);
  const out = [...head, '', nodeTable];
  const problems = frame.shards.filter((s) => !s.healthy).map((s) => paint.red(`shard ${s.shardId} unhealthy: ${s.problems.join('; ')}`));
  if (problems.length > 0) out.push('', ...problems);
  out.push('');
  if (frame.proxies.length === 0) out.push('no proxies (give their admin addresses: --proxy host:port[,host:port...] or $SHARDCACHE_PROXY_ADMIN)');
  else {
    out.push(paintedTable(['PROXY', 'REQ/S', 'ERR%', 'STATE'], frame.proxies.map((p) => [
      p.url, formatRate(p.requestsPerSec), formatPercent(p.errorRate), p.error === null ? '' : paint.red(`unreachable: ${p.error}`),
    ])));
  }
  if (frame.proxies.length > 0) {
    out.push('');
    out.push(frame.hotKeys.length === 0
      ? 'no hot keys reported'
      : paintedTable(['HOT KEY NAMESPACE', 'KEY', 'GETS/S', 'MODE', 'PROXIES'], frame.hotKeys.map((h) => [h.namespace, printable(h.key), formatRate(h.qps), h.mode, String(h.proxies)])));
  }
  return out.join('\n');
}

const SGR = /\x1b\[[0-9;]*m/g;
const HAS_SGR = /\x1b\[/;
const stripSgr = (text: string): string => text.replace(SGR, '');

/** A key as text that cannot move the cursor: control characters escaped. */
function printable(key: string): string {
  return key.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** `renderTable`'s layout for cells that may hold colour: widths and padding from the plain text. */
function paintedTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  if (!rows.some((r) => r.some((cell) => HAS_SGR.test(cell)))) return renderTable(headers, rows);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => stripSgr(r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells
    .map((cell, i) => (i === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, widths[i] - stripSgr(cell).length))))
    .join('  ')
    .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** What a key pressed in the interactive view asks for. */
export type KeyAction = 'quit' | 'refresh' | undefined;

/** `q`, `Q`, Ctrl-C (raw mode) and Ctrl-D quit; space or `r` refreshes now; anything else is ignored. */
export function keyAction(input: Buffer | string): KeyAction {
  const text = typeof input === 'string' ? input : input.toString('utf8');
  if (/[qQ\x03\x04]/.test(text)) return 'quit';
  if (/[ rR]/.test(text)) return 'refresh';
  return undefined;
}

/**
 * One screen of the interactive view: cursor home, every line cut to the terminal's width (plain
 * text only; a painted line is left whole) and cleared to its end, the rest of the screen cleared.
 */
export function screenText(text: string, columns?: number, rows?: number): string {
  let lines = text.split('\n');
  if (rows !== undefined && rows > 0 && lines.length > rows) lines = [...lines.slice(0, rows - 1), `… ${lines.length - rows + 1} more lines (a larger terminal shows them)`];
  const cut = (line: string): string => (columns !== undefined && columns > 0 && line.length > columns && !HAS_SGR.test(line) ? line.slice(0, columns) : line);
  return `\x1b[H${lines.map((l) => `${cut(l)}\x1b[K`).join('\r\n')}\x1b[J`;
}
