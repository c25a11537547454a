import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../shared/log';
import { Op, Status, type SlotRange } from '../../shared/protocol';
import { chunkRanges, countSlots } from '../../shared/slot-ranges';
import type { MigrationRecord } from '../../shared/topology/schema';
import { commandContext, readTopology, type CommandContext } from '../commands/context';
import { NodeClients } from './node-client';
import { casMigration, isFinal, readMigration, remainingRanges, type StoredMigration } from './records';

/** How the driver moves slots; defaults in `DRIVER_DEFAULTS`. */
export interface DriverOptions {
  /** Slots frozen and committed together in one cut-over. */
  cutSlots: number;
  /** Longest per-slot write freeze while a cut-over drains (ms); past it the cut is cold. */
  freezeMs: number;
  /** How long a copy may stay behind its write rate before the remaining slots are cut cold (ms). */
  convergeMs: number;
  /** How long a copy may take to finish its snapshot before it is restarted (ms). */
  copyTimeoutMs: number;
  pollMs: number;
}

/** A cut-over starts once the target's replicas are this close (its fence waits for them, inside the freeze). */
const READY_REPLICA_LAG_BYTES = 256 * 1024;
/** MIGRATE_END asks per primary while it answers BUSY (etcd unreadable), and the pause between them. */
const END_ATTEMPTS = 5;
const END_RETRY_MS = 200;

/** Import status as MIGRATE_STATUS reports it. */
interface ImportStatus {
  phase: string;
  keys: number;
  bytes: number;
  lagBytes: number;
  replicaLagBytes?: number;
  error?: string;
}

const readyToCut = (s: ImportStatus): boolean => s.phase === 'streaming' && (s.replicaLagBytes ?? 0) <= READY_REPLICA_LAG_BYTES;

export const DRIVER_DEFAULTS: DriverOptions = { cutSlots: 1024, freezeMs: 250, convergeMs: 20_000, copyTimeoutMs: 600_000, pollMs: 100 };

/** What the driver reports as it goes (metrics, status page). */
export interface DriverEvents {
  cutOver(m: MigrationRecord, result: CutResult): void;
  finished(m: MigrationRecord): void;
}

/** What a committed cut-over reports (MIGRATE_CUT's reply): the freeze, split into the drain and the commit. */
export interface CutResult {
  slots: number;
  keys: number;
  freezeMs: number;
  drainMs: number;
  commitMs: number;
  cold: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Why a pass over a migration stopped: it is done or not ours to drive, or the pass should start over. */
type Pass = 'stop' | 'again';

/**
 * Drives one migration from its record to `committed` (or until it is paused or aborted), as a
 * loop of passes that each start from what etcd says, so a driver that dies leaves nothing a
 * successor cannot pick up:
 *
 *   planned ─► copying: MIGRATE_START at the target primary, MIGRATE_STATUS until its snapshot is in
 *           ─► cutting: per batch of slots, MIGRATE_CUT at the source primary (freeze, drain, commit)
 *           ─► committed (every slot of the record is the target's in the slot map)
 *
 * A primary that changed (failover) sends the migration back to copying: the new target primary
 * starts its import over and the commit's compare on both epochs refuses anything older.
 */
export class MigrationRunner {
  readonly #ctx: CommandContext;
  #stopped = false;

  constructor(client: Etcd3, cluster: string, private readonly id: string, private readonly nodes: NodeClients, private readonly options: DriverOptions, private readonly log: Logger, private readonly events?: DriverEvents) {
    this.#ctx = commandContext(client, cluster);
  }

  stop(): void {
    this.#stopped = true;
  }

  /** Runs passes until the migration is final, paused, or the runner is stopped. */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.#stopped) {
      try {
        if ((await this.#pass()) === 'stop') return;
        failures = 0;
      } catch (err) {
        failures++;
        this.log.warn({ migration: this.id, err: (err as Error).message }, 'migration pass failed; retrying');
        await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
      }
    }
  }

