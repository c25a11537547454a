/**
 * The restart bookkeeping of `npm start` (scripts/local-cluster.ts): when a program that died is
 * started again, and how that is said. Pure: the clock is passed in, no timer or process here.
 *
 *   started(name, now) ─► … it dies … ─► crashed(name, now) ─► { attempt, delayMs } ─► (wait) ─► started(name, now)
 *
 * The delay doubles per consecutive crash of one program (initial, 2×, 4×, … capped at `maxMs`);
 * a program that stayed up `stableMs` or longer before it died counts as a first crash again.
 */
export interface BackoffOptions {
  /** Delay before the first restart. */
  initialMs: number;
  /** The delay never exceeds this. */
  maxMs: number;
  /** A program up this long before it dies starts over at `initialMs` (attempt 1). */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000, stableMs: 30_000 };

/** What to do about one crash: the consecutive crash count (1 for the first) and how long to wait. */
export interface RestartPlan {
  attempt: number;
  delayMs: number;
  /** How long the program had been up (since its last start) when it died. */
  upMs: number;
}

/** The delay before restart number `attempt` (1-based). */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const doublings = Math.min(Math.max(attempt - 1, 0), 30); // 2^30 × any sane initial delay is past any cap
  return Math.min(options.initialMs * 2 ** doublings, options.maxMs);
}

/** Per program: when it last started and how many times in a row it died since it was last stable. */
export class RestartTracker {
  readonly #programs = new Map<string, { startedAt: number; crashes: number }>();

  constructor(readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The program `name` (re)started at `now`. */
  started(name: string, now: number): void {
    const crashes = this.#programs.get(name)?.crashes ?? 0;
    this.#programs.set(name, { startedAt: now, crashes });
  }

  /** The program `name` died at `now`: the attempt it will be and the delay before it. */
  crashed(name: string, now: number): RestartPlan {
    const entry = this.#programs.get(name) ?? { startedAt: now, crashes: 0 };
    const upMs = Math.max(0, now - entry.startedAt);
    const crashes = (upMs >= this.options.stableMs ? 0 : entry.crashes) + 1;
    this.#programs.set(name, { startedAt: entry.startedAt, crashes });
    return { attempt: crashes, delayMs: backoffDelay(crashes, this.options), upMs };
  }

  /** Consecutive crashes of `name` so far (0 when it never died or was stable before its last death). */
  crashes(name: string): number {
    return this.#programs.get(name)?.crashes ?? 0;
  }
}

/** `500 ms`, `1 s`, `1.5 s`, `30 s`. */
export function formatDelay(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}

/** How a process ended: `SIGKILL` or `code 1`. */
export function exitOf(code: number | null, signal: NodeJS.Signals | string | null): string {
  return signal ?? `code ${code}`;
}

/** The one line printed per restart (after the `local-cluster: ` prefix). */
export function restartLine(name: string, code: number | null, signal: NodeJS.Signals | string | null, plan: RestartPlan): string {
  return `restarting ${name} (exited with ${exitOf(code, signal)}) in ${formatDelay(plan.delayMs)}, attempt ${plan.attempt}`;
}
