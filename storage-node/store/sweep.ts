import { EXPIRED, INVALIDATED, type Keyspace, Removal } from './keyspace';
import type { Namespace } from './namespace';
import type { SweepResult } from './types';

/** Entries with a TTL sampled per active-expiry round (Redis `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`). */
export const EXPIRE_SAMPLE = 20;
/** Cap on expiry rounds per millisecond of budget, so a frozen clock still ends the sweep. */
export const EXPIRE_ROUNDS_PER_MS = 200;
/** Cap on reclaim-walk steps per millisecond of budget, for the same reason. */
export const RECLAIM_STEPS_PER_MS = 20_000;
/** The reclaim walk reads the clock once per this many steps. */
const CLOCK_EVERY = 256;

/**
 * Background reclaim within a time budget (read from the injected clock, plus iteration caps):
 *
 *   1. active expiry, Redis's algorithm: sample 20 entries of the expiry set, remove the expired
 *      ones, repeat while more than 25% of a sample was expired. Expired entries left behind are
 *      thus under ~25% of those with a TTL, and lazy expiry catches them on access.
 *   2. invalidation reclaim: a cursor walks, top down, the members of each namespace with a
 *      pending invalidation and removes the invisible entries; a finished walk drops the
 *      namespace's tag watermarks (nothing below them is left).
 *
 * Expiry gets half the budget while a reclaim is pending, all of it otherwise.
 */
export function sweep(ks: Keyspace, budgetMs: number): SweepResult {
  const now = ks.options.now;
  const start = now();
  const pending = ks.pendingReclaim.size > 0;
  const expireBudget = pending ? budgetMs / 2 : budgetMs;
  const rounds = Math.max(1, Math.ceil(expireBudget * EXPIRE_ROUNDS_PER_MS));
  const result = activeExpire(ks, start, expireBudget, rounds);
  if (pending) {
    const steps = Math.max(CLOCK_EVERY, Math.ceil(budgetMs * RECLAIM_STEPS_PER_MS));
    result.reclaimed += reclaimInvalidated(ks, start, budgetMs, steps);
  }
  return result;
}

/** Phase 1: sampling rounds over the expiry set, at most `maxRounds`. */
function activeExpire(ks: Keyspace, start: number, budgetMs: number, maxRounds: number): SweepResult {
  const result: SweepResult = { expired: 0, reclaimed: 0 };
  const { now } = ks.options;
  for (let round = 0; round < maxRounds && ks.ttl.count > 0; round++) {
    const sample = Math.min(EXPIRE_SAMPLE, ks.ttl.count);
    const expired = expireSample(ks, sample, now(), result);
    if (expired * 4 <= sample || now() - start >= budgetMs) break;
  }
  return result;
}

/** One round: returns how many of `sample` picks were expired; adds counts to `result`. */
function expireSample(ks: Keyspace, sample: number, now: number, result: SweepResult): number {
  const { table, namespaces, ttl } = ks;
  const random = ks.options.random;
  let expired = 0;
  for (let i = 0; i < sample && ttl.count > 0; i++) {
    const id = ttl.idAt(ttl.pick(random()));
    const fate = ks.fateOf(id, namespaces[table.ns[id]], now);
    if (fate === EXPIRED) {
      ks.remove(id, Removal.EXPIRED);
      result.expired++;
      expired++;
    } else if (fate === INVALIDATED) {
      ks.remove(id, Removal.INVALIDATED);
      result.reclaimed++;
    }
  }
  return expired;
}

/** Phase 2: walks pending namespaces, at most `maxSteps` entries; returns entries reclaimed. */
function reclaimInvalidated(ks: Keyspace, start: number, budgetMs: number, maxSteps: number): number {
  const { now } = ks.options;
  let reclaimed = 0;
  let steps = 0;
  for (const ns of ks.pendingReclaim) {
    while (ns.reclaimCursor >= 0) {
      if (steps >= maxSteps || (steps > 0 && now() - start >= budgetMs)) return reclaimed;
      const chunk = Math.min(CLOCK_EVERY, maxSteps - steps);
      reclaimed += walk(ks, ns, chunk);
      steps += chunk;
    }
    ks.finishReclaim(ns);
  }
  return reclaimed;
}

/**
 * Visits up to `steps` members of `ns` below its reclaim cursor and removes the invisible ones;
 * returns how many it removed. The caller finishes the walk when the cursor falls below 0.
 */
export function walk(ks: Keyspace, ns: Namespace, steps: number): number {
  let reclaimed = 0;
  for (let i = 0; i < steps && ns.reclaimCursor >= 0; i++) {
    const cursor = Math.min(ns.reclaimCursor, ns.members.count - 1);
    ns.reclaimCursor = cursor - 1;
    if (cursor < 0) break;
    const id = ns.members.at(cursor);
    if (!ks.invisible(id, ns)) continue;
    ks.remove(id, Removal.INVALIDATED);
    reclaimed++;
  }
  return reclaimed;
}
