/**
 * Proof that this node's etcd lease is still alive, built from the keep-alives it sent and saw
 * answered. Pure: every time is passed in, in milliseconds of a monotonic clock.
 *
 *   granted(G, ttl)            the grant request left at G      -> alive until >= G + ttl
 *   fired(F1) fired(F2) ...    keep-alives written to the stream
 *   answered(ttl)              the oldest unanswered one, F1    -> alive until >= F1 + ttl
 *
 * etcd restarts a lease's TTL when it receives a keep-alive, which is after the node fired it, so
 * `firedAt + TTL` is a lower bound of the lease's expiry whatever the delays were. Answers on one
 * stream come back in order, so each answer belongs to the oldest keep-alive still waiting; when
 * the oldest is older than the truth, the bound is only more cautious. An answer with TTL 0 says
 * the lease is gone: the proof is void from then on.
 *
 * A keep-alive stream that fails leaves its unanswered keep-alives behind ("orphans"). They stay
 * first in line (cautious) until they are two TTLs old, the point at which the client library
 * itself gives the lease up; only then are they dropped, so they cannot hold the proof back forever.
 * When the connection itself is gone (gRPC UNAVAILABLE), nothing it owed can ever be answered, and
 * its keep-alives are dropped at once: left in line, each would be paired with the answer of a
 * later keep-alive on the next stream, and a long etcd outage would leave the bound behind the
 * truth for good (every answer one or more keep-alives late, the proof never holding again).
 *
 * guards: `provenUntil` only moves forward, and never past `firedAt + TTL` of a keep-alive that was
 * fired no later than the one etcd actually answered.
 */
export class LeaseProof {
  readonly #waiting: Array<{ at: number; orphan: boolean }> = [];
  #provenUntil = Number.NEGATIVE_INFINITY;
  #ttlMs = 0;
  #void = false;

  /** The monotonic time until which the lease is proven alive (-Infinity before any proof). */
  get provenUntil(): number {
    return this.#void ? Number.NEGATIVE_INFINITY : this.#provenUntil;
  }

  /** Keep-alives fired and not answered yet (orphans included). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** The lease was granted with `ttlSeconds`; the grant request left at `requestedAt`. */
  granted(requestedAt: number, ttlSeconds: number): void {
    this.#ttlMs = ttlSeconds * 1000;
    this.#extend(requestedAt + this.#ttlMs);
  }

  /** A keep-alive was written to the stream at `at`. */
  fired(at: number): void {
    this.#waiting.push({ at, orphan: false });
  }

  /** A keep-alive was answered at `now` with the lease's TTL in seconds (0: the lease is gone). */
  answered(ttlSeconds: number, now: number): void {
    this.#dropOldOrphans(now);
    const oldest = this.#waiting.shift();
    if (!(ttlSeconds > 0)) {
      this.#void = true;
      return;
    }
    if (oldest === undefined) return; // nothing to pair it with: it proves nothing
    this.#ttlMs = ttlSeconds * 1000;
    this.#extend(oldest.at + this.#ttlMs);
  }

  /**
   * The keep-alive stream failed: what it still owed may or may not be answered, unless
   * `connectionLost` (the connection is gone, so no answer can come): then it is forgotten.
   */
  streamFailed(connectionLost = false): void {
    if (connectionLost) this.#waiting.length = 0;
    else for (const entry of this.#waiting) entry.orphan = true;
  }

  /** The lease is known to be lost or revoked: nothing proves it any more. */
  revoke(): void {
    this.#void = true;
    this.#waiting.length = 0;
  }

  #extend(until: number): void {
    if (until > this.#provenUntil) this.#provenUntil = until;
  }

  #dropOldOrphans(now: number): void {
    const limit = now - 2 * this.#ttlMs;
    while (this.#waiting.length > 0 && this.#waiting[0].orphan && this.#waiting[0].at < limit) this.#waiting.shift();
  }
}
