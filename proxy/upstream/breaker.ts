import CircuitBreaker from 'opossum';
import type { Logger } from '../../shared/log';
import { ProxyErrorCode } from '../errors';
import type { NodeChannel } from '../routing/router';
import { pingMessage } from '../routing/messages';
import { isTransportFailure, nodeUnavailable } from './failures';
import type { BreakerStateName, NodeMetrics, TransportOutcome } from './metrics';
import type { ReplyCallback } from './pending';
import type { NodePool } from './pool';
import { OP, STATUS } from '../../shared/ops';

/** Breaker settings (opossum's, with ms-suffixed names). */
export interface BreakerOptions {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage?: number;
  /** Time open before a half-open probe. */
  resetTimeoutMs?: number;
  /** Calls in the window before the percentage is looked at: a call is a node's requests of one event-loop turn (see NodeClient). */
  volumeThreshold?: number;
  rollingCountTimeoutMs?: number;
}

/** Defaults: open at > 50 % failures once 10 calls (turns with traffic to the node) were seen in 10 s; probe after 2 s. */
export const DEFAULT_BREAKER: Required<BreakerOptions> = { errorThresholdPercentage: 50, resetTimeoutMs: 2000, volumeThreshold: 10, rollingCountTimeoutMs: 10_000 };

function outcomeOf(err: unknown): TransportOutcome {
  const code = (err as { code?: unknown }).code;
  return code === ProxyErrorCode.TIMEOUT || code === ProxyErrorCode.NODE_UNAVAILABLE ? code : 'ERROR';
}

/**
 * Whether a settled batch counts as a failed call (error diffusion): each batch adds its share of
 * transport failures to a running balance, and counts as failed when the balance reaches one half,
 * which then drops by one. Over time the share of failed calls opossum sees is the mean of the
 * batches' failure shares: the requests' failure rate when failures do not depend on a batch's
 * size (a majority vote per batch would not even give that: in batches of two, 60 % of requests
 * failing would look like 36 %). A batch of one is exactly its request; a batch whose requests
 * all failed always counts as failed, one with no failure never does. Pure.
 */
export class FailureShare {
  #balance = 0;

  failed(failures: number, requests: number): boolean {
    this.#balance += failures / requests;
    if (this.#balance < 0.5) return false;
    this.#balance -= 1;
    return true;
  }
}

/**
 * A node's requests of one event-loop turn, which go through the breaker as one opossum call.
 * It settles once the turn is over and every request has its outcome: it rejects with the first
 * transport failure when `share` counts it as failed (FailureShare), and resolves otherwise.
 */
export class TurnBatch {
  readonly settled: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: unknown) => void;
  #open = true;
  #requests = 0;
  #pending = 0;
  #failed = 0;
  #failure: unknown = undefined;
  #done = false;

  readonly #share: FailureShare;

