import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import type { WriteGate } from '../handlers';

/** What a node is in its shard. A node without etcd is `standalone` (the primary of epoch 0). */
export type RoleName = 'standalone' | 'primary' | 'replica';

/** The shard's primary as this node knows it; `epoch` is the create revision of its key. */
export interface PrimaryView {
  nodeId: string;
  /** `host:port`, or null when the key's value could not be read. */
  addr: string | null;
  epoch: number;
}

/** Something whose lease proof can be read at any time (see LeaseProof). */
export interface ProofSource {
  readonly provenUntil: number;
}

/** A role transition, for the log. */
export interface RoleChange {
  role: RoleName;
  /** The node's epoch after the change (see ClusterRole.epoch). */
  epoch: number;
  /** On a step-down, the epoch given up; else 0. */
  gaveUp: number;
  reason: string;
}

export interface ClusterRoleOptions {
  nodeId: string;
  addr: string;
  /** Monotonic clock in ms (performance.now in production, a fake in tests). */
  now(): number;
  /** A primary stops taking writes this long before its lease proof runs out (see setStepDownMargin). */
  stepDownMarginMs: number;
  onChange?(change: RoleChange): void;
  /** Wall clock in ms for `lastWriteByEpoch` (Date.now by default). */
  wallClock?(): number;
}

/** Epochs kept in `lastWriteByEpoch` (the newest ones). */
const KEPT_EPOCHS = 16;

/**
 * The write gate of a node in a cluster, and the role it rests on. Pure: no etcd, no timers.
 *
 *   replica ──becomePrimary(epoch, proof)──► primary ──stepDown(reason)──► replica
 *                                              │ check(): proof lapsed → steps down itself
 *
 * A write carrying epoch E is accepted iff this node is primary, E is its epoch, and
 * `now() < proof.provenUntil - stepDownMargin`; the proof is read at the moment of the check, so a
 * write that waited in a socket while the process was frozen meets the clock of its handling.
 * Once stepped down a node refuses every write until it wins a new election: an epoch is never
 * taken up again. A refusal is NOT_PRIMARY with the detail `[primaryEpoch | 0, primaryAddr | null]`
 * from the node's current view of the shard.
 * guards: role, own epoch, the primary view.
 */
export class ClusterRole implements WriteGate {
  readonly #options: ClusterRoleOptions;
  #role: RoleName = 'replica';
  #epoch = 0;
  #highestEpoch = 0;
  #proof: ProofSource | null = null;
  #view: PrimaryView | null = null;
  #marginMs: number;
  /** Epoch → wall-clock ms of the last write accepted under it (updated at most once per ms). */
  readonly #lastWrite = new Map<number, number>();
  #lastWriteAt = 0;

  constructor(options: ClusterRoleOptions) {
    this.#options = options;
    this.#marginMs = options.stepDownMarginMs;
  }

  /** Changes the step-down margin (once the lease TTL is known and bounds it). */
  setStepDownMargin(ms: number): void {
    this.#marginMs = ms;
  }

  get role(): RoleName {
    return this.#role;
  }

  /** The node's own epoch while primary, else the known primary's (0 when none is known). */
  get epoch(): number {
    return this.#role === 'primary' ? this.#epoch : (this.#view?.epoch ?? 0);
  }

  /** The shard's primary as known now, or null. */
  get view(): PrimaryView | null {
    return this.#view;
  }

  get isPrimary(): boolean {
    return this.#role === 'primary';
  }

