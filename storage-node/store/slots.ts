import { Removal, LIVE, type Keyspace } from './keyspace';
import { type SnapshotEntry, valueOf } from './replicated';

/** Called for each entry a slot operation removes (the node replicates it as a delete). */
export type Removed = (ns: string, key: string) => void;

/**
 * The store's side of slot migration (`Store.slots`): per-slot figures, a slot's entries for an
 * export, and removal of whole slots (a slot that moved away, a cancelled import). Pure.
 */
export class StoreSlots {
  constructor(private readonly ks: Keyspace, private readonly now: () => number) {}

  /** Slots holding entries, flat as `[slot, keys, bytes, ...]` (SLOT_STATS). */
  figures(): number[] {
    return this.ks.slots.figures();
  }

  /** Entries held in `slot` (expired and invisible ones included until reclaimed). */
  count(slot: number): number {
    return this.ks.slots.keys[slot];
  }

  /** The ids of `slot` now: a copy, read with `entry` (ids may be freed or reused meanwhile). */
  ids(slot: number): Int32Array {
    return this.ks.slots.ids(slot);
  }

  /**
   * The current state of entry `id` if it is live, visible and still in `slot` (an id freed and
   * reused by another key of the same slot gives that key's state, which is as good); else
   * undefined. The value as bytes (a copy).
   */
  entry(id: number, slot: number): SnapshotEntry | undefined {
    const ks = this.ks;
    const table = ks.table;
    const key = table.key(id);
    if (key === undefined || table.slot[id] !== slot) return undefined;
    const space = ks.namespaces[table.ns[id]];
    if (ks.fateOf(id, space, this.now()) !== LIVE) return undefined;
    return {
      ns: space.name, key, value: Buffer.from(valueOf(ks, id), 'latin1'), version: table.version(id), expiresAt: ks.expiresAt(id),
      flags: table.flags(id), tags: table.tags.get(id) ?? null, type: table.type(id),
    };
  }

  /** Removes up to `max` entries of `slot`; returns how many remain. */
  drop(slot: number, max: number, removed: Removed): number {
    const ks = this.ks;
    const table = ks.table;
    for (let n = 0; n < max; n++) {
      const id = ks.slots.heads[slot];
      if (id < 0) break;
      const ns = ks.namespaces[table.ns[id]].name;
      const key = table.key(id) as string;
      ks.remove(id, Removal.DELETED);
      removed(ns, key);
    }
    return ks.slots.keys[slot];
  }

  /** Removes the entries of `slot` in namespace `ns` (tagged `tag`, when given); returns how many. */
  dropNamespace(slot: number, ns: string, tag: string | null, removed: Removed): number {
    const ks = this.ks;
    const space = ks.namespace(ns);
    if (space === undefined) return 0;
    const table = ks.table;
    let n = 0;
    for (const id of ks.slots.ids(slot)) {
      if (table.key(id) === undefined || table.ns[id] !== space.index) continue;
      if (tag !== null && !(table.tags.get(id) ?? []).includes(tag)) continue;
      const key = table.key(id) as string;
      ks.remove(id, Removal.DELETED);
      removed(ns, key);
      n++;
    }
    return n;
  }
}
