/**
 * Shared fixtures for the store tests: a settable clock, a seeded generator and byte helpers.
 */
import { Store, type StoreListener, type StoreOptions } from '../../storage-node/store';

/** A clock the test moves by hand; starts at a fixed epoch. */
export class FakeClock {
  t = 1_700_000_000_000;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

const { imul } = Math;

/** mulberry32: a small seeded PRNG uniform in [0, 1) (int32 state, no global lookups). */
export function seeded(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = imul(a ^ (a >>> 15), 1 | a);
    t = (t + imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

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