  /**
   * Takes the primary role won with `epoch` (the create revision of the primary key), resting on
   * `proof`. Refused (returns false) when the proof does not hold now or the epoch is not newer
   * than every epoch this node held before.
   */
  becomePrimary(epoch: number, proof: ProofSource): boolean {
    if (epoch <= this.#highestEpoch || !this.#holds(proof)) return false;
    this.#role = 'primary';
    this.#epoch = epoch;
    this.#highestEpoch = epoch;
    this.#proof = proof;
    this.#view = { nodeId: this.#options.nodeId, addr: this.#options.addr, epoch };
    this.#options.onChange?.({ role: 'primary', epoch, gaveUp: 0, reason: 'won the election' });
    return true;
  }

  /** Stops taking writes at once. Returns the epoch given up, or 0 when the node was not primary. */
  stepDown(reason: string): number {
    if (this.#role !== 'primary') return 0;
    const epoch = this.#epoch;
    this.#role = 'replica';
    this.#proof = null;
    if (this.#view?.epoch === epoch) this.#view = null;
    this.#options.onChange?.({ role: 'replica', epoch: this.epoch, gaveUp: epoch, reason });
    return epoch;
  }

  /**
   * What etcd says the shard's primary is (null: no primary key). A primary whose key is gone or
   * belongs to another epoch steps down.
   */
  observePrimary(view: PrimaryView | null): void {
    if (this.#role === 'primary' && view?.epoch !== this.#epoch) {
      this.stepDown(view ? `epoch ${view.epoch} of ${view.nodeId} replaced ours` : 'the primary key was deleted');
    }
    if (this.#role === 'primary') return;
    if (view && view.epoch <= this.#highestEpoch && view.nodeId === this.#options.nodeId) {
      this.#view = null; // our own key from an epoch we gave up: not a primary to send writes to
      return;
    }
    this.#view = view;
  }

  /** Steps down when the lease proof no longer holds; returns whether the node is still primary. */
  refresh(): boolean {
    if (this.#role === 'primary' && !this.#holds(this.#proof)) this.stepDown('cannot prove the lease is alive');
    return this.#role === 'primary';
  }

  /** WriteGate: accepts a write with `epoch` or throws NOT_PRIMARY with the current view. */
  check(epoch: number): void {
    if (this.refresh() && epoch === this.#epoch) return this.#noteWrite();
    const view = this.#view;
    const why = this.#role === 'primary' ? `this primary has epoch ${this.#epoch}` : 'this node is not the primary';
    throw new OpError(Status.NOT_PRIMARY, `${why}; the write carries epoch ${epoch}`, [view?.epoch ?? 0, view?.addr ?? null]);
  }

  /**
   * Per epoch this node held, the wall-clock time of the last write it accepted under it, oldest
   * epoch first. Lets an outside observer find writes accepted after a successor epoch existed.
   */
  lastWriteByEpoch(): Array<[epoch: number, atMs: number]> {
    return [...this.#lastWrite];
  }

  #noteWrite(): void {
    const t = (this.#options.wallClock ?? Date.now)();
    if (t === this.#lastWriteAt) return;
    this.#lastWriteAt = t;
    if (!this.#lastWrite.has(this.#epoch) && this.#lastWrite.size >= KEPT_EPOCHS) this.#lastWrite.delete(this.#lastWrite.keys().next().value!);
    this.#lastWrite.set(this.#epoch, t);
  }

  #holds(proof: ProofSource | null): boolean {
    return proof !== null && this.#options.now() < proof.provenUntil - this.#marginMs;
  }
}

/** The gate of a cluster node before it has joined: every write is refused, no primary is known. */
export const NOT_JOINED: WriteGate = {
  check(epoch: number): void {
    throw new OpError(Status.NOT_PRIMARY, `this node has not joined its shard yet; the write carries epoch ${epoch}`, [0, null]);
  },
};

/**
 * The gate of a primary shutting down: every write is refused with NOT_PRIMARY and no primary
 * named, so proxies retry it at the next primary while the replicas catch up (nothing was applied).
 */
export const SHUTTING_DOWN: WriteGate = {
  check(epoch: number): void {
    throw new OpError(Status.NOT_PRIMARY, `this node is shutting down and hands its shard over; the write carries epoch ${epoch}`, [0, null]);
  },
};
