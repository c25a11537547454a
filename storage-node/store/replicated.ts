import { EntryType } from '../../shared/collections';
import { applyChanges, type Changes, type CollValue, encoded, packedOf, valueBytes } from './collections';
import { sumLengths } from './entry-table';
import { entrySize, type Keyspace, Removal } from './keyspace';
import type { Namespace } from './namespace';
import { ownTags } from './validate';
import { bytesToString, ownString } from './value-codec';

/**
 * The store's side of replication (`Store.replication`): replica apply, snapshot chunks,
 * watermarks, clearing.
 *
 * A replica applies the primary's changes with the primary's versions and absolute expiries:
 * nothing is checked against limits (the primary already made room, and its evictions arrive as
 * deletes) and nothing is removed on the replica's own clock. Every applied version raises the
 * version clock to at least that version, so versions and invalidation watermarks stay the same
 * on both sides and a promoted replica hands out versions above every one it holds.
 */

/** One entry as a snapshot carries it: the value as bytes. */
export interface SnapshotEntry {
  ns: string;
  key: string;
  value: Buffer;
  version: number;
  expiresAt: number;
  flags: number;
  tags: readonly string[] | null;
  /** `EntryType`. */
  type: number;
}

/** Writes an entry exactly as the primary has it. `value` is copied. */
function applySet(
  ks: Keyspace, ns: string, key: string, value: Uint8Array, version: number, expiresAt: number, flags: number, tags: readonly string[] | null, type: number,
): void {
  const space = ks.ensureNamespace(ns);
  const owned = tags === null || tags.length === 0 ? undefined : ownTags(tags);
  const text = type === EntryType.STRING ? bytesToString(value) : encoded(bytesToString(value), type === EntryType.HASH);
  const size = entrySize(key.length, typeof text === 'string' ? text.length : valueBytes(text), owned === undefined ? 0 : sumLengths(owned));
  const hash = ks.hash(key);
  const found = space.keyIndex.find(key, hash);
  const now = ks.options.now();
  const clock = ks.versionClock; // insert and rewrite take a version of their own; ours replaces it
  const id = found >= 0 ? found : ks.insert(space, key, hash, text, size, now, false, type);
  if (found >= 0) ks.rewrite(found, space, text, size, now, type);
  const table = ks.table;
  table.setVersion(id, version);
  if (version <= space.watermark) {
    // a snapshot's entry the watermark already hides (with the expiry it has so far: setExpiry counts the change)
    space.hidden++;
    if (table.ttlPos(id) !== 0) space.hiddenExpiring++;
  }
  ks.versionClock = Math.max(clock, version);
  table.setFlags(id, flags);
  ks.setTags(id, owned);
  ks.setExpiry(id, expiresAt);
}

/** The stored value of entry `id` as its latin1 string (a large hash or set packed). */
export function valueOf(ks: Keyspace, id: number): string {
  const stored = ks.table.stored(id);
  return typeof stored === 'string' ? stored : packedOf(stored as CollValue);
}

/** See `StoreReplication.applyCollChanges`. */
function applyCollChanges(ks: Keyspace, ns: string, key: string, type: number, version: number, expiresAt: number, changes: Changes): boolean {
  const space = ks.ensureNamespace(ns);
  const hash = ks.hash(key);
  const found = space.keyIndex.find(key, hash);
  const table = ks.table;
  if (found >= 0 && table.type(found) !== type) return false;
  const next = applyChanges(found < 0 ? undefined : (table.stored(found) as CollValue), changes, type === EntryType.HASH);
  if (next === null) {
    if (found >= 0) ks.remove(found, Removal.DELETED);
    return true;
  }
  const size = entrySize(key.length, valueBytes(next), 0);
  const now = ks.options.now();
  const clock = ks.versionClock;
  const id = found >= 0 ? found : ks.insert(space, key, hash, next, size, now, false, type);
  if (found >= 0) ks.rewrite(found, space, next, size, now, type);
  table.setVersion(id, version);
  ks.versionClock = Math.max(clock, version);
  ks.setExpiry(id, expiresAt);
  return true;
}