  constructor(share: FailureShare) {
    this.#share = share;
    this.settled = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  add(): void {
    this.#requests++;
    this.#pending++;
  }

  /** One request's outcome: null for a reply (of any status), else its error. */
  settle(err: unknown): void {
    this.#pending--;
    if (err !== null && isTransportFailure(err)) {
      if (this.#failed++ === 0) this.#failure = err;
    }
    this.#end();
  }

  /** The turn is over: no more requests join. */
  close(): void {
    this.#open = false;
    this.#end();
  }

  #end(): void {
    if (this.#open || this.#pending > 0 || this.#done) return;
    this.#done = true;
    if (this.#failed > 0 && this.#share.failed(this.#failed, this.#requests)) this.#reject(this.#failure);
    else this.#resolve();
  }
}

const ignore = (): void => undefined;

/**
 * One node behind an opossum breaker, over its pool:
 *
 *   send ─► breaker open? ─ yes ─► NODE_UNAVAILABLE at once (no I/O)
 *             │ no (closed, or the one half-open probe)
 *             ▼
 *           this turn's batch ─► pool ─► link ─► reply (any status resolves) | TIMEOUT / NODE_UNAVAILABLE (rejects)
 *             │ first request of the turn
 *             ▼
 *           breaker.fire(batch): one opossum call per node per event-loop turn
 *
 * The breaker counts batches, not requests: opossum's `fire` costs four promises, two event
 * emissions, a semaphore and two clock reads; with a call per request the proxy spent ~20 % more
 * CPU per batched WebSocket op (alternated runs, docs/performance.md row 20; its self time in a
 * profile is ~8 %, row 7, without the promise turns and garbage it causes). Under light load a batch is one request;
 * under heavy load a node's turn carries dozens, and FailureShare decides which batches count as
 * failed. `volumeThreshold` counts batches, that is turns with traffic to the node.
 *
 * Only transport failures count (errorFilter); every node reply, MISS or NOT_PRIMARY or
 * VERSION_CONFLICT included, is a success for the breaker: the node answered. Requests over the
 * pool's in-flight cap are refused before the breaker, so shedding load never trips it. When the
 * breaker turns half-open a PING is sent as the probe, so a node with no traffic of its own (a
 * replica, a node that lost its primary role while frozen) is brought back too.
 * guards: the breaker, its pool and the turn's batch.
 */
export class NodeClient implements NodeChannel {
  readonly nodeId: string;
  readonly addr: string;
  readonly #pool: NodePool;
  readonly #breaker: CircuitBreaker<[TurnBatch], void>;
  readonly #metrics: NodeMetrics;
  readonly #share = new FailureShare();
  #state: BreakerStateName = 'closed';
  /** This turn's batch, until its setImmediate closes it. */
  #batch: TurnBatch | null = null;

  constructor(pool: NodePool, options: BreakerOptions, metrics: NodeMetrics, log: Logger) {
    this.nodeId = pool.nodeId;
    this.addr = pool.addr;
    this.#pool = pool;
    this.#metrics = metrics;
    const o = { ...DEFAULT_BREAKER, ...options };
    this.#breaker = new CircuitBreaker((batch: TurnBatch) => batch.settled, {
      name: `node:${this.nodeId}`,
      timeout: false,
      errorThresholdPercentage: o.errorThresholdPercentage,
      resetTimeout: o.resetTimeoutMs,
      volumeThreshold: o.volumeThreshold,
      rollingCountTimeout: o.rollingCountTimeoutMs,
      errorFilter: (err: unknown) => !isTransportFailure(err),
      // Latency lives in our histogram: no per-request latency arrays, no periodic stats snapshots.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
    const changed = (state: BreakerStateName): void => {
      this.#state = state;
      metrics.breaker(state);
      log[state === 'closed' ? 'info' : 'warn']({ event: 'breaker', nodeId: this.nodeId, state }, `breaker ${state}`);
    };
    this.#breaker.on('open', () => changed('open'));
    this.#breaker.on('close', () => changed('closed'));
    this.#breaker.on('halfOpen', () => {
      changed('halfOpen');
      const probe = new TurnBatch(this.#share);
      this.#breaker.fire(probe).catch(ignore);
      try {
        this.#sendIn(probe, pingMessage(), ignore);
      } catch (err) {
        log.error({ err, nodeId: this.nodeId }, 'the half-open probe could not be sent');
      } finally {
        probe.close();
      }
    });
  }

  /** closed, halfOpen or open. */
  get state(): BreakerStateName {
    return this.#state;
  }

  /** True while the breaker is closed (the router's notion of a healthy node). */
  get healthy(): boolean {
    return this.#breaker.closed;
  }

  /** The node refuses connections (see NodePool.unreachable). */
  get unreachable(): boolean {
    return this.#pool.unreachable;
  }

  /** Requests awaiting a reply from this node. */
  get inFlight(): number {
    return this.#pool.inFlight;
  }

  /** Calls back with the node's reply whatever its status, or with TIMEOUT or NODE_UNAVAILABLE (at once when refused). */
  send(message: unknown[], cb: ReplyCallback): void {
    const breaker = this.#breaker;
    if (!breaker.closed && !breaker.pendingClose) {
      this.#metrics.failed(message[OP] as number, 'BREAKER_OPEN');
      cb(nodeUnavailable(this.nodeId, 'breaker open', this.#pool.unreachable));
      return;
    }
    if (this.#pool.saturated) {
      cb(nodeUnavailable(this.nodeId, 'too many requests in flight'));
      return;
    }
    this.#sendIn(this.#batch ?? this.#startBatch(), message, cb);
  }

  /** Opens this turn's batch and fires it through the breaker; the batch closes on setImmediate. */
  #startBatch(): TurnBatch {
    const batch = new TurnBatch(this.#share);
    this.#batch = batch;
    this.#breaker.fire(batch).catch(ignore);
    setImmediate(() => {
      if (this.#batch === batch) this.#batch = null;
      batch.close();
    });
    return batch;
  }

  #sendIn(batch: TurnBatch, message: unknown[], cb: ReplyCallback): void {
    const metrics = this.#metrics;
    const op = message[OP] as number;
    let answered = false;
    batch.add();
    try {
      this.#pool.send(message, (err, reply, elapsedMs) => {
        answered = true;
        if (err !== null) {
          metrics.failed(op, outcomeOf(err));
          batch.settle(err);
        } else {
          metrics.reply(op, (reply as unknown[])[STATUS] as number, (elapsedMs as number) / 1000);
          batch.settle(null);
        }
        cb(err, reply, elapsedMs);
      });
    } catch (err) {
      // A frame that cannot be encoded: not the node's failure, but its batch must still settle
      // (unless the throw came from `cb` after the pool had answered).
      if (!answered) batch.settle(err);
      throw err;
    }
  }

  /** Stops the breaker's timers and closes the pool. */
  close(): Promise<void> {
    this.#breaker.shutdown();
    return this.#pool.close();
  }
}
