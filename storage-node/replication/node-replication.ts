import type { PeerAccess } from '../../shared/peer-auth';
import type net from 'node:net';
import type { Logger } from '../../shared/log';
import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import type { Store } from '../store';
import { AckWaiters, type Held } from './ack-wait';
import { ReplicationLog } from './log';
import { ReplicaLink } from './replica-link';
import { ReplicationSource, type ReplicaInfo, type ReplicaSession } from './source';

/** A promoted primary's version clock jumps by this much: more versions than a primary hands out within its replicas' lag. */
export const PROMOTION_VERSION_GAP = 1_000_000_000;

/** The STATS `replication` object (contract: other tools read these names). */
export interface ReplicationStats {
  role: 'primary' | 'replica' | 'standalone';
  state: 'idle' | 'connecting' | 'full-sync' | 'streaming';
  replId: string;
  replId2: string;
  offset: number;
  replicas?: ReplicaInfo[];
  /** Syncs served (primary) or made (replica), by kind. */
  syncs: { full: number; partial: number };
  /** The primary followed (replica), or null. */
  primary?: string | null;
  ackTimeouts: number;
}

export interface ReplicationOptions {
  backlogBytes: number;
  writeAckTimeoutMs: number;
  maxFrameBytes: number;
  /** A replica silent this long is disconnected (Redis repl-timeout). */
  replTimeoutMs: number;
  /** The cluster secret and TLS of this node's replica link to its primary (the server checks every connection's secret). */
  access: PeerAccess;
  /** Replies one connection may have held behind unacknowledged writes (the node's per-connection reply limit). */
  maxHeldReplyBytes: number;
}

/** Sweep period of held write replies (one timer per node, running only while replies wait). */
const ACK_SWEEP_MS = 10;
/** How often a primary shutting down looks at its replicas' acknowledgements. */
const SHUTDOWN_POLL_MS = 5;

/**
 * A cluster node's replication: the log (always), the source (while primary), the link to the
 * primary (while replica) and the replies waiting for acknowledgements.
 *
 *   becomePrimary ─► log.promote (PSYNC2), store active, link stopped, source serves replicas
 *   stepDown / replica ─► log stops recording, store passive, source drops replicas, link follows the primary
 *
 * Role changes arrive synchronously from the role (before the next write is handled).
 * Owns: the source's sessions, the link, the ack sweep timer.
 */
export class NodeReplication {
  readonly log: ReplicationLog;
  readonly source: ReplicationSource;
  readonly link: ReplicaLink;
  readonly waiters: AckWaiters<net.Socket>;
  readonly #store: Store;
  readonly #options: ReplicationOptions;
  readonly #logger: Logger;
  #role: 'primary' | 'replica' = 'replica';
  #addr = '';
  #sweep: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;

  constructor(store: Store, options: ReplicationOptions, logger: Logger) {
    this.#store = store;
    this.#options = options;
    this.#logger = logger;
    this.log = new ReplicationLog(store, options.backlogBytes, () => this.source.scheduleFlush());
    this.source = new ReplicationSource(this.log, store, { chunkEntries: 2000, chunkBytes: 256 * 1024, maxBufferedBytes: 4 * 1024 * 1024, timeoutMs: options.replTimeoutMs }, logger);
    this.link = new ReplicaLink(store, this.log, { nodeId: '', addr: '', ackIntervalMs: 250, maxFrameBytes: options.maxFrameBytes, access: options.access }, logger);
    this.waiters = new AckWaiters((socket, bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    }, options.maxHeldReplyBytes);
    store.passive = true;
  }

  /** Who this node is (known once its server listens, before it joins the cluster). */
  setIdentity(nodeId: string, addr: string): void {
    this.#addr = addr;
    this.link.setIdentity(nodeId, addr);
  }