/** Removes the key whatever its state; true if it was held. */
function applyDelete(ks: Keyspace, ns: string, key: string): boolean {
  const space = ks.namespace(ns);
  if (space === undefined) return false;
  const id = space.keyIndex.find(key, ks.hash(key));
  if (id < 0) return false;
  ks.remove(id, Removal.DELETED);
  return true;
}

/**
 * Raises the namespace's (or the tag's) watermark to `watermark`. `afterSnapshot`: the entries
 * held may be newer than the watermark (a full sync's snapshot, whose watermarks come after its
 * entries), so the hidden ones are counted; in stream order every entry held came before the
 * invalidation and all of them are hidden, in O(1).
 */
function applyInvalidate(ks: Keyspace, ns: string, tag: string | null, watermark: number, afterSnapshot: boolean): void {
  const space = ks.ensureNamespace(ns);
  if (watermark > ks.versionClock) ks.versionClock = watermark;
  if (tag === null) {
    if (watermark > space.watermark) {
      space.watermark = watermark;
      if (afterSnapshot) countHidden(ks, space, watermark);
      else {
        space.hidden = space.members.count;
        space.hiddenExpiring = space.expiring;
      }
    }
  } else if (watermark > (space.tagWatermarks.get(tag) ?? 0)) space.tagWatermarks.set(ownString(tag), watermark);
  space.reclaimCursor = space.members.count - 1;
  ks.pendingReclaim.add(space);
}

/** Sets `hidden` (and `hiddenExpiring`) to the members whose version is at or below `watermark` (and of those, the ones with an expiry): one pass. */
function countHidden(ks: Keyspace, space: Namespace, watermark: number): void {
  const table = ks.table;
  const members = space.members;
  let hidden = 0;
  let expiring = 0;
  for (let i = 0; i < members.count; i++) {
    const id = members.at(i);
    if (table.version(id) > watermark) continue;
    hidden++;
    if (table.ttlPos(id) !== 0) expiring++;
  }
  space.hidden = hidden;
  space.hiddenExpiring = expiring;
}

/**
 * Up to `maxEntries` held entries (or about `maxBytes` of values) with ids from `fromId` on,
 * expired and invisible ones included (a replica hides them the same way); `next` is the id to
 * continue from, or -1 after the last. Entries written meanwhile are carried by the stream.
 */
function snapshotChunk(ks: Keyspace, fromId: number, maxEntries: number, maxBytes: number): { entries: SnapshotEntry[]; next: number } {
  const table = ks.table;
  const entries: SnapshotEntry[] = [];
  let bytes = 0;
  let id = fromId;
  for (; id < table.highWater && entries.length < maxEntries && bytes < maxBytes; id++) {
    const key = table.key(id);
    if (key === undefined) continue;
    const value = Buffer.from(valueOf(ks, id), 'latin1');
    bytes += value.length + key.length;
    entries.push({
      ns: ks.namespaces[table.ns[id]].name, key, value, version: table.version(id), expiresAt: ks.expiresAt(id), flags: table.flags(id),
      tags: table.tags.get(id) ?? null, type: table.type(id),
    });
  }
  return { entries, next: id < table.highWater ? id : -1 };
}

/** Every namespace's watermark and tag watermarks: `[ns, watermark, [[tag, mark], ...]]`. */
function watermarks(ks: Keyspace): Array<[string, number, Array<[string, number]>]> {
  return ks.namespaces.map((space) => [space.name, space.watermark, [...space.tagWatermarks]]);
}

/** Removes every entry and watermark (a replica about to load a full snapshot). */
function clearAll(ks: Keyspace): void {
  for (const space of ks.namespaces) {
    while (space.members.count > 0) ks.remove(space.members.at(space.members.count - 1), Removal.DELETED);
    space.watermark = 0;
    space.hidden = 0;
    space.hiddenExpiring = 0;
    space.tagWatermarks.clear();
    space.reclaimCursor = -1;
  }
  ks.pendingReclaim.clear();
}

