import type { Etcd3 } from 'etcd3';
import type { SlotRange } from '../../shared/protocol';
import { clusterKeys, parseRecord, SlotMapSchema, type ClusterKeys, type SlotMap } from '../../shared/topology/schema';
import { reassign } from '../../shared/slot-ranges';

/** One cut-over to commit: `ranges` move from shard `from` to shard `to`. */
export interface CutCommit {
  migrationId: string;
  /** The migration record's mod revision when the driver asked for the cut (a pause or cancel changes it). */
  recordModRevision: number;
  from: number;
  fromEpoch: number;
  to: number;
  toEpoch: number;
  ranges: SlotRange[];
}

export type CommitOutcome = { committed: true; map: SlotMap } | { committed: false; reason: string };

/** Commits cut-overs in etcd (`commit.ts`); tests hand the cut-over a fake. */
export interface Committer {
  /** Resolves with the outcome; rejects when it is unknown (etcd did not answer). */
  commit(cut: CutCommit): Promise<CommitOutcome>;
  /** The slot map now (to settle an unknown outcome); rejects while etcd does not answer. */
  readSlotMap(): Promise<SlotMap | null>;
}

/**
 * The etcd side of a cut-over: one transaction that moves the ranges and bumps the slot map's
 * epoch, if and only if the migration record, both shards' primaries (their epochs are the
 * primary keys' create revisions) and the slot map are all as the cut-over saw them.
 */
export class EtcdCommitter implements Committer {
  readonly #keys: ClusterKeys;

  constructor(private readonly client: Etcd3, cluster: string) {
    this.#keys = clusterKeys(cluster);
  }

  async readSlotMap(): Promise<SlotMap | null> {
    const text = await this.client.get(this.#keys.slotmap).string();
    if (text === null) return null;
    const parsed = parseRecord(SlotMapSchema, text);
    return parsed.ok ? parsed.value : null;
  }

  async commit(cut: CutCommit): Promise<CommitOutcome> {
    const k = this.#keys;
    const res = await this.client.get(k.slotmap).exec();
    const kv = res.kvs[0];
    const parsed = kv === undefined ? undefined : parseRecord(SlotMapSchema, kv.value.toString());
    if (!parsed?.ok) return { committed: false, reason: 'the cluster has no readable slot map' };
    const map: SlotMap = { epoch: parsed.value.epoch + 1, ranges: reassign(parsed.value.ranges, cut.ranges, cut.to) };
    const txn = await this.client
      .if(k.migration(cut.migrationId), 'Mod', '==', cut.recordModRevision)
      .and(k.primary(cut.from), 'Create', '==', cut.fromEpoch)
      .and(k.primary(cut.to), 'Create', '==', cut.toEpoch)
      .and(k.slotmap, 'Mod', '==', kv!.mod_revision)
      .then(this.client.put(k.slotmap).value(JSON.stringify(map)))
      .commit();
    if (txn.succeeded) return { committed: true, map };
    return { committed: false, reason: 'the migration record, a primary or the slot map changed since the cut-over began' };
  }
}