  /** Namespaces whose writes wait for a replica (`writeAck: replica`), from the watched policies. */
  setAckNamespaces(namespaces: Iterable<string>): void {
    const set = this.log.ackNamespaces;
    set.clear();
    for (const ns of namespaces) set.add(ns);
    if (set.size !== 0 && this.#role === 'primary') this.log.startRecording(); // their writes wait for offsets a replica acknowledges
  }

  /** The store's listener: removals the primary decides are replicated as deletes. */
  readonly removed = (ns: string, key: string): void => this.log.removed(ns, key);

  get isPrimary(): boolean {
    return this.#role === 'primary';
  }

  /** The node won an election: a new replication id, the old one kept as the secondary. */
  becomePrimary(): void {
    if (this.#role === 'primary') return;
    this.#role = 'primary';
    this.link.stop();
    this.#store.passive = false;
    this.#store.stale = false; // a primary's data is the shard's, whatever full sync it gave up
    this.log.promote();
    // Versions the old primary handed out that never reached this node (its last writes, a
    // write-through write whose store answered after it died) must not be handed out again for
    // other values: a store that drops versions it has passed would drop newer writes.
    this.#store.replication.raiseVersionClock(this.#store.versionClock + PROMOTION_VERSION_GAP);
    this.#watchdog = setInterval(() => this.source.checkTimeouts(), Math.min(250, this.#options.replTimeoutMs));
    this.#logger.info({ event: 'replication', replId: this.log.replId, replId2: this.log.replId2, offset: this.log.offset }, 'streaming to replicas');
  }

  /** The node is (again) a replica: stop recording and streaming; follow the primary. */
  becomeReplica(): void {
    if (this.#role === 'replica') return;
    this.#role = 'replica';
    this.log.recording = false;
    this.#store.passive = true;
    clearInterval(this.#watchdog);
    this.source.closeAll('this node is no longer the primary');
  }

  /** The shard's primary as known now: a replica follows it (null or itself: none). */
  follow(primaryAddr: string | null): void {
    if (this.#role === 'replica') this.link.follow(primaryAddr === this.#addr ? null : primaryAddr);
  }

  /** A REPL_SYNC arrived on `socket`: refused with NOT_PRIMARY unless this node is the primary. */
  accept(socket: net.Socket, m: readonly unknown[]): ReplicaSession {
    if (this.#role !== 'primary') throw new OpError(Status.NOT_PRIMARY, 'this node is not the primary; sync with the primary', [0, null]);
    return this.source.accept(socket, m);
  }

  holds(socket: net.Socket): boolean {
    return this.waiters.holds(socket);
  }

  append(socket: net.Socket, bytes: Buffer): void {
    this.waiters.append(socket, bytes);
  }

  drop(socket: net.Socket): void {
    this.waiters.drop(socket);
  }

  /** Keeps the place of a reply made later (a write-through write's); see AckWaiters.reserve. */
  reserve(socket: net.Socket, id: number): Held {
    return this.waiters.reserve(socket, id);
  }

  /** The reply of a reserved place; `offset` > 0: it also waits for a replica's acknowledgement of it. */
  fill(socket: net.Socket, held: Held, reply: Buffer, offset: number): void {
    if (offset > 0) this.#sweep ??= setInterval(() => this.#onSweep(), ACK_SWEEP_MS);
    this.waiters.fill(socket, held, reply, offset, offset > 0 ? Date.now() + this.#options.writeAckTimeoutMs : 0);
  }

  /** A frame on a replica session (acks): releases the writes it acknowledges. */
  onReplicaFrame(session: object, m: readonly unknown[]): void {
    this.source.onFrame(session as ReplicaSession, m);
    if (this.waiters.size !== 0) this.waiters.release(this.source.maxAcked, Date.now());
  }

  /** Holds the reply of a write until a replica acknowledges `offset`. */
  hold(socket: net.Socket, id: number, offset: number, reply: Buffer): void {
    this.waiters.wait(socket, id, offset, Date.now() + this.#options.writeAckTimeoutMs, reply);
    this.#sweep ??= setInterval(() => this.#onSweep(), ACK_SWEEP_MS);
  }

  #onSweep(): void {
    this.waiters.release(this.source.maxAcked, Date.now());
    if (this.waiters.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  /**
   * A primary shutting down (its write gate already closed): resolves once every connected
   * replica has acknowledged the log's offset (`caughtUp`), or after `timeoutMs` (not), or when
   * the node stops being primary meanwhile. `replicas`: how many were connected at the end.
   */
  async syncReplicas(timeoutMs: number): Promise<{ caughtUp: boolean; replicas: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const replicas = this.source.size;
      if (this.#role !== 'primary') return { caughtUp: false, replicas };
      if (replicas > 0 && this.source.minAcked >= this.log.offset) return { caughtUp: true, replicas };
      if (replicas === 0 && this.waiters.size === 0) return { caughtUp: false, replicas };
      if (Date.now() >= deadline) return { caughtUp: false, replicas };
      await new Promise((resolve) => setTimeout(resolve, SHUTDOWN_POLL_MS));
    }
  }

  /**
   * Shutdown: writes still waiting for a replica's acknowledgement are answered BUSY ("node
   * shutting down") instead of being dropped with their connections; the replies behind them go
   * out too. Such a write is on this node and maybe on a replica: its outcome is unknown.
   */
  failHeld(): void {
    this.waiters.release(this.source.maxAcked, Date.now());
    this.waiters.failAll(Status.BUSY, 'node shutting down: no replica acknowledged this write in time; it may or may not survive the failover');
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  stats(): ReplicationStats {
    const primary = this.#role === 'primary';
    const log = this.log;
    const out: ReplicationStats = {
      role: this.#role,
      state: primary ? (this.source.size > 0 ? 'streaming' : 'idle') : this.link.state,
      replId: log.replId,
      replId2: log.replId2,
      offset: log.offset,
      syncs: primary ? { full: this.source.fullSyncs, partial: this.source.partialSyncs } : { full: this.link.fullSyncs, partial: this.link.partialSyncs },
      ackTimeouts: this.waiters.timeouts,
    };
    if (primary) out.replicas = this.source.info();
    else out.primary = this.link.target;
    return out;
  }

  close(): void {
    clearInterval(this.#sweep);
    clearInterval(this.#watchdog);
    this.link.stop();
    this.source.closeAll('shutting down');
  }
}
