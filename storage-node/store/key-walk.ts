import { isCopyKey } from '../../shared/copy-keys';
import { badRequest } from '../../shared/errors';
import { SLOT_COUNT } from '../../shared/slot';
import { LIVE, type Keyspace } from './keyspace';

/** Whether this node's shard owns a slot (every slot on a standalone node). */
export type OwnsSlot = (slot: number) => boolean;

/** Most keys one SCAN asks for: a larger COUNT is taken as this (the node's work per call stays bounded). */
export const SCAN_MAX_COUNT = 1000;
/**
 * A SCAN call stops after the slot in which it has visited this many entries (of every
 * namespace: the slot lists are shared), whatever it collected. Slots are never split, so one
 * call costs at most this plus one slot's entries.
 */
export const SCAN_MAX_ENTRIES = 10_000;
/**
 * Most keys of one namespace that one slot may hand a SCAN page. Slots are never split (that is
 * what keeps Redis's guarantee across shards and migrations), and keys sharing a hash tag share a
 * slot: past this, SCAN refuses the slot rather than build a reply as large as the namespace.
 */
export const SCAN_MAX_SLOT_KEYS = 10_000;
/** A SCAN call stops after this many slots holding entries (empty slots cost one array read each). */
export const SCAN_MAX_SLOTS = 1024;
/** Random members RANDOMKEY draws before it looks at members in a row. */
export const RANDOM_KEY_TRIES = 100;
/** Members RANDOMKEY looks at in a row once its random draws found no live key (bounded work per call). */
export const RANDOM_KEY_SCAN = 100_000;

/** One SCAN call's result: the keys found and the slot to continue from (SLOT_COUNT: none left). */
export interface ScanPage {
  next: number;
  keys: string[];
}

/**
 * The store's key-space walks for the RESP front's SCAN, KEYS, DBSIZE and RANDOMKEY
 * (`Store.keys`). Pure; reads only, apart from RANDOMKEY removing the dead entries it draws.
 *
 * SCAN walks the slot index (`slot-index.ts`): the cursor is a slot, and a call returns every live
 * key of the namespace in each slot it visits, so a key present for a whole scan is returned
 * however the slots' lists change between calls, and a slot that migrates between calls is asked
 * of its new owner. Expired and invalidated entries are skipped, never removed here (removing
 * would change the list being walked).
 *
 * The proxy's hot-key copies (`isCopyKey`, `shared/copy-keys.ts`) share the namespace but are not
 * keys of it: SCAN and RANDOMKEY leave them out. DBSIZE's O(1) count includes them.
 */
export class StoreKeys {
  constructor(private readonly ks: Keyspace, private readonly now: () => number) {}

  /**
   * The live keys of `ns` in the slots `owns` from slot `from` on, whole slots at a time, until
   * `count` keys (at most SCAN_MAX_COUNT), SCAN_MAX_ENTRIES entries visited or SCAN_MAX_SLOTS
   * slots holding entries; stops before the first slot not owned. `from` must be owned. `type`
   * (an `EntryType`, SCAN's TYPE option): only the keys holding it; -1, every key.
   */
  scan(ns: string, from: number, count: number, owns: OwnsSlot, type = -1): ScanPage {
    const ks = this.ks;
    const { table, slots } = ks;
    const space = ks.namespace(ns);
    const want = Math.min(count, SCAN_MAX_COUNT);
    const now = this.now();
    const keys: string[] = [];
    let visited = 0;
    let walked = 0;
    let s = from;
    for (; s < SLOT_COUNT && owns(s); s++) {
      if (keys.length >= want || visited >= SCAN_MAX_ENTRIES || walked >= SCAN_MAX_SLOTS) break;
      const head = slots.heads[s];
      if (space === undefined || head < 0) continue; // a namespace the node never held has no key in any slot
      walked++;
      const before = keys.length;
      for (let id = head; id >= 0; id = table.slotNext[id]) {
        visited++;
        if (table.ns[id] !== space.index || (type >= 0 && table.type(id) !== type) || ks.fateOf(id, space, now) !== LIVE) continue;
        const key = table.key(id) as string;
        if (isCopyKey(key)) continue; // a hot-key copy is not a key of the namespace
        if (keys.length - before === SCAN_MAX_SLOT_KEYS) {
          if (before > 0) return { next: s, keys: keys.slice(0, before) }; // the keys before it first; the next call refuses it
          throw badRequest(`slot ${s} holds more than ${SCAN_MAX_SLOT_KEYS} keys of namespace ${ns} (keys sharing a hash tag share a slot); SCAN returns a slot whole, so it cannot page this one`);
        }
        keys.push(key);
      }
    }
    return { next: s, keys };
  }

