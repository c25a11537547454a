import type { TopologySnapshot } from '../../shared/topology/snapshot';

interface Waiter {
  test: (s: TopologySnapshot) => boolean;
  resolve: (s: TopologySnapshot | undefined) => void;
  timer: NodeJS.Timeout;
}

/**
 * Requests waiting for a newer topology (after NOT_PRIMARY, or while a shard has no primary).
 * One subscriber to the topology feeds every waiter, so a thousand requests waiting through a
 * failover add no listeners to the watcher. Each wait is bounded by its own timer; the redirect
 * path is the only user, so the request path stays timer-free.
 * guards: the waiter set.
 */
export class SnapshotWaiters {
  readonly #waiters = new Set<Waiter>();

  /** Waiting requests. */
  get size(): number {
    return this.#waiters.size;
  }

  /** Resolves with the first snapshot passed to `publish` for which `test` holds, or undefined after `ms`. */
  wait(test: (s: TopologySnapshot) => boolean, ms: number): Promise<TopologySnapshot | undefined> {
    if (ms <= 0) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        test,
        resolve,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          resolve(undefined);
        }, ms),
      };
      this.#waiters.add(waiter);
    });
  }

  /** Offers a new snapshot to every waiter. */
  publish(snapshot: TopologySnapshot): void {
    for (const waiter of this.#waiters) {
      if (!waiter.test(snapshot)) continue;
      clearTimeout(waiter.timer);
      this.#waiters.delete(waiter);
      waiter.resolve(snapshot);
    }
  }

  /** Ends every wait now (resolving undefined), e.g. on close. */
  clear(): void {
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
    this.#waiters.clear();
  }
}
