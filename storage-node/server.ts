import net from 'node:net';
import tls from 'node:tls';
import { createTlsListener } from '../shared/tls';
import { encodeFrame, FrameDecoder } from '../shared/frame';
import { ReplyWriter } from './reply-writer';
import type { WritePolicyRuntime } from './write-policy/runtime';
import type { RegionRuntime } from './region/runtime';
import { OpError, ProtocolError } from '../shared/errors';
import { PeerAuthError, PeerChallenge } from '../shared/peer-auth';
import { KEYED_WRITE_OPS, Op, Status } from '../shared/protocol';
import { INVALIDATE } from '../shared/ops';
import type { Logger } from '../shared/log';
import { handle, incremented, replyError, type HandlerContext } from './handlers';
import { checkPlain } from '../shared/msgpack';
import { HOT_HEADS, hotKeys, hotRequest, parseHotRequest } from './validate';
import { latin1, sameAscii, wrongType } from './store';
import { budgetExhausted, ConnGuard, frameTooSlow, tooManyConnections, Verdict, type GuardedConn } from './conn-guard';
import { ServerCounters, type MigrationHooks, type ReplicationHooks, type ServerOptions } from './server-hooks';

export type { MigrationHooks, ReplicationHooks, ServerOptions };

/** Ops the migration hooks answer, asynchronously. */
const MIGRATE_ASYNC_OPS: ReadonlySet<unknown> = new Set<unknown>([Op.MIGRATE_START, Op.MIGRATE_STATUS, Op.MIGRATE_CUT, Op.MIGRATE_END]);

/** Replies are handed to the socket early once this many bytes are waiting (large values). */
const FLUSH_BYTES = 256 * 1024;
/** How long a refused or closed connection may take to read its last frame before it is destroyed. */
const LINGER_MS = 1000;

/** Per-connection state the frame handler and the guards need. */
interface Conn extends GuardedConn {
  socket: net.Socket;
  decoder: FrameDecoder;
  /** Refused or closed by the node: nothing more of it is read or run. */
  closing: boolean;
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
  /** The cluster secret's handshake still to pass (null: passed, or the node has no secret). */
  challenge: PeerChallenge | null;
  /** Clock when the connection was accepted (the handshake must pass within the request timeout). */
  acceptedAt: number;
}

/** How long a connection may take to prove the cluster secret when the request timeout is off. */
const HANDSHAKE_MS = 10_000;
const NEEDS_SECRET = 'this node requires the cluster secret: a connection starts with HELLO and AUTH (set --cluster-secret-file or SHARDCACHE_CLUSTER_SECRET)';
/** Largest frame before the handshake has passed (HELLO and AUTH are well under it). */
const HANDSHAKE_FRAME_BYTES = 256;

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
 *
 * Hostile peers (`conn-guard.ts`): past `maxConnections` a new connection gets `[0, BUSY, ...]`
 * and is closed; one sweep timer closes connections idle past `idleTimeoutMs` (not replica
 * sessions, exports or subscribers) and refuses, with `[0, PROTOCOL_ERROR, ...]`, those holding
 * an incomplete frame past `requestTimeoutMs`; the connection whose input pushes the bytes held
 * for incomplete frames past `inputBudget` gets `[0, BUSY, ...]` and is closed. A closed
 * connection's last bytes are read and dropped for up to a second so its peer gets the frame.
 */
export class FrameServer {
  readonly counters = new ServerCounters();
  readonly #server: net.Server;
  /** Every socket, served, refused or lingering. */
  readonly #sockets = new Set<net.Socket>();
  /** Connections served and not closing (the sweep's). */
  readonly #conns = new Set<Conn>();
  /** Sockets the node closed, and the clock after which they are destroyed. */
  readonly #lingering = new Map<net.Socket, number>();
  readonly #guard: ConnGuard;
  #sweep: NodeJS.Timeout | undefined;
  /** Counters as the last sweep logged them. */
  #reported = [0, 0, 0, 0];
  readonly #ctx: HandlerContext;
  readonly #options: ServerOptions;
  readonly #log: Logger;
  /** Shared by every connection: each flushes what it wrote before another one runs. */
  readonly #out = new ReplyWriter();

