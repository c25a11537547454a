import { Status } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { ProxyError, ProxyErrorCode } from '../errors';
import { pickNode, primaryEpoch, shardOfSlot, type Intent, type NodeChoice, type NodeHealth, type NoChoice } from './picker';
import type { ReplyCallback } from '../upstream/pending';
import { isRedirect } from './status';
import { MOVED_OWNER_AT, MOVED_SLOT_MAP_EPOCH_AT, NOT_PRIMARY_EPOCH_AT, STATUS, WRITE_TARGET } from '../../shared/ops';
import { SnapshotWaiters } from './waiters';

/** Where every fenced write (`[id, op, epoch, ...]`) carries the epoch; stamped per attempt. */
const WRITE_EPOCH_AT = WRITE_TARGET.epoch;

/**
 * One node's request channel: pooled, breaker-guarded. Calls back `(null, reply)` with any reply, or with a
 * `(error)` with a transport failure only (TIMEOUT, NODE_UNAVAILABLE), at once when it refuses without sending.
 * A NODE_UNAVAILABLE whose `detail.unreachable` is true was never sent, because the node refuses
 * connections. A callback rather than a promise: this is every request's path (one promise per
 * request is made by the router, for the whole attempt).
 */
export interface NodeChannel {
  send(message: unknown[], cb: ReplyCallback): void;
}

/** The router's view of the upstream side (owned here; the upstream directory implements it, tests hand it a fake). */
export interface NodePicker extends NodeHealth {
  /** The channel to a node, made on first use. */
  channel(nodeId: string, addr: string): NodeChannel;
}

/** What a Router is built from; every dependency is injected (tests hand in fakes). */
export interface RouterOptions {
  nodes: NodePicker;
  /** The snapshot to route by (never awaits etcd). */
  current(): TopologySnapshot | undefined;
  /** Bound on the time one request spends waiting for a newer topology, ms. */
  redirectWaitMs: number;
  /** Retries after NOT_PRIMARY / MOVED / no primary before giving up with UNAVAILABLE. */
  maxRedirects: number;
  random: () => number;
  now?: () => number;
  /** Called on every redirect or wait (metrics, logs). */
  onRedirect?: (shardId: number, why: 'not-primary' | 'moved' | 'no-primary' | 'unreachable') => void;
}

/** Why an attempt did not produce a reply to hand back: what the retry loop handles next. */
type Retry =
  | { kind: 'no-pick'; pick: NoChoice }
  | { kind: 'gone'; epoch: number }
  | { kind: 'redirect'; pick: NodeChoice; reply: unknown[]; snapshot: TopologySnapshot };

/**
 * What a request sends: its message, or a builder called with the primary's epoch per attempt. A
 * write's message is stamped with the epoch of the primary each attempt goes to (the fencing
 * token every write carries first, `[id, op, epoch, ...]`), so most requests need no builder.
 */
export type Request = unknown[] | ((epoch: number) => unknown[]);

/** Called once with a request's result or its error. */
export type Done<T> = (err: Error | null, value?: T) => void;

/**
 * One routed request: what to send, where, and how far its retries have gone. Its `onReply` is
 * the channel callback of every attempt (one function per request, not one per attempt).
 */
class Call<T> {
  attempt = 0;
  deadline = 0;
  pick: NodeChoice | undefined = undefined;
  snapshot: TopologySnapshot | undefined = undefined;
  readonly onReply: (err: Error | null, reply?: unknown[]) => void;

  constructor(
    public shardId: number,
    readonly intent: Intent,
    readonly build: Request,
    readonly parse: (reply: unknown[], nodeId: string) => T,
    readonly slot: number,
    readonly done: Done<T>,
    router: Router,
  ) {
    this.onReply = (err, reply) => {
      const pick = this.pick!;
      if (err !== null) {
        if (this.intent === 'replica' || this.intent === 'spread' || !isUnreachable(err)) this.done(err);
        else router.retry(this, { kind: 'gone', epoch: pick.epoch });
        return;
      }
      if (isRedirect(reply![STATUS])) {
        router.retry(this, { kind: 'redirect', pick, reply: reply!, snapshot: this.snapshot! });
        return;
      }
      let value: T;
      try {
        value = this.parse(reply!, pick.nodeId);
      } catch (parseErr) {
        this.done(parseErr as Error);
        return;
      }
      this.done(null, value);
    };
  }
}