/** `Store.replication`: the store operations replication needs, bound to one keyspace. */
export class StoreReplication {
  constructor(private readonly ks: Keyspace) {}

  /** Replica: writes an entry with the primary's version and absolute expiry. */
  applySet(ns: string, key: string, value: Uint8Array, version: number, expiresAt: number, flags: number, tags: readonly string[] | null, type = 0): void {
    applySet(this.ks, ns, key, value, version, expiresAt, flags, tags, type);
  }

  /** Replica: removes the key whatever its state; true if it was held. */
  applyDelete(ns: string, key: string): boolean {
    return applyDelete(this.ks, ns, key);
  }

  /** Replica: raises a namespace (tag null) or tag watermark to the primary's (a stream record). */
  applyInvalidate(ns: string, tag: string | null, watermark: number): void {
    applyInvalidate(this.ks, ns, tag, watermark, false);
  }

  /**
   * Replica, at a full sync's end: `applyInvalidate` for a watermark the snapshot carries after
   * its entries, some of which may be newer (counts the hidden ones in one pass).
   */
  applySnapshotWatermark(ns: string, tag: string | null, watermark: number): void {
    applyInvalidate(this.ks, ns, tag, watermark, true);
  }

  /** Removes every entry and watermark (before a full sync). */
  clear(): void {
    clearAll(this.ks);
  }

  /** Held entries with ids from `fromId` on, in chunks; `next` -1 after the last. */
  snapshotChunk(fromId: number, maxEntries: number, maxBytes: number): { entries: SnapshotEntry[]; next: number } {
    return snapshotChunk(this.ks, fromId, maxEntries, maxBytes);
  }

  /** Namespace and tag watermarks, `[ns, watermark, [[tag, mark], ...]]`. */
  watermarks(): Array<[string, number, Array<[string, number]>]> {
    return watermarks(this.ks);
  }

  /** The version clock after the last `raiseVersionClock` that moved it (versions that did not come from this node's writes). */
  raisedTo = 0;

  /** Raises the version counter to at least `version` (after a snapshot, a promotion, a migrated entry). */
  raiseVersionClock(version: number): void {
    if (version <= this.ks.versionClock) return;
    this.ks.versionClock = version;
    this.raisedTo = version;
  }

  /**
   * The whole state of a held entry (dead or alive), for the record of a write that changed it
   * in place (INCR, EXPIRE, PERSIST); the value as its latin1 string. Undefined if not held.
   */
  peek(ns: string, key: string): { value: string; version: number; expiresAt: number; flags: number; tags: readonly string[] | null; type: number } | undefined {
    const ks = this.ks;
    const space = ks.namespace(ns);
    const id = space === undefined ? -1 : ks.heldId(space, key);
    if (id < 0) return undefined;
    const t = ks.table;
    const tags = t.tags.size === 0 ? null : (t.tags.get(id) ?? null);
    return { value: valueOf(ks, id), version: t.version(id), expiresAt: ks.expiresAt(id), flags: t.flags(id), tags, type: t.type(id) };
  }

  /** A held entry's type, version and absolute expiry (no value), or undefined. */
  peekMeta(ns: string, key: string): { type: number; version: number; expiresAt: number } | undefined {
    const ks = this.ks;
    const space = ks.namespace(ns);
    const id = space === undefined ? -1 : ks.heldId(space, key);
    if (id < 0) return undefined;
    return { type: ks.table.type(id), version: ks.table.version(id), expiresAt: ks.expiresAt(id) };
  }

  /**
   * Replica: a hash's or set's changes (REPL_COLL), with the primary's version and absolute
   * expiry; the entry is made when missing and removed when left empty. False when the key holds
   * another type (the stream and this store disagree: the caller resyncs).
   */
  applyCollChanges(ns: string, key: string, type: number, version: number, expiresAt: number, changes: Changes): boolean {
    return applyCollChanges(this.ks, ns, key, type, version, expiresAt, changes);
  }
}
