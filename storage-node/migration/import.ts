import net from 'node:net';
import { dialPeer, type PeerAccess } from '../../shared/peer-auth';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { ProtocolError } from '../../shared/errors';
import type { Logger } from '../../shared/log';
import { Limits, NAMESPACE_PATTERN, Op, Status, type SlotRange } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import { rangesArg, slotBitmap } from '../../shared/slot-ranges';
import type { Store } from '../store';
import { forEachChunkEntry, readEntry, readTarget, setRecordType } from '../replication/records';

/** Deadline of the connection's connect and handshake. */
const CONNECT_TIMEOUT_MS = 5000;

/** What an import writes through: the store, and the target's own replication of what it writes. */
export interface ImportSink {
  store: Store;
  /** The entry's new state goes to this shard's replicas (REPL_SET, or REPL_DEL when gone). */
  replicate(ns: string, key: string): void;
  /** A key this import removed goes to this shard's replicas as a delete. */
  removed(ns: string, key: string): void;
  /** True once this shard owns `slot` (a committed cut-over). */
  owns(slot: number): boolean;
  /** Calls `done` once this shard's replicas hold everything written so far (at once without replicas). */
  whenReplicated(done: () => void): void;
}

export type ImportPhase = 'clearing' | 'connecting' | 'snapshot' | 'streaming' | 'failed' | 'ended';

/** MIGRATE_STATUS's answer. */
export interface ImportStatus {
  phase: ImportPhase;
  keys: number;
  bytes: number;
  lagBytes: number;
  error?: string;
}

const ACK_EVERY_MS = 100;
const CLEAR_BATCH = 2000;
const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * One slot import on the target primary: clear what this node holds of the slots (left over from
 * an earlier attempt, or from before the slots moved away), pull the source's export and apply it.
 *
 *   clearing ─► connecting ─► MIGRATE_PULL ─► snapshot (chunks + stream) ─► streaming ─► (fences)
 *
 * Imported entries are written into the store like any write of this primary (so this shard's
 * replicas get them), but no client sees them: the node answers MOVED for slots it does not own.
 * A MIGRATE_FENCE marks its slots complete; a slot this shard gains before its fence arrived is
 * cut cold: what was imported of it is dropped (`settle`). Frames for slots not being imported
 * (already owned, or never asked for) are ignored.
 * Owns: its socket and ack timer.
 */
