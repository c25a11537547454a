import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../shared/frame';
import { ReplyWriter } from './reply-writer';
import { OpError, ProtocolError } from '../shared/errors';
import { KEYED_WRITE_OPS, Op, Status } from '../shared/protocol';
import type { Logger } from '../shared/log';
import { handle, type HandlerContext } from './handlers';
import type { InvalidationHub } from './invalidations';

export interface ServerOptions {
  maxFrameBytes: number;
  /** Reply bytes a connection may leave unread before the node stops reading its requests. */
  maxPendingReplyBytes: number;
  /** Longest a connection may stay idle before it is closed; 0 keeps it forever. */
  idleTimeoutMs: number;
  /** Takes SUBSCRIBE/UNSUBSCRIBE_INVALIDATIONS (it needs the connection); absent = UNKNOWN_OP. */
  subscriptions?: InvalidationHub;
  /** Slot migrations (cluster mode); absent = the MIGRATE ops are UNKNOWN_OP. */
  migration?: MigrationHooks;
}

/** What the server needs of slot migration (`migration/node-migration.ts`). */
export interface MigrationHooks {
  readonly ownership: { readonly frozenCount: number; isFrozen(ns: unknown, key: unknown): boolean };
  /** MIGRATE_PULL: the connection becomes an export (throws OpError). */
  acceptPull(socket: net.Socket, message: readonly unknown[]): { onFrame(message: readonly unknown[]): void };
  /** The other MIGRATE ops: the reply, later (the connection waits for it). */
  handle(message: readonly unknown[]): Promise<unknown[]>;
  /** Calls `listener` once, after the next thaw of frozen slots. */
  onThaw(listener: () => void): void;
}

/** Ops the migration hooks answer, asynchronously. */
const MIGRATE_ASYNC_OPS: ReadonlySet<unknown> = new Set<unknown>([Op.MIGRATE_START, Op.MIGRATE_STATUS, Op.MIGRATE_CUT, Op.MIGRATE_END]);

/** Replies are handed to the socket early once this many bytes are waiting (large values). */
const FLUSH_BYTES = 256 * 1024;

/**
 * What the server needs of replication (`replication/node-replication.ts`); absent on a
 * standalone node.
 */
export interface ReplicationHooks {
  readonly log: { readonly ackNamespaces: ReadonlySet<string>; takeAckWait(): number };
  /** Answers REPL_SYNC and turns the connection into a replica session (throws OpError). */
  accept(socket: net.Socket, message: readonly unknown[]): object;
  /** A frame on a connection that `accept` turned into `session`. */
  onReplicaFrame(session: object, message: readonly unknown[]): void;
  /** Holds a write's reply until a replica acknowledges `offset`. */
  hold(socket: net.Socket, id: number, offset: number, reply: Buffer): void;
  /** True while `socket` has held replies (later ones queue behind them). */
  holds(socket: net.Socket): boolean;
  append(socket: net.Socket, bytes: Buffer): void;
  drop(socket: net.Socket): void;
}

/** Per-connection state the frame handler needs. */
interface Conn {
  socket: net.Socket;
  /** Set once the connection carries a replica session. */
  session: object | null;
  /** Set once the connection carries a slot export (MIGRATE_PULL). */
  exporting: { onFrame(message: readonly unknown[]): void } | null;
  /**
   * True while a request waits (a write to a frozen slot, a MIGRATE op): nothing after it is read
   * until `proceed` runs it again (or sends its reply) and reads on.
   */
  parked: boolean;
  /** Continues a parked connection: `again` is the request to run again (null: just read on). */
  proceed: (again: unknown[] | null) => void;
}

/** Counters the server keeps for STATS and /metrics; plain numbers so the hot path stays cheap. */
export class ServerCounters {
  connections = 0;
  connectionsTotal = 0;
  protocolErrors = 0;
  /** Requests by opcode. */
  readonly ops = new Float64Array(256);
  /** Error replies by status. */
  readonly statuses = new Float64Array(32);
}

/**
 * The storage node's frame server.
 *
 *   socket 'data' ─► FrameDecoder ─► handle() per frame ─► ReplyWriter ─► one socket.write
 *
 * Requests on one connection run in arrival order and are answered in that order; all replies a
 * chunk produces are encoded into one region of a shared slab and leave in one write (large
 * replies are handed over every 256 KiB). When a client does not read its replies and they pass
 * `maxPendingReplyBytes`, the decoder holds the rest of the input and the socket stops reading
 * until it drains: a small request with a large reply cannot make the node buffer without bound.
 * A malformed frame gets an error frame with id 0 and the connection is closed; other
 * connections are unaffected.
 */