/** Where a key lives in the snapshot it was located in. */
export interface Located {
  slot: number;
  shardId: number;
  snapshot: TopologySnapshot;
}

/**
 * Routes one request to the node that serves its shard and follows redirects:
 *
 *   pick (snapshot, intent, health) ─► channel.send(build(epoch)) ─► reply ─► parse
 *      │ no primary, or primary gone          │ NOT_PRIMARY / MOVED, or primary gone
 *      └──── wait for a newer snapshot ◄──────┘  (all waits of a request ≤ redirectWaitMs,
 *                                                  at most maxRedirects retries → UNAVAILABLE)
 *
 * Failing fast or waiting: a primary that accepts connections but does not answer (frozen,
 * overloaded) trips its breaker, and requests fail fast with NODE_UNAVAILABLE. A primary that
 * refuses connections is gone and its lease will lapse: a request that needs it (write, primary
 * read) and was not sent waits for the topology to name another primary, as for a shard without
 * one. Replica reads never wait (the picker already falls over). No topology is UNAVAILABLE.
 * Waits share one subscriber (`publish`).
 */
export class Router {
  readonly #o: RouterOptions;
  readonly #now: () => number;
  readonly #waiters = new SnapshotWaiters();

  constructor(options: RouterOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Requests waiting for a newer topology right now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Feeds a new snapshot to waiting requests. */
  publish(snapshot: TopologySnapshot): void {
    this.#waiters.publish(snapshot);
  }

  /** Ends every wait (the requests fail with UNAVAILABLE). */
  close(): void {
    this.#waiters.clear();
  }

  /** The slot and shard of a key; UNAVAILABLE without a topology or a slot map. */
  locate(ns: string, key: string): Located {
    const snapshot = this.#snapshot();
    const slot = slotOf(ns, key);
    const shardId = shardOfSlot(snapshot, slot);
    if (shardId < 0) throw unavailable(`no shard owns slot ${slot}: the cluster has no slot map yet`, { slot });
    return { slot, shardId, snapshot };
  }

  /**
   * Sends `build` (see Request) to the node of `shardId` chosen for `intent` and calls `done` once
   * with `parse(reply)` or the error, retrying redirects. The callback form is every request's
   * path: one `Call` object per request, and no promise unless it waits for a newer topology.
   */
  call<T>(shardId: number, intent: Intent, build: Request, parse: (reply: unknown[], nodeId: string) => T, slot: number, done: Done<T>): void {
    this.#attempt(new Call(shardId, intent, build, parse, slot, done, this));
  }

  /** `call` as a promise (the rare paths: invalidation, hot-key copies, read-through, tests). */
  send<T>(shardId: number, intent: Intent, build: Request, parse: (reply: unknown[], nodeId: string) => T, slot = -1): Promise<T> {
    return new Promise<T>((resolve, reject) => this.call(shardId, intent, build, parse, slot, (err, value) => (err !== null ? reject(err) : resolve(value as T))));
  }

  /** One attempt of `c`: the first and every retry. */
  #attempt<T>(c: Call<T>): void {
    const snapshot = this.#o.current();
    if (snapshot === undefined) return c.done(unavailable('no topology loaded yet'));
    const pick = pickNode(snapshot, c.shardId, c.intent, this.#o.nodes, this.#o.random);
    if (!pick.ok) return this.retry(c, { kind: 'no-pick', pick });
    let message: unknown[];
    const build = c.build;
    if (typeof build !== 'function') {
      message = build;
      if (c.intent === 'write') message[WRITE_EPOCH_AT] = pick.epoch;
    } else {
      try {
        message = build(pick.epoch);
      } catch (err) {
        return c.done(err as Error);
      }
    }
    c.pick = pick;
    c.snapshot = snapshot;
    this.#o.nodes.channel(pick.nodeId, pick.addr).send(message, c.onReply);
  }

  /** Handles an attempt's outcome (wait or give up) off the request path, then attempts again. */
  retry<T>(c: Call<T>, outcome: Retry): void {
    if (c.attempt === 0) c.deadline = this.#now() + this.#o.redirectWaitMs;
    this.#handle(c, outcome, c.attempt++).then(() => this.#attempt(c), (err: unknown) => c.done(err as Error));
  }

  async #handle<T>(c: Call<T>, outcome: Retry, attempt: number): Promise<void> {
    const { deadline, shardId } = c;
    if (outcome.kind === 'no-pick') await this.#afterNoPick(outcome.pick, attempt, deadline, shardId, c.intent);
    else if (outcome.kind === 'gone') await this.#awaitFailover(attempt, deadline, shardId, outcome.epoch);
    else if (outcome.reply[STATUS] === Status.MOVED) c.shardId = await this.#afterMoved(attempt, deadline, shardId, outcome.reply, c.slot);
    else await this.#afterRedirect(attempt, deadline, shardId, outcome.pick, outcome.reply, outcome.snapshot);
  }