export class Import {
  phase: ImportPhase = 'clearing';
  keys = 0;
  bytes = 0;
  error: string | undefined;
  /** Slots still being imported (asked for and not owned yet). */
  readonly importing: Uint8Array;
  /** Slots whose fence was applied: complete up to their freeze. */
  readonly fenced: Uint8Array;
  #applied = 0;
  #received = 0;
  #fenceApplied = 0;
  #socket: net.Socket | null = null;
  #ackTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly migrationId: string,
    readonly ranges: SlotRange[],
    readonly sourceAddr: string,
    readonly maxBytesPerSec: number,
    private readonly sink: ImportSink,
    private readonly identity: { nodeId: string; access: PeerAccess; maxFrameBytes: number },
    private readonly log: Logger,
  ) {
    this.importing = slotBitmap(ranges);
    for (let s = 0; s < this.importing.length; s++) if (this.importing[s] === 1 && sink.owns(s)) this.importing[s] = 0;
    this.fenced = new Uint8Array(this.importing.length);
  }

  status(): ImportStatus {
    const out: ImportStatus = { phase: this.phase, keys: this.keys, bytes: this.bytes, lagBytes: this.#received - this.#applied };
    if (this.error !== undefined) out.error = this.error;
    return out;
  }

  /** Clears the slots, then connects to the source. */
  async start(): Promise<void> {
    for (let s = 0; s < this.importing.length; s++) {
      if (this.importing[s] !== 1) continue;
      while (this.sink.store.slots.drop(s, CLEAR_BATCH, this.sink.removed) > 0) await immediate();
      if (this.phase === 'ended') return;
    }
    if (this.phase === 'ended') return;
    this.#connect();
  }

  /** The shard now owns `slot`: keep what came of it if its fence was applied, else drop it (cold). Returns true for cold. */
  settle(slot: number): boolean {
    if (this.importing[slot] !== 1) return false;
    this.importing[slot] = 0;
    if (this.fenced[slot] === 1) return false;
    this.sink.store.slots.drop(slot, Number.MAX_SAFE_INTEGER, this.sink.removed);
    return true;
  }

  /** Stops; with `drop`, removes what was imported of slots this shard does not own (a replica keeps it: its primary decides). */
  end(reason: string, drop: boolean): void {
    if (this.phase === 'ended') return;
    this.phase = 'ended';
    this.#close();
    for (let s = 0; s < this.importing.length; s++) {
      if (this.importing[s] !== 1) continue;
      this.importing[s] = 0;
      if (drop && !this.sink.owns(s)) this.sink.store.slots.drop(s, Number.MAX_SAFE_INTEGER, this.sink.removed);
    }
    this.log.info({ event: 'import-ended', migration: this.migrationId, reason, keys: this.keys }, `import of migration ${this.migrationId} ended: ${reason}`);
  }

  #fail(reason: string): void {
    if (this.phase === 'ended' || this.phase === 'failed') return;
    this.phase = 'failed';
    this.error = reason;
    this.#close();
    this.log.warn({ event: 'import-failed', migration: this.migrationId, source: this.sourceAddr, reason }, `import of migration ${this.migrationId} failed: ${reason}`);
  }

  #close(): void {
    clearInterval(this.#ackTimer);
    this.#socket?.destroy();
    this.#socket = null;
  }

  #connect(): void {
    const colon = this.sourceAddr.lastIndexOf(':');
    const port = Number(this.sourceAddr.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return this.#fail('the source address is not host:port');
    this.phase = 'connecting';
    const socket = dialPeer({ host: this.sourceAddr.slice(0, colon), port, access: this.identity.access, timeoutMs: CONNECT_TIMEOUT_MS }, () => {
      socket.on('data', onData);
      socket.write(encodeFrame([1, Op.MIGRATE_PULL, this.migrationId, this.ranges, this.identity.nodeId, this.maxBytesPerSec]));
      this.#ackTimer = setInterval(() => this.#ack(), ACK_EVERY_MS);
    });
    this.#socket = socket;
    let answered = false;
    const decoder = new FrameDecoder((m, _bytes, start, end) => {
      if (!answered) {
        answered = true;
        return this.#onPullReply(m);
      }
      // Stream bytes (what the source counts for lag): every frame but snapshot chunks and their end.
      const stream = m[1] !== Op.REPL_SNAPSHOT && m[1] !== Op.MIGRATE_SNAPSHOT_END;
      if (stream) this.#received += end - start + 4;
      this.#onFrame(m);
      if (stream) this.#applied = this.#received;
    }, Math.max(this.identity.maxFrameBytes, Limits.DEFAULT_MAX_FRAME_BYTES) * 2);
    const onData = (chunk: Buffer): void => {
      if (socket !== this.#socket) return;
      try {
        decoder.push(chunk);
      } catch (err) {
        return this.#fail(`bad frame from the source: ${(err as Error).message}`);
      }
    };
    socket.on('error', (err) => this.log.debug({ err: err.message, source: this.sourceAddr }, 'migration link error'));
    socket.on('close', () => {
      if (socket === this.#socket) this.#fail('the connection to the source closed');
    });
  }

  #onPullReply(m: unknown[]): void {
    if (m[1] !== Status.OK) return this.#fail(`the source refused: ${typeof m[2] === 'string' ? m[2] : String(m[1])}`);
    this.phase = 'snapshot';
  }

  /** Applies one frame of the export. Throws ProtocolError for a malformed one. */
  #onFrame(m: unknown[]): void {
    if (m[0] !== 0) throw new ProtocolError('migration frames carry id 0');
    switch (m[1]) {
      case Op.REPL_SNAPSHOT:
        return forEachChunkEntry(m, (flat, at, type) => this.#set(flat, at, type));
      case Op.REPL_SET:
        return this.#set(m, 2, setRecordType(m));
      case Op.REPL_DEL: {
        const { ns, key } = readTarget(m, 2);
        if (this.importing[slotOf(ns, key)] === 1 && this.sink.store.replication.applyDelete(ns, key)) this.sink.removed(ns, key);
        return;
      }
      case Op.MIGRATE_INVALIDATE:
        return this.#invalidate(m[2], m[3]);
      case Op.MIGRATE_SNAPSHOT_END:
        this.phase = 'streaming';
        this.log.info({ event: 'import-snapshot-done', migration: this.migrationId, keys: this.keys, bytes: this.bytes }, 'import snapshot done');
        return;
      case Op.MIGRATE_FENCE:
        return this.#fence(m[2], m[3]);
      default:
        throw new ProtocolError(`unexpected op ${String(m[1])} on a migration connection`);
    }
  }

  #set(m: readonly unknown[], at: number, type: number): void {
    const e = readEntry(m, at, type);
    if (this.importing[slotOf(e.ns, e.key)] !== 1) return;
    // Above the source's version first: a key's versions keep growing across the move (a write policy's store drops older ones).
    this.sink.store.replication.raiseVersionClock(e.version);
    this.sink.store.importEntry(e.ns, e.key, e.value, e.expiresAt, e.flags, e.tags, e.type);
    this.sink.replicate(e.ns, e.key);
    this.keys++;
    this.bytes += e.value.length + e.key.length;
  }

  #invalidate(rawNs: unknown, rawTag: unknown): void {
    if (typeof rawNs !== 'string' || !NAMESPACE_PATTERN.test(rawNs)) throw new ProtocolError('bad namespace');
    if (rawTag !== null && (typeof rawTag !== 'string' || rawTag.length === 0 || rawTag.length > Limits.MAX_KEY_LENGTH)) throw new ProtocolError('bad tag');
    for (let s = 0; s < this.importing.length; s++) {
      if (this.importing[s] === 1) this.sink.store.slots.dropNamespace(s, rawNs, rawTag as string | null, this.sink.removed);
    }
  }

  #fence(rawId: unknown, rawRanges: unknown): void {
    const ranges = rangesArg(rawRanges);
    if (typeof rawId !== 'number' || !Number.isSafeInteger(rawId) || ranges === null) throw new ProtocolError('bad fence');
    for (const [from, to] of ranges) for (let s = from; s <= to; s++) if (this.importing[s] === 1) this.fenced[s] = 1;
    // The fence is acknowledged once this shard's replicas have the imported data too: a
    // failover of this primary right after the commit then keeps it.
    this.sink.whenReplicated(() => {
      this.#fenceApplied = Math.max(this.#fenceApplied, rawId);
      this.#ack();
    });
  }

  #ack(): void {
    const socket = this.#socket;
    if (socket === null || socket.destroyed || this.phase === 'connecting') return;
    socket.write(encodeFrame([0, Op.MIGRATE_ACK, this.#applied, this.#fenceApplied]));
  }
}
