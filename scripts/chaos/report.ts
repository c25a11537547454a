import { renderTable } from '../../control-plane/status/table';
import type { NamespaceVerdict, Verdict } from './checker';

/** What the run was, for the report's first line. */
export interface RunInfo {
  profile: string;
  seed: number;
  leaseTtlSeconds: number;
  shards: number;
  nodesPerShard: number;
  proxies: number;
  loadSeconds: number;
  requests: number;
  ackedNs: string;
  asyncNs: string;
  external: boolean;
  /** TLS on every link (etcd, client ports, node links with mutual TLS) and a cluster secret on the node links. */
  tls: boolean;
}

export const DEFINITIONS = [
  'failover time (faults that take a primary away): fault injected -> first write acknowledged for a key of that shard that was sent after the fault, i.e. the new primary\'s first accepted write.',
  'fault window: fault injected -> every affected shard has acknowledged, through every affected proxy, a write sent after the harness finished acting (restart done, SIGCONT sent); a fault is recovered when its window closes before the load ends. Availability counts the requests sent outside every window.',
  'lost write: an acknowledged write rolled back: a later read of its key from the primary path (during the load, or the final read of every key after every fault healed) returned an older value; each counted once. Ambiguous writes (error, timeout, broken connection) may or may not land: either outcome is accepted.',
  'regression: a read from the primary path returning an older counter than one already acknowledged or read for that key.',
  'stale-epoch write: a node reports, per epoch it held, the wall-clock time of its last accepted write; it is stale when later than the moment the harness saw the next epoch of that shard in etcd (same machine, same clock; lenient by the watch delay).',
];

const ms = (v: number | undefined): string => (v === undefined ? '-' : `${v} ms`);
const pct = (ok: number, all: number): string => (all === 0 ? '-' : `${((100 * ok) / all).toFixed(3)}%`);

function namespaceLine(v: NamespaceVerdict, label: string): string {
  return `namespace ${v.ns} (${label}): ${v.keys} keys, ${v.writesAcked} writes acknowledged, ${v.writesAmbiguous} ambiguous; ` +
    `LOST ${v.lostWrites} acknowledged writes over ${v.lostKeys} keys (${v.unverifiedKeys} keys unverified); ${v.regressions} read regressions, ${v.phantoms} phantom values`;
}

/** The report as printed. Pure. */
export function formatReport(run: RunInfo, v: Verdict): string {
  const out: string[] = [];
  out.push(`chaos report: profile ${run.profile}, seed ${run.seed}, lease TTL ${run.leaseTtlSeconds} s, ${run.shards} shards x ${run.nodesPerShard} nodes, ${run.proxies} proxies${run.external ? ' (external cluster)' : ''}${run.tls ? ', over TLS (etcd, client ports, node links with mutual TLS) with a cluster secret' : ''}; ${run.loadSeconds.toFixed(0)} s of load, ${run.requests} requests`);
  out.push('');
  const first = v.faults[0]?.fault.at ?? 0;
  out.push(renderTable(
    ['#', 'FAULT', 'TARGET', 'AT', 'FAILOVER', 'RECOVERED', 'REQUESTS', 'OK', 'NOTE'],
    v.faults.map((f) => [
      String(f.fault.id), f.fault.kind, f.fault.target, `+${((f.fault.at - first) / 1000).toFixed(1)}s`, f.fault.hitsPrimary ? ms(f.failoverMs) : 'n/a',
      f.recovered ? ms(f.recoveredMs) : 'NOT RECOVERED', String(f.attempted), pct(f.succeeded, f.attempted), f.fault.note ?? '',
    ]),
  ));
  out.push('');
  out.push(`failover: p50 ${ms(v.failoverP50Ms)}, max ${ms(v.failoverMaxMs)} (target: max <= lease TTL + 1 s = ${run.leaseTtlSeconds * 1000 + 1000} ms)`);
  out.push(`availability outside fault windows: ${pct(v.outside.succeeded, v.outside.attempted)} (${v.outside.succeeded}/${v.outside.attempted})`);
  out.push(namespaceLine(v.acked, 'writeAck: replica'));
  out.push(namespaceLine(v.async, 'async, writeAck: primary'));
  for (const e of [...v.acked.examples, ...v.async.examples].slice(0, 6)) out.push(`  e.g. ${e.ns}/${e.key}: expected ${e.expected}, read ${e.got}`);
  out.push(`stale-epoch writes: ${v.stale.length} (from ${v.evidence.epochsSeen} epochs seen in etcd and ${v.evidence.nodeEpochReports} node-epochs with accepted writes)`);
  for (const s of v.stale) out.push(`  ${s.nodeId} shard ${s.shard}: epoch ${s.epoch} wrote at ${s.lastWriteAt}, ${s.lastWriteAt - s.successorSeenAt} ms after epoch ${s.successor} was seen`);
  out.push('');
  out.push('invariants:');
  for (const i of v.invariants) out.push(`  ${i.ok ? 'PASS' : 'FAIL'}  ${i.name}: ${i.detail}`);
  out.push(`  info  async namespace loss (expected with asynchronous replication): ${v.async.lostWrites} acknowledged writes over ${v.async.lostKeys} keys`);
  out.push('');
  out.push('definitions:');
  for (const d of DEFINITIONS) out.push(`  - ${d}`);
  return out.join('\n');
}
