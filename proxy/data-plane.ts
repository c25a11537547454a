import type { PeerAccess } from '../shared/peer-auth';
import { SLOT_COUNT, slotOf } from '../shared/slot';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/log';
import type { TopologySnapshot } from '../shared/topology/snapshot';
import { WRITE_POLICY_DEFAULTS } from '../shared/topology/schema';
import type { CacheBackend, GetResult, NodeStats, ReadPreference, RouteInfo, SetRequest, WriteResult } from './backend';
import type { Command, Outcome, OutcomeDone } from './front/commands';
import { ProxyError, ProxyErrorCode } from './errors';
import { checkItemSize, policyOf, readPreferenceFor, resolveTtlMs, validateKeys, validateNamespace, validateTarget } from './policy';
import { flightKeyOf, getFlightKey, SingleFlight } from './routing/coalesce';
import {
  dbsizeMessage, deleteMessage, existsMessage, expireMessage, getMessage, incrMessage, invalidateMessage, memoryUsageMessage, mgetMessage, objectMessage, parseDbsizeCounts, parseFlag, parseGet,
  parseExists, parseIncr, parseMemoryUsage, parseMget, parseObject, parseOk, parseRandomKey, parseRegionInvalidated, parseStats, regionInvalidateMessage, statsMessage, parseScan, parseSet, persistMessage, randomKeyMessage, scanMessage, setMessage, parseTtl, ttlMessage, type MgetEntries, type SetFields,
} from './routing/messages';
import { checkColl, collMessage, collWriteMessage, parseColl, parseCollWrite, parseType, typeMessage } from './routing/coll-messages';
import { assemble, splitByShard, type MgetResults } from './routing/mget';
import { stringRequest, type StringCommand } from './routing/string-ops';
import { CollCmd, TYPE_NAMES, type EntryTypeCode } from '../shared/collections';
import { HotKeys, type HotRouting } from './hotkeys/hot-keys';
import { hotId } from './hotkeys/rules';
import { pickNode, shardOfSlot } from './routing/picker';
import { Router } from './routing/router';
import type { BreakerOptions } from './upstream/breaker';
import type { BreakerStateName } from './upstream/metrics';
import { UpstreamMetrics } from './upstream/metrics';
import { Upstreams } from './upstream/upstreams';
import { createReadThrough } from './readthrough/wiring';
import type { OriginLoader } from './readthrough/origin';
import type { ReadThrough } from './readthrough/read-through';

/** The topology the data plane routes by: a TopologyWatcher, or anything shaped like it. */
export interface TopologySource {
  /** May throw before the first load (TopologyWatcher does); read once at start, then kept from 'change'. */
  readonly snapshot: TopologySnapshot | undefined;
  on(event: 'change', fn: (s: TopologySnapshot) => void): unknown;
  off(event: 'change', fn: (s: TopologySnapshot) => void): unknown;
}

/** Options of `createDataPlane`; everything but topology, registry and log has a default. */
export interface DataPlaneOptions {
  topology: TopologySource;
  /** Metrics are registered here. */
  registry: Registry;
  log: Logger;
  /** Pipelined connections per storage node (default 2). */
  connectionsPerNode?: number;
  /** Deadline of one request to a node (default 1000 ms). */
  requestTimeoutMs?: number;
  /** Requests in flight to one node above which new ones fail fast with NODE_UNAVAILABLE (default 4096). */
  maxInFlightPerNode?: number;
  /** Bound on the time one request waits for a newer topology after NOT_PRIMARY (default 3000 ms). */
  redirectWaitMs?: number;
  /** Retries after NOT_PRIMARY / no primary (default 3). */
  maxRedirects?: number;
  breaker?: BreakerOptions;
  random?: () => number;
  /** How read-through namespaces load from their origin (default: HTTP with fetch). */
  origin?: OriginLoader;
  /** The cluster secret and node-link TLS of every connection to a node (default: plain TCP, no secret). */
  nodeAccess?: PeerAccess;
  /** Hot-key detection window (default 5000 ms) and near-cache bounds. */
  hotKeys?: { windowMs?: number; nearMaxEntries?: number; nearMaxBytes?: number };
}

