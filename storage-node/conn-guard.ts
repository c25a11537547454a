/**
 * The frame server's connection guards, as bookkeeping without sockets or timers: the server owns
 * both, and its one sweep timer drives `tick` and `overdue`.
 *
 *   accept ──► connections < maxConnections ? serve : BUSY frame, close
 *   'data' ──► conn.lastData = clock                              (idle timeout)
 *   decoder ─► account(conn, bufferedBytes, chunk length)         (incomplete frame since, budget)
 *   sweep  ──► tick(now); overdue(conn) per connection: KEEP | IDLE | INCOMPLETE
 *
 * Times come from a coarse clock that only the sweep advances, so a 'data' event costs a few
 * stores and no clock read, and a frame costs nothing. A stamp can be up to one sweep period
 * older than its event, so a connection counts as overdue only one period past its timeout: it
 * is closed between N and N + 2 periods after the fact, never before N.
 *
 * guards: the sum of `buffered` over the connections it accounted and did not release. The
 * decoder's memory follows the bytes received (shared/frame.ts: at most twice them plus 4 KiB per
 * connection), so what the budget counts bounds memory within that factor, plus 4 KiB per open
 * connection (itself capped by `maxConnections`).
 */

/** The limits a storage node puts on its peers' connections. */
export interface GuardLimits {
  /** Connections served at once; one past it is refused. */
  maxConnections: number;
  /** A connection that sent nothing for this long is closed; 0 = never. */
  idleTimeoutMs: number;
  /** A connection holding an incomplete frame for this long is refused and closed; 0 = never. */
  requestTimeoutMs: number;
  /** Bytes every connection together may hold for incomplete frames. */
  inputBudget: number;
}

/** What the guard reads and keeps per connection (fields of the server's connection record). */
export interface GuardedConn {
  /** Clock at the last bytes received. */
  lastData: number;
  /** Clock when the incomplete frame now held began (read only while `buffered` > 0). */
  partialSince: number;
  /** Bytes the decoder holds for that frame, counted in the budget. */
  buffered: number;
  /** Not closed when idle: a replica session, a slot export or an invalidation subscriber, which may be quiet for long. */
  quiet: boolean;
  /** A request of it waits on the node (a frozen slot, a MIGRATE op): the peer is not late meanwhile. */
  parked: boolean;
}

/** What `overdue` decides for a connection. */
export const Verdict = { KEEP: 0, IDLE: 1, INCOMPLETE: 2 } as const;
/** One of `Verdict`. */
export type VerdictCode = (typeof Verdict)[keyof typeof Verdict];

/** Sweep period with no timeout set (it still closes lingering sockets). */
const DEFAULT_PERIOD_MS = 1000;

/** The sweep's period: a tenth of the shorter timeout set, from 10 ms to 1 s. */
export function sweepPeriodMs(limits: Pick<GuardLimits, 'idleTimeoutMs' | 'requestTimeoutMs'>): number {
  const set = [limits.idleTimeoutMs, limits.requestTimeoutMs].filter((ms) => ms > 0);
  if (set.length === 0) return DEFAULT_PERIOD_MS;
  return Math.min(DEFAULT_PERIOD_MS, Math.max(10, Math.floor(Math.min(...set) / 10)));
}

/** Message of the frame that refuses a connection past `maxConnections`. */
export const tooManyConnections = (max: number): string => `max number of connections reached (${max})`;
/** Message of the frame that closes a connection holding an incomplete frame too long. */
export const frameTooSlow = (ms: number): string => `frame not completed within ${ms} ms`;
/** Message of the frame that closes the connection whose input crossed the budget. */
export const budgetExhausted = (bytes: number): string => `input buffer budget exhausted (${bytes} bytes for incomplete frames); retry later`;

/** Idle and incomplete-frame timeouts and the process-wide input budget (see the file comment). */
export class ConnGuard {
  readonly limits: GuardLimits;
  readonly periodMs: number;
  /** The coarse clock (ms), advanced by `tick`. */
  clock: number;
  /** Bytes held for incomplete frames, over every connection. */
  buffered = 0;

  constructor(limits: GuardLimits, now: number) {
    this.limits = limits;
    this.periodMs = sweepPeriodMs(limits);
    this.clock = now;
  }

  /** Advances the clock (the sweep, once per period). */
  tick(now: number): void {
    this.clock = now;
  }

  /**
   * After the decoder took input: `after` is what it now holds for an incomplete frame, `chunk`
   * the bytes it was given (0 when it went on with held input). O(1). Returns false when the
   * budget is exceeded: the caller refuses this connection (and `release`s it).
   */
  account(conn: GuardedConn, after: number, chunk: number): boolean {
    const before = conn.buffered;
    // The same frame goes on only when all of the chunk joined it; else a new one began.
    if (after > 0 && (before === 0 || after !== before + chunk)) conn.partialSince = this.clock;
    conn.buffered = after;
    this.buffered += after - before;
    return this.buffered <= this.limits.inputBudget;
  }

  /** The connection holds nothing any more (closed or refused). Idempotent. */
  release(conn: GuardedConn): void {
    this.buffered -= conn.buffered;
    conn.buffered = 0;
  }

  /** Whether the connection is past a timeout at the current clock. */
  overdue(conn: GuardedConn): VerdictCode {
    const now = this.clock;
    if (conn.parked) {
      conn.lastData = now;
      conn.partialSince = now;
      return Verdict.KEEP;
    }
    const { idleTimeoutMs, requestTimeoutMs } = this.limits;
    if (requestTimeoutMs > 0 && conn.buffered > 0 && now - conn.partialSince >= requestTimeoutMs + this.periodMs) return Verdict.INCOMPLETE;
    if (idleTimeoutMs > 0 && !conn.quiet && now - conn.lastData >= idleTimeoutMs + this.periodMs) return Verdict.IDLE;
    return Verdict.KEEP;
  }
}
