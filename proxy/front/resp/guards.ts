import type { GuardLimits, RespLimits } from './context';

/**
 * The RESP front's bounds on what clients may hold of the proxy (docs/resp.md, "Limits and
 * refusals"): connections, idle time, time to finish a request, and the bytes all connections
 * keep for requests not yet taken on. Pure: no sockets, no timers; the server's one sweep timer
 * and the connections call into it.
 */

/** Defaults, as Redis's `maxclients` (10,000) and `timeout` (here on: 300 s). */
export const GUARD_DEFAULTS: Readonly<GuardLimits> = {
  maxClients: 10_000,
  idleTimeoutMs: 300_000,
  requestTimeoutMs: 10_000,
  inputBudgetBytes: 256 * 1024 ** 2,
};

/** `limits` with every guard set (defaults for the ones left out). */
export function resolveGuards(limits: RespLimits): RespLimits & GuardLimits {
  return {
    ...limits,
    maxClients: limits.maxClients ?? GUARD_DEFAULTS.maxClients,
    idleTimeoutMs: limits.idleTimeoutMs ?? GUARD_DEFAULTS.idleTimeoutMs,
    requestTimeoutMs: limits.requestTimeoutMs ?? GUARD_DEFAULTS.requestTimeoutMs,
    inputBudgetBytes: limits.inputBudgetBytes ?? GUARD_DEFAULTS.inputBudgetBytes,
  };
}

/**
 * The input bytes every RESP parser of the process holds, against one budget. Each connection
 * reports its own count as it changes (`move(old, new)`: O(1)); what stays true is
 * `used <= limit` — a growth that would pass it is refused and changes nothing.
 */
export class InputBudget {
  readonly limit: number;
  #used = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held now, across the process's connections. */
  get used(): number {
    return this.#used;
  }

  /** A holder's count goes from `from` to `to`; false (and nothing changes) if that passes the limit. */
  move(from: number, to: number): boolean {
    const used = this.#used - from + to;
    if (to > from && used > this.limit) return false;
    this.#used = used;
    return true;
  }
}

/** What the sweep does with a connection. */
export type SweepVerdict = 'keep' | 'idle' | 'request_timeout';

/** What the sweep reads of one connection (ms on the sweep's clock). */
export interface SweepFacts {
  /** Last time the client sent bytes or a reply was written to it. */
  lastActive: number;
  /** When the parser began holding the incomplete request it holds now; 0 when none. */
  partialSince: number;
  /** Commands unanswered or replies unsent. */
  busy: boolean;
}

/** Too slow to finish its request, idle past the timeout, or kept (a bound of 0 is off). */
export function sweepVerdict(now: number, f: SweepFacts, limits: GuardLimits): SweepVerdict {
  if (limits.requestTimeoutMs > 0 && f.partialSince > 0 && now - f.partialSince >= limits.requestTimeoutMs) return 'request_timeout';
  if (limits.idleTimeoutMs > 0 && !f.busy && now - f.lastActive >= limits.idleTimeoutMs) return 'idle';
  return 'keep';
}

/** Shortest and longest sweep period. */
const MIN_PERIOD_MS = 10;
const MAX_PERIOD_MS = 1000;

/**
 * Period of the one sweep timer: a quarter of the shorter timeout, within 10 ms - 1 s; 0 when both
 * timeouts are off (no timer at all). Connections stamp times from the sweep's clock, which the
 * timer advances, so each bound is kept within one period either way.
 */
export function sweepPeriodMs(limits: GuardLimits): number {
  const on = [limits.idleTimeoutMs, limits.requestTimeoutMs].filter((ms) => ms > 0);
  if (on.length === 0) return 0;
  return Math.min(MAX_PERIOD_MS, Math.max(MIN_PERIOD_MS, Math.floor(Math.min(...on) / 4)));
}
