import type { TopologySnapshot } from '../shared/topology/snapshot';
import type { SetCondition } from '../shared/protocol';
import type { Command, OutcomeDone } from './front/commands';

/**
 * The seam between the proxy's fronts (HTTP/JSON, WebSocket, later RESP) and its data plane
 * (routing, links, breakers, coalescing). Fronts parse and validate their own wire, call these
 * methods, and translate results and `ProxyError`s back to their wire in one table each.
 * A miss is a value (`{ hit: false }`), never an error.
 */
export type ReadPreference = 'primary' | 'replica';

/** How a hot key's read was served (the key's hot-key rule mode). */
export type HotMode = 'near-cache' | 'replica-spread' | 'copies';

export interface Hit {
  hit: true;
  /** Set when the key is under a hot-key rule (HTTP: header `x-shardcache-hot`). */
  hot?: HotMode;
  value: Buffer;
  version: number;
  /** Absolute epoch ms; 0 = never expires. */
  expiresAt: number;
  flags: number;
  /**
   * Set on a stale value: by read-through, `revalidating` (past its soft TTL, one refresh is
   * running) or `origin-error` (the refresh failed; served instead of an error); by a replica
   * read, `resync` (the replica is loading a full sync and answered from the data it replaces).
   * HTTP shows it as `x-shardcache-stale`.
   */
  stale?: StaleReason;
}
export type StaleReason = 'revalidating' | 'origin-error' | 'resync';
export interface Miss {
  hit: false;
  hot?: HotMode;
  /** `resync`: a replica in a full sync missed in the data it is replacing (the key may exist). */
  stale?: 'resync';
}
export type GetResult = Hit | Miss;

export interface SetRequest {
  value: Buffer;
  /** Explicit TTL in ms; undefined = the namespace's default TTL (with jitter); 0 = no expiry. */
  ttlMs?: number;
  flags?: number;
  cond?: SetCondition;
  /** Compare-and-set: write only if the current version equals this. */
  ifVersion?: number;
  tags?: string[];
}

export interface WriteResult {
  version: number;
  expiresAt: number;
}

/** Where a key lives, from the snapshot the proxy routes by. */
export interface RouteInfo {
  namespace: string;
  key: string;
  slot: number;
  shardId: number;
  primary: { nodeId: string; addr: string; epoch: number } | null;
  replicas: Array<{ nodeId: string; addr: string }>;
  /** The key's active hot-key rule, when it has one. */
  hot?: { mode: HotMode; copies?: number; ttlMs?: number; expiresAt?: number; source: 'operator' | 'auto' };
}

/** What the fronts need of the data plane (through the Dispatcher). */
export interface CacheBackend {
  /**
   * Runs one command and calls `done` once with its outcome or its error; never throws (a
   * synchronous failure reaches `done` too). `pref` is the read preference of a read, resolved.
   * The callback is the request path: no promise per request.
   */
  run(cmd: Command, pref: ReadPreference, done: OutcomeDone): void;
  route(ns: string, key: string): RouteInfo;
  /** The snapshot requests are routed by; undefined until the first load. */
  readonly snapshot: TopologySnapshot | undefined;
  /**
   * Every live node's STATS (the figures of its store: bytes, maxMemoryBytes, items, ...), asked
   * in parallel; a node that failed to answer carries its error. For tools (RESP INFO memory),
   * never on a request's path. Absent: the backend has no nodes to ask.
   */
  nodeStats?(): Promise<NodeStats[]>;
}

/** One node's answer to STATS (`NodeStats.stats`), or why it gave none (`error`). */
export interface NodeStats {
  nodeId: string;
  shardId: number;
  stats?: Record<string, unknown>;
  error?: Error;
}

/** The backend's snapshot, or undefined before the first load (a watcher-backed getter may throw until then). */
export function snapshotOf(backend: Pick<CacheBackend, 'snapshot'>): TopologySnapshot | undefined {
  try {
    return backend.snapshot;
  } catch {
    return undefined;
  }
}
