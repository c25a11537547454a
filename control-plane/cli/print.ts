import type { FailoverResult } from '../commands/failover';
import type { HotKeyEntry } from '../commands/hotkeys';
import type { InitResult } from '../commands/init';
import type { NamespaceEntry } from '../commands/namespaces';
import { formatSlots } from '../status/text';
import { renderTable } from '../status/table';

/** Human-readable results of shardctl commands. Pure: each returns the text to print. */

/** `init`: what was written. */
export function formatInit(cluster: string, result: InitResult): string {
  const { config, slotMap } = result;
  const lines = [
    `${result.replaced ? 're-initialised' : 'initialised'} cluster ${cluster}: ${config.shards} shards, ${config.replicas} replicas per shard, lease ttl ${config.leaseTtlSeconds}s`,
    `slot map epoch ${slotMap.epoch}:`,
    ...slotMap.ranges.map(([from, to, shard]) => `  shard ${shard}: slots ${formatSlots([[from, to]])}`),
  ];
  return lines.join('\n');
}

/** `failover`: old and new primary with their epochs. */
export function formatFailover(result: FailoverResult): string {
  const { from, to } = result;
  return `shard ${result.shardId}: ${from.nodeId} (${from.addr}, epoch ${from.epoch}) -> ${to.nodeId} (${to.addr}, epoch ${to.epoch}) in ${(result.elapsedMs / 1000).toFixed(1)}s`;
}

/** `ns list`: one row per namespace with every policy field. */
export function formatNamespaces(entries: readonly NamespaceEntry[]): string {
  if (entries.length === 0) return 'no namespace policies';
  const cell = (v: unknown): string => (v === undefined ? '-' : String(v));
  return renderTable(
    ['NAMESPACE', 'TTL', 'MAX_ITEM', 'QUOTA', 'EVICTION', 'WRITE_ACK', 'READ_PREF', 'JITTER%', 'ORIGIN', 'HOT_AUTO', 'WRITE_POLICY'],
    entries.map((e) => {
      const p = e.policy;
      if (!p) return [e.namespace, `invalid: ${e.invalid ?? ''}`];
      return [e.namespace, cell(p.defaultTtlSeconds), cell(p.maxItemBytes), cell(p.quotaBytes), cell(p.eviction), cell(p.writeAck), cell(p.readPreference), cell(p.ttlJitterPct), cell(p.origin), hotAuto(p), writePolicy(p)];
    }),
  );
}

/** Auto promotion of a namespace: `5000/s near-cache`, `5000/s copies×3`, or `-`. */
function hotAuto(p: NamespaceEntry['policy'] & object): string {
  if (p.hotKeyAutoQps === undefined) return '-';
  const mode = p.hotKeyAutoMode ?? 'near-cache';
  return `${p.hotKeyAutoQps}/s ${mode}${mode === 'copies' ? `×${p.hotKeyAutoCopies ?? 3}` : ''}`;
}

/** Write policy of a namespace: `write-behind http://db/items/{key}`, `write-through (origin)` when the origin is the store, `cache-aside`, or `-` (unset: cache-aside). */
function writePolicy(p: NamespaceEntry['policy'] & object): string {
  if (p.writePolicy === undefined) return '-';
  if (p.writePolicy === 'cache-aside') return p.writePolicy;
  return `${p.writePolicy} ${p.store ?? '(origin)'}`;
}

/** `hotkey list`: one row per rule. */
export function formatHotKeys(entries: readonly HotKeyEntry[], now = Date.now()): string {
  if (entries.length === 0) return 'no hot-key rules';
  return renderTable(
    ['NAMESPACE', 'KEY', 'MODE', 'COPIES', 'TTL_MS', 'EXPIRES', 'SOURCE'],
    entries.map((e) => {
      const r = e.rule;
      if (!r) return [e.namespace, e.key, `invalid: ${e.invalid ?? ''}`];
      return [e.namespace, e.key, r.mode, r.copies === undefined ? '-' : String(r.copies), r.ttlMs === undefined ? '-' : String(r.ttlMs), expiry(r.expiresAt, now), r.source];
    }),
  );
}

function expiry(expiresAt: number | undefined, now: number): string {
  if (expiresAt === undefined) return 'never';
  const seconds = Math.round((expiresAt - now) / 1000);
  return seconds <= 0 ? 'expired' : `in ${seconds}s`;
}
