import type { Logger } from '../../shared/log';
import { ProxyErrorCode } from '../errors';
import type { NodeChannel } from '../routing/router';
import { pingMessage } from '../routing/messages';
import { isTransportFailure, nodeUnavailable } from './failures';
import type { BreakerStateName, NodeMetrics, TransportOutcome } from './metrics';
import type { NodePool } from './pool';
import { BreakerCore } from './breaker-core';

/** Breaker settings (opossum's names, with ms suffixes). */
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
 * One node behind a circuit breaker (BreakerCore, opossum's rules), over its pool:
 *
 *   send ─► breaker open? ─ yes ─► NODE_UNAVAILABLE at once (no I/O)
 *             │ no (closed, or the one half-open probe)
 *             ▼
 *           pool ─► link ─► reply (any status resolves) | TIMEOUT / NODE_UNAVAILABLE (rejects)
 *
 * Only transport failures count; every node reply, MISS or NOT_PRIMARY or VERSION_CONFLICT
 * included, is a success for the breaker: the node answered. Requests over the pool's in-flight
 * cap are refused before the breaker, so shedding load never trips it. When the breaker turns
 * half-open (a timer, `resetTimeoutMs` after it opened) a PING is sent as the probe, so a node
 * with no traffic of its own (a replica, a node that lost its primary role while frozen) is
 * brought back too.
 * guards: the breaker and its pool.
 */
export class NodeClient implements NodeChannel {
  readonly nodeId: string;
  readonly addr: string;
  readonly #pool: NodePool;
  readonly #core: BreakerCore;
  readonly #metrics: NodeMetrics;
  readonly #log: Logger;
  readonly #now: () => number;
  #halfOpenTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(pool: NodePool, options: BreakerOptions, metrics: NodeMetrics, log: Logger, now: () => number) {
    this.nodeId = pool.nodeId;
    this.addr = pool.addr;
    this.#pool = pool;
    this.#metrics = metrics;
    this.#log = log;
    this.#now = now;
    const o = { ...DEFAULT_BREAKER, ...options };
    this.#core = new BreakerCore(o, now);
  }

  /** closed, halfOpen or open. */
  get state(): BreakerStateName {
    return this.#core.state;
  }

  /** True while the breaker is closed (the router's notion of a healthy node). */
  get healthy(): boolean {
    return this.#core.state === 'closed';
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
    const core = this.#core;
    if (this.#closed || !core.permits) {
      this.#metrics.failed(message[1] as number, 'BREAKER_OPEN');
      return Promise.reject(nodeUnavailable(this.nodeId, this.#closed ? 'link closed' : 'breaker open', this.#pool.unreachable));
    }
    if (this.#pool.saturated) return Promise.reject(nodeUnavailable(this.nodeId, 'too many requests in flight'));
    core.fired();
    return new Promise((resolve, reject) => this.#send(message, resolve, reject));
  }

  /** Stops the breaker's timer and closes the pool. */
  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#halfOpenTimer);
    return this.#pool.close();
  }

  #send(message: unknown[], resolve: (reply: unknown[]) => void, reject: (err: unknown) => void): void {
    const op = message[1] as number;
    const started = this.#now();
    this.#pool.send(message, (err, reply) => {
      if (err !== null) {
        this.#metrics.failed(op, outcomeOf(err));
        this.#changed(isTransportFailure(err) ? this.#core.failed() : this.#core.succeeded());
        reject(err);
        return;
      }
      const r = reply as unknown[];
      this.#metrics.reply(op, r[1] as number, (this.#now() - started) / 1000);
      this.#changed(this.#core.succeeded());
      resolve(r);
    });
  }

  /** Reports a transition (metrics, log) and runs what follows it: the half-open timer, the probe. */
  #changed(state: BreakerStateName | undefined): void {
    if (state === undefined) return;
    this.#metrics.breaker(state);
    this.#log[state === 'closed' ? 'info' : 'warn']({ event: 'breaker', nodeId: this.nodeId, state }, `breaker ${state}`);
    if (state === 'open') {
      clearTimeout(this.#halfOpenTimer);
      this.#halfOpenTimer = setTimeout(() => this.#halfOpen(), Math.max(0, this.#core.openedUntil - this.#now()));
      this.#halfOpenTimer.unref();
    }
  }

  #halfOpen(): void {
    if (this.#closed) return;
    this.#changed(this.#core.toHalfOpen());
    if (this.#core.permits) this.send(pingMessage()).catch(() => undefined);
  }
}