  readonly #repl: ReplicationHooks | null;
  /** Write-through and write-behind (`write-policy/runtime.ts`); set once by the node's main. */
  writePolicies: WritePolicyRuntime<net.Socket> | undefined;
  /** Regions: invalidations shipped to and taken from peer regions (`region/runtime.ts`); set once by the node's main. */
  regions: RegionRuntime | undefined;

  constructor(ctx: HandlerContext, options: ServerOptions, log: Logger, replication: ReplicationHooks | null = null) {
    this.#ctx = ctx;
    this.#repl = replication;
    this.#options = options;
    this.#log = log;
    this.#guard = new ConnGuard(options, performance.now());
    const m = options.tls;
    if (m === undefined) {
      this.#server = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
      return;
    }
    // TLS: a connection is served (and counted) once its handshake is done, which must finish
    // within the request timeout; TCP connections still in their handshake are capped apart.
    this.#server = createTlsListener(m, {
      handshakeTimeoutMs: options.requestTimeoutMs || HANDSHAKE_MS, maxSockets: 2 * options.maxConnections, options: { noDelay: true },
      onHandshakeError: (err) => log.debug({ err: err.message, code: err.code }, 'TLS handshake failed; connection closed'),
    }, (socket) => this.#accept(socket));
  }

  /** The TLS listener, for certificate reloads (undefined on plain TCP). */
  get tlsServer(): tls.Server | undefined {
    return this.#server instanceof tls.Server ? this.#server : undefined;
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen({ port, host, backlog: 4096 }, () => {
        this.#server.off('error', reject);
        clearInterval(this.#sweep);
        this.#sweep = setInterval(this.#onSweep, this.#guard.periodMs);
        this.#sweep.unref();
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting, ends every connection after its pending replies, and resolves when all are gone. */
  close(graceMs = 2000): Promise<void> {
    clearInterval(this.#sweep);
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
    this.#sockets.add(socket);
    socket.on('error', (err) => this.#log.debug({ err: err.message }, 'connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#lingering.delete(socket);
    });
    if (this.counters.connections >= this.#options.maxConnections) {
      this.counters.refusedConnections++;
      this.#linger(socket, encodeFrame([0, Status.BUSY, tooManyConnections(this.#options.maxConnections)]));
      return;
    }
    this.#serve(this.#track(socket));
  }

  /** Reads and runs a served connection's requests, with the backpressure and parking of the class comment. */
  #serve(conn: Conn): void {
    const { socket, decoder } = conn;
    const counters = this.counters;
    const guard = this.#guard;
    const feed = (input: () => boolean, chunk: number): void => {
      let more: boolean;
      try {
        more = input();
      } catch (err) {
        this.#send(socket);
        this.#refuse(conn, err);
        return;
      }
      this.#send(socket);
      if (!guard.account(conn, decoder.bufferedBytes, chunk)) {
        counters.budgetRefusals++;
        this.#close(conn, encodeFrame([0, Status.BUSY, budgetExhausted(this.#options.inputBudget)]));
        return;
      }
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
        if (conn.closing) return;
        feed(() => decoder.resume(), 0);
        if (!decoder.holding && !conn.parked && !socket.destroyed) socket.resume();
      });
    };
    conn.proceed = (again) => {
      conn.parked = false;
      if (socket.destroyed || conn.closing) return;
      feed(() => (again === null || (this.#onFrame(conn, again) && !conn.parked) ? decoder.resume() : false), 0);
    };
    socket.on('data', (chunk: Buffer) => {
      conn.lastData = guard.clock;
      feed(() => decoder.push(chunk), chunk.length);
    });
    socket.on('close', () => {
      counters.connections--;
      this.#conns.delete(conn);
      guard.release(conn);
      this.#repl?.drop(socket);
      decoder.reset();
    });
  }

  /** The record of a connection being served (counted). */
  #track(socket: net.Socket): Conn {
    this.counters.connections++;
    this.counters.connectionsTotal++;
    const now = this.#guard.clock;
    const conn: Conn = {
      socket, decoder: new FrameDecoder((message) => this.#onFrame(conn, message), this.#options.maxFrameBytes, (bytes, start, end) => this.#onHot(conn, bytes, start, end)),
      closing: false, session: null, exporting: null, parked: false, proceed: () => undefined, lastData: now, partialSince: now, buffered: 0, quiet: false,
      challenge: this.#options.secrets?.[0] ? new PeerChallenge(...this.#options.secrets) : null, acceptedAt: now,
    };
    // HELLO and AUTH are under 128 bytes: a peer that has not proved the secret sends nothing larger.
    if (conn.challenge !== null) conn.decoder.maxFrameBytes = HANDSHAKE_FRAME_BYTES;
    this.#conns.add(conn);
    return conn;
  }

  /** The sweep: closes connections past a timeout and destroys lingering sockets. */
  readonly #onSweep = (): void => {
    const guard = this.#guard;
    guard.tick(performance.now());
    const counters = this.counters;
    for (const conn of this.#conns) {
      const verdict = guard.overdue(conn);
      if (verdict === Verdict.IDLE) {
        counters.idleClosed++;
        this.#close(conn, null);
      } else if (verdict === Verdict.INCOMPLETE) {
        counters.slowFrames++;
        this.#close(conn, encodeFrame([0, Status.PROTOCOL_ERROR, frameTooSlow(this.#options.requestTimeoutMs)]));
      } else if (conn.challenge !== null && this.#handshakeOverdue(conn)) {
        // Without the secret a peer may not hold a connection (one of --max-connections) for the idle timeout.
        counters.unauthenticated++;
        this.#close(conn, encodeFrame([0, Status.UNAUTHENTICATED, `the cluster secret's handshake was not completed within ${this.#options.requestTimeoutMs || HANDSHAKE_MS} ms`]));
      }
    }
    for (const [socket, deadline] of this.#lingering) if (deadline <= guard.clock) socket.destroy();
    counters.inputBufferedBytes = guard.buffered;
    this.#report();
  };

  /** True when a connection still owes the handshake past the request timeout (10 s when that is off). */
  #handshakeOverdue(conn: Conn): boolean {
    const limit = (this.#options.requestTimeoutMs || HANDSHAKE_MS) + this.#guard.periodMs;
    return this.#guard.clock - conn.acceptedAt >= limit;
  }

  /** Logs, at most once per sweep, how many connections the guards refused since the last one. */
  #report(): void {
    const c = this.counters;
    const now = [c.refusedConnections, c.slowFrames, c.budgetRefusals, c.unauthenticated];
    const last = this.#reported;
    if (now.every((n, i) => n === last[i])) return;
    this.#log.warn({
      refusedConnections: now[0] - last[0], slowFrames: now[1] - last[1], budgetRefusals: now[2] - last[2], unauthenticated: now[3] - last[3],
      connections: c.connections, inputBufferedBytes: c.inputBufferedBytes,
    }, 'connections refused by the connection limits');
    this.#reported = now;
  }

  /** Closes a served connection (after `frame`, when given): nothing more of it is read or run. */
  #close(conn: Conn, frame: Buffer | null): void {
    conn.closing = true;
    this.#conns.delete(conn);
    this.#guard.release(conn);
    conn.decoder.reset();
    this.#linger(conn.socket, frame);
  }

  /**
   * Ends a socket after `frame` (when given), then reads and drops what the peer still sends for
   * up to LINGER_MS (closing with unread input would reset the connection, and the peer could
   * lose the frame); the sweep destroys it after that.
   */
  #linger(socket: net.Socket, frame: Buffer | null): void {
    if (socket.destroyed) return;
    if (frame !== null) socket.write(frame);
    socket.end();
    socket.removeAllListeners('data');
    socket.resume();
    this.#lingering.set(socket, this.#guard.clock + LINGER_MS);
  }

  /** Handles one request; returns false to hold further input while replies back up. */
  #onFrame(conn: Conn, message: unknown[]): boolean {
    const socket = conn.socket;
    const id = message[0];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new ProtocolError('a request must start with a non-negative integer id');
    }
    if (conn.challenge !== null) return this.#handshake(conn, id, message);
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
    const policies = this.writePolicies;
    const regions = this.regions;
    let status: number;
    if (regions !== undefined && op === Op.REGION_INVALIDATE) {
      try {
        regions.regionInvalidate(message, this.#out);
        status = Status.OK;
      } catch (err) {
        status = replyError(id, err, this.#out, this.#onInternalError);
      }
    } else if (regions !== undefined && op === Op.INVALIDATE && typeof message[INVALIDATE.at.fromRegion] === 'string') {
      status = regions.fromRegion(message, this.#out, this.#onInternalError);
    } else if (policies !== undefined && (op === Op.WRITE_POLICY_STATUS || op === Op.WRITE_POLICY_FLUSH)) {
      if (op === Op.WRITE_POLICY_STATUS) policies.status(message, this.#out);
      else return this.#parkFor(conn, policies.flush(message));
      status = Status.OK;
    } else if (policies !== undefined && policies.active && KEYED_WRITE_OPS.has(op as number) && policies.intercept(socket, message, this.#out)) {
      status = Status.OK; // answered now, or its place kept until its store answers
    } else {
      status = op === Op.SUBSCRIBE_INVALIDATIONS || op === Op.UNSUBSCRIBE_INVALIDATIONS
        ? this.#subscribe(conn, message)
        : handle(message, this.#ctx, this.#out, this.#onInternalError);
    }
    if (gated) {
      const wait = repl.log.takeAckWait();
      if (wait > 0) this.#hold(socket, repl, id, wait, before);
    }
    if (status !== Status.OK && status < this.counters.statuses.length) this.counters.statuses[status]++;
    if (this.#out.pending >= FLUSH_BYTES) this.#send(socket);
    return socket.writableLength + this.#out.pending <= this.#options.maxPendingReplyBytes;
  }

  /**
   * GET, SET, INCR and MGET answered from the frame's bytes in place (`readHot`, `answerHot`);
   * undefined (the generic path) for any other frame and whenever the generic path does more than
   * `handle`: the handshake, replica sessions, exports, frozen slots, write acknowledgements, a
   * stale replica's reads.
   */
  #onHot(conn: Conn, bytes: Buffer, start: number, end: number): boolean | undefined {
    if (conn.challenge !== null || conn.session !== null || conn.exporting !== null || !readHot(bytes, start, end)) return undefined;
    const op = hotRequest.op;
    if (op === Op.GET || op === Op.MGET) {
      if (this.#ctx.store.stale) return undefined;
    } else {
      const repl = this.#repl;
      if (repl !== null && repl.log.ackNamespaces.size !== 0) return undefined;
      if (this.writePolicies?.active === true || this.regions?.active === true) return undefined;
      const migration = this.#options.migration;
      if (migration !== undefined && migration.ownership.frozenCount !== 0) return undefined;
    }
    this.counters.ops[op]++;
    const out = this.#out;
    const status = answerHot(bytes, this.#ctx, out, this.#onInternalError);
    if (status !== Status.OK && status < this.counters.statuses.length) this.counters.statuses[status]++;
    if (out.pending >= FLUSH_BYTES) this.#send(conn.socket);
    return conn.socket.writableLength + out.pending <= this.#options.maxPendingReplyBytes;
  }

  /**
   * A frame of a connection that has not proved the cluster secret yet: HELLO, then AUTH
   * (shared/peer-auth.ts); anything else, or a wrong proof, throws PeerAuthError, which closes
   * the connection with UNAUTHENTICATED.
   */
  #handshake(conn: Conn, id: number, message: unknown[]): boolean {
    const challenge = conn.challenge!;
    if (message[1] === Op.HELLO) {
      this.#out.message([id, Status.OK, challenge.hello(message[2])]);
    } else if (message[1] === Op.AUTH) {
      this.#out.message([id, Status.OK, challenge.verify(message[2])]);
      conn.challenge = null;
      conn.decoder.maxFrameBytes = this.#options.maxFrameBytes;
    } else {
      throw new PeerAuthError(NEEDS_SECRET);
    }
    return true;
  }

  /** MIGRATE_PULL: the connection becomes a slot export (or gets the error). */
  #acceptPull(conn: Conn, migration: MigrationHooks, message: unknown[]): void {
    this.#send(conn.socket);
    try {
      const session = migration.acceptPull(conn.socket, message);
      conn.quiet = true;
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
    this.#parkFor(conn, migration.handle(message));
    return true;
  }

  /** Reads nothing more on `conn` until `reply` is sent (a request answered later, in order); returns false (hold input). */
  #parkFor(conn: Conn, reply: Promise<unknown[]>): false {
    conn.parked = true;
    void reply.then((r) => {
      this.#deliver(conn.socket, encodeFrame(r));
      conn.proceed(null);
    });
    return false;
  }

  /** Sends what the replies of this turn hold for `socket` (before a write-through write keeps its place behind them). */
  sendPending(socket: net.Socket): void {
    this.#send(socket);
  }

  /** Subscription ops, which need the connection: handled apart from `handle`, with the same error replies. */
  #subscribe(conn: Conn, message: unknown[]): number {
    const hub = this.#options.subscriptions;
    if (hub === undefined) return handle(message, this.#ctx, this.#out, this.#onInternalError);
    try {
      hub.handle(conn.socket, message, this.#out);
      // A subscriber only listens for pushes: it may send nothing for long, and is not idle.
      if (message[1] === Op.SUBSCRIBE_INVALIDATIONS) conn.quiet = true;
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
      conn.quiet = true;
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
    this.regions?.beforeReply(); // the held reply leaves later, from the acknowledgement path
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
    this.regions?.beforeReply(); // a write's invalidations are on disk before its reply leaves
    const repl = this.#repl;
    if (repl !== null && repl.holds(socket)) repl.append(socket, replies);
    else socket.write(replies);
  }

  readonly #onInternalError = (err: unknown): void => this.#log.error({ err }, 'request failed');

  #refuse(conn: Conn, err: unknown): void {
    // Before the handshake any bad frame (one over the handshake's size, say) is a missing secret.
    if (conn.challenge !== null && !(err instanceof PeerAuthError) && err instanceof ProtocolError) err = new PeerAuthError(NEEDS_SECRET);
    if (err instanceof PeerAuthError) {
      this.counters.unauthenticated++; // logged by the sweep, summed: a peer cannot make a line per connection
      this.#log.debug({ remote: conn.socket.remoteAddress, reason: err.message }, 'refused a connection that did not prove the cluster secret');
      return this.#close(conn, encodeFrame([0, Status.UNAUTHENTICATED, err.message]));
    }
    this.counters.protocolErrors++;
    const message = err instanceof ProtocolError ? err.message : 'protocol error';
    if (!(err instanceof ProtocolError)) this.#log.error({ err }, 'unexpected error decoding a frame');
    this.#log.warn({ remote: conn.socket.remoteAddress, reason: message }, 'closing connection after a protocol error');
    this.#close(conn, encodeFrame([0, Status.PROTOCOL_ERROR, message]));
  }
}

/**
 * True when `bytes[start, end)` is a GET, SET, INCR or MGET frame `parseHotRequest` reads in place
 * (its fields are then in `hotRequest`). `checkPlain` runs first, as for every decoder of peer bytes.
 */
export function readHot(bytes: Uint8Array, start: number, end: number): boolean {
  return HOT_HEADS[bytes[start]] === 1 && checkPlain(bytes, start, end) === end && parseHotRequest(bytes, start, end);
}

/**
 * Runs the request that `readHot` just read from `bytes` as `handle` would, with the same replies,
 * but from the bytes in place: no msgpackr, no message array, no key string unless the key is
 * new (the ownership check reads the key's bytes), no Buffer for a value (those were ~20 % of the
 * node's CPU per GET or SET). What follows the store's work is the handlers' own code
 * (`incremented`). Returns the reply status, for counters.
 */
export function answerHot(bytes: Buffer, ctx: HandlerContext, out: ReplyWriter, onInternalError: (err: unknown) => void): number {
  const r = hotRequest;
  const id = r.id;
  try {
    const op = r.op;
    if (op === Op.GET) hotGet(bytes, ctx, out, id);
    else if (op === Op.SET) hotSet(bytes, ctx, out, id);
    else if (op === Op.MGET) hotMget(bytes, ctx, out, id);
    else hotIncr(bytes, ctx, out, id);
    return Status.OK;
  } catch (err) {
    return replyError(id, err, out, onInternalError);
  }
}

function hotGet(bytes: Buffer, ctx: HandlerContext, out: ReplyWriter, id: number): void {
  const r = hotRequest;
  const store = ctx.store;
  const ns = hotNamespace(bytes, r.nsStart, r.nsEnd);
  ctx.slots?.checkAscii(ns, bytes, r.keyStart, r.keyEnd, false);
  const e = store.readAscii(ns, bytes, r.keyStart, r.keyEnd);
  if (e !== undefined) out.hit(id, e.value, e.version, e.expiresAt, e.flags);
  else if (store.missWasType) throw wrongType();
  else out.status(id, Status.MISS);
}

/** A write's namespace `[id, op, epoch, ns, key, ...]` read in place, after the fencing and ownership checks (as the handlers' `write`). */
function hotWrite(bytes: Buffer, ctx: HandlerContext): string {
  const r = hotRequest;
  ctx.gate.check(r.epoch);
  const ns = hotNamespace(bytes, r.nsStart, r.nsEnd);
  ctx.slots?.checkAscii(ns, bytes, r.keyStart, r.keyEnd, true);
  return ns;
}

function hotSet(bytes: Buffer, ctx: HandlerContext, out: ReplyWriter, id: number): void {
  const r = hotRequest;
  const store = ctx.store;
  const ns = hotWrite(bytes, ctx);
  const { valueStart, valueEnd, flags } = r;
  const result = store.setAscii(ns, bytes, r.keyStart, r.keyEnd, valueStart, valueEnd, r.ttlMs, flags, r.cond, r.ifVersion);
  if (result === undefined) return out.status(id, Status.NOT_STORED);
  out.ok2(id, result.version, result.expiresAt);
  const key = store.lastKey;
  ctx.repl?.set(ns, key, bytes.subarray(valueStart, valueEnd), result.version, result.expiresAt, flags, undefined);
  ctx.writes?.written(ns, key);
}

/** INCR by the key's bytes: no key string unless the key is new (as `hotSet`). */
function hotIncr(bytes: Buffer, ctx: HandlerContext, out: ReplyWriter, id: number): void {
  const r = hotRequest;
  const store = ctx.store;
  const ns = hotWrite(bytes, ctx);
  const result = store.incrAscii(ns, bytes, r.keyStart, r.keyEnd, r.delta, r.ttlMs);
  incremented(ctx, out, id, ns, store.lastKey, result);
}

/**
 * MGET with its keys read in place: every key's slot is checked from its bytes first (a node
 * that checks ownership), then each entry is read by the key's bytes.
 */
function hotMget(bytes: Buffer, ctx: HandlerContext, out: ReplyWriter, id: number): void {
  const r = hotRequest;
  const ns = hotNamespace(bytes, r.nsStart, r.nsEnd);
  const count = r.keyCount;
  const at = hotKeys;
  const slots = ctx.slots;
  if (slots !== undefined) for (let i = 0; i < count; i++) slots.checkAscii(ns, bytes, at[2 * i], at[2 * i + 1], false);
  const store = ctx.store;
  const reply = out.beginEntries(id, count, store.stale);
  for (let i = 0; i < count; i++) out.entry(store.readAscii(ns, bytes, at[2 * i], at[2 * i + 1]));
  out.endEntries(reply);
}

/** The namespace of the last request read in place. */
let lastHotNamespace = '';

/** The namespace name `bytes[start, end)` (checked by `parseHotRequest`): the last one's string when it is the same. */
function hotNamespace(bytes: Buffer, start: number, end: number): string {
  const last = lastHotNamespace;
  if (sameAscii(last, bytes, start, end)) return last;
  return (lastHotNamespace = latin1(bytes, start, end));
}
