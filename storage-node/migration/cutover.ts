import { Status, type SlotRange } from '../../shared/protocol';
import { filterRanges } from '../../shared/slot-ranges';
import type { Logger } from '../../shared/log';
import type { CommitOutcome, Committer, CutCommit } from './commit';
import type { ExportSession } from './export';
import type { SlotOwnership } from './ownership';

/** What a MIGRATE_CUT asks for (checked by the caller). */
export interface CutRequest {
  migrationId: string;
  ranges: SlotRange[];
  recordModRevision: number;
  fromEpoch: number;
  targetShard: number;
  targetEpoch: number;
  /** Longest wait for the target to drain the frozen slots' tail, ms. */
  freezeMs: number;
  /** Cut without draining: the target takes the slots empty. */
  cold: boolean;
}

/** What the cut-over needs around it. */
export interface CutEnvironment {
  ownership: SlotOwnership;
  committer: Committer;
  export: ExportSession | undefined;
  /** Entries the node holds in `slot`. */
  count(slot: number): number;
  /** A committed slot map: applied at once (the watch may lag). */
  applied(map: { epoch: number; ranges: Array<[number, number, number]> }): void;
  /** Writes to the slots were thawed: held writes run again (and meet MOVED when the slots left). */
  thawed(): void;
  log: Logger;
}

/** Export lag (stream bytes not applied by the target) under which a cut may start. */
export const CUT_LAG_BYTES = 1024 * 1024;
/** Between reads of the slot map while a commit's outcome is unknown. */
const SETTLE_RETRY_MS = 200;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A cut-over at the source primary, the one place that decides it:
 *
 *   freeze writes to the slots ─► fence on the export ─► target acknowledges (≤ freezeMs, else cold)
 *     ─► one etcd transaction (commit.ts) ─► committed: apply the new map, held writes get MOVED
 *                                          └ refused: thaw, held writes run here (owner of record)
 *
 * Reads go on during the freeze (this node still is the owner of record and holds every write).
 * When etcd does not answer, the outcome is unknown: the slots stay frozen and the slot map is
 * read again until it says which it was, so a held write is never run on the wrong side.
 * Returns the MIGRATE_CUT reply body `[status, ...]`.
 */
export async function cutOver(req: CutRequest, env: CutEnvironment): Promise<unknown[]> {
  const { ownership } = env;
  const me = ownership.shardId;
  const ranges = filterRanges(req.ranges, (s) => ownership.owner[s] === me);
  if (ranges.length === 0) return [Status.OK, { slotMapEpoch: ownership.epoch, freezeMs: 0, cold: false, keys: 0, slots: 0 }];
  const session = env.export;
  if (!req.cold && (session === undefined || session.state !== 'streaming')) {
    return [Status.BUSY, 'the export of these slots is not streaming yet', { lagBytes: session?.lagBytes ?? -1 }];
  }
  if (!req.cold && session!.lagBytes > CUT_LAG_BYTES) return [Status.BUSY, `the target is ${session!.lagBytes} bytes behind`, { lagBytes: session!.lagBytes }];
  const slots = slotsOf(ranges);
  let keys = 0;
  for (const s of slots) keys += env.count(s);
  const started = performance.now();
  ownership.setFrozen(slots, true);
  try {
    const drained = !req.cold && (await drain(session!, ranges, req.freezeMs));
    const drainMs = performance.now() - started;
    const cut: CutCommit = {
      migrationId: req.migrationId, recordModRevision: req.recordModRevision, from: me, fromEpoch: req.fromEpoch, to: req.targetShard, toEpoch: req.targetEpoch, ranges,
    };
    const outcome = await settle(cut, env);
    if (outcome.committed) env.applied(outcome.map);
    const freezeMs = performance.now() - started;
    if (!outcome.committed) return [Status.VERSION_CONFLICT, outcome.reason];
    env.log.info({ event: 'cut-over', migration: req.migrationId, slots: slots.length, keys, freezeMs: Math.round(freezeMs), cold: !drained, epoch: outcome.map.epoch }, `slots moved to shard ${req.targetShard}`);
    return [Status.OK, { slotMapEpoch: outcome.map.epoch, freezeMs, drainMs, commitMs: freezeMs - drainMs, cold: !drained, keys, slots: slots.length }];
  } finally {
    ownership.setFrozen(slots, false);
    env.thawed();
  }
}

/** Sends the fence and waits for the target to apply it, at most `ms`; true when it did. */
async function drain(session: ExportSession, ranges: SlotRange[], ms: number): Promise<boolean> {
  const fence = session.fence(ranges);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([fence.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Commits; while etcd does not answer, reads the slot map until it tells whether the move landed. */
async function settle(cut: CutCommit, env: CutEnvironment): Promise<CommitOutcome> {
  try {
    return await env.committer.commit(cut);
  } catch (err) {
    env.log.warn({ err: (err as Error).message, migration: cut.migrationId }, 'cut-over outcome unknown; reading the slot map until etcd answers');
  }
  for (;;) {
    await sleep(SETTLE_RETRY_MS);
    try {
      const map = await env.committer.readSlotMap();
      if (map === null) return { committed: false, reason: 'the cluster has no readable slot map' };
      const owner = new Int16Array(16384).fill(-1);
      for (const [a, b, shard] of map.ranges) owner.fill(shard, a, b + 1);
      const moved = cut.ranges.every(([a, b]) => owner.subarray(a, b + 1).every((s) => s === cut.to));
      return moved ? { committed: true, map } : { committed: false, reason: 'the cut-over did not commit (etcd did not answer)' };
    } catch {
      // still no answer: keep the slots frozen and ask again
    }
  }
}

function slotsOf(ranges: readonly SlotRange[]): number[] {
  const out: number[] = [];
  for (const [a, b] of ranges) for (let s = a; s <= b; s++) out.push(s);
  return out;
}
