import type { Item } from './protocol';
import type { SetOptions } from './ws-client';

/**
 * Cache-aside for apps that load in their own code: `getOrLoad(key, loader, options)` reads the
 * cache, and on a miss calls `loader` once per key in this process (singleflight), stores the
 * result with a jittered TTL, and answers it.
 *
 *   getOrLoad ─► flight per key ─► cache.get
 *                  fresh ─────────► value
 *                  stale (soft TTL passed, inside the stale window) ─► value now + one background load
 *                  negative (loader said "not found") ─► undefined until its short TTL ends
 *                  miss ─► loader(key) ─► cache.set(envelope, ttl ± jitter + stale window) ─► value
 *
 * What is stored (contract of this module, JSON): `{"$sc":1,"v":<value>,"soft":<epoch ms>}` or
 * `{"$sc":1,"neg":1,"soft":<epoch ms>}`; the entry's TTL is the soft TTL plus the stale window.
 * Values must be JSON values. A loader that resolves `undefined` means "not found"; a loader that
 * throws fails the call (or, in a background refresh, leaves the stale value in place).
 * Pure logic over two seams (a cache and a clock), so it is tested with fakes.
 * guards: the flights and refreshes of this instance.
 */

/** The part of the WebSocket client this needs (`ShardcacheClient` has it). */
export interface CacheAsideStore {
  get<T>(ns: string, key: string): Promise<Item<T>>;
  set(ns: string, key: string, value: unknown, options: SetOptions): Promise<unknown>;
}

export interface GetOrLoadOptions {
  /** How long a loaded value is fresh, ms (> 0). */
  ttlMs: number;
  /** Spread of the TTL, ± percent (default 10): keys loaded together do not all expire together. */
  jitterPct?: number;
  /** After the TTL, serve the stale value this long while one background load runs (default 0). */
  staleWhileRevalidateMs?: number;
  /** Cache "not found" (loader resolved undefined) this long (default 0: not cached). */
  negativeTtlMs?: number;
}

export interface CacheAsideOptions {
  /** Epoch ms (default Date.now). */
  now?: () => number;
  /** Uniform in [0, 1) (default Math.random). */
  random?: () => number;
  /** Failures that do not fail a call: a background load that threw, a cache write that failed. */
  onError?: (err: unknown, key: string) => void;
}

interface Envelope<T> {
  $sc: 1;
  v?: T;
  neg?: 1;
  soft: number;
}

const isEnvelope = (v: unknown): v is Envelope<unknown> =>
  typeof v === 'object' && v !== null && (v as { $sc?: unknown }).$sc === 1 && typeof (v as { soft?: unknown }).soft === 'number';

/** `ttl × (1 ± pct/100 × r)`, r uniform in [-1, 1), rounded, at least 1 ms. */
export function jitteredTtl(ttlMs: number, pct: number, random: () => number): number {
  if (pct <= 0) return ttlMs;
  return Math.max(1, Math.round(ttlMs * (1 + (pct / 100) * (2 * random() - 1))));
}

function checkOptions(o: GetOrLoadOptions): void {
  const bad = (name: string, v: unknown, min: number): boolean => v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min);
  if (bad('ttlMs', o?.ttlMs, 1) || o?.ttlMs === undefined) throw new TypeError('getOrLoad: ttlMs must be a number of milliseconds above 0');
  if (bad('jitterPct', o.jitterPct, 0) || (o.jitterPct ?? 0) > 100) throw new TypeError('getOrLoad: jitterPct must be from 0 to 100');
  if (bad('staleWhileRevalidateMs', o.staleWhileRevalidateMs, 0)) throw new TypeError('getOrLoad: staleWhileRevalidateMs must be 0 or more');
  if (bad('negativeTtlMs', o.negativeTtlMs, 0)) throw new TypeError('getOrLoad: negativeTtlMs must be 0 or more');
}

/** Cache-aside over one namespace. */
export class CacheAside {
  readonly #store: CacheAsideStore;
  readonly #ns: string;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #onError: (err: unknown, key: string) => void;
  readonly #flights = new Map<string, Promise<unknown>>();
  readonly #refreshing = new Set<string>();

  constructor(store: CacheAsideStore, namespace: string, options: CacheAsideOptions = {}) {
    this.#store = store;
    this.#ns = namespace;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Loads in flight in this instance (one per key). */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** The cached value of `key`, else what `loader` gives (undefined = not found). */
  getOrLoad<T>(key: string, loader: (key: string) => Promise<T | undefined>, options: GetOrLoadOptions): Promise<T | undefined> {
    try {
      checkOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const flying = this.#flights.get(key);
    if (flying !== undefined) return flying as Promise<T | undefined>;
    const flight = this.#read(key, loader, options);
    this.#flights.set(key, flight);
    const forget = (): void => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key);
    };
    flight.then(forget, forget);
    return flight;
  }

  async #read<T>(key: string, loader: (key: string) => Promise<T | undefined>, o: GetOrLoadOptions): Promise<T | undefined> {
    const item = await this.#store.get<unknown>(this.#ns, key);
    if (item.hit && isEnvelope(item.value)) {
      const env = item.value as Envelope<T>;
      if (this.#now() >= env.soft) this.#refresh(key, loader, o);
      return env.neg === 1 ? undefined : env.v;
    }
    return this.#load(key, loader, o);
  }

  /** Calls the loader and stores what it gave; a failed cache write still answers the value. */
  async #load<T>(key: string, loader: (key: string) => Promise<T | undefined>, o: GetOrLoadOptions): Promise<T | undefined> {
    const value = await loader(key);
    const now = this.#now();
    if (value === undefined) {
      const negativeTtl = o.negativeTtlMs ?? 0;
      if (negativeTtl > 0) await this.#put(key, { $sc: 1, neg: 1, soft: now + negativeTtl }, negativeTtl);
      return undefined;
    }
    const ttl = jitteredTtl(o.ttlMs, o.jitterPct ?? 10, this.#random);
    const stale = o.staleWhileRevalidateMs ?? 0;
    await this.#put(key, { $sc: 1, v: value, soft: now + ttl }, ttl + stale);
    return value;
  }

  async #put(key: string, envelope: Envelope<unknown>, ttlMs: number): Promise<void> {
    try {
      await this.#store.set(this.#ns, key, envelope, { ttlMs: Math.max(1, Math.round(ttlMs)) });
    } catch (err) {
      this.#onError(err, key);
    }
  }

  /** One background load per key; the stale value stays until it succeeds. */
  #refresh<T>(key: string, loader: (key: string) => Promise<T | undefined>, o: GetOrLoadOptions): void {
    if (this.#refreshing.has(key)) return;
    this.#refreshing.add(key);
    void this.#load(key, loader, o)
      .catch((err: unknown) => this.#onError(err, key))
      .finally(() => this.#refreshing.delete(key));
  }
}
