import type { Held } from './replication/ack-wait';
import type { TlsMaterial } from '../shared/tls';
import type net from 'node:net';
import type { InvalidationHub } from './invalidations';
import type { GuardLimits } from './conn-guard';

/**
 * The frame server's seams (`server.ts`): its settings, what it needs of replication and slot
 * migration, and the counters it keeps.
 */

/** Settings of the frame server; the connection limits are described in `conn-guard.ts`. */
export interface ServerOptions extends GuardLimits {
  maxFrameBytes: number;
  /** Reply bytes a connection may leave unread before the node stops reading its requests. */
  maxPendingReplyBytes: number;
  /** Takes SUBSCRIBE/UNSUBSCRIBE_INVALIDATIONS (it needs the connection); absent = UNKNOWN_OP. */
  subscriptions?: InvalidationHub;
  /** Slot migrations (cluster mode); absent = the MIGRATE ops are UNKNOWN_OP. */
  migration?: MigrationHooks;
  /** TLS on the frame port (absent: plain TCP); with `requestClientCert`, peers must present a certificate of its CA. */
  tls?: TlsMaterial;
  /** The cluster secrets a connection may prove first (HELLO, AUTH): the current one, and during a rotation the other; none or [''] = no handshake. */
  secrets?: readonly string[];
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
  /** Keeps the place of a reply made later (replies after it queue behind it). */
  reserve(socket: net.Socket, id: number): Held;
  /** The reply of a reserved place; `offset` > 0: held further until a replica acknowledges it. */
  fill(socket: net.Socket, held: Held, reply: Buffer, offset: number): void;
}

/** Counters the server keeps for STATS and /metrics; plain numbers so the hot path stays cheap. */
export class ServerCounters {
  connections = 0;
  connectionsTotal = 0;
  protocolErrors = 0;
  /** Connections refused past `maxConnections`. */
  refusedConnections = 0;
  /** Connections closed after the idle timeout. */
  idleClosed = 0;
  /** Connections closed for holding an incomplete frame past the request timeout. */
  slowFrames = 0;
  /** Connections closed because their input crossed the input budget. */
  budgetRefusals = 0;
  /** Connections closed for failing the cluster secret's handshake (or skipping it). */
  unauthenticated = 0;
  /** Bytes held for incomplete frames over every connection (updated by the sweep). */
  inputBufferedBytes = 0;
  /** Requests by opcode. */
  readonly ops = new Float64Array(256);
  /** Error replies by status. */
  readonly statuses = new Float64Array(32);
}
