import { hotId } from '../hotkeys/rules';

/**
 * Singleflight: concurrent calls with the same key share one in-flight promise. Pure (no I/O,
 * no timers). A flight is forgotten the moment it settles, so a call made after that starts a
 * new one: results are shared, never cached. What a flight resolves with is handed to every
 * caller as is; callers treat it as read-only (GET values are shared Buffers).
 * guards: the map of flights.
 */
export class SingleFlight<V> {
  readonly #flights = new Map<string, Promise<V>>();
  readonly #onShared: (() => void) | undefined;
  /** Calls that joined an existing flight instead of starting one. */
  shared = 0;

  /** `onShared` is called each time a call joins a flight (a coalesced request). */
  constructor(onShared?: () => void) {
    this.#onShared = onShared;
  }

  /** Flights in the air. */
  get size(): number {
    return this.#flights.size;
  }

  /** The flight for `key`, started with `start()` when there is none. */
  do(key: string, start: () => Promise<V>): Promise<V> {
    const flying = this.#flights.get(key);
    if (flying !== undefined) {
      this.shared++;
      this.#onShared?.();
      return flying;
    }
    const flight = start();
    this.#flights.set(key, flight);
    const forget = (): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    flight.then(forget, forget);
    return flight;
  }

  /**
   * Detaches the flight for `key` (its callers still get its result) so the next call starts a
   * new one. Called when a write to the key completes: a read that starts after a write was
   * acknowledged must not join a read that left before it.
   */
  forget(key: string): void {
    this.#flights.delete(key);
  }

  /** Detaches every flight (after a namespace- or tag-wide invalidation). */
  forgetAll(): void {
    this.#flights.clear();
  }
}

/** The singleflight key of a GET: read preference, namespace and key. */
export function getFlightKey(pref: string, ns: string, key: string): string {
  return flightKeyOf(pref, hotId(ns, key));
}

/**
 * The singleflight key of a GET from the key's id (`ns + "\n" + key`): the id itself for primary
 * reads, the id after a "\n" for replica reads (a namespace never starts with, or holds, "\n").
 * The GET path builds the id once for the hot-key sketch and its flight, so the string is
 * concatenated and hashed once per request rather than twice.
 */
export function flightKeyOf(pref: string, id: string): string {
  return pref === 'replica' ? `\n${id}` : id;
}
