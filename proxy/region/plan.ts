import type { InvalidationBatch } from '../../shared/regions';

/** One operation applying part of a batch; `items`: how many of the batch's items it stands for. */
export type RegionAction =
  | { kind: 'key'; ns: string; key: string; at: number; items: number }
  | { kind: 'tag'; ns: string; tag: string; items: number }
  | { kind: 'namespace'; ns: string; items: number };

/** What applying a batch takes, and what its answer says before anything runs. */
export interface BatchPlan {
  actions: RegionAction[];
  /** The answer's `ackSeq`: the last item's seq, -1 for an empty batch (a heartbeat). */
  ackSeq: number;
  /** Wholesale items (neither key nor tag): the sender's spool overflowed, or a FLUSHDB. */
  wholesale: number;
}

/**
 * Turns a parsed batch into the fewest operations that apply it (pure). Applying items twice is
 * harmless and the items of a batch may run in any order, so:
 *
 *   - a key named by several items is one REGION_INVALIDATE with the latest `at` (a delete
 *     guarded by the latest time removes whatever an earlier one would have);
 *   - a tag named by several items is one tag invalidation;
 *   - a namespace with a wholesale item (neither key nor tag) is one namespace invalidation,
 *     which also stands for every key and tag item of that namespace (it removes every entry).
 *
 * Each action carries how many items it stands for, so the answer counts items, not operations.
 */
export function planBatch(batch: Pick<InvalidationBatch, 'items'>): BatchPlan {
  const items = batch.items;
  const wholesale = new Map<string, RegionAction & { kind: 'namespace' }>();
  let wholesaleItems = 0;
  for (const it of items) {
    if (it.key !== null || it.tag !== null) continue;
    wholesaleItems++;
    const action = wholesale.get(it.ns);
    if (action === undefined) wholesale.set(it.ns, { kind: 'namespace', ns: it.ns, items: 1 });
    else action.items++;
  }
  const keys = new Map<string, RegionAction & { kind: 'key' }>();
  const tags = new Map<string, RegionAction & { kind: 'tag' }>();
  for (const it of items) {
    if (it.key === null && it.tag === null) continue;
    const covering = wholesale.get(it.ns);
    if (covering !== undefined) {
      covering.items++;
      continue;
    }
    if (it.key !== null) {
      const id = `${it.ns}\n${it.key}`;
      const action = keys.get(id);
      if (action === undefined) keys.set(id, { kind: 'key', ns: it.ns, key: it.key, at: it.at, items: 1 });
      else {
        action.items++;
        if (it.at > action.at) action.at = it.at;
      }
    } else {
      const id = `${it.ns}\n${it.tag!}`;
      const action = tags.get(id);
      if (action === undefined) tags.set(id, { kind: 'tag', ns: it.ns, tag: it.tag!, items: 1 });
      else action.items++;
    }
  }
  return {
    actions: [...wholesale.values(), ...tags.values(), ...keys.values()],
    ackSeq: items.length === 0 ? -1 : items[items.length - 1].seq,
    wholesale: wholesaleItems,
  };
}

/** What one action did: a key's invalidation removed its entry (`deleted`) or kept a newer/absent one. */
export interface ActionResult {
  action: RegionAction;
  /** Key actions: whether the entry was removed. Tag and namespace actions always count as applied. */
  deleted: boolean;
}

/** The answer's counts from the actions' results (pure): every item is applied or kept. */
export function countResults(results: readonly ActionResult[]): { applied: number; kept: number } {
  let applied = 0;
  let kept = 0;
  for (const { action, deleted } of results) {
    if (action.kind !== 'key' || deleted) applied += action.items;
    else kept += action.items;
  }
  return { applied, kept };
}
