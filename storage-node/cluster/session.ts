import { performance } from 'node:perf_hooks';
import { GRPCUnavailableError, type Etcd3, type Lease } from 'etcd3';
import type { Logger } from '../../shared/log';
import { LeaseProof } from './lease-proof';

/**
 * One etcd lease of this node, kept alive by the client library, with the proof of liveness the
 * write gate reads (see LeaseProof). A session ends once: when etcd says the lease is lost
 * (`onLost`), or when the node closes it. A new session is a new lease.
 * Owns: the etcd3 Lease object and its listeners.
 */
export class LeaseSession {
  readonly lease: Lease;
  readonly leaseId: string;
  readonly ttlSeconds: number;
  readonly proof: LeaseProof;
  #ended = false;

  private constructor(lease: Lease, leaseId: string, ttlSeconds: number, proof: LeaseProof) {
    this.lease = lease;
    this.leaseId = leaseId;
    this.ttlSeconds = ttlSeconds;
    this.proof = proof;
  }

  /** Whether the session is over (lost or closed). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Grants a lease of `ttlSeconds` and starts keeping it alive. `onLost` runs once if etcd later
   * says the lease is gone (never after `close()`). Rejects when the grant fails.
   */
  static async open(client: Etcd3, ttlSeconds: number, log: Logger, onLost: (session: LeaseSession) => void): Promise<LeaseSession> {
    const proof = new LeaseProof();
    const requestedAt = performance.now();
    const lease = client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('keepaliveFired', () => proof.fired(performance.now()));
    lease.on('keepaliveSucceeded', (res) => proof.answered(Number(res.TTL), performance.now()));
    lease.on('keepaliveFailed', (err) => {
      proof.streamFailed(err instanceof GRPCUnavailableError);
      log.warn({ err: (err as unknown as Error)?.message }, 'lease keep-alive failed; retrying');
    });
    let session: LeaseSession | undefined;
    lease.on('lost', (err) => {
      proof.revoke();
      if (!session || session.#ended) return;
      session.#ended = true;
      log.warn({ leaseId: session.leaseId, err: err?.message }, 'lease lost');
      onLost(session);
    });
    const leaseId = await lease.grant();
    proof.granted(requestedAt, ttlSeconds);
    session = new LeaseSession(lease, leaseId, ttlSeconds, proof);
    return session;
  }

  /** Ends the session: revokes the lease (deleting every key attached to it) unless etcd fails. */
  async close(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    this.proof.revoke();
    await this.lease.revoke();
  }

  /** Ends the session without telling etcd (the lease expires by itself). */
  release(): void {
    this.#ended = true;
    this.proof.revoke();
    this.lease.release();
  }
}
