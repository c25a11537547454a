import net from 'node:net';
import { dialPeer, type PeerAccess } from '../../shared/peer-auth';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { Limits, Op, Status } from '../../shared/protocol';
import type { Logger } from '../../shared/log';
import type { Store } from '../store';
import type { ReplicationLog } from './log';
import { applyRecord, isStreamOp } from './records';

/** Deadline of the connection's connect and handshake. */
const CONNECT_TIMEOUT_MS = 5000;

/** What a replica's link is doing (STATS `replication.state`). */
export type LinkState = 'idle' | 'connecting' | 'full-sync' | 'streaming';

export interface LinkOptions {
  nodeId: string;
  /** This node's own frame address, sent to the primary for its status. */
  addr: string;
  /** Acknowledge at least this often while connected (ms). */
  ackIntervalMs: number;
  maxFrameBytes: number;
  /** The cluster secret and TLS of the connection to the primary. */
  access: PeerAccess;
}

/** Reconnect delay after `attempt` failures: 100 ms doubling up to 1 s. */
export const reconnectDelayMs = (attempt: number): number => Math.min(1000, 100 * 2 ** Math.min(attempt, 4));

/**
 * A replica's connection to its primary:
 *
 *   connect ─► REPL_SYNC(replId, offset) ─► 'continue' ─► streaming: apply + append each frame, ACK
 *                                         └► 'full' ─► empty twin store ─► snapshot chunks + stream ─► SNAPSHOT_END ─► adopt ─► streaming
 *
 * During a full sync the node keeps serving its old entries, marked stale (`Store.stale`); the
 * twin replaces them in one step once the snapshot and the stream up to its end are applied. An
 * interrupted full sync drops the twin and keeps the old entries.
 *
 * Acknowledges its applied offset after every batch it applies and every `ackIntervalMs`.
 * Reconnects with backoff while it follows a primary; a bad frame drops the link and forgets the
 * replication id, so the next sync is a full one.
 * Owns: the socket, the reconnect timer, the ack timer.
 */
export class ReplicaLink {
  state: LinkState = 'idle';
  fullSyncs = 0;
  partialSyncs = 0;
  readonly #store: Store;
  readonly #log: ReplicationLog;
  readonly #options: LinkOptions;
  readonly #logger: Logger;
  #target: string | null = null;
  #socket: net.Socket | null = null;
  #retry: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  #acked = -1;

  constructor(store: Store, log: ReplicationLog, options: LinkOptions, logger: Logger) {
    this.#store = store;
    this.#log = log;
    this.#options = options;
    this.#logger = logger;
  }

  /** Sets who this node is (once its server listens). */
  setIdentity(nodeId: string, addr: string): void {
    this.#options.nodeId = nodeId;
    this.#options.addr = addr;
  }

  /** The primary followed (`host:port`), or null. */
  get target(): string | null {
    return this.#target;
  }

