import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import { SLOT_COUNT, slotOf, slotOfBytes } from '../../shared/slot';

/** What a slot map change meant for this node's shard. */
export interface OwnershipChange {
  /** Slots the shard owns now and did not before. */
  gained: number[];
  /** Slots the shard owned before and does not now. */
  lost: number[];
}

/**
 * Which slots this node's shard owns, from the slot map in etcd; the check every key operation
 * passes (MOVED for a slot owned elsewhere), and the per-slot write freeze of a cut-over. Pure.
 *
 *   slot map (watch) ─► apply ─► owner[slot], epoch ─► check(ns, key): MOVED [slot, owner, epoch]
 *
 * Until a slot map is known (a standalone node, a cluster not initialised yet) every slot is
 * taken as owned. A slot map with an older epoch than the one applied is ignored, so the map a
 * cut-over committed is never undone by a late watch event.
 * Guards: `all` is true iff every slot is owned (the request path then skips the hash).
 */
export class SlotOwnership {
  readonly owner = new Int16Array(SLOT_COUNT).fill(-1);
  readonly frozen = new Uint8Array(SLOT_COUNT);
  frozenCount = 0;
  epoch = 0;
  all = true;
  #known = false;

  constructor(readonly shardId: number) {}

  /** True once a slot map was applied. */
  get known(): boolean {
    return this.#known;
  }

  /** Takes the slot map `ranges` of `epoch`; returns the slots gained and lost (none for an older map). */
  apply(epoch: number, ranges: ReadonlyArray<readonly [number, number, number]>): OwnershipChange {
    const change: OwnershipChange = { gained: [], lost: [] };
    if (this.#known && epoch < this.epoch) return change;
    const next = new Int16Array(SLOT_COUNT).fill(-1);
    for (const [from, to, shard] of ranges) next.fill(shard, from, to + 1);
    const me = this.shardId;
    let owned = 0;
    for (let s = 0; s < SLOT_COUNT; s++) {
      const was = this.#known ? this.owner[s] === me : true;
      const is = next[s] === me;
      if (is) owned++;
      if (is && !was) change.gained.push(s);
      else if (!is && was) change.lost.push(s);
    }
    this.owner.set(next);
    this.epoch = epoch;
    this.all = owned === SLOT_COUNT;
    this.#known = true;
    return change;
  }

  /** `check` for a write: also BUSY while a strict node has not read the slot map yet. */
  checkWrite(ns: string, key: string): void {
    this.checkWalk();
    this.check(ns, key);
  }

  /**
   * Before a key-space walk (SCAN, RANDOMKEY): BUSY while a strict node has not read the slot map
   * yet. It would take every slot as its own, and a SCAN would end the whole scan at its last slot
   * without the other shards' keys.
   */
  checkWalk(): void {
    if (this.strict && !this.#known) throw new OpError(Status.BUSY, 'the node has not read the slot map yet; retry shortly');
  }

  /** True when this shard owns `slot`. */
  owns(slot: number): boolean {
    return this.all || this.owner[slot] === this.shardId;
  }

  /**
   * A cluster node takes no write before it has read the slot map (BUSY, retryable): it could
   * otherwise accept one for a slot that moved away while it was down.
   */
  strict = false;

  /** Throws MOVED `[slot, ownerShard, epoch]` unless this shard owns the slot of `ns:key`. */
  check(ns: string, key: string): void {
    if (this.all) return;
    const slot = slotOf(ns, key);
    if (this.owner[slot] !== this.shardId) throw this.moved(slot);
  }

  /** `check` (`write`: `checkWrite`) of a key given as its bytes, read in place from a request. */
  checkAscii(ns: string, bytes: Uint8Array, start: number, end: number, write: boolean): void {
    if (write) this.checkWalk();
    if (this.all) return;
    const slot = slotOfBytes(ns, bytes, start, end);
    if (this.owner[slot] !== this.shardId) throw this.moved(slot);
  }

  /** The MOVED error for `slot`. */
  moved(slot: number): OpError {
    const owner = this.owner[slot];
    return new OpError(Status.MOVED, `slot ${slot} is owned by shard ${owner} (slot map epoch ${this.epoch})`, [slot, owner, this.epoch]);
  }

  /** Freezes (1) or thaws (0) writes to `slots`. */
  setFrozen(slots: Iterable<number>, on: boolean): void {
    for (const s of slots) {
      const v = on ? 1 : 0;
      if (this.frozen[s] === v) continue;
      this.frozen[s] = v;
      this.frozenCount += on ? 1 : -1;
    }
  }

  /** True when writes to the slot of `ns:key` are frozen (a cut-over is draining it). */
  isFrozen(ns: unknown, key: unknown): boolean {
    if (this.frozenCount === 0 || typeof ns !== 'string' || typeof key !== 'string') return false;
    return this.frozen[slotOf(ns, key)] === 1;
  }
}