  /**
   * The namespace's entries less those its watermark hides (`Namespace.hidden`), in O(1): 0 right
   * after a namespace-wide invalidation although its entries are reclaimed later. Entries past
   * their expiry count until active or lazy expiry removes them, as Redis's DBSIZE counts them
   * (active expiry keeps them under a quarter of the entries with a TTL), and so do entries a tag
   * invalidation hides until the sweep's reclaim walk passes: an exact count would walk every
   * entry on each call. The copies of keys under a hot-key `copies` rule (`isCopyKey`) count too,
   * though SCAN and RANDOMKEY skip them: telling them apart would also walk every entry.
   */
  liveCount(ns: string): number {
    const space = this.ks.namespace(ns);
    return space === undefined ? 0 : Math.max(0, space.members.count - space.hidden);
  }

  /**
   * Of `liveCount`'s keys, those with an expiry (INFO keyspace's `expires`), in O(1): the
   * namespace's entries in the expiry set less those its watermark hides (`Namespace.expiring`,
   * `hiddenExpiring`). Counted as `liveCount` counts: entries past their expiry until they are
   * removed, entries a tag invalidation hides until the reclaim walk passes.
   */
  expiringCount(ns: string): number {
    const space = this.ks.namespace(ns);
    return space === undefined ? 0 : Math.max(0, space.expiring - space.hiddenExpiring);
  }

  /**
   * A uniformly drawn live key of `ns` in a slot `owns`, or null: up to RANDOM_KEY_TRIES draws,
   * each dead entry drawn removed (as Redis's RANDOMKEY expires what it draws; a replica only
   * skips it). Right after an invalidation most members may still be hidden: then it draws among
   * the members above the reclaim walk's cursor, which are the entries written since (the walk
   * removes what it passes, and new members are added at the top). A hot-key copy drawn is not
   * chosen (the draw counts against the bound). Null when none is found.
   */
  randomKey(ns: string, owns: OwnsSlot): string | null {
    const ks = this.ks;
    const space = ks.namespace(ns);
    if (space === undefined || this.liveCount(ns) === 0) return null;
    const { table } = ks;
    const members = space.members;
    const random = ks.options.random;
    const now = this.now();
    for (let i = 0; i < RANDOM_KEY_TRIES && members.count > 0; i++) {
      const id = members.pick(random());
      if (ks.reclaimIfDead(id, space, now) || !owns(table.slot[id])) continue;
      const key = table.key(id) as string;
      if (!isCopyKey(key)) return key;
    }
    // Mostly dead members (right after a FLUSHDB, before the reclaim walk): look at consecutive
    // members from a random place, a bounded number of them. (Removals swap the last member into
    // the hole, so members written after the flush are not kept together at the end.)
    const n = members.count;
    const start = Math.floor(random() * n);
    for (let i = 0; i < Math.min(n, RANDOM_KEY_SCAN); i++) {
      const id = members.at((start + i) % n);
      if (ks.fateOf(id, space, now) !== LIVE || !owns(table.slot[id])) continue;
      const key = table.key(id) as string;
      if (!isCopyKey(key)) return key;
    }
    return null;
  }
}
