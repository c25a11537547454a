import type net from 'node:net';
import { encodeFrame } from '../../shared/frame';
import { OpError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { Op, Status, type SlotRange } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import { rangesArg, slotBitmap } from '../../shared/slot-ranges';
import type { Store } from '../store';
import { SNAPSHOT_FIELDS, snapshotFrame } from '../replication/records';
import { Throttle } from './throttle';

/** What the replication log tells an export about each mutation on the primary. */
export interface MutationTee {
  /** Whether a change to `ns`/`key` goes to an export (its slot is moving): the log reads an entry's whole state only then. */
  wants(ns: string, key: string): boolean;
  /** `type`: the entry's `EntryType`. */
  set(ns: string, key: string, value: Uint8Array, expiresAt: number, flags: number, tags: readonly string[] | null, type: number): void;
  del(ns: string, key: string): void;
  invalidated(ns: string, tag: string | null): void;
}

export interface ExportOptions {
  chunkEntries: number;
  chunkBytes: number;
  /** Bytes the socket may buffer before the snapshot waits for it to drain. */
  maxBufferedBytes: number;
  /** Stream bytes the target may leave unsent or unapplied before the export is dropped. */
  maxLagBytes: number;
}

export const EXPORT_DEFAULTS: ExportOptions = { chunkEntries: 2000, chunkBytes: 256 * 1024, maxBufferedBytes: 4 * 1024 * 1024, maxLagBytes: 64 * 1024 * 1024 };

/** Where a snapshot is: the slot list, the slot at, its ids (read when the slot starts) and the next one. */
interface SnapshotCursor {
  slots: number[];
  at: number;
  ids: Int32Array | null;
  i: number;
}

/** The slots of `ranges`, in order. */
function slotList(ranges: readonly SlotRange[]): number[] {
  const out: number[] = [];
  for (const [from, to] of ranges) for (let s = from; s <= to; s++) out.push(s);
  return out;
}

const EMPTY_IDS = new Int32Array(0);
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One slot export on the source primary: the connection a target opened with MIGRATE_PULL.
 *
 *   snapshot: per slot, per chunk: [stream so far][REPL_SNAPSHOT of the chunk read now] ... [MIGRATE_SNAPSHOT_END]
 *   stream:   REPL_SET / REPL_DEL / MIGRATE_INVALIDATE of the moving slots, in the order they happened
 *   fence:    MIGRATE_FENCE(id) after a freeze; the target's MIGRATE_ACK(applied, id) says it has it all
 *
 * A chunk reads entries at the moment it is sent, after everything the stream holds so far, so a
 * key's last word on the connection is its newest state and a late chunk never brings back a key
 * deleted before it. Snapshot chunks are throttled; the stream is not (it must converge).
 * Owns: its socket (destroyed on close).
 */
export class ExportSession {
  readonly slots: Uint8Array;
  state: 'snapshot' | 'streaming' | 'closed' = 'snapshot';
  keys = 0;
  bytes = 0;
  /** Stream bytes produced (sent or pending) and applied by the target. */
  streamBytes = 0;
  appliedBytes = 0;
  #pending: Buffer[] = [];
  #flushScheduled = false;
  #fenceId = 0;
  #fenceAcked = 0;
  readonly #fenceWaiters = new Map<number, () => void>();
  readonly #throttle: Throttle;

  constructor(
    readonly migrationId: string,
    readonly ranges: SlotRange[],
    readonly socket: net.Socket,
    private readonly store: Store,
    maxBytesPerSec: number,
    private readonly options: ExportOptions,
    private readonly log: Logger,
  ) {
    this.slots = slotBitmap(ranges);
    this.#throttle = new Throttle(maxBytesPerSec);
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  /** Stream bytes the target has not applied yet. */
  get lagBytes(): number {
    return this.streamBytes - this.appliedBytes;
  }

  /** A stream frame for this export (already filtered by slot). */
  push(frame: Buffer): void {
    if (this.state === 'closed') return;
    this.#pending.push(frame);
    this.streamBytes += frame.length;
    if (this.lagBytes > this.options.maxLagBytes) return this.close(`the target is ${this.lagBytes} stream bytes behind`);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
  }

  /** Runs the snapshot of every slot, then switches to streaming. */
  async run(): Promise<void> {
    const cursor: SnapshotCursor = { slots: slotList(this.ranges), at: 0, ids: null, i: 0 };
    await immediate(); // the OK reply to MIGRATE_PULL goes first
    while (cursor.at < cursor.slots.length) {
      if (this.socket.writableLength > this.options.maxBufferedBytes) await this.#drained();
      if (this.closed) return;
      this.#flush(); // the stream so far goes before the chunk read now
      this.#chunk(cursor);
      await this.#throttle.wait();
      await immediate();
      if (this.closed) return;
    }
    this.#flush();
    this.socket.write(encodeFrame([0, Op.MIGRATE_SNAPSHOT_END]));
    this.state = 'streaming';
    this.log.info({ event: 'export-snapshot-sent', migration: this.migrationId, keys: this.keys, bytes: this.bytes }, 'export snapshot sent');
  }

  /** Sends a fence after everything so far; resolves when the target acknowledges it (false on close). */
  fence(ranges: SlotRange[]): { id: number; done: Promise<boolean> } {
    const id = ++this.#fenceId;
    const done = new Promise<boolean>((resolve) => this.#fenceWaiters.set(id, () => resolve(this.#fenceAcked >= id)));
    this.push(encodeFrame([0, Op.MIGRATE_FENCE, id, ranges]));
    this.#flush();
    return { id, done };
  }

  /** A frame from the target: `[0, MIGRATE_ACK, appliedBytes, fenceId]`. */
  onFrame(m: readonly unknown[]): void {
    const [, op, applied, fence] = m;
    if (op !== Op.MIGRATE_ACK || typeof applied !== 'number' || typeof fence !== 'number') return this.close('unexpected frame on a migration connection');
    if (applied > this.appliedBytes && applied <= this.streamBytes) this.appliedBytes = applied;
    if (fence > this.#fenceAcked && fence <= this.#fenceId) {
      this.#fenceAcked = fence;
      for (const [id, resolve] of this.#fenceWaiters) if (id <= fence) {
        this.#fenceWaiters.delete(id);
        resolve();
      }
    }
  }

  close(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.#pending = [];
    for (const resolve of this.#fenceWaiters.values()) resolve();
    this.#fenceWaiters.clear();
    this.log.info({ event: 'export-closed', migration: this.migrationId, reason }, `export of migration ${this.migrationId} closed: ${reason}`);
    this.socket.destroy();
  }

  /** Reads and sends one chunk from the cursor on (entries as they are now), across slots. */
  #chunk(c: SnapshotCursor): void {
    const o = this.options;
    const flat: unknown[] = [];
    const types: number[] = [];
    let bytes = 0;
    while (c.at < c.slots.length && flat.length < o.chunkEntries * SNAPSHOT_FIELDS && bytes < o.chunkBytes) {
      const slot = c.slots[c.at];
      if (this.slots[slot] !== 1) c.ids = EMPTY_IDS; // given away meanwhile (a cold cut-over)
      c.ids ??= this.store.slots.ids(slot);
      if (c.i >= c.ids.length) {
        c.ids = null;
        c.i = 0;
        c.at++;
        continue;
      }
      const e = this.store.slots.entry(c.ids[c.i++], slot);
      if (e === undefined) continue;
      flat.push(e.ns, e.key, e.value, 0, e.expiresAt, e.flags, e.tags);
      types.push(e.type);
      bytes += e.value.length + e.key.length;
    }
    if (flat.length === 0) return;
    const frame = encodeFrame(snapshotFrame(flat, types));
    this.socket.write(frame);
    this.keys += flat.length / SNAPSHOT_FIELDS;
    this.bytes += frame.length;
    this.#throttle.spend(frame.length);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#pending.length === 0 || this.state === 'closed') return;
    const frames = this.#pending;
    this.#pending = [];
    this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames));
  }

  #drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }
}

/**
 * Every export of this primary, and the tee that feeds them: each mutation of a moving slot
 * becomes a stream frame for the exports of that slot. With no export the tee is not installed.
 */
export class Exports implements MutationTee {
  readonly #sessions = new Map<string, ExportSession>();

  constructor(private readonly store: Store, private readonly options: ExportOptions, private readonly log: Logger, private readonly onChange: (active: boolean) => void) {}

  get size(): number {
    return this.#sessions.size;
  }

  get(migrationId: string): ExportSession | undefined {
    return this.#sessions.get(migrationId);
  }

  /** MIGRATE_PULL `[id, op, migrationId, ranges, nodeId, maxBytesPerSec]` on `socket`: starts an export (throws OpError). */
  accept(socket: net.Socket, m: readonly unknown[]): ExportSession {
    const [, , migrationId, rawRanges, , rate] = m;
    const ranges = rangesArg(rawRanges);
    if (typeof migrationId !== 'string' || migrationId.length === 0 || migrationId.length > 64 || ranges === null || typeof rate !== 'number' || !(rate >= 0)) {
      throw new OpError(Status.BAD_REQUEST, 'MIGRATE_PULL needs a migration id, slot ranges and a byte rate');
    }
    this.#sessions.get(migrationId)?.close('replaced by a new pull');
    const session = new ExportSession(migrationId, ranges, socket, this.store, rate, this.options, this.log);
    this.#sessions.set(migrationId, session);
    socket.on('close', () => this.#forget(session, 'connection closed'));
    this.onChange(true);
    void session.run().catch((err: Error) => session.close(`snapshot failed: ${err.message}`));
    return session;
  }

  /** Ends the export of `migrationId` (MIGRATE_END, or the node is no longer primary). */
  end(migrationId: string, reason: string): void {
    const session = this.#sessions.get(migrationId);
    if (session) this.#forget(session, reason);
  }

  /** Slots this node gave away: no export streams their changes any more. */
  forgetSlots(slots: readonly number[]): void {
    for (const session of this.#sessions.values()) for (const s of slots) session.slots[s] = 0;
  }

  closeAll(reason: string): void {
    for (const s of [...this.#sessions.values()]) this.#forget(s, reason);
  }

  wants(ns: string, key: string): boolean {
    const slot = slotOf(ns, key);
    for (const s of this.#sessions.values()) if (s.slots[slot] === 1) return true;
    return false;
  }

  set(ns: string, key: string, value: Uint8Array, expiresAt: number, flags: number, tags: readonly string[] | null, type: number): void {
    const slot = slotOf(ns, key);
    let frame: Buffer | undefined;
    for (const s of this.#sessions.values()) {
      if (s.slots[slot] !== 1) continue;
      frame ??= encodeFrame(type === 0 ? [0, Op.REPL_SET, ns, key, value, 0, expiresAt, flags, tags] : [0, Op.REPL_SET, ns, key, value, 0, expiresAt, flags, tags, type]);
      s.push(frame);
    }
  }

  del(ns: string, key: string): void {
    const slot = slotOf(ns, key);
    let frame: Buffer | undefined;
    for (const s of this.#sessions.values()) {
      if (s.slots[slot] !== 1) continue;
      frame ??= encodeFrame([0, Op.REPL_DEL, ns, key]);
      s.push(frame);
    }
  }

  invalidated(ns: string, tag: string | null): void {
    if (this.#sessions.size === 0) return;
    const frame = encodeFrame([0, Op.MIGRATE_INVALIDATE, ns, tag]);
    for (const s of this.#sessions.values()) s.push(frame);
  }

  #forget(session: ExportSession, reason: string): void {
    session.close(reason);
    if (this.#sessions.get(session.migrationId) === session) this.#sessions.delete(session.migrationId);
    if (this.#sessions.size === 0) this.onChange(false);
  }
}
