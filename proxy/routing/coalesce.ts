import { hotId } from '../hotkeys/rules';
import { hashString, OpenTable } from '../open-table';

/** Called once with a result or an error. */
type Done<V> = (err: Error | null, value?: V) => void;

/** One flight: its callers, and the `finish` its starter calls once. */
class Flight<V> {
  readonly #first: Done<V>;
  #more: Array<Done<V>> | undefined;
  readonly finish: Done<V>;

  constructor(first: Done<V>, flights: OpenTable<string, Flight<V>>, hash: number, key: string) {
    this.#first = first;
    this.finish = (err, value) => {
      flights.delete(hash, key, this);
      this.#first(err, value);
      const more = this.#more;
      if (more !== undefined) for (let i = 0; i < more.length; i++) more[i](err, value);
    };
  }

  add(done: Done<V>): void {
    (this.#more ??= []).push(done);
  }
}

/**
 * Singleflight: concurrent calls with the same key share one flight. Pure (no I/O, no timers).
 * A flight is forgotten the moment it settles, so a call made after that starts a new one:
 * results are shared, never cached. What a flight ends with is handed to every caller as is;
 * callers treat it as read-only (GET values are shared Buffers). `join` is the callback form
 * (the GET path: one Flight object per request and no promise), `do` the promise form.
 * Flights live in an OpenTable, not a Map: the table is changed twice per GET (open-table.ts).
 * guards: the table of flights.
 */
export class SingleFlight<V> {
  readonly #flights = new OpenTable<string, Flight<V>>();
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

  /**
   * Joins the flight for `key` and returns undefined, or, when there is none, opens one and
   * returns its `finish`: the caller starts the work and calls it once. Either way `done` is
   * called once with the flight's result.
   */
  join(key: string, done: Done<V>): Done<V> | undefined {
    const hash = hashString(key);
    const flying = this.#flights.get(hash, key);
    if (flying !== undefined) {
      this.shared++;
      this.#onShared?.();
      flying.add(done);
      return undefined;
    }
    const flight = new Flight(done, this.#flights, hash, key);
    this.#flights.set(hash, key, flight);
    return flight.finish;
  }

  /** The flight for `key` as a promise, started with `start()` when there is none. */
  do(key: string, start: () => Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      const finish = this.join(key, (err, v) => (err !== null ? reject(err) : resolve(v as V)));
      if (finish === undefined) return;
      try {
        start().then((v) => finish(null, v), finish);
      } catch (err) {
        finish(err as Error);
      }
    });
  }

  /**
   * Detaches the flight for `key` (its callers still get its result) so the next call starts a
   * new one. Called when a write to the key completes: a read that starts after a write was
   * acknowledged must not join a read that left before it.
   */
  forget(key: string): void {
    this.#flights.delete(hashString(key), key);
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
