/**
 * Fill leases: who may load a missing (or stale) key from the origin and write it back. A pure
 * table keyed by namespace + key, clock injected (monotonic milliseconds); no timers.
 *
 *   take(ns, key, ttlMs) ─► token (granted) | { heldMs } (another loader holds it)
 *   fill / release(ns, key, token) ─► true when `token` was the live lease (the lease ends)
 *
 * A lease lapses by itself after its TTL, so a loader that died never blocks a key for longer.
 * Tokens are unique per table (a counter), so a late FILL from a lapsed lease never lands.
 * Leases live only in the primary's memory: after a failover they are gone and waiters retry.
 * guards: the lease map; `sweep` removes lapsed leases within a budget and costs nothing when empty.
 */
export class FillLeases {
  readonly #leases = new Map<string, { token: number; expiresAt: number }>();
  readonly #now: () => number;
  #next = 1;
  /** Leases granted, refused (held by another) and lapsed, since start. */
  readonly counters = { granted: 0, held: 0, lapsed: 0 };

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Leases in the table (some may have lapsed and not been swept yet). */
  get size(): number {
    return this.#leases.size;
  }

  /** Grants a lease of `ttlMs` and returns its token (> 0), or how long the live lease still holds. */
  take(ns: string, key: string, ttlMs: number): { token: number } | { heldMs: number } {
    const id = leaseId(ns, key);
    const now = this.#now();
    const live = this.#leases.get(id);
    if (live !== undefined && live.expiresAt > now) {
      this.counters.held++;
      return { heldMs: Math.ceil(live.expiresAt - now) };
    }
    if (live !== undefined) this.counters.lapsed++;
    const token = this.#next++;
    this.#leases.set(id, { token, expiresAt: now + ttlMs });
    this.counters.granted++;
    return { token };
  }

  /** Whether `token` is the live lease of the key. */
  holds(ns: string, key: string, token: number): boolean {
    const live = this.#leases.get(leaseId(ns, key));
    return live !== undefined && live.token === token && live.expiresAt > this.#now();
  }

  /** Ends the lease if `token` is the live one; true when it was. */
  release(ns: string, key: string, token: number): boolean {
    const id = leaseId(ns, key);
    const live = this.#leases.get(id);
    if (live === undefined || live.token !== token) return false;
    this.#leases.delete(id);
    return live.expiresAt > this.#now();
  }

  /** Drops every lease (the node stopped being primary). */
  clear(): void {
    this.#leases.clear();
  }

  /** Removes lapsed leases, looking at no more than `maxChecks` of them; returns how many went. */
  sweep(maxChecks = 1000): number {
    if (this.#leases.size === 0) return 0;
    const now = this.#now();
    let removed = 0;
    let checked = 0;
    for (const [id, lease] of this.#leases) {
      if (checked++ >= maxChecks) break;
      if (lease.expiresAt <= now) {
        this.#leases.delete(id);
        removed++;
      }
    }
    this.counters.lapsed += removed;
    return removed;
  }
}

/** Namespaces never contain '\n' (NAMESPACE_PATTERN), so this is unambiguous. */
const leaseId = (ns: string, key: string): string => `${ns}\n${key}`;
