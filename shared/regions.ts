import { NAMESPACE_PATTERN, Limits } from './protocol';
import { REGION_NAME } from './topology/schema';

/**
 * The wire between regions (contract; docs/operations.md "Regions"). Each region is a whole
 * cluster; a namespace with `replicated: invalidate` ships every write its primaries apply as an
 * invalidation to the peer regions (`regions/<name>` in etcd):
 *
 *   POST <peer endpoint>/v1/region/invalidations
 *   authorization: Bearer <region secret>          ($SHARDCACHE_REGION_SECRET, the same in every region)
 *   content-type: application/json
 *   {"from": "<region>", "sender": "<nodeId>", "upTo": <ms>, "items": [{"seq": n, "ns": "...", "key": "..." | null, "tag": "..." | null, "at": <ms>}]}
 *
 *   200 {"ackSeq": <the last seq applied>, "applied": n, "kept": n}
 *
 * An item with a key is that key's invalidation (a delete guarded by time: a value written in the
 * receiving region after `at` stays); with a tag, the tag's; with neither, the namespace's
 * wholesale invalidation (a spool that overflowed, or FLUSHDB). Items of one sender arrive in
 * `seq` order; a batch is applied whole or answered an error (the sender retries it: applying an
 * item twice is harmless). `upTo`: every write this sender applied up to that time is in this
 * batch or an earlier one (an empty batch is its heartbeat), which is how a region knows how far
 * behind each peer it is.
 */
export const INVALIDATIONS_PATH = '/v1/region/invalidations';
export const REGION_SECRET_ENV = 'SHARDCACHE_REGION_SECRET';
/** Items per batch, and bytes per request body. */
export const MAX_BATCH_ITEMS = 1000;
export const MAX_BATCH_BYTES = 1024 * 1024;

export interface RegionInvalidation {
  seq: number;
  ns: string;
  key: string | null;
  tag: string | null;
  /** When the write was applied in the sending region (epoch ms). */
  at: number;
}

export interface InvalidationBatch {
  from: string;
  sender: string;
  upTo: number;
  items: RegionInvalidation[];
}

export interface InvalidationAck {
  ackSeq: number;
  applied: number;
  /** Items not applied because the receiving region's value was newer (or absent). */
  kept: number;
}

/** Why a body is not an invalidation batch, or the batch. Every field checked; pure. */
export function parseBatch(body: unknown): InvalidationBatch | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object';
  const b = body as Record<string, unknown>;
  if (typeof b.from !== 'string' || !REGION_NAME.test(b.from)) return '"from" must be a region name';
  if (typeof b.sender !== 'string' || b.sender.length === 0 || b.sender.length > 128) return '"sender" must be a node id';
  if (!isTime(b.upTo)) return '"upTo" must be a time in ms';
  if (!Array.isArray(b.items) || b.items.length > MAX_BATCH_ITEMS) return `"items" must be a list of at most ${MAX_BATCH_ITEMS}`;
  const items: RegionInvalidation[] = [];
  let last = -1;
  for (let i = 0; i < b.items.length; i++) {
    const it = b.items[i] as Record<string, unknown> | null;
    if (typeof it !== 'object' || it === null || Array.isArray(it)) return `item ${i} must be an object`;
    if (typeof it.seq !== 'number' || !Number.isSafeInteger(it.seq) || it.seq <= last) return `item ${i}: "seq" must be an integer above the one before`;
    if (typeof it.ns !== 'string' || !NAMESPACE_PATTERN.test(it.ns)) return `item ${i}: "ns" must be a namespace name`;
    const key = it.key ?? null;
    const tag = it.tag ?? null;
    if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > Limits.MAX_KEY_LENGTH)) return `item ${i}: "key" must be a key or null`;
    if (tag !== null && (typeof tag !== 'string' || tag.length === 0 || tag.length > Limits.MAX_KEY_LENGTH)) return `item ${i}: "tag" must be a tag or null`;
    if (key !== null && tag !== null) return `item ${i}: an item names a key or a tag, not both`;
    if (!isTime(it.at)) return `item ${i}: "at" must be a time in ms`;
    last = it.seq;
    items.push({ seq: it.seq, ns: it.ns, key, tag, at: it.at as number });
  }
  return { from: b.from, sender: b.sender, upTo: b.upTo as number, items };
}

function isTime(v: unknown): boolean {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