/** The data plane as fronts and the admin port use it. */
export interface DataPlane extends CacheBackend {
  /** `requested`, else the namespace's readPreference, else 'primary' (see policy.readPreferenceFor). */
  readPreferenceFor(ns: string, requested?: ReadPreference): ReadPreference;
  /** Breaker state of a node: closed, halfOpen or open. */
  breakerState(nodeId: string): BreakerStateName;
  /** Hot-key detection, rules and near cache (admin report, auto promotion). */
  readonly hotKeys: HotKeys;
  /** Stops following the topology and closes every link; requests in flight fail. */
  close(): Promise<void>;
  // The promise forms of `run`, one command each (tests, tools).
  get(ns: string, key: string, pref: ReadPreference): Promise<GetResult>;
  /** Per-key results in the order of `keys`; a key whose shard failed carries its error. */
  mget(ns: string, keys: readonly string[], pref: ReadPreference): Promise<Array<GetResult | Error>>;
  /** Resolves undefined when an NX/XX condition was not met. */
  set(ns: string, key: string, req: SetRequest): Promise<WriteResult | undefined>;
  delete(ns: string, key: string): Promise<boolean>;
  incr(ns: string, key: string, delta: number | bigint, ttlMsOnCreate?: number): Promise<{ value: number | bigint; version: number }>;
  /** ttlMs <= 0 deletes the key; resolves whether the key existed. */
  expire(ns: string, key: string, ttlMs: number): Promise<boolean>;
  /** Removes the key's expiry; resolves whether it had one. */
  persist(ns: string, key: string): Promise<boolean>;
  /**
   * Namespace-wide (no tag) or tag-wide invalidation on every shard's primary; `fromRegion`: a
   * peer region's (the nodes apply it and never ship it back to the regions).
   */
  invalidate(ns: string, tag?: string, fromRegion?: string): Promise<void>;
  /**
   * A peer region's invalidation of `ns/key`, written there at `at` (epoch ms): REGION_INVALIDATE
   * at the key's primary (redirects and breakers as any write), then this proxy's near cache and
   * hot-key copies of the key dropped as after a DELETE. Resolves whether the entry was removed
   * (false: a newer local write, or no entry).
   */
  regionInvalidate(ns: string, key: string, at: number): Promise<boolean>;
}

/**
 * The proxy's data plane: everything between a parsed request and a storage node's reply.
 *
 *   front ─► policy (validate, TTL, size) ─► singleflight (GET) ─► Router ─► Upstreams
 *                                                                   │          └ NodeClient (opossum) ─► NodePool ─► Link ×N ─► node
 *                                    topology 'change' ─────────────┴─► redirect waiters, pools of departed nodes closed
 *
 * Requests read the in-memory snapshot only; etcd is never awaited on a request.
 */
export function createDataPlane(options: DataPlaneOptions): DataPlane {
  return new DataPlaneImpl(options);
}

function readSnapshot(topology: TopologySource): TopologySnapshot | undefined {
  try {
    return topology.snapshot;
  } catch {
    return undefined; // a TopologyWatcher before its first load
  }
}

function badRequest(message: string, field: string): ProxyError {
  return new ProxyError(ProxyErrorCode.BAD_REQUEST, message, { field });
}

function checkPref(pref: unknown): asserts pref is ReadPreference {
  if (pref !== 'primary' && pref !== 'replica') throw badRequest('read preference must be "primary" or "replica"', 'pref');
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new ProxyError(ProxyErrorCode.INTERNAL, String(err)));

/** Called once with a result or an error. */
type Done<T> = (err: Error | null, value?: T) => void;

/** Hands a GET's promised result to `done` as its outcome (the rare paths: read-through, hot keys). */
function settleGet(promise: Promise<GetResult>, done: OutcomeDone): void {
  promise.then((result) => done(null, { op: 'get', result }), (err: unknown) => done(asError(err)));
}

/** Detaches the flights of `ns/key` at both read preferences. */
function forgetKey(flights: Pick<SingleFlight<unknown>, 'forget'>, ns: string, key: string): void {
  flights.forget(getFlightKey('primary', ns, key));
  flights.forget(getFlightKey('replica', ns, key));
}

const parseGetOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'get', result: parseGet(reply, nodeId) });

const INVALIDATED: Outcome = { op: 'invalidate' };
const PONG: Outcome = { op: 'ping' };

