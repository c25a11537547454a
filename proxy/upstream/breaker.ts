import CircuitBreaker from 'opossum';
import type { Logger } from '../../shared/log';
import { ProxyErrorCode } from '../errors';
import type { NodeChannel } from '../routing/router';
import { pingMessage } from '../routing/messages';
import { isTransportFailure, nodeUnavailable } from './failures';
import type { BreakerStateName, NodeMetrics, TransportOutcome } from './metrics';
import type { NodePool } from './pool';

/** Breaker settings (opossum's, with ms-suffixed names). */
export interface BreakerOptions {
  /** Failure percentage over the rolling window that opens the breaker. */
  errorThresholdPercentage?: number;
  /** Time open before a half-open probe. */
  resetTimeoutMs?: number;
  /** Requests in the window before the percentage is looked at. */
  volumeThreshold?: number;
  rollingCountTimeoutMs?: number;
}

/** Defaults: open at > 50 % failures once 10 requests were seen in 10 s; probe after 2 s. */
export const DEFAULT_BREAKER: Required<BreakerOptions> = { errorThresholdPercentage: 50, resetTimeoutMs: 2000, volumeThreshold: 10, rollingCountTimeoutMs: 10_000 };

function outcomeOf(err: unknown): TransportOutcome {
  const code = (err as { code?: unknown }).code;
  return code === ProxyErrorCode.TIMEOUT || code === ProxyErrorCode.NODE_UNAVAILABLE ? code : 'ERROR';
}

/**
 * One node behind an opossum breaker, over its pool:
 *
 *   send ─► breaker open? ─ yes ─► NODE_UNAVAILABLE at once (no I/O)
 *             │ no (closed, or the one half-open probe)
 *             ▼
 *           breaker.fire ─► pool ─► link ─► reply (any status resolves) | TIMEOUT / NODE_UNAVAILABLE (rejects)
 *
 * Only transport failures count (errorFilter); every node reply, MISS or NOT_PRIMARY or
 * VERSION_CONFLICT included, is a success for the breaker: the node answered. Requests over the
 * pool's in-flight cap are refused before the breaker, so shedding load never trips it. When the
 * breaker turns half-open a PING is sent as the probe, so a node with no traffic of its own (a
 * replica, a node that lost its primary role while frozen) is brought back too.
 * guards: the breaker and its pool.
 */
export class NodeClient implements NodeChannel {
  readonly nodeId: string;
  readonly addr: string;
  readonly #pool: NodePool;
  readonly #breaker: CircuitBreaker<[unknown[]], unknown[]>;
  readonly #metrics: NodeMetrics;
  #state: BreakerStateName = 'closed';

  constructor(pool: NodePool, options: BreakerOptions, metrics: NodeMetrics, log: Logger, now: () => number) {
    this.nodeId = pool.nodeId;
    this.addr = pool.addr;
    this.#pool = pool;
    this.#metrics = metrics;
    const o = { ...DEFAULT_BREAKER, ...options };
    const action = (message: unknown[]): Promise<unknown[]> =>
      new Promise((resolve, reject) => {
        const op = message[1] as number;
        const started = now();
        pool.send(message, (err, reply) => {
          if (err !== null) {
            metrics.failed(op, outcomeOf(err));
            reject(err);
            return;
          }
          metrics.reply(op, (reply as unknown[])[1] as number, (now() - started) / 1000);
          resolve(reply as unknown[]);
        });
      });
    this.#breaker = new CircuitBreaker(action, {
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
      this.#breaker.fire(pingMessage()).catch(() => undefined);
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

  /** Resolves with the node's reply whatever its status; rejects with TIMEOUT or NODE_UNAVAILABLE. */
  send(message: unknown[]): Promise<unknown[]> {
    const breaker = this.#breaker;
    if (!breaker.closed && !breaker.pendingClose) {
      this.#metrics.failed(message[1] as number, 'BREAKER_OPEN');
      return Promise.reject(nodeUnavailable(this.nodeId, 'breaker open', this.#pool.unreachable));
    }
    if (this.#pool.saturated) return Promise.reject(nodeUnavailable(this.nodeId, 'too many requests in flight'));
    return breaker.fire(message);
  }

  /** Stops the breaker's timers and closes the pool. */
  close(): Promise<void> {
    this.#breaker.shutdown();
    return this.#pool.close();
  }
}
