/**
 * Shared fixtures for the store tests: a settable clock, a seeded generator, byte helpers and the
 * OpError an operation throws.
 */
import { OpError } from '../../shared/errors';
import { Store, type StoreListener, type StoreOptions } from '../../storage-node/store';
import { prng } from '../../scripts/random';
import { thrownBy } from '../helpers/thrown';

/** A clock the test moves by hand; starts at a fixed epoch. */
export class FakeClock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

/** A small seeded PRNG uniform in [0, 1) (`prng` of the tools). */
export const seeded = prng;

/** Removal events recorded by a listener. */
export type Removed = [ns: string, key: string, reason: string];

/** A store with a fake clock, a seeded generator and a recording listener. */
export function makeStore(options: Partial<StoreOptions> = {}, seed = 42) {
  const clock = new FakeClock();
  const removed: Removed[] = [];
  const listener: StoreListener = { removed: (ns, key, reason) => removed.push([ns, key, reason]) };
  const store = new Store(
    { maxMemoryBytes: 64 * 1024 * 1024, now: clock.now, random: seeded(seed), ...options },
    listener,
  );
  return { store, clock, removed };
}

/** Bytes of a latin1/ASCII string. */
export function b(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

/** The value of an entry as a string, or undefined when missing. */
export function text(entry: { value: Buffer } | undefined): string | undefined {
  return entry?.value.toString('latin1');
}

/** The OpError `fn` throws; fails the test when it throws nothing (or rethrows anything else). */
export const opError = (fn: () => unknown): OpError => thrownBy(fn, OpError);
