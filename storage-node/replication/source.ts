import type net from 'node:net';
import { encodeFrame } from '../../shared/frame';
import { OpError } from '../../shared/errors';
import { Op, Status } from '../../shared/protocol';
import type { Logger } from '../../shared/log';
import type { Store } from '../store';
import type { ReplicationLog } from './log';
import { DIRTY_FIELDS, SNAPSHOT_FIELDS, snapshotFrame } from './records';
import type { DirtyKeys } from '../store/dirty-keys';

/** One replica as the primary sees it (STATS `replication.replicas[]`). */
export interface ReplicaInfo {
  nodeId: string;
  addr: string;
  ackedOffset: number;
  lagBytes: number;
  lagMs: number;
}

export interface SourceOptions {
  /** Entries and value bytes per snapshot chunk. */
  chunkEntries: number;
  chunkBytes: number;
  /** Bytes a replica socket may buffer before the primary waits for it to drain. */
  maxBufferedBytes: number;
  /** A replica that has not acknowledged anything for this long is disconnected (ms). */
  timeoutMs: number;
}

/** A replica connection on the primary. */
class Session {
  state: 'full-sync' | 'streaming' = 'streaming';
  sentOffset = 0;
  ackedOffset = 0;
  blocked = false;
  closed = false;
  lastAckAt = Date.now();
  constructor(readonly socket: net.Socket, readonly nodeId: string, readonly addr: string) {}
}

/** Resolves on the socket's next 'drain' or 'close', whichever comes first, removing both listeners. */
function drainedOrClosed(socket: net.Socket): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The primary's side of replication: answers REPL_SYNC, streams the backlog to each replica
 * (batched once per event-loop turn, respecting socket backpressure), streams snapshots in
 * chunks that yield between them, and collects acknowledgements.
 *
 *   handler ─► log.append ─► scheduleFlush (setImmediate) ─► per replica: backlog.read(sent..end) ─► socket
 *   REPL_SYNC 'full' ─► snapshot loop: [tail so far][chunk] ... [tail][SNAPSHOT_END] ─► streaming
 *
 * A replica that falls out of the backlog is disconnected (it comes back and takes a full sync).
 * Owns: the replica sessions.
 */
export class ReplicationSource {
  readonly #sessions = new Set<Session>();
  readonly #log: ReplicationLog;
  readonly #store: Store;
  readonly #options: SourceOptions;
  readonly #logger: Logger;
  /** (offset, time) samples of the stream end, for lag in milliseconds. */
  readonly #timeline: number[] = [];
  #flushScheduled = false;
  fullSyncs = 0;
  partialSyncs = 0;

  constructor(log: ReplicationLog, store: Store, options: SourceOptions, logger: Logger) {
    this.#log = log;
    this.#store = store;
    this.#options = options;
    this.#logger = logger;
  }

