import type { Principal } from '../../../shared/authenticator';
import type { TopologySnapshot } from '../../../shared/topology/snapshot';
import type { NodeStats } from '../../backend';
import type { ClientFacts } from './clients';
import type { KeyspaceFigures } from './info';
import type { ReadCounts, RespDoor } from './door';
import type { CommandTimer } from './monitor';
import type { ReplySink } from './reply-queue';

/**
 * What a RESP command handler sees: its connection's session, the door to the data plane and
 * facts about the server (for INFO, CONFIG GET, COMMAND). Handlers are functions of
 * `(context, args)`; `args[0]` is the command name as sent.
 */
export interface Session {
  /** Connection id (CLIENT ID, HELLO). */
  readonly id: number;
  /** Namespace the connection's keys live in: the listener's, or the one AUTH selected. */
  ns: string;
  /** CLIENT SETNAME; null when unnamed. */
  name: string | null;
  /** Set by QUIT: the connection ends once the replies so far are written. */
  quit: boolean;
  /** The protocol HELLO chose: 2 (RESP2, the default) or 3 (RESP3: maps, `_` for null). */
  protocol: 2 | 3;
  /** Who AUTH or HELLO proved the client to be, while the cluster requires auth. */
  principal: Principal | undefined;
  /** Set while an AUTH or HELLO verifies credentials: commands pipelined behind it wait for it. */
  authenticating?: Promise<void>;
  /** The client's `ip:port` (CLIENT LIST's addr, SLOWLOG's client). */
  readonly addr: string;
  /** The last command run, `name` or `name|sub` (CLIENT LIST's cmd): a constant string stored per command. */
  lastCommand: string;
  /** CLIENT SETINFO LIB-NAME / LIB-VER; null until set. */
  libName: string | null;
  libVer: string | null;
}

/** One open connection as CLIENT LIST and CLIENT KILL see it. */
export interface RespClient {
  readonly session: Session;
  /** Its CLIENT LIST figures at `now` (ms). */
  clientFacts(now: number): ClientFacts;
  /** CLIENT KILL: closes the connection now (replies not yet written are dropped). */
  kill(): void;
}

/** Counters of the RESP listener, shown by INFO. */
export interface RespStats extends ReadCounts {
  connectionsTotal: number;
  connected: number;
  commands: number;
  protocolErrors: number;
  /** Connections refused past maxclients (INFO's rejected_connections). */
  rejected: number;
}

/** Limits of the listener (some shown by CONFIG GET). */
export interface RespLimits {
  maxBulkBytes: number;
  maxMultibulk: number;
  maxQueryBytes: number;
  maxInFlight: number;
  /** Unsent reply bytes a client may leave unread... */
  maxBufferedBytes: number;
  /** ...for this long (ms) before it is disconnected; default 10 s. */
  stallMs?: number;
  /** Open connections of the listener; one more is refused (default 10,000, as Redis's maxclients). */
  maxClients?: number;
  /** A connection that sent nothing and has nothing in flight this long (ms) is closed; 0 = never (default 300 s). */
  idleTimeoutMs?: number;
  /** A connection holding an incomplete request this long (ms) is refused; 0 = never (default 10 s). */
  requestTimeoutMs?: number;
  /** Bytes all connections of the listener may hold for requests not yet taken on (default 256 MiB). */
  inputBudgetBytes?: number;
}

/** The guards of `RespLimits`, every one set (`resolveGuards` fills in the defaults). */
export type GuardLimits = Required<Pick<RespLimits, 'maxClients' | 'idleTimeoutMs' | 'requestTimeoutMs' | 'inputBudgetBytes'>>;

/** What the listener tells its commands about itself. */
export interface ServerFacts {
  /** The listening port (0 before it listens). */
  port(): number;
  /** Epoch ms the listener started. */
  startedAt: number;
  stats: RespStats;
  limits: RespLimits & GuardLimits;
  /** The topology the data plane routes by, for INFO's keyspace section. */
  snapshot(): TopologySnapshot | undefined;
  /** The open connections (CLIENT LIST, CLIENT KILL). */
  clients(): Iterable<RespClient>;
  /** Slow log and latency monitor of this proxy process (SLOWLOG, LATENCY, CONFIG). */
  timer: CommandTimer;
  /** Commands per second over the last samples (INFO's instantaneous_ops_per_sec). */
  opsPerSec(): number;
  /** Every live storage node's STATS (INFO memory); empty when the backend cannot ask. */
  nodeStats(): Promise<NodeStats[]>;
  /**
   * INFO keyspace's figures of namespace `ns`: `load()`'s, shared with every INFO of `ns` within
   * the last second (a load is a DBSIZE over every shard; ioredis sends INFO on every connect).
   */
  keyspace(ns: string, load: () => Promise<KeyspaceFigures>): Promise<KeyspaceFigures>;
  /**
   * DBSIZE's figures of `ns` over every shard, asked of the data plane directly: INFO is a
   * server query, not a request of the namespace, so it takes none of the namespace's QPS share
   * (the caller checks the `read` grant first).
   */
  countKeys(ns: string): Promise<KeyspaceFigures>;
}

/** A command's reply: its wire bytes, now or later. */
export type ReplyBytes = Buffer | Promise<Buffer>;

/**
 * A command's implementation: `args[0]` is the command name as sent. It returns its reply bytes
 * (or a promise of them), or undefined after taking `slot` to fill once the reply is known.
 */
export type Handler = (ctx: RespContext, args: Buffer[], slot: ReplySink) => ReplyBytes | undefined;

/** One command as COMMAND INFO describes it, with its handler. */
export interface CommandSpec {
  /** Lower-case name. */
  name: string;
  /** Redis convention: n = exactly n arguments (the name included), -n = at least n. */
  arity: number;
  /** COMMAND INFO flags: write, readonly, fast, ... */
  flags: readonly string[];
  /** First key, last key (-1 = the last argument), step; 0, 0, 0 for no keys. */
  keys: readonly [number, number, number];
  /**
   * The command reads or changes the whole key space (SCAN, KEYS, DBSIZE, RANDOMKEY, FLUSHDB):
   * it runs after every earlier command of its connection, and later ones run after it (KeyOrder),
   * as they would in Redis's one-at-a-time order.
   */
  keyspace?: true;
  run: Handler;
}

/** Everything a handler may use; one per connection (a delayed command gets a copy of the session). */
export interface RespContext {
  session: Session;
  door: RespDoor;
  server: ServerFacts;
  /** Every command, for COMMAND. */
  commands: ReadonlyMap<string, CommandSpec>;
  now(): number;
}

/** Whether `argc` arguments (the name included) satisfy `arity`. */
export const arityAccepts = (arity: number, argc: number): boolean => (arity >= 0 ? argc === arity : argc >= -arity);
