import type { Etcd3 } from 'etcd3';
import { parseRecord, ReplOffsetRecordSchema, type ReplOffsetRecord } from '../../shared/topology/schema';

/** Campaign delay per replica known to be more up to date than this node (ms). */
export const DELAY_PER_RANK_MS = 400;
/** Longest a node delays its campaign, so a failover stays within lease TTL + 1 s. */
export const MAX_CAMPAIGN_DELAY_MS = 800;

/**
 * How many other candidates are strictly ahead of `offset` (pure). `records` are the shard's
 * published offsets by node id; `exclude` is the primary that just went away (its record may
 * outlive it when it resigned) and this node itself.
 */
export function rankOf(offset: number, records: ReadonlyMap<string, ReplOffsetRecord>, exclude: ReadonlySet<string>): number {
  let ahead = 0;
  for (const [nodeId, r] of records) if (!exclude.has(nodeId) && r.offset > offset) ahead++;
  return ahead;
}

/** Campaign delay of a node with `rank` candidates ahead of it. */
export const campaignDelayMs = (rank: number): number => Math.min(MAX_CAMPAIGN_DELAY_MS, rank * DELAY_PER_RANK_MS);

/** Writes this node's offsets record under its lease. */
export async function publishOffsets(client: Etcd3, key: string, record: ReplOffsetRecord, leaseId: string): Promise<void> {
  await client.put(key).value(JSON.stringify(record)).lease(leaseId);
}

/** Reads every published offsets record of a shard (invalid ones skipped). */
export async function readOffsets(client: Etcd3, prefix: string): Promise<Map<string, ReplOffsetRecord>> {
  const res = await client.getAll().prefix(prefix).exec();
  const out = new Map<string, ReplOffsetRecord>();
  for (const kv of res.kvs) {
    const parsed = parseRecord(ReplOffsetRecordSchema, kv.value.toString());
    if (parsed.ok) out.set(kv.key.toString().slice(prefix.length), parsed.value);
  }
  return out;
}
