import type { ReplOffsetRecord } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { renderTable } from './table';

/** The sender side toward one peer region, summed over the nodes that publish it. */
export interface RegionSenderFigures {
  /** Invalidations spooled and not yet acknowledged by the peer, all nodes. */
  depth: number;
  /** Age of the oldest unacknowledged invalidation, the worst node. */
  oldestMs: number;
  sent: number;
  /** Spool overflows: each one a wholesale invalidation of the namespaces it held. */
  overflows: number;
  /** The last error a node reported (the most recent record's), or null. */
  lastError: string | null;
  /** Nodes that publish figures for this peer. */
  nodes: number;
}

/** One peer region in the status document; `endpoint` null: nodes still report it, etcd no longer lists it. */
export interface RegionPeerStatus {
  name: string;
  endpoint: string | null;
  sender: RegionSenderFigures | null;
}

/** The status document's `regions`: this cluster's region and its peers with the sender-side figures. */
export interface RegionsStatus {
  region: string | null;
  peers: RegionPeerStatus[];
}

/**
 * Sums the figures the nodes publish in their replication offsets records (`regions`), per peer
 * region (pure): spool depth and sent summed, oldest unacknowledged age the worst, overflows
 * summed, last error of the most recent record that has one.
 */
export function regionSenders(offsets: ReadonlyMap<string, ReplOffsetRecord>): Map<string, RegionSenderFigures> {
  const out = new Map<string, RegionSenderFigures & { errorAt: number }>();
  for (const record of offsets.values()) {
    for (const r of record.regions ?? []) {
      let f = out.get(r.peer);
      if (f === undefined) out.set(r.peer, (f = { depth: 0, oldestMs: 0, sent: 0, overflows: 0, lastError: null, nodes: 0, errorAt: -Infinity }));
      f.depth += r.depth;
      f.oldestMs = Math.max(f.oldestMs, r.oldestMs);
      f.sent += r.sent;
      f.overflows += r.overflows;
      f.nodes++;
      if (r.lastError !== null && record.at >= f.errorAt) {
        f.lastError = r.lastError;
        f.errorAt = record.at;
      }
    }
  }
  return new Map([...out].map(([peer, { errorAt: _, ...f }]) => [peer, f]));
}

/** The regions section from a snapshot and the published offsets (pure). */
export function regionsStatus(snapshot: Pick<TopologySnapshot, 'region' | 'regions'>, offsets: ReadonlyMap<string, ReplOffsetRecord> = new Map()): RegionsStatus {
  const senders = regionSenders(offsets);
  const names = new Set([...snapshot.regions.keys(), ...senders.keys()]);
  const peers = [...names].sort().map((name): RegionPeerStatus => ({ name, endpoint: snapshot.regions.get(name)?.endpoint ?? null, sender: senders.get(name) ?? null }));
  return { region: snapshot.region?.name ?? null, peers };
}

/** Milliseconds as `850ms`, `12.3s`, `4.2m`; `-` for null. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)}s`;
  return `${(ms / 60_000).toFixed(1)}m`;
}

/** The regions section as text: one line for this region, a table of peers with the sender side (pure). */
export function renderRegions(r: RegionsStatus): string {
  const head = `region ${r.region ?? '(not set: shardctl region self <name>)'}  peers ${r.peers.length}`;
  if (r.peers.length === 0) return head;
  const table = renderTable(
    ['PEER', 'ENDPOINT', 'SPOOLED', 'OLDEST UNACKED', 'SENT', 'OVERFLOWS', 'LAST ERROR'],
    r.peers.map((p) => [
      p.name, p.endpoint ?? '(removed)', p.sender ? String(p.sender.depth) : '-', formatMs(p.sender?.oldestMs), p.sender ? String(p.sender.sent) : '-',
      p.sender ? String(p.sender.overflows) : '-', p.sender?.lastError ?? '-',
    ]),
  );
  return `${head}\n${table}`;
}

/** What one proxy's `GET /v1/admin/regions` answered (the receiver side), or why it did not. */
export interface ProxyRegions {
  proxy: string;
  error?: string;
  region?: string | null;
  received?: Array<{ from: string; applied: number; kept: number; wholesale: number; lagP50Ms: number | null; lagP99Ms: number | null; behindMs: number | null; senders: number }>;
}

/** The receiver side per proxy and origin region, as text (pure). */
export function renderReceived(proxies: readonly ProxyRegions[]): string {
  const rows: string[][] = [];
  for (const p of proxies) {
    if (p.error !== undefined) {
      rows.push([p.proxy, '-', '-', '-', '-', '-', '-', '-', p.error]);
      continue;
    }
    if ((p.received ?? []).length === 0) rows.push([p.proxy, '-', '0', '0', '0', '-', '-', '-', 'nothing received yet']);
    for (const r of p.received ?? []) {
      rows.push([p.proxy, r.from, String(r.applied), String(r.kept), String(r.wholesale), formatMs(r.lagP50Ms), formatMs(r.lagP99Ms), formatMs(r.behindMs), `${r.senders} sender${r.senders === 1 ? '' : 's'}`]);
    }
  }
  return renderTable(['PROXY', 'FROM', 'APPLIED', 'KEPT', 'WHOLESALE', 'LAG P50', 'LAG P99', 'BEHIND', 'NOTE'], rows);
}