  /** Follows the primary at `addr` (null: none); a change drops the current link. */
  follow(addr: string | null): void {
    if (addr === this.#target) return;
    this.#disconnect();
    this.#target = addr;
    this.#attempt = 0;
    if (addr !== null) this.#connect();
  }

  /** Stops following (promotion or shutdown). */
  stop(): void {
    this.follow(null);
  }

  #disconnect(): void {
    clearTimeout(this.#retry);
    clearInterval(this.#ackTimer);
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    this.#abandonFullSync();
    this.state = 'idle';
  }

  /** A full sync that will not complete: its store is dropped, the old one (still stale) stays. */
  #abandonFullSync(): void {
    if (this.state !== 'full-sync') return;
    this.#log.forget();
    if (this.#loading !== null) this.#logger.warn({ event: 'full-sync-abandoned', primary: this.#target }, 'full sync interrupted; keeping the previous data (stale) until the next one');
    this.#loading = null;
  }

  #connect(): void {
    const target = this.#target;
    if (target === null) return;
    const colon = target.lastIndexOf(':');
    const port = Number(target.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      this.#logger.warn({ primary: target }, 'the primary\'s address is not host:port; not following it');
      return;
    }
    this.state = 'connecting';
    const socket = dialPeer({ host: target.slice(0, colon), port, access: this.#options.access, timeoutMs: CONNECT_TIMEOUT_MS }, () => {
      socket.on('data', onData);
      socket.write(encodeFrame([1, Op.REPL_SYNC, this.#options.nodeId, this.#options.addr, this.#log.replId, this.#log.offset]));
      this.#ackTimer = setInterval(() => this.#ack(true), this.#options.ackIntervalMs);
    });
    this.#socket = socket;
    this.#acked = -1;
    let synced = false;
    const decoder = new FrameDecoder((m, bytes, start, end) => {
      if (!synced) {
        synced = true;
        return this.#onSyncReply(m);
      }
      return this.#onFrame(m, bytes.subarray(start, end));
    }, Math.max(this.#options.maxFrameBytes, Limits.DEFAULT_MAX_FRAME_BYTES) * 2);
    const onData = (chunk: Buffer): void => {
      if (socket !== this.#socket) return;
      try {
        decoder.push(chunk);
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message, primary: target }, 'bad replication stream; resyncing in full');
        this.#log.forget();
        socket.destroy();
        return;
      }
      this.#ack(false);
    };
    socket.on('error', (err) => this.#logger.debug({ err: err.message, primary: target }, 'replication link error'));
    socket.on('close', () => this.#onClose(socket));
  }

  #onSyncReply(m: unknown[]): void {
    const [, status, kind, replId, offset] = m;
    if (status !== Status.OK) {
      // Not (yet) the primary, for instance: try again later, keeping what we have.
      this.#logger.info({ primary: this.#target, status, reason: m[2] }, 'the primary refused to sync; retrying');
      this.#socket?.destroy();
      return;
    }
    if ((kind !== 'continue' && kind !== 'full') || typeof replId !== 'string' || !Number.isSafeInteger(offset) || (offset as number) < 0) {
      throw new Error('malformed REPL_SYNC reply');
    }
    const log = this.#log;
    this.#attempt = 0;
    if (kind === 'continue') {
      if (replId !== log.replId) {
        log.replId2 = log.replId; // PSYNC2: the history so far stays reachable under the old id
        log.offset2 = log.offset;
        log.replId = replId;
      }
      log.following = true;
      this.partialSyncs++;
      this.state = 'streaming';
    } else {
      // The snapshot loads into a store of its own; reads keep the old data (marked stale) until the swap.
      this.#loading = this.#store.emptyTwin();
      this.#store.stale = true;
      log.forget();
      log.backlog.reset(offset as number);
      this.#pendingReplId = replId;
      this.fullSyncs++;
      this.state = 'full-sync';
    }
    this.#logger.info({ event: 'sync', primary: this.#target, sync: kind, offset }, `syncing with the primary (${kind})`);
  }

  #pendingReplId = '';
  /** The store a full sync loads into (null when none is running); adopted at REPL_SNAPSHOT_END. */
  #loading: Store | null = null;

  #onFrame(m: unknown[], payload: Uint8Array): void {
    if (m[0] !== 0) throw new Error('replication frames carry id 0');
    const target = this.#loading ?? this.#store;
    const clock = applyRecord(target, m);
    if (isStreamOp(m[1])) this.#log.appendFrame(payload);
    else if (m[1] === Op.REPL_SNAPSHOT_END) {
      target.replication.raiseVersionClock(clock);
      // The snapshot and the stream up to its end are applied: swap in one step.
      if (this.#loading !== null) this.#store.adopt(this.#loading);
      this.#loading = null;
      this.#log.replId = this.#pendingReplId;
      this.#log.following = true;
      this.state = 'streaming';
      this.#logger.info({ event: 'synced', primary: this.#target, offset: this.#log.offset }, 'full sync done');
    }
  }

  /**
   * Sends the applied offset when it moved (or always, for the periodic ack). During a full sync
   * the store does not yet hold everything below the offset, so the ack carries 0: it keeps the
   * session alive and acknowledges no write (a `writeAck: replica` write waits for the sync).
   */
  #ack(always: boolean): void {
    const socket = this.#socket;
    const offset = this.state === 'full-sync' ? 0 : this.#log.offset;
    if (socket === null || socket.destroyed || this.state === 'connecting' || (!always && offset === this.#acked)) return;
    this.#acked = offset;
    socket.write(encodeFrame([0, Op.REPL_ACK, offset]));
  }

  #onClose(socket: net.Socket): void {
    if (socket !== this.#socket) return;
    this.#socket = null;
    clearInterval(this.#ackTimer);
    this.#abandonFullSync();
    this.state = 'idle';
    if (this.#target === null) return;
    const delay = reconnectDelayMs(this.#attempt++);
    this.#retry = setTimeout(() => this.#connect(), delay);
  }
}