  /** No node to send to: wait for an election or a failover, or fail fast. */
  async #afterNoPick(pick: NoChoice, attempt: number, deadline: number, shardId: number, intent: Intent): Promise<void> {
    if (pick.reason === 'no-primary') {
      this.#o.onRedirect?.(shardId, 'no-primary');
      await this.#waitOrGiveUp(attempt, deadline, (s) => primaryEpoch(s, shardId) !== undefined, shardId, 'has no primary');
      return;
    }
    const gone = pick.reason === 'unhealthy' && intent !== 'replica' && intent !== 'spread' && pick.nodeId !== undefined && this.#o.nodes.isUnreachable(pick.nodeId);
    if (!gone) throw pickError(pick, shardId);
    await this.#awaitFailover(attempt, deadline, shardId, primaryEpoch(this.#snapshot(), shardId) ?? 0);
  }

  /** The primary of `epoch` refuses connections: wait for the topology to name another one. */
  async #awaitFailover(attempt: number, deadline: number, shardId: number, epoch: number): Promise<void> {
    this.#o.onRedirect?.(shardId, 'unreachable');
    const replaced = (s: TopologySnapshot): boolean => {
      const current = primaryEpoch(s, shardId);
      return current !== undefined && current !== epoch;
    };
    await this.#waitOrGiveUp(attempt, deadline, replaced, shardId, `primary (epoch ${epoch}) refuses connections and was not replaced`);
  }

  /**
   * MOVED `[id, MOVED, message, slot, ownerShard, slotMapEpoch]`: the slot belongs to another shard.
   * Waits (within the request's bound) for a slot map of at least the node's epoch and routes the
   * slot by it; without one in time, goes to the shard the node named. A request over several
   * slots (`slot` -1: an MGET group) fails with MOVED for its caller to split again.
   */
  async #afterMoved(attempt: number, deadline: number, shardId: number, reply: unknown[], slot: number): Promise<number> {
    this.#o.onRedirect?.(shardId, 'moved');
    if (attempt >= this.#o.maxRedirects) throw redirectsExhausted(shardId, this.#o.maxRedirects);
    const epoch = typeof reply[MOVED_SLOT_MAP_EPOCH_AT] === 'number' ? reply[MOVED_SLOT_MAP_EPOCH_AT] : 0;
    const fresh = (s: TopologySnapshot): boolean => (s.slotMap?.epoch ?? 0) >= epoch;
    const snapshot = fresh(this.#snapshot()) ? this.#snapshot() : await this.#waiters.wait(fresh, Math.max(0, deadline - this.#now()));
    if (slot < 0) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'the slot map changed under a multi-key request', { moved: true, shardId });
    if (snapshot !== undefined) return shardOfSlot(snapshot, slot);
    const owner = typeof reply[MOVED_OWNER_AT] === 'number' ? reply[MOVED_OWNER_AT] : -1;
    if (owner >= 0 && this.#snapshot().shards.get(owner)?.primary !== undefined) return owner;
    throw unavailable(`slot ${slot} moved and no newer slot map arrived within ${this.#o.redirectWaitMs} ms`, { shardId, slot });
  }

  async #afterRedirect(attempt: number, deadline: number, shardId: number, used: NodeChoice, reply: unknown[], snapshot: TopologySnapshot): Promise<void> {
    if (reply[STATUS] !== Status.NOT_PRIMARY) {
      this.#o.onRedirect?.(shardId, 'moved');
      const revision = snapshot.revision;
      await this.#waitOrGiveUp(attempt, deadline, (s) => s.revision > revision, shardId, 'moved and no newer slot map arrived');
      return;
    }
    this.#o.onRedirect?.(shardId, 'not-primary');
    const moved = (s: TopologySnapshot): boolean => {
      const epoch = primaryEpoch(s, shardId);
      return epoch !== undefined && epoch !== used.epoch;
    };
    const nodeEpoch = typeof reply[NOT_PRIMARY_EPOCH_AT] === 'number' ? reply[NOT_PRIMARY_EPOCH_AT] : 0;
    if (nodeEpoch > used.epoch) {
      await this.#waitOrGiveUp(attempt, deadline, moved, shardId, `has a primary newer than epoch ${used.epoch} that this proxy has not seen`);
      return;
    }
    // The node knows no newer primary: it is catching up with its own election, or it just
    // stepped down and an election is coming. Retry after a short wait either way.
    if (attempt >= this.#o.maxRedirects) throw redirectsExhausted(shardId, this.#o.maxRedirects);
    const pause = Math.min(25 * 2 ** attempt, deadline - this.#now());
    if (!moved(this.#snapshot())) await this.#waiters.wait(moved, pause);
  }

  /** Waits for a snapshot passing `test` (checking the current one first) within the request's bound. */
  async #waitOrGiveUp(attempt: number, deadline: number, test: (s: TopologySnapshot) => boolean, shardId: number, what: string): Promise<void> {
    if (attempt >= this.#o.maxRedirects) throw redirectsExhausted(shardId, this.#o.maxRedirects);
    if (test(this.#snapshot())) return;
    const waited = await this.#waiters.wait(test, deadline - this.#now());
    if (waited === undefined) throw unavailable(`shard ${shardId} ${what} within ${this.#o.redirectWaitMs} ms`, { shardId });
  }

  #snapshot(): TopologySnapshot {
    const snapshot = this.#o.current();
    if (snapshot === undefined) throw unavailable('no topology loaded yet');
    return snapshot;
  }
}

/** A NODE_UNAVAILABLE that was never sent because the node refuses connections (see NodeChannel). */
function isUnreachable(err: unknown): boolean {
  return err instanceof ProxyError && err.code === ProxyErrorCode.NODE_UNAVAILABLE && err.detail?.unreachable === true;
}

function unavailable(message: string, detail?: Record<string, unknown>): ProxyError {
  return new ProxyError(ProxyErrorCode.UNAVAILABLE, message, detail);
}

function redirectsExhausted(shardId: number, max: number): ProxyError {
  return unavailable(`shard ${shardId}: still redirected after ${max} retries`, { shardId });
}

function pickError(pick: NoChoice, shardId: number): ProxyError {
  if (pick.reason === 'no-shard') return unavailable(`shard ${shardId} is not in the topology`, { shardId });
  return new ProxyError(ProxyErrorCode.NODE_UNAVAILABLE, `node ${pick.nodeId ?? '?'} of shard ${shardId} is unavailable (breaker open)`, { shardId, nodeId: pick.nodeId });
}
