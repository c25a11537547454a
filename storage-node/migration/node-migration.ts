import type { PeerAccess } from '../../shared/peer-auth';
import type net from 'node:net';
import { OpError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { Op, Status } from '../../shared/protocol';
import { rangesArg } from '../../shared/slot-ranges';
import type { SlotMap } from '../../shared/topology/schema';
import type { Store } from '../store';
import type { WriteGate } from '../handlers';
import { epochArg } from '../validate';
import type { ReplicationLog } from '../replication/log';
import type { Committer } from './commit';
import { cutOver } from './cutover';
import { EXPORT_DEFAULTS, Exports, type ExportSession } from './export';
import { Import } from './import';
import type { SlotOwnership } from './ownership';

export interface MigrationOptions {
  nodeId: string;
  /** The cluster secret and TLS of the node's link to a migration source. */
  access: PeerAccess;
  maxFrameBytes: number;
  /** Entries of slots that moved away removed per background tick. */
  dropPerTick?: number;
  /** True when this shard's replicas have acknowledged the replication stream up to `offset` (or it has none). */
  replicatedTo(offset: number): boolean;
  /** Stream bytes this shard's most advanced replica has not acknowledged (0 without replicas). */
  replicaLagBytes(): number;
}

const REPLICATED_POLL_MS = 2;

/** Counters for STATS and /metrics. */
export interface MigrationCounters {
  importedKeys: number;
  coldSlots: number;
  cutOvers: number;
  droppedKeys: number;
}

/** Background removal of moved-away slots: small ticks (~1 ms of work each), none during a freeze. */
const DROP_TICK_MS = 5;
const DROP_PER_TICK = 1000;

/**
 * A cluster node's part in slot migrations: ownership from the slot map, the exports it serves
 * as a source primary, the imports it runs as a target primary, the cut-overs it commits, and the
 * background removal of slots that moved away.
 *
 *   slot map (watch, or a cut-over's commit) ─► ownership ─► gained: imports settle (warm or cold)
 *                                                        └► lost: dropped in the background
 *   MIGRATE_START / STATUS / END / CUT (driver) ─► handle()      MIGRATE_PULL (target) ─► Exports
 *
 * Owns: the imports, the exports, the drop timer.
 */
export class NodeMigration {
  readonly counters: MigrationCounters = { importedKeys: 0, coldSlots: 0, cutOvers: 0, droppedKeys: 0 };
  readonly exports: Exports;
  readonly #imports = new Map<string, Import>();
  readonly #dropping = new Set<number>();
  #dropTimer: NodeJS.Timeout | undefined;
  readonly #thawListeners = new Set<() => void>();

  constructor(
    private readonly store: Store,
    readonly ownership: SlotOwnership,
    private readonly gate: WriteGate & { readonly isPrimary?: boolean },
    private readonly log: ReplicationLog,
    private readonly committer: Committer,
    private readonly options: MigrationOptions,
    private readonly logger: Logger,
  ) {
    this.exports = new Exports(store, EXPORT_DEFAULTS, logger, (active) => (log.tee = active ? this.exports : null));
  }

  /** A slot map from the watch (or committed here): imports settle gained slots, lost ones are dropped. */
  applySlotMap(map: Pick<SlotMap, 'epoch' | 'ranges'>): void {
    const change = this.ownership.apply(map.epoch, map.ranges);
    for (const slot of change.gained) {
      this.#dropping.delete(slot);
      for (const imp of this.#imports.values()) {
        if (imp.settle(slot)) {
          this.counters.coldSlots++;
          this.logger.warn({ event: 'cold-slot', slot, migration: imp.migrationId }, `slot ${slot} arrived before its fence: taken empty (cold cut-over)`);
        }
      }
    }
    // An export carries no word of a slot once it left: the background drop must not reach the target.
    if (change.lost.length > 0) this.exports.forgetSlots(change.lost);
    for (const slot of change.lost) this.#dropping.add(slot);
    if (this.#dropping.size > 0) this.#dropTimer ??= setInterval(() => this.#dropSome(), DROP_TICK_MS);
  }

  /** The node became primary: slots it gave away while it was a replica's primary's are dropped now if still held. */
  becamePrimary(): void {
    if (this.#dropping.size > 0) this.#dropTimer ??= setInterval(() => this.#dropSome(), DROP_TICK_MS);
  }

  /**
   * Shutdown: thaws every frozen slot and runs the writes parked on them again. The caller has
   * closed the write gate first, so they are refused (NOT_PRIMARY, retried by proxies at the next
   * primary) instead of waiting for a cut-over this node will not finish serving.
   */
  releaseParked(): void {
    const frozen: number[] = [];
    this.ownership.frozen.forEach((on, slot) => {
      if (on === 1) frozen.push(slot);
    });
    this.ownership.setFrozen(frozen, false);
    this.#thaw();
  }

  /** Runs `listener` once after the next thaw of frozen slots. */
  onThaw(listener: () => void): void {
    this.#thawListeners.add(listener);
  }

  /** MIGRATE_PULL on `socket`: the connection becomes an export (throws OpError). */
  acceptPull(socket: net.Socket, m: readonly unknown[]): ExportSession {
    if (this.gate.isPrimary === false) throw new OpError(Status.NOT_PRIMARY, 'this node is not the primary; pull from the primary', [0, null]);
    return this.exports.accept(socket, m);
  }

  /** MIGRATE_START / STATUS / END / CUT and SLOT_STATS: the reply `[id, status, ...]`. Never rejects. */
  async handle(m: readonly unknown[]): Promise<unknown[]> {
    const id = m[0];
    try {
      switch (m[1]) {
        case Op.MIGRATE_START:
          return [id, Status.OK, await this.#start(m)];
        case Op.MIGRATE_STATUS: {
          const imp = typeof m[2] === 'string' ? this.#imports.get(m[2]) : undefined;
          const exp = typeof m[2] === 'string' ? this.exports.get(m[2]) : undefined;
          if (imp) return [id, Status.OK, { ...imp.status(), replicaLagBytes: this.options.replicaLagBytes() }];
          if (exp) return [id, Status.OK, { phase: exp.state, keys: exp.keys, bytes: exp.bytes, lagBytes: exp.lagBytes }];
          return [id, Status.MISS];
        }
        case Op.MIGRATE_END:
          this.gate.check(epochArg(m[2]));
          await this.#catchUpSlotMap();
          this.#end(String(m[3]), 'ended by the control plane');
          return [id, Status.OK];
        case Op.MIGRATE_CUT:
          return [id, ...(await this.#cut(m))];
        default:
          return [id, Status.UNKNOWN_OP, `unknown operation ${String(m[1])}`];
      }
    } catch (err) {
      if (err instanceof OpError) return [id, err.status, err.message, ...err.detail];
      this.logger.error({ err }, 'migration request failed');
      return [id, Status.INTERNAL, 'internal error'];
    }
  }

  /** The node stopped being primary: its imports and exports end (the next primary is asked anew). */
  stepDown(): void {
    this.exports.closeAll('this node is no longer the primary');
    for (const imp of this.#imports.values()) imp.end('this node is no longer the primary', false);
    this.#imports.clear();
  }

  close(): void {
    clearInterval(this.#dropTimer);
    this.#dropTimer = undefined;
    this.stepDown();
  }

  /** `[id, MIGRATE_START, epoch, migrationId, ranges, sourceAddr, maxBytesPerSec]` at the target primary. */
  async #start(m: readonly unknown[]): Promise<string> {
    this.gate.check(epochArg(m[2]));
    const [, , , migrationId, rawRanges, sourceAddr, rate] = m;
    const ranges = rangesArg(rawRanges);
    if (typeof migrationId !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(migrationId) || ranges === null || typeof sourceAddr !== 'string' || sourceAddr.length > 300 || typeof rate !== 'number' || !(rate >= 0)) {
      throw new OpError(Status.BAD_REQUEST, 'MIGRATE_START needs a migration id, slot ranges, the source address and a byte rate');
    }
    // The import this one may replace drops only the slots that are really not this shard's.
    if (this.#imports.has(migrationId)) await this.#catchUpSlotMap();
    const running = this.#imports.get(migrationId);
    if (running && running.phase !== 'failed' && running.sourceAddr === sourceAddr && JSON.stringify(running.ranges) === JSON.stringify(ranges)) return 'running';
    running?.end('restarted', true);
    const identity = { nodeId: this.options.nodeId, access: this.options.access, maxFrameBytes: this.options.maxFrameBytes };
    const sink = {
      store: this.store,
      replicate: (ns: string, key: string) => {
        this.counters.importedKeys++;
        this.log.changed(ns, key);
      },
      removed: (ns: string, key: string) => this.log.removed(ns, key),
      owns: (slot: number) => this.ownership.owner[slot] === this.ownership.shardId,
      whenReplicated: (done: () => void) => {
        const offset = this.log.offset;
        const giveUpAt = Date.now() + 5000; // past the longest freeze: the cut-over went cold by then
        const check = (): void => {
          if (this.options.replicatedTo(offset)) done();
          else if (Date.now() < giveUpAt) setTimeout(check, REPLICATED_POLL_MS);
        };
        check();
      },
    };
    const imp = new Import(migrationId, ranges, sourceAddr, rate, sink, identity, this.logger);
    // The import clears its slots itself before it copies: a background drop of them left from
    // when they moved away would delete what it imports.
    for (let s = 0; s < imp.importing.length; s++) if (imp.importing[s] === 1) this.#dropping.delete(s);
    this.#imports.set(migrationId, imp);
    void imp.start().catch((err: Error) => this.logger.error({ err: err.message, migration: migrationId }, 'import failed to start'));
    return 'started';
  }

  /**
   * Applies the slot map as etcd holds it now, before an import ends and drops what it holds of
   * slots this shard does not own. A cut-over commits at the source, and this node hears of it
   * through its watch, which may lag: ended on a lagging map, an import would drop the slots just
   * committed to this shard (fenced, complete), and the watch's late map would then find them
   * empty. BUSY while etcd does not answer (nothing is dropped; the control plane asks again).
   */
  async #catchUpSlotMap(): Promise<void> {
    let map: SlotMap | null;
    try {
      map = await this.committer.readSlotMap();
    } catch {
      throw new OpError(Status.BUSY, 'cannot read the slot map from etcd to end the import; retry');
    }
    if (map !== null) this.applySlotMap(map);
  }

  #end(migrationId: string, reason: string): void {
    this.#imports.get(migrationId)?.end(reason, true);
    this.#imports.delete(migrationId);
    this.exports.end(migrationId, reason);
  }

  async #cut(m: readonly unknown[]): Promise<unknown[]> {
    const fromEpoch = epochArg(m[2]);
    this.gate.check(fromEpoch);
    const [, , , migrationId, rawRanges, recordModRevision, targetShard, targetEpoch, rawOptions] = m;
    const ranges = rangesArg(rawRanges);
    const options = (typeof rawOptions === 'object' && rawOptions !== null ? rawOptions : {}) as { freezeMs?: unknown; cold?: unknown };
    const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
    if (typeof migrationId !== 'string' || ranges === null || !whole(recordModRevision) || !whole(targetShard) || targetShard > 1023 || !whole(targetEpoch)) {
      throw new OpError(Status.BAD_REQUEST, 'MIGRATE_CUT needs a migration id, slot ranges, the record revision, the target shard and its epoch');
    }
    const freezeMs = whole(options.freezeMs) ? Math.min(options.freezeMs, 5000) : 250;
    const reply = await cutOver(
      { migrationId, ranges, recordModRevision, fromEpoch, targetShard, targetEpoch, freezeMs, cold: options.cold === true },
      {
        ownership: this.ownership, committer: this.committer, export: this.exports.get(migrationId), count: (s) => this.store.slots.count(s), log: this.logger,
        applied: (map) => this.applySlotMap(map),
        thawed: () => this.#thaw(),
      },
    );
    if (reply[0] === Status.OK) this.counters.cutOvers++;
    return reply;
  }

  #thaw(): void {
    const listeners = [...this.#thawListeners];
    this.#thawListeners.clear();
    for (const listener of listeners) listener();
  }

  /** Removes some entries of slots that moved away (replicated as deletes); stops when none is left. */
  #dropSome(): void {
    if (this.ownership.frozenCount !== 0) return; // a cut-over is draining: it goes first
    let budget = this.options.dropPerTick ?? DROP_PER_TICK;
    for (const slot of this.#dropping) {
      if (this.store.passive) {
        // A replica: its primary's deletes reach it. The set stays for a promotion (becamePrimary).
        clearInterval(this.#dropTimer);
        this.#dropTimer = undefined;
        return;
      }
      if (this.ownership.owner[slot] === this.ownership.shardId) {
        this.#dropping.delete(slot);
        continue;
      }
      const before = this.store.slots.count(slot);
      const left = this.store.slots.drop(slot, budget, (ns, key) => this.log.removed(ns, key));
      this.counters.droppedKeys += before - left;
      budget -= before - left;
      if (left === 0) this.#dropping.delete(slot);
      if (budget <= 0) return;
    }
    if (this.#dropping.size === 0) {
      clearInterval(this.#dropTimer);
      this.#dropTimer = undefined;
    }
  }
}