export class FrameServer {
  readonly counters = new ServerCounters();
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  readonly #ctx: HandlerContext;
  readonly #options: ServerOptions;
  readonly #log: Logger;
  /** Shared by every connection: each flushes what it wrote before another one runs. */
  readonly #out = new ReplyWriter();

  readonly #repl: ReplicationHooks | null;

  constructor(ctx: HandlerContext, options: ServerOptions, log: Logger, replication: ReplicationHooks | null = null) {
    this.#ctx = ctx;
    this.#repl = replication;
    this.#options = options;
    this.#log = log;
    this.#server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ port, host, backlog: 4096 }, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting, ends every connection after its pending replies, and resolves when all are gone. */
  close(graceMs = 2000): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      for (const socket of this.#sockets) socket.end();
      const timer = setTimeout(() => {
        for (const socket of this.#sockets) socket.destroy();
      }, graceMs);
      timer.unref();
    });
  }

  #accept(socket: net.Socket): void {
    const counters = this.counters;
    counters.connections++;
    counters.connectionsTotal++;
    this.#sockets.add(socket);
    if (this.#options.idleTimeoutMs > 0) {
      socket.setTimeout(this.#options.idleTimeoutMs, () => socket.destroy());
    }
    const conn: Conn = { socket, session: null, exporting: null, parked: false, proceed: () => undefined };
    const decoder = new FrameDecoder((message) => this.#onFrame(conn, message), this.#options.maxFrameBytes);
    const feed = (input: () => boolean): void => {
      let more: boolean;
      try {
        more = input();
      } catch (err) {
        this.#send(socket);
        this.#refuse(socket, err);
        return;
      }
      this.#send(socket);
      if (conn.parked) {
        socket.pause(); // read on when the parked request is done (`proceed`)
        return;
      }
      if (more) {
        if (socket.isPaused() && !decoder.holding && !socket.destroyed) socket.resume();
        return;
      }
      // The client is not reading its replies: stop reading its requests until it drains.
      socket.pause();
      socket.once('drain', () => {
        feed(() => decoder.resume());
        if (!decoder.holding && !conn.parked && !socket.destroyed) socket.resume();
      });
    };
    conn.proceed = (again) => {
      conn.parked = false;
      if (socket.destroyed) return;
      feed(() => (again === null || (this.#onFrame(conn, again) && !conn.parked) ? decoder.resume() : false));
    };
    socket.on('data', (chunk: Buffer) => feed(() => decoder.push(chunk)));
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'connection error'));
    socket.on('close', () => {
      counters.connections--;
      this.#sockets.delete(socket);
      this.#repl?.drop(socket);
      decoder.reset();
    });
  }

  /** Handles one request; returns false to hold further input while replies back up. */
  #onFrame(conn: Conn, message: unknown[]): boolean {
    const socket = conn.socket;
    const id = message[0];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ProtocolError('a request must start with a non-negative integer id');
    }
    const op = message[1];
    if (typeof op === 'number' && op >= 0 && op < 256) this.counters.ops[op]++;
    const repl = this.#repl;
    if (repl !== null && (conn.session !== null || op === Op.REPL_SYNC)) return this.#onReplication(conn, repl, message);
    const migration = this.#options.migration;
    if (migration !== undefined) {
      if (conn.exporting !== null) {
        conn.exporting.onFrame(message);
        return true;
      }
      if (op === Op.MIGRATE_PULL) {
        this.#acceptPull(conn, migration, message);
        return true;
      }
      if (this.#parks(conn, migration, op, message)) return false;
    }
    // A write in a namespace with `writeAck: replica` holds its reply (and the ones behind it).
    const gated = repl !== null && repl.log.ackNamespaces.size !== 0;
    let before = 0;
    if (gated) {
      repl.log.takeAckWait(); // a removal outside any request (the sweep) may have left one
      before = this.#out.pending;
    }
    const status = op === Op.SUBSCRIBE_INVALIDATIONS || op === Op.UNSUBSCRIBE_INVALIDATIONS
      ? this.#subscribe(socket, message)
      : handle(message, this.#ctx, this.#out, this.#onInternalError);
    if (gated) {
      const wait = repl.log.takeAckWait();
      if (wait > 0) this.#hold(socket, repl, id, wait, before);
    }
    if (status !== Status.OK && status < this.counters.statuses.length) this.counters.statuses[status]++;
    if (this.#out.pending >= FLUSH_BYTES) this.#send(socket);
    return socket.writableLength + this.#out.pending <= this.#options.maxPendingReplyBytes;
  }

  /** MIGRATE_PULL: the connection becomes a slot export (or gets the error). */
  #acceptPull(conn: Conn, migration: MigrationHooks, message: unknown[]): void {
    this.#send(conn.socket);
    try {
      const session = migration.acceptPull(conn.socket, message);
      conn.socket.setTimeout(0);
      conn.socket.write(encodeFrame([message[0], Status.OK]));
      conn.exporting = session;
    } catch (err) {
      const e = err instanceof OpError ? err : new OpError(Status.INTERNAL, 'internal error');
      if (!(err instanceof OpError)) this.#onInternalError(err);
      this.#out.message([message[0], e.status, e.message, ...e.detail]);
    }
  }

  /**
   * A write to a frozen slot, or a MIGRATE op answered later: true when the request waits (the
   * connection then reads nothing more until it is done, so replies stay in order).
   */
  #parks(conn: Conn, migration: MigrationHooks, op: unknown, message: unknown[]): boolean {
    if (migration.ownership.frozenCount !== 0 && KEYED_WRITE_OPS.has(op as number) && migration.ownership.isFrozen(message[3], message[4])) {
      conn.parked = true;
      migration.onThaw(() => conn.proceed(message));
      return true;
    }
    if (!MIGRATE_ASYNC_OPS.has(op)) return false;
    conn.parked = true;
    void migration.handle(message).then((reply) => {
      this.#deliver(conn.socket, encodeFrame(reply));
      conn.proceed(null);
    });
    return true;
  }

  /** Subscription ops, which need the connection: handled apart from `handle`, with the same error replies. */
  #subscribe(socket: net.Socket, message: unknown[]): number {
    const hub = this.#options.subscriptions;
    if (hub === undefined) return handle(message, this.#ctx, this.#out, this.#onInternalError);
    try {
      hub.handle(socket, message, this.#out);
      return Status.OK;
    } catch (err) {
      if (err instanceof OpError) {
        this.#out.message([message[0], err.status, err.message]);
        return err.status;
      }
      this.#onInternalError(err);
      this.#out.message([message[0], Status.INTERNAL, 'internal error']);
      return Status.INTERNAL;
    }
  }

  /** REPL_SYNC (the connection becomes a replica session) and the frames of a session. */
  #onReplication(conn: Conn, repl: ReplicationHooks, message: unknown[]): boolean {
    if (conn.session !== null) {
      repl.onReplicaFrame(conn.session, message);
      return true;
    }
    this.#send(conn.socket);
    try {
      conn.session = repl.accept(conn.socket, message);
      conn.socket.setTimeout(0);
    } catch (err) {
      const e = err instanceof OpError ? err : new OpError(Status.INTERNAL, 'internal error');
      if (!(err instanceof OpError)) this.#onInternalError(err);
      this.#out.message([message[0], e.status, e.message, ...e.detail]);
    }
    return true;
  }

  /**
   * Sends the replies before the last one (the first `before` pending bytes) and holds the last
   * one, a write's, until a replica acknowledges `offset`.
   */
  #hold(socket: net.Socket, repl: ReplicationHooks, id: number, offset: number, before: number): void {
    const all = this.#out.flush();
    if (all === undefined) return;
    if (before > 0) this.#deliver(socket, all.subarray(0, before));
    repl.hold(socket, id, offset, all.subarray(before));
  }

  /** Writes every reply produced for this socket's chunk in one call (or queues it behind held ones). */
  #send(socket: net.Socket): void {
    const replies = this.#out.flush();
    if (replies) this.#deliver(socket, replies);
  }

  #deliver(socket: net.Socket, replies: Buffer): void {
    if (socket.destroyed) return;
    const repl = this.#repl;
    if (repl !== null && repl.holds(socket)) repl.append(socket, replies);
    else socket.write(replies);
  }

  readonly #onInternalError = (err: unknown): void => this.#log.error({ err }, 'request failed');

  #refuse(socket: net.Socket, err: unknown): void {
    this.counters.protocolErrors++;
    const message = err instanceof ProtocolError ? err.message : 'protocol error';
    if (!(err instanceof ProtocolError)) this.#log.error({ err }, 'unexpected error decoding a frame');
    this.#log.warn({ remote: socket.remoteAddress, reason: message }, 'closing connection after a protocol error');
    socket.write(encodeFrame([0, Status.PROTOCOL_ERROR, message]));
    socket.end();
    socket.pause();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
