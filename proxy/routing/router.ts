import { Status } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { ProxyError, ProxyErrorCode } from '../errors';
import { pickNode, primaryEpoch, shardOfSlot, type Intent, type NodeChoice, type NodeHealth, type NoChoice } from './picker';
import type { ReplyCallback } from '../upstream/pending';
import { isRedirect } from './status';
import { SnapshotWaiters } from './waiters';

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

/** A channel's reply as a promise (the retry path, tests). */
export function sendTo(channel: NodeChannel, message: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => channel.send(message, (err, reply) => (err !== null ? reject(err) : resolve(reply!))));
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
   * Sends `build(epoch)` to the node of `shardId` chosen for `intent` and returns `parse(reply)`,
   * retrying redirects. `build` is called once per attempt with the primary's epoch. The first
   * attempt runs outside the retry loop, so the common case costs one promise.
   */
  send<T>(shardId: number, intent: Intent, build: (epoch: number) => unknown[], parse: (reply: unknown[], nodeId: string) => T, slot = -1): Promise<T> {
    const snapshot = this.#o.current();
    if (snapshot === undefined) return Promise.reject(unavailable('no topology loaded yet'));
    const pick = pickNode(snapshot, shardId, intent, this.#o.nodes, this.#o.random);
    if (!pick.ok) return this.#retry(shardId, intent, build, parse, { kind: 'no-pick', pick }, slot);
    const message = build(pick.epoch);
    return new Promise<T>((resolve, reject) => {
      this.#o.nodes.channel(pick.nodeId, pick.addr).send(message, (err, reply) => {
        if (err !== null) {
          if (intent === 'replica' || intent === 'spread' || !isUnreachable(err)) reject(err);
          else resolve(this.#retry(shardId, intent, build, parse, { kind: 'gone', epoch: pick.epoch }, slot));
          return;
        }
        if (isRedirect(reply![1])) {
          resolve(this.#retry(shardId, intent, build, parse, { kind: 'redirect', pick, reply: reply!, snapshot }, slot));
          return;
        }
        try {
          resolve(parse(reply!, pick.nodeId));
        } catch (parseErr) {
          reject(parseErr);
        }
      });
    });
  }

  /** The retry loop: handle the last attempt's outcome (wait or give up), then try again. */
  async #retry<T>(target: number, intent: Intent, build: (epoch: number) => unknown[], parse: (reply: unknown[], nodeId: string) => T, first: Retry, slot: number): Promise<T> {
    const deadline = this.#now() + this.#o.redirectWaitMs;
    let outcome = first;
    let shardId = target;
    for (let attempt = 0; ; attempt++) {
      if (outcome.kind === 'no-pick') await this.#afterNoPick(outcome.pick, attempt, deadline, shardId, intent);
      else if (outcome.kind === 'gone') await this.#awaitFailover(attempt, deadline, shardId, outcome.epoch);
      else if (outcome.reply[1] === Status.MOVED) shardId = await this.#afterMoved(attempt, deadline, shardId, outcome.reply, slot);
      else await this.#afterRedirect(attempt, deadline, shardId, outcome.pick, outcome.reply, outcome.snapshot);
      const snapshot = this.#snapshot();
      const pick = pickNode(snapshot, shardId, intent, this.#o.nodes, this.#o.random);
      if (!pick.ok) {
        outcome = { kind: 'no-pick', pick };
        continue;
      }
      let reply: unknown[];
      try {
        reply = await sendTo(this.#o.nodes.channel(pick.nodeId, pick.addr), build(pick.epoch));
      } catch (err) {
        if (intent === 'replica' || intent === 'spread' || !isUnreachable(err)) throw err;
        outcome = { kind: 'gone', epoch: pick.epoch };
        continue;
      }
      if (!isRedirect(reply[1])) return parse(reply, pick.nodeId);
      outcome = { kind: 'redirect', pick, reply, snapshot };
    }
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
    const epoch = typeof reply[5] === 'number' ? reply[5] : 0;
    const fresh = (s: TopologySnapshot): boolean => (s.slotMap?.epoch ?? 0) >= epoch;
    const snapshot = fresh(this.#snapshot()) ? this.#snapshot() : await this.#waiters.wait(fresh, Math.max(0, deadline - this.#now()));
    if (slot < 0) throw new ProxyError(ProxyErrorCode.UNAVAILABLE, 'the slot map changed under a multi-key request', { moved: true, shardId });
    if (snapshot !== undefined) return shardOfSlot(snapshot, slot);
    const owner = typeof reply[4] === 'number' ? reply[4] : -1;
    if (owner >= 0 && this.#snapshot().shards.get(owner)?.primary !== undefined) return owner;
    throw unavailable(`slot ${slot} moved and no newer slot map arrived within ${this.#o.redirectWaitMs} ms`, { shardId, slot });
  }

  async #afterRedirect(attempt: number, deadline: number, shardId: number, used: NodeChoice, reply: unknown[], snapshot: TopologySnapshot): Promise<void> {
    if (reply[1] !== Status.NOT_PRIMARY) {
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
    const nodeEpoch = typeof reply[3] === 'number' ? reply[3] : 0;
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