/** Reply parsers that make the front's outcome at once (one object per reply, not two). */
const parseMemoryUsageOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'memory_usage', bytes: parseMemoryUsage(reply, nodeId) });
const parseObjectOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'object', facts: parseObject(reply, nodeId) });
const parseDeleted = (reply: unknown[], nodeId: string): Outcome => ({ op: 'delete', deleted: parseFlag(reply, nodeId) });
/** REGION_INVALIDATE's reply as a DELETE's outcome: `#written` then drops the key as after a delete. */
const parseRegionDeletedOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'delete', deleted: parseRegionInvalidated(reply, nodeId) });
const parseExpired = (reply: unknown[], nodeId: string): Outcome => ({ op: 'expire', updated: parseFlag(reply, nodeId) });
const parsePersisted = (reply: unknown[], nodeId: string): Outcome => ({ op: 'persist', updated: parseFlag(reply, nodeId) });
const parseScanOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'scan', ...parseScan(reply, nodeId) });
const parseTypeOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'type', type: parseType(reply, nodeId) });
const parseTtlOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'ttl', ttlMs: parseTtl(reply, nodeId) });
const parseCollOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'coll', reply: parseColl(reply, nodeId), version: 0 });
const parseCollWriteOutcome = (reply: unknown[], nodeId: string): Outcome => ({ op: 'coll', ...parseCollWrite(reply, nodeId) });
function parseIncrOutcome(reply: unknown[], nodeId: string): Outcome {
  const { value, version } = parseIncr(reply, nodeId);
  return { op: 'incr', value, version };
}

class DataPlaneImpl implements DataPlane {
  readonly #topology: TopologySource;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #metrics: UpstreamMetrics;
  readonly #upstreams: Upstreams;
  readonly #router: Router;
  /** GETs of the hot-key and read-through paths (their results are GetResults). */
  readonly #flights: SingleFlight<GetResult>;
  /** Plain GETs: their flights end with the front's outcome itself (one object per reply fewer). */
  readonly #gets: SingleFlight<Outcome>;
  readonly #readThrough: ReadThrough;
  readonly hotKeys: HotKeys;
  #current: TopologySnapshot | undefined;
  #closed: Promise<void> | undefined;