  async #pass(): Promise<Pass> {
    const stored = await readMigration(this.#ctx.client, this.#ctx.keys, this.id);
    if (stored === undefined || isFinal(stored.record.state) || stored.record.state === 'paused') {
      if (stored !== undefined) await this.#endSessions(stored.record); // a pause ends the copy too; resume starts it again
      return 'stop';
    }
    const m = stored.record;
    const { snapshot } = await readTopology(this.#ctx);
    const from = snapshot.shards.get(m.from)?.primary;
    const to = snapshot.shards.get(m.to)?.primary;
    const remaining = remainingRanges(m.ranges, snapshot.slotShard, m.from);
    if (remaining.length === 0) return this.#finish(stored);
    if (from === undefined || to === undefined) {
      await sleep(500); // an election is under way
      return 'again';
    }
    const epochs = { from: from.epoch, to: to.epoch };
    if (m.state === 'planned' || m.epochs?.from !== epochs.from || m.epochs?.to !== epochs.to) {
      const reason = m.state === 'planned' ? undefined : 'a primary changed: copying again';
      const progress = { ...m.progress, attempts: m.progress.attempts + 1, startedAt: m.progress.startedAt ?? Date.now() };
      await casMigration(this.#ctx.client, this.#ctx.keys, stored, { ...m, state: 'copying', epochs, progress, ...(reason ? { reason } : {}) });
      return 'again';
    }
    if (m.state === 'copying') return this.#copy(stored, remaining, from.addr, to.addr, to.epoch);
    return this.#cut(stored, remaining, from.addr, to.addr);
  }

  /** Starts (or finds running) the import at the target; waits until its snapshot is in, then cutting. */
  async #copy(stored: StoredMigration, remaining: SlotRange[], fromAddr: string, toAddr: string, toEpoch: number): Promise<Pass> {
    const m = stored.record;
    const start = await this.nodes.request(toAddr, Op.MIGRATE_START, toEpoch, m.id, remaining, fromAddr, m.maxBytesPerSec);
    if (start[1] !== Status.OK) throw new Error(`target refused MIGRATE_START: ${String(start[2])}`);
    const deadline = Date.now() + this.options.copyTimeoutMs;
    let lastRecorded = 0;
    while (!this.#stopped && Date.now() < deadline) {
      const status = await this.#status(toAddr);
      if (status === undefined || status.phase === 'failed') throw new Error(`import failed: ${status?.error ?? 'gone'}`);
      if (readyToCut(status)) {
        const latest = await readMigration(this.#ctx.client, this.#ctx.keys, m.id);
        if (latest === undefined || latest.record.state !== 'copying') return 'again';
        await casMigration(this.#ctx.client, this.#ctx.keys, latest, { ...latest.record, state: 'cutting', progress: { ...latest.record.progress, keys: status.keys, bytes: status.bytes } });
        return 'again';
      }
      if (Date.now() - lastRecorded > 1000) {
        lastRecorded = Date.now();
        const latest = await readMigration(this.#ctx.client, this.#ctx.keys, m.id);
        if (latest === undefined || latest.record.state !== 'copying') return 'again'; // paused or cancelled
        await casMigration(this.#ctx.client, this.#ctx.keys, latest, { ...latest.record, progress: { ...latest.record.progress, keys: status.keys, bytes: status.bytes } });
      }
      await sleep(this.options.pollMs);
    }
    throw new Error('the copy did not finish its snapshot in time');
  }

  /** Cuts the remaining slots over batch by batch at the source primary. */
  async #cut(stored: StoredMigration, remaining: SlotRange[], fromAddr: string, toAddr: string): Promise<Pass> {
    let current = stored;
    let behindSince = 0;
    for (const batch of chunkRanges(remaining, this.options.cutSlots)) {
      for (;;) {
        if (this.#stopped) return 'stop';
        const m = current.record;
        const cold = behindSince > 0 && Date.now() - behindSince > this.options.convergeMs;
        const status = await this.#status(toAddr);
        if (status === undefined || status.phase === 'failed') {
          // The target's import is gone (it restarted, or failed): copy again.
          await casMigration(this.#ctx.client, this.#ctx.keys, current, { ...m, state: 'copying', reason: `the target's import ${status?.error ?? 'ended'}: copying again` });
          return 'again';
        }
        if (!cold && !readyToCut(status)) {
          behindSince ||= Date.now();
          await sleep(this.options.pollMs / 4);
          continue;
        }
        const reply = await this.nodes.request(fromAddr, Op.MIGRATE_CUT, m.epochs!.from, m.id, batch, current.modRevision, m.to, m.epochs!.to, { freezeMs: this.options.freezeMs, cold });
        if (reply[1] === Status.BUSY) {
          behindSince ||= Date.now();
          await sleep(this.options.pollMs);
          continue;
        }
        if (reply[1] !== Status.OK) return 'again'; // the record, a primary or the map changed: look again
        behindSince = 0;
        const r = reply[2] as CutResult;
        // The record is as this pass last wrote it (the cut compared its revision): update it in place.
        const latest = current;
        const p = latest.record.progress;
        const next: MigrationRecord = {
          ...latest.record,
          progress: {
            ...p, slotsDone: Math.min(p.slotsTotal, p.slotsDone + r.slots), coldSlots: p.coldSlots + (r.cold ? r.slots : 0), freezeMsMax: Math.max(p.freezeMsMax, r.freezeMs),
            keys: Math.max(p.keys, status?.keys ?? 0), bytes: Math.max(p.bytes, status?.bytes ?? 0),
          },
        };
        if (r.cold) this.log.warn({ migration: m.id, slots: r.slots }, `${r.slots} slots cut over cold: the copy could not converge under the write rate`);
        this.events?.cutOver(next, r);
        const rev = await casMigration(this.#ctx.client, this.#ctx.keys, latest, next);
        if (rev === undefined) return 'again';
        current = { record: next, modRevision: rev };
        break;
      }
    }
    return 'again';
  }

  async #finish(stored: StoredMigration): Promise<Pass> {
    const m = stored.record;
    const next: MigrationRecord = { ...m, state: 'committed', progress: { ...m.progress, slotsDone: countSlots(m.ranges), finishedAt: Date.now() } };
    if ((await casMigration(this.#ctx.client, this.#ctx.keys, stored, next)) === undefined) return 'again';
    this.log.info({ event: 'migration-committed', migration: m.id, from: m.from, to: m.to, slots: next.progress.slotsDone, cold: m.progress.coldSlots }, `migration ${m.id} committed`);
    this.events?.finished(next);
    await this.#endSessions(next);
    return 'stop';
  }

  /**
   * Ends the migration's import and export on both primaries (best effort). A node answers BUSY
   * while it cannot read the slot map from etcd (it ends an import only on the current map): asked
   * again a few times; an import still left then settles by the node's watch and stays idle.
   */
  async #endSessions(m: MigrationRecord): Promise<void> {
    const { snapshot } = await readTopology(this.#ctx);
    for (const shard of [m.to, m.from]) {
      const p = snapshot.shards.get(shard)?.primary;
      if (!p) continue;
      for (let attempt = 1; attempt <= END_ATTEMPTS; attempt++) {
        const reply = await this.nodes.request(p.addr, Op.MIGRATE_END, p.epoch, m.id).catch(() => undefined);
        if (reply?.[1] !== Status.BUSY) break;
        await sleep(END_RETRY_MS);
      }
    }
  }

  async #status(addr: string): Promise<ImportStatus | undefined> {
    const reply = await this.nodes.request(addr, Op.MIGRATE_STATUS, this.id);
    return reply[1] === Status.OK ? (reply[2] as ImportStatus) : undefined;
  }
}