  /** The highest offset any replica acknowledged (0 without replicas). */
  get maxAcked(): number {
    let max = 0;
    for (const s of this.#sessions) if (s.ackedOffset > max) max = s.ackedOffset;
    return max;
  }

  /** The lowest offset a connected replica acknowledged (the log's offset without replicas). */
  get minAcked(): number {
    let min = this.#log.offset;
    for (const s of this.#sessions) if (s.ackedOffset < min) min = s.ackedOffset;
    return min;
  }

  /**
   * Answers `[id, REPL_SYNC, nodeId, addr, replId, offset]` on `socket` and turns it into a
   * replica session; throws OpError (BAD_REQUEST) for a bad request.
   */
  accept(socket: net.Socket, m: readonly unknown[]): Session {
    const [id, , nodeId, addr, replId, offset] = m;
    if (typeof nodeId !== 'string' || typeof addr !== 'string' || typeof replId !== 'string' || typeof offset !== 'number') {
      throw new OpError(Status.BAD_REQUEST, 'REPL_SYNC needs nodeId, addr, replId and offset');
    }
    this.#log.startRecording(); // a primary no replica followed starts its backlog (and a new history) now
    const session = new Session(socket, nodeId.slice(0, 128), addr.slice(0, 300));
    const decision = this.#log.decide({ replId, offset });
    const log = this.#log;
    if (decision.kind === 'continue') {
      session.sentOffset = decision.offset;
      session.ackedOffset = decision.offset;
      this.partialSyncs++;
      socket.write(encodeFrame([id, Status.OK, 'continue', log.replId, decision.offset]));
    } else {
      session.state = 'full-sync';
      session.sentOffset = log.offset;
      this.fullSyncs++;
      socket.write(encodeFrame([id, Status.OK, 'full', log.replId, log.offset]));
    }
    this.#logger.info({ event: 'replica', replica: session.nodeId, addr: session.addr, sync: decision.kind, reason: decision.kind === 'full' ? decision.reason : undefined, offset: session.sentOffset }, `replica ${session.nodeId} syncing (${decision.kind})`);
    this.#sessions.add(session);
    socket.on('close', () => {
      session.closed = true;
      this.#sessions.delete(session);
    });
    if (session.state === 'full-sync') void this.#snapshot(session).catch((err: Error) => this.#drop(session, `snapshot failed: ${err.message}`));
    else this.scheduleFlush();
    return session;
  }

  /** A frame from a replica on its session: only REPL_ACK is expected. Returns the acked offset. */
  onFrame(session: Session, m: readonly unknown[]): number {
    const offset = m[2];
    if (m[1] !== Op.REPL_ACK || typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
      this.#drop(session, 'unexpected frame on a replication connection');
      return 0;
    }
    // A replica in a full sync has not applied everything below its offset yet: its acks only say it is alive.
    if (session.state === 'streaming' && offset > session.ackedOffset && offset <= this.#log.offset) session.ackedOffset = offset;
    session.lastAckAt = Date.now();
    return session.ackedOffset;
  }

  /** Disconnects replicas silent for longer than the timeout (they resync when they return). */
  checkTimeouts(now = Date.now()): void {
    for (const s of [...this.#sessions]) if (now - s.lastAckAt > this.#options.timeoutMs) this.#drop(s, `no acknowledgement for ${now - s.lastAckAt} ms`);
  }

  /** Connected replicas. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Sends new backlog bytes to every replica at the end of this event-loop turn. */
  scheduleFlush(): void {
    if (this.#flushScheduled || this.#sessions.size === 0) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.#sample();
      for (const s of this.#sessions) this.#flush(s, false);
    });
  }

  /** Per replica: acknowledged offset and lag in bytes and milliseconds. */
  info(now = Date.now()): ReplicaInfo[] {
    const end = this.#log.offset;
    return [...this.#sessions].map((s) => ({
      nodeId: s.nodeId, addr: s.addr, ackedOffset: s.ackedOffset, lagBytes: end - s.ackedOffset, lagMs: this.#lagMs(s.ackedOffset, end, now),
    }));
  }

  /** Ends every replica session (the node stopped being primary, or shuts down). */
  closeAll(reason: string): void {
    for (const s of [...this.#sessions]) this.#drop(s, reason);
  }

  #drop(session: Session, reason: string): void {
    if (session.closed) return;
    session.closed = true;
    this.#sessions.delete(session);
    this.#logger.info({ event: 'replica-dropped', replica: session.nodeId, reason }, `replica ${session.nodeId} disconnected: ${reason}`);
    session.socket.destroy();
  }

  #flush(s: Session, force: boolean): void {
    const backlog = this.#log.backlog;
    if (s.closed || s.sentOffset === backlog.end) return;
    if (!backlog.holds(s.sentOffset)) return this.#drop(s, 'fell out of the backlog');
    if (s.blocked && !force) return;
    s.socket.write(backlog.read(s.sentOffset));
    s.sentOffset = backlog.end;
    if (s.socket.writableLength > this.#options.maxBufferedBytes && !s.blocked) {
      s.blocked = true;
      s.socket.once('drain', () => {
        s.blocked = false;
        this.scheduleFlush();
      });
    }
  }

  async #snapshot(s: Session): Promise<void> {
    const { chunkEntries, chunkBytes, maxBufferedBytes } = this.#options;
    let next = 0;
    while (next >= 0) {
      if (s.closed) return;
      if (s.socket.writableLength > maxBufferedBytes) await drainedOrClosed(s.socket);
      if (s.closed) return;
      this.#flush(s, true); // the stream so far goes before the chunk read now
      const chunk = this.#store.replication.snapshotChunk(next, chunkEntries, chunkBytes);
      const flat: unknown[] = new Array(chunk.entries.length * SNAPSHOT_FIELDS);
      const types: number[] = new Array(chunk.entries.length);
      let i = 0;
      for (const e of chunk.entries) {
        types[i / SNAPSHOT_FIELDS] = e.type;
        flat[i++] = e.ns; flat[i++] = e.key; flat[i++] = e.value; flat[i++] = e.version;
        flat[i++] = e.expiresAt; flat[i++] = e.flags; flat[i++] = e.tags;
      }
      if (flat.length > 0) s.socket.write(encodeFrame(snapshotFrame(flat, types)));
      next = chunk.next;
      await immediate();
    }
    if (s.closed) return;
    this.#flush(s, true);
    // The write-behind queue as it is at this point of the stream, then the end (one synchronous step).
    for (const chunk of dirtyChunks(this.#store.dirty, chunkEntries, chunkBytes)) s.socket.write(encodeFrame([0, Op.REPL_SNAPSHOT_DIRTY, chunk]));
    s.socket.write(encodeFrame([0, Op.REPL_SNAPSHOT_END, this.#store.versionClock, this.#store.replication.watermarks()]));
    s.state = 'streaming';
    this.#logger.info({ event: 'replica-synced', replica: s.nodeId, offset: s.sentOffset }, `full sync of ${s.nodeId} sent`);
  }

  /** Records (end offset, now) once per flush; keeps the last 4096 samples. */
  #sample(): void {
    const t = this.#timeline;
    const end = this.#log.offset;
    if (t.length >= 2 && t[t.length - 2] === end) return;
    t.push(end, Date.now());
    if (t.length > 8192) t.splice(0, 4096);
  }

  /** How long ago the first byte past `acked` was written (0 when caught up). */
  #lagMs(acked: number, end: number, now: number): number {
    if (acked >= end) return 0;
    const t = this.#timeline;
    let lo = 0;
    let hi = t.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (t[2 * mid] > acked) hi = mid;
      else lo = mid + 1;
    }
    if (lo >= t.length / 2) return 0;
    return Math.max(0, now - t[2 * lo + 1]);
  }
}

/** The queue's records as REPL_SNAPSHOT_DIRTY chunks of at most `perChunk` records or about `maxBytes`: `[ns, key, version, value | null, ...]`. */
export function dirtyChunks(dirty: DirtyKeys, perChunk: number, maxBytes: number): unknown[][] {
  const chunks: unknown[][] = [];
  let flat: unknown[] = [];
  let bytes = 0;
  for (const ns of dirty.namespaces()) {
    for (const r of dirty.records(ns) ?? []) {
      flat.push(r.ns, r.key, r.version, r.value);
      bytes += r.key.length + (r.value?.length ?? 0);
      if (flat.length >= perChunk * DIRTY_FIELDS || bytes >= maxBytes) {
        chunks.push(flat);
        flat = [];
        bytes = 0;
      }
    }
  }
  if (flat.length > 0) chunks.push(flat);
  return chunks;
}

export type { Session as ReplicaSession };