  constructor(o: DataPlaneOptions) {
    this.#topology = o.topology;
    this.#log = o.log.child({ component: 'proxy:data-plane' });
    this.#requestTimeoutMs = o.requestTimeoutMs ?? 1000;
    this.#random = o.random ?? Math.random;
    const now = (): number => performance.now();
    this.#flights = new SingleFlight<GetResult>();
    this.#gets = new SingleFlight<Outcome>();
    this.#metrics = new UpstreamMetrics(o.registry, () => this.#upstreams.inflight(), () => this.#flights.shared + this.#gets.shared);
    this.#upstreams = new Upstreams({
      connectionsPerNode: o.connectionsPerNode ?? 1, requestTimeoutMs: this.#requestTimeoutMs, maxInFlightPerNode: o.maxInFlightPerNode ?? 4096,
      breaker: o.breaker ?? {}, random: this.#random, now, log: o.log.child({ component: 'proxy:upstream' }), metrics: this.#metrics, access: o.nodeAccess,
    });
    this.#router = new Router({
      nodes: this.#upstreams, current: () => this.#current, redirectWaitMs: o.redirectWaitMs ?? 3000, maxRedirects: o.maxRedirects ?? 3,
      random: this.#random, now, onRedirect: (_shard, why) => this.#metrics.redirect(why),
    });
    this.#readThrough = createReadThrough({
      router: this.#router, flights: this.#flights, registry: o.registry, origin: o.origin, random: this.#random, log: this.#log,
    });
    this.hotKeys = new HotKeys({
      registry: o.registry, log: o.log, routing: this.#hotRouting(), current: () => this.#current, random: this.#random, now, access: o.nodeAccess, ...o.hotKeys,
    });
    this.#current = readSnapshot(o.topology);
    o.topology.on('change', this.#onChange);
  }

  get snapshot(): TopologySnapshot | undefined {
    return this.#current;
  }

  readPreferenceFor(ns: string, requested?: ReadPreference): ReadPreference {
    return readPreferenceFor(this.#current, ns, requested);
  }

  nodeStats(): Promise<NodeStats[]> {
    const snapshot = this.#current;
    if (snapshot === undefined) return Promise.resolve([]);
    const asks: Array<Promise<NodeStats>> = [];
    for (const nodeId of snapshot.liveNodes) {
      const node = snapshot.nodes.get(nodeId);
      if (node === undefined) continue;
      asks.push(new Promise((resolve) => {
        this.#upstreams.channel(nodeId, node.addr).send(statsMessage(), (err, reply) => {
          try {
            if (err !== null) throw err;
            resolve({ nodeId, shardId: node.shardId, stats: parseStats(reply!, nodeId) });
          } catch (failure) {
            resolve({ nodeId, shardId: node.shardId, error: asError(failure) });
          }
        });
      }));
    }
    return Promise.all(asks);
  }

  breakerState(nodeId: string): BreakerStateName {
    return this.#upstreams.breakerState(nodeId);
  }

  /** The one switch from a command to the data plane; every op below calls `done` once. */
  run(cmd: Command, pref: ReadPreference, done: OutcomeDone): void {
    try {
      switch (cmd.op) {
        case 'get':
          return this.#get(cmd.ns, cmd.key, pref, done);
        case 'mget':
          validateNamespace(cmd.ns);
          validateKeys(cmd.keys);
          checkPref(pref);
          return this.#mget(cmd.ns, cmd.keys, pref, 0, (err, results) => (err !== null ? done(err) : done(null, { op: 'mget', results: results! })));
        case 'set':
          return this.#set(cmd.ns, cmd.key, cmd, done);
        case 'delete':
          validateTarget(cmd.ns, cmd.key);
          return this.#write(cmd.ns, cmd.key, deleteMessage(0, cmd.ns, cmd.key), parseDeleted, done);
        case 'incr': {
          const { ns, key, delta } = cmd;
          validateTarget(ns, key);
          if (typeof delta !== 'bigint' && !Number.isSafeInteger(delta)) throw badRequest('delta must be a whole number', 'delta');
          const ttl = resolveTtlMs(policyOf(this.#current, ns), cmd.ttlMs, this.#random);
          return this.#write(ns, key, incrMessage(0, ns, key, delta, ttl), parseIncrOutcome, done);
        }
        case 'expire':
          validateTarget(cmd.ns, cmd.key);
          if (!Number.isSafeInteger(cmd.ttlMs)) throw badRequest('ttlMs must be a whole number of milliseconds', 'ttlMs');
          return this.#write(cmd.ns, cmd.key, expireMessage(0, cmd.ns, cmd.key, cmd.ttlMs), parseExpired, done);
        case 'persist':
          validateTarget(cmd.ns, cmd.key);
          return this.#write(cmd.ns, cmd.key, persistMessage(0, cmd.ns, cmd.key), parsePersisted, done);
        case 'invalidate':
          this.#invalidate(cmd.ns, cmd.tag).then(() => done(null, INVALIDATED), done);
          return;
        case 'coll':
          return this.#coll(cmd, pref, done);
        case 'type':
        case 'ttl': {
          validateTarget(cmd.ns, cmd.key);
          checkPref(pref);
          const { slot, shardId } = this.#router.locate(cmd.ns, cmd.key);
          if (cmd.op === 'type') return this.#router.call(shardId, pref, typeMessage(cmd.ns, cmd.key), parseTypeOutcome, slot, done);
          return this.#router.call(shardId, pref, ttlMessage(cmd.ns, cmd.key), parseTtlOutcome, slot, done);
        }
        case 'exists':
          validateNamespace(cmd.ns);
          validateKeys(cmd.keys);
          checkPref(pref);
          return this.#exists(cmd.ns, cmd.keys, cmd.touch === true, pref, 0, (err, count) => (err !== null ? done(err) : done(null, { op: 'exists', count: count! })));
        case 'append':
        case 'setrange':
        case 'setget':
        case 'incrbyfloat':
        case 'expireat':
        case 'rename':
        case 'copy':
        case 'msetnx':
          return this.#stringWrite(cmd, done);
        case 'scan':
          validateNamespace(cmd.ns);
          checkPref(pref);
          return this.#scan(cmd.ns, cmd.slot, cmd.count, cmd.type, pref, done);
        case 'dbsize':
          validateNamespace(cmd.ns);
          return this.#dbsize(cmd.ns, done);
        case 'randomkey':
          validateNamespace(cmd.ns);
          checkPref(pref);
          return this.#randomKey(cmd.ns, pref, this.#shuffledShards(), done);
        case 'memory_usage': {
          validateTarget(cmd.ns, cmd.key);
          const { slot, shardId } = this.#router.locate(cmd.ns, cmd.key);
          return this.#router.call(shardId, 'primary', memoryUsageMessage(cmd.ns, cmd.key), parseMemoryUsageOutcome, slot, (err, o) => (err !== null ? done(err) : done(null, o)));
        }
        case 'object': {
          validateTarget(cmd.ns, cmd.key);
          const { slot, shardId } = this.#router.locate(cmd.ns, cmd.key);
          return this.#router.call(shardId, 'primary', objectMessage(cmd.ns, cmd.key), parseObjectOutcome, slot, (err, o) => (err !== null ? done(err) : done(null, o)));
        }
        case 'ping':
          return done(null, PONG);
      }
    } catch (err) {
      done(err);
    }
  }

  #get(ns: string, key: string, pref: ReadPreference, done: OutcomeDone): void {
    validateTarget(ns, key);
    checkPref(pref);
    const { slot, shardId, snapshot } = this.#router.locate(ns, key);
    const id = hotId(ns, key);
    const hot = this.hotKeys.observe(id, snapshot);
    const policy = policyOf(snapshot, ns);
    // Read-through namespaces load on a miss (proxy/readthrough/); hot-key rules serve the others.
    if (policy?.origin !== undefined) return settleGet(this.#readThrough.get(ns, key, policy), done);
    if (hot !== undefined) return settleGet(this.hotKeys.get(hot, ns, key, pref, shardId, snapshot), done);
    const finish = this.#gets.join(flightKeyOf(pref, id), done);
    if (finish !== undefined) this.#router.call(shardId, pref, getMessage(ns, key), parseGetOutcome, slot, finish);
  }

  /** MGET by shard; a group whose slots moved meanwhile (MOVED) is split again by the newer map, twice at most. */
  #mget(ns: string, keys: readonly string[], pref: ReadPreference, depth: number, done: Done<MgetResults>): void {
    const snapshot = this.#router.locate(ns, keys[0]).snapshot;
    const groups = splitByShard(ns, keys, (slot) => shardOfSlot(snapshot, slot));
    const outcomes = new Array<MgetEntries | MgetResults | Error>(groups.length);
    let left = groups.length;
    const settled = (g: number, outcome: MgetEntries | MgetResults | Error): void => {
      outcomes[g] = outcome;
      if (--left === 0) done(null, assemble(keys.length, groups, outcomes));
    };
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g];
      if (group.shardId < 0) {
        settled(g, new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no shard owns these keys: the cluster has no slot map yet'));
        continue;
      }
      const count = group.keys.length;
      const parse = (reply: unknown[], nodeId: string): MgetEntries => parseMget(reply, count, nodeId);
      this.#router.call(group.shardId, pref, mgetMessage(ns, group.keys), parse, -1, (err, entries) => {
        if (err === null) return settled(g, entries!);
        if (!(err instanceof ProxyError && err.detail?.moved === true) || depth >= 2) return settled(g, asError(err));
        this.#mget(ns, group.keys, pref, depth + 1, (_, again) => settled(g, again!)); // per key: what its new owner said
      });
    }
  }

  #set(ns: string, key: string, req: SetRequest, done: OutcomeDone): void {
    validateTarget(ns, key);
    if (!(req?.value instanceof Uint8Array)) throw badRequest('value must be bytes', 'value');
    const { slot, shardId, snapshot } = this.#router.locate(ns, key);
    const policy = policyOf(snapshot, ns);
    checkItemSize(policy, key, req.value);
    const fields: SetFields = {
      value: req.value, ttlMs: resolveTtlMs(policy, req.ttlMs, this.#random), flags: req.flags ?? 0, cond: req.cond ?? 0, ifVersion: req.ifVersion ?? 0,
      tags: req.tags ?? null,
    };
    this.#router.call(shardId, 'write', setMessage(0, ns, key, fields), parseSet, slot, (err, result) => {
      if (err !== null) return done(err);
      this.#written(ns, key, { op: 'set', result }, done, { fields, result });
    });
  }

  /**
   * A hash or set command: a read at the node `pref` picks (SINTER / SUNION / SDIFF with their
   * other keys, one slot), a write at the primary, whose key, when the command creates it, gets
   * the namespace's default TTL (as INCR's), then `#written`.
   */
  #coll(cmd: Extract<Command, { op: 'coll' }>, pref: ReadPreference, done: OutcomeDone): void {
    const { ns, key } = cmd;
    validateTarget(ns, key);
    const def = checkColl(ns, key, cmd.cmd, cmd.args, cmd.keys);
    const { slot, shardId, snapshot } = this.#router.locate(ns, key);
    if (def.write) {
      const ttl = resolveTtlMs(policyOf(snapshot, ns), undefined, this.#random);
      return this.#write(ns, key, collWriteMessage(0, ns, key, def.code, cmd.args, ttl), parseCollWriteOutcome, done);
    }
    checkPref(pref);
    const others = def.multiKey && cmd.keys !== undefined && cmd.keys.length > 0 ? cmd.keys : undefined;
    this.#router.call(shardId, pref, collMessage(ns, key, def.code, cmd.args, others), parseCollOutcome, slot, done);
  }

  /** EXISTS by shard, as `#mget` splits (a group MOVED meanwhile is split again, twice at most): the sum of every group's count. */
  #exists(ns: string, keys: readonly string[], touch: boolean, pref: ReadPreference, depth: number, done: Done<number>): void {
    const snapshot = this.#router.locate(ns, keys[0]).snapshot;
    const groups = splitByShard(ns, keys, (slot) => shardOfSlot(snapshot, slot));
    let left = groups.length;
    let total = 0;
    let failed: Error | undefined;
    const settled = (err: Error | null, count?: number): void => {
      if (err !== null) failed ??= err;
      else total += count!;
      if (--left === 0) done(failed ?? null, failed === undefined ? total : undefined);
    };
    for (const group of groups) {
      if (group.shardId < 0) {
        settled(new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no shard owns these keys: the cluster has no slot map yet'));
        continue;
      }
      this.#router.call(group.shardId, pref, existsMessage(ns, group.keys, touch), parseExists, -1, (err, count) => {
        if (err === null) return settled(null, count);
        if (!(err instanceof ProxyError && err.detail?.moved === true) || depth >= 2) return settled(asError(err));
        this.#exists(ns, group.keys, touch, pref, depth + 1, settled);
      });
    }
  }

  /** A write of one key whose message the router stamps with the primary's epoch; `parse` makes its outcome. */
  #write(ns: string, key: string, message: unknown[], parse: (reply: unknown[], nodeId: string) => Outcome, done: OutcomeDone): void {
    const { slot, shardId } = this.#router.locate(ns, key);
    this.#router.call(shardId, 'write', message, parse, slot, (err, outcome) => (err !== null ? done(err) : this.#written(ns, key, outcome!, done)));
  }

  /**
   * A string read-modify-write (APPEND ... MSETNX): one node op at the primary of its keys' slot,
   * then `#written` for each key it may have changed (RENAME and COPY two, MSETNX all).
   */
  #stringWrite(cmd: StringCommand, done: OutcomeDone): void {
    const first = cmd.op === 'msetnx' ? cmd.keys[0] : cmd.key;
    validateTarget(cmd.ns, first);
    const { slot, shardId, snapshot } = this.#router.locate(cmd.ns, first);
    const req = stringRequest(cmd, policyOf(snapshot, cmd.ns), this.#random);
    this.#router.call(shardId, 'write', req.message, req.parse, slot, (err, outcome) => (err !== null ? done(err) : this.#writtenEach(cmd.ns, req.keys, 0, outcome!, done)));
  }

  /** `#written` for `keys[i]` and each key after it, in turn; `done` once, after the last. */
  #writtenEach(ns: string, keys: readonly string[], i: number, outcome: Outcome, done: OutcomeDone): void {
    if (i === keys.length - 1) return this.#written(ns, keys[i], outcome, done);
    this.#written(ns, keys[i], outcome, (err) => (err != null ? done(err) : this.#writtenEach(ns, keys, i + 1, outcome, done)));
  }

  /**
   * After a write to `ns/key` completed: later GETs start their own flight (read-your-writes);
   * a hot key's near-cache entry is dropped and its copies are written (see HotKeys.written).
   */
  #written(ns: string, key: string, outcome: Outcome, done: OutcomeDone, set?: { fields: SetFields; result: WriteResult | undefined }): void {
    if (this.#gets.size > 0) forgetKey(this.#gets, ns, key);
    if (this.#flights.size > 0) forgetKey(this.#flights, ns, key);
    const after = this.hotKeys.written(ns, key, outcome, set);
    if (after instanceof Promise) after.then((o) => done(null, o), done);
    else done(null, after);
  }

  /** `run` of one command as a promise of its outcome. */
  #promised<K extends Outcome['op']>(cmd: Command & { op: K }, pref: ReadPreference = 'primary'): Promise<Extract<Outcome, { op: K }>> {
    return new Promise((resolve, reject) => this.run(cmd, pref, (err, outcome) => (err != null ? reject(err) : resolve(outcome as Extract<Outcome, { op: K }>))));
  }

  get(ns: string, key: string, pref: ReadPreference): Promise<GetResult> {
    return this.#promised({ op: 'get', ns, key }, pref).then((o) => o.result);
  }

  mget(ns: string, keys: readonly string[], pref: ReadPreference): Promise<Array<GetResult | Error>> {
    return this.#promised({ op: 'mget', ns, keys: keys as string[] }, pref).then((o) => o.results.toArray());
  }

  set(ns: string, key: string, req: SetRequest): Promise<WriteResult | undefined> {
    return this.#promised({ op: 'set', ns, key, ...req, flags: req?.flags ?? 0 }).then((o) => o.result);
  }

  delete(ns: string, key: string): Promise<boolean> {
    return this.#promised({ op: 'delete', ns, key }).then((o) => o.deleted);
  }

  incr(ns: string, key: string, delta: number | bigint, ttlMsOnCreate?: number): Promise<{ value: number | bigint; version: number }> {
    return this.#promised({ op: 'incr', ns, key, delta, ttlMs: ttlMsOnCreate }).then(({ value, version }) => ({ value, version }));
  }

  expire(ns: string, key: string, ttlMs: number): Promise<boolean> {
    return this.#promised({ op: 'expire', ns, key, ttlMs }).then((o) => o.updated);
  }

  persist(ns: string, key: string): Promise<boolean> {
    return this.#promised({ op: 'persist', ns, key }).then((o) => o.updated);
  }

  invalidate(ns: string, tag?: string, fromRegion?: string): Promise<void> {
    if (fromRegion !== undefined) return this.#invalidate(ns, tag, fromRegion);
    return this.#promised({ op: 'invalidate', ns, tag }).then(() => undefined);
  }

  regionInvalidate(ns: string, key: string, at: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      try {
        validateTarget(ns, key);
        if (!Number.isSafeInteger(at) || at < 0) throw badRequest('at must be a time in epoch milliseconds', 'at');
        this.#write(ns, key, regionInvalidateMessage(0, ns, key, at), parseRegionDeletedOutcome, (err, outcome) => {
          if (err != null) reject(asError(err));
          else resolve((outcome as Extract<Outcome, { op: 'delete' }>).deleted);
        });
      } catch (err) {
        reject(asError(err));
      }
    });
  }

  /** The seam the hot-key paths route through. */
  #hotRouting(): HotRouting {
    const router = (): Router => this.#router;
    const flights = this.#flights;
    return {
      read: (shardId, intent, ns, key) => {
        const send = (): Promise<GetResult> => router().send(shardId, intent, getMessage(ns, key), parseGet, slotOf(ns, key));
        return intent === 'spread' ? send() : flights.do(getFlightKey(intent === 'write' ? 'primary' : intent, ns, key), send);
      },
      write: (shardId, build, parse, slot) => router().send(shardId, 'write', build, parse, slot ?? -1),
      healthy: (snapshot, shardId, intent) => pickNode(snapshot, shardId, intent, this.#upstreams, this.#random).ok,
      shardOf: (ns, key) => router().locate(ns, key).shardId,
    };
  }

  /**
   * One SCAN page: the node owning `slot` walks its slots from there (MOVED, followed by the
   * router, when the slot moved meanwhile); the front turns `next` into the client's cursor.
   */
  #scan(ns: string, slot: number, count: number, type: EntryTypeCode | undefined, pref: ReadPreference, done: OutcomeDone): void {
    if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw badRequest(`slot must be a whole number from 0 to ${SLOT_COUNT - 1}`, 'slot');
    if (!Number.isSafeInteger(count) || count < 1) throw badRequest('count must be a positive whole number', 'count');
    if (type !== undefined && TYPE_NAMES[type] === undefined) throw badRequest('type must be an entry type code', 'type');
    const snapshot = this.#current;
    const shardId = snapshot === undefined ? -1 : shardOfSlot(snapshot, slot);
    if (shardId < 0) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, `no shard owns slot ${slot}: the cluster has no slot map yet`, { slot });
    this.#router.call(shardId, pref, scanMessage(ns, slot, count, type), parseScanOutcome, slot, done);
  }

  /** Every shard of the topology (a shard owning no slot answers 0 or nothing); UNAVAILABLE without one. */
  #shardIds(what: string): number[] {
    const snapshot = this.#current;
    const shardIds = snapshot === undefined ? [] : [...snapshot.shards.keys()];
    if (shardIds.length === 0) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, `no topology loaded yet: no shard to ${what}`);
    return shardIds;
  }

  /**
   * The sum of every shard's live count, and of their keys with an expiry, from the primaries (a
   * replica's count of a flushed namespace may lag). `expires` is left undefined when a node did
   * not tell it (a node older than the field).
   */
  #dbsize(ns: string, done: OutcomeDone): void {
    const shardIds = this.#shardIds('count');
    let left = shardIds.length;
    let total = 0;
    let expires: number | undefined = 0;
    let failed: Error | undefined;
    for (const shardId of shardIds) {
      this.#router.call(shardId, 'primary', dbsizeMessage(ns), parseDbsizeCounts, -1, (err, counts) => {
        if (err !== null) failed ??= err;
        else {
          total += counts!.count;
          expires = expires === undefined || counts!.expires === undefined ? undefined : expires + counts!.expires;
        }
        if (--left === 0) done(failed ?? null, failed === undefined ? { op: 'dbsize', count: total, expires } : undefined);
      });
    }
  }

  /** The shards in a random order (RANDOMKEY asks them one after the other). */
  #shuffledShards(): number[] {
    const ids = this.#shardIds('read');
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(this.#random() * (i + 1));
      [ids[i], ids[j]] = [ids[j], ids[i]];
    }
    return ids;
  }

  /**
   * A random key of the first shard in `shardIds` that has one: a random shard holding keys, then
   * a random key of it (uniform over keys when the shards hold about as many). Null once every
   * shard answered none; a shard's failure ends the command.
   */
  #randomKey(ns: string, pref: ReadPreference, shardIds: number[], done: OutcomeDone): void {
    const shardId = shardIds.pop();
    if (shardId === undefined) return done(null, { op: 'randomkey', key: null });
    this.#router.call(shardId, pref, randomKeyMessage(ns), parseRandomKey, -1, (err, key) => {
      if (err !== null) return done(err);
      if (key !== null) return done(null, { op: 'randomkey', key: key! });
      this.#randomKey(ns, pref, shardIds, done);
    });
  }

  async #invalidate(ns: string, tag?: string, fromRegion?: string): Promise<void> {
    validateNamespace(ns);
    if (tag !== undefined && (typeof tag !== 'string' || tag.length === 0 || tag.length > 256)) {
      throw badRequest('tag must be a non-empty string of at most 256 characters', 'tag');
    }
    const snapshot = this.#current;
    const shardIds = snapshot === undefined ? [] : [...snapshot.shards.keys()];
    if (shardIds.length === 0) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'no topology loaded yet: no shard to invalidate');
    const settled = await Promise.allSettled(
      shardIds.map((shardId) => this.#router.send(shardId, 'write', invalidateMessage(0, ns, tag, fromRegion), parseOk)),
    );
    this.#flights.forgetAll();
    this.#gets.forgetAll();
    await this.hotKeys.invalidated(ns);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw asError(failed.reason);
  }

  route(ns: string, key: string): RouteInfo {
    validateTarget(ns, key);
    const { slot, shardId, snapshot } = this.#router.locate(ns, key);
    const shard = snapshot.shards.get(shardId);
    const primary = shard?.primary ? { nodeId: shard.primary.nodeId, addr: shard.primary.addr, epoch: shard.primary.epoch } : null;
    const replicas: RouteInfo['replicas'] = [];
    for (const nodeId of shard?.replicas ?? []) {
      const node = snapshot.nodes.get(nodeId);
      if (node !== undefined) replicas.push({ nodeId, addr: node.addr });
    }
    const rule = this.hotKeys.ruleOf(ns, key);
    const hot = rule === undefined ? undefined : { mode: rule.mode, copies: rule.copies, ttlMs: rule.ttlMs, expiresAt: rule.expiresAt, source: rule.source };
    return { namespace: ns, key, slot, shardId, primary, replicas, ...(hot === undefined ? {} : { hot }) };
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#topology.off('change', this.#onChange);
    this.#current = undefined;
    this.#router.close();
    this.hotKeys.close();
    await this.#upstreams.close();
    this.#log.info({ event: 'closed' }, 'data plane closed');
  }

  readonly #onChange = (snapshot: TopologySnapshot): void => {
    if (this.#closed !== undefined) return;
    this.#current = snapshot;
    this.#upstreams.sync(snapshot);
    this.#router.publish(snapshot);
    this.hotKeys.sync(snapshot);
    this.#warnSlowStores(snapshot);
    this.#log.debug({ event: 'topology', revision: snapshot.revision }, 'topology applied');
  };

  /** Namespaces already warned of: write-through store deadline at or past this proxy's request deadline. */
  readonly #slowStoreWarned = new Set<string>();
  readonly #requestTimeoutMs: number;

  /**
   * A write-through write waits for its store on the node: a store deadline at or past this
   * proxy's deadline for a node's answer makes a slow store look like a dead node (TIMEOUT here,
   * while the node may still apply the write). Said once per namespace, in the log.
   */
  #warnSlowStores(snapshot: TopologySnapshot): void {
    const limit = this.#requestTimeoutMs;
    for (const [ns, policy] of snapshot.namespaces) {
      if (policy.writePolicy !== 'write-through') continue;
      const storeMs = policy.storeTimeoutMs ?? WRITE_POLICY_DEFAULTS.storeTimeoutMs;
      if (storeMs < limit || this.#slowStoreWarned.has(ns)) continue;
      this.#slowStoreWarned.add(ns);
      this.#log.warn({ event: 'write-through-deadline', namespace: ns, storeTimeoutMs: storeMs, requestTimeoutMs: limit },
        `namespace ${ns} writes through to its store with a ${storeMs} ms deadline, at or past this proxy's --request-timeout-ms (${limit}): lower --store-timeout-ms or raise --request-timeout-ms`);
    }
  }
}
