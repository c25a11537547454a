import type { Etcd3 } from 'etcd3';
import { SLOT_COUNT } from '../../shared/slot';
import { countSlots, normaliseRanges } from '../../shared/slot-ranges';
import type { SlotRange } from '../../shared/protocol';
import { MigrationRecordSchema, parseRecord, type ClusterKeys, type MigrationRecord } from '../../shared/topology/schema';

/** A migration record as read, with the mod revision every change compares. */
export interface StoredMigration {
  record: MigrationRecord;
  modRevision: number;
}

/** Every readable migration record of the cluster, oldest first. */
export async function readMigrations(client: Etcd3, keys: ClusterKeys): Promise<StoredMigration[]> {
  const res = await client.getAll().prefix(keys.migrationsPrefix).exec();
  const out: StoredMigration[] = [];
  for (const kv of res.kvs) {
    const parsed = parseRecord(MigrationRecordSchema, kv.value.toString());
    if (parsed.ok) out.push({ record: parsed.value, modRevision: Number(kv.mod_revision) });
  }
  return out.sort((a, b) => a.record.createdAt - b.record.createdAt || a.record.id.localeCompare(b.record.id));
}

/** One migration record, or undefined. */
export async function readMigration(client: Etcd3, keys: ClusterKeys, id: string): Promise<StoredMigration | undefined> {
  const res = await client.get(keys.migration(id)).exec();
  const kv = res.kvs[0];
  if (kv === undefined) return undefined;
  const parsed = parseRecord(MigrationRecordSchema, kv.value.toString());
  return parsed.ok ? { record: parsed.value, modRevision: Number(kv.mod_revision) } : undefined;
}

/**
 * Replaces a record if it is still at `modRevision` (compare-and-set); returns the new mod
 * revision, or undefined when someone changed it first.
 */
export async function casMigration(client: Etcd3, keys: ClusterKeys, stored: StoredMigration, next: MigrationRecord): Promise<number | undefined> {
  const value = MigrationRecordSchema.parse({ ...next, updatedAt: Date.now() });
  const res = await client.if(keys.migration(next.id), 'Mod', '==', stored.modRevision).then(client.put(keys.migration(next.id)).value(JSON.stringify(value))).commit();
  return res.succeeded ? Number(res.header.revision) : undefined;
}

/** Writes a new record in state `planned`; fails if the id exists. */
export async function createMigration(client: Etcd3, keys: ClusterKeys, record: MigrationRecord): Promise<boolean> {
  const value = MigrationRecordSchema.parse(record);
  const res = await client.if(keys.migration(record.id), 'Create', '==', 0).then(client.put(keys.migration(record.id)).value(JSON.stringify(value))).commit();
  return res.succeeded;
}

/** A new record for moving `ranges` from `from` to `to`. Pure. */
export function newMigration(id: string, from: number, to: number, ranges: readonly SlotRange[], maxBytesPerSec: number, now: number, plan?: string): MigrationRecord {
  const normal = normaliseRanges(ranges);
  return {
    id, from, to, ranges: normal, state: 'planned', maxBytesPerSec, createdAt: now, updatedAt: now,
    progress: { slotsTotal: countSlots(normal), slotsDone: 0, keys: 0, bytes: 0, coldSlots: 0, freezeMsMax: 0, attempts: 0 },
    ...(plan === undefined ? {} : { plan }),
  };
}

/** A migration id: time-ordered and unique enough (`m-<ms>-<random>`). */
export function migrationId(now: number, random: () => number = Math.random): string {
  return `m-${now.toString(36)}-${Math.floor(random() * 36 ** 4).toString(36).padStart(4, '0')}`;
}

/** True for states nothing changes any more. */
export const isFinal = (state: MigrationRecord['state']): boolean => state === 'committed' || state === 'aborted';

/** The slots of `ranges` that shard `from` still owns in the slot table. Pure. */
export function remainingRanges(ranges: readonly SlotRange[], slotShard: ArrayLike<number>, from: number): SlotRange[] {
  const out: SlotRange[] = [];
  for (const [a, b] of ranges) {
    let start = -1;
    for (let s = a; s <= b + 1; s++) {
      const mine = s <= b && s < SLOT_COUNT && slotShard[s] === from;
      if (mine && start < 0) start = s;
      else if (!mine && start >= 0) {
        out.push([start, s - 1]);
        start = -1;
      }
    }
  }
  return out;
}
