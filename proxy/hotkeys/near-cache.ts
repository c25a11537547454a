import type { GetResult } from '../backend';

/** Limits of a near cache. */
export interface NearCacheOptions {
  maxEntries: number;
  maxBytes: number;
  /** Monotonic clock, ms. */
  now: () => number;
}

interface Entry {
  result: GetResult;
  expiresAt: number;
  bytes: number;
}

/** Bytes an entry is accounted at: key, value and a fixed overhead. */
const ENTRY_OVERHEAD = 64;

/**
 * The proxy's near cache for keys under a near-cache rule: results (hits and misses) kept for a
 * short TTL, bounded in entries and bytes (the oldest insertion leaves first). Pure: the clock is
 * injected.
 *
 * Fills race with invalidations: `begin(id)` before the fetch and `put(id, ..., token)` after it;
 * an invalidation in between bumps the key's generation and the stale result is not stored.
 * guards: entries, bytes, generations.
 */
export class NearCache {
  readonly #o: NearCacheOptions;
  readonly #entries = new Map<string, Entry>();
  /** Generation per key, bumped by every invalidation while a fill may be running. */
  readonly #generations = new Map<string, number>();
  /** Times the generations were forgotten; part of every token, so older tokens never match. */
  #era = 0;
  #bytes = 0;
  hits = 0;
  misses = 0;

  constructor(options: NearCacheOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The cached result of `id` while fresh, else undefined (counted). */
  get(id: string): GetResult | undefined {
    const entry = this.#entries.get(id);
    if (entry !== undefined && entry.expiresAt > this.#o.now()) {
      this.hits++;
      return entry.result;
    }
    if (entry !== undefined) this.#remove(id, entry);
    this.misses++;
    return undefined;
  }

  /** A token to hand back to `put`: the key's generation when the fill started. */
  begin(id: string): number {
    return this.#era * 2 ** 32 + (this.#generations.get(id) ?? 0);
  }

  /** Keeps `result` for `ttlMs` unless `id` was invalidated since `token` was taken. */
  put(id: string, result: GetResult, ttlMs: number, token: number): void {
    if (this.begin(id) !== token || ttlMs <= 0) return;
    const bytes = ENTRY_OVERHEAD + id.length * 2 + (result.hit ? result.value.byteLength : 0);
    if (bytes > this.#o.maxBytes) return;
    const old = this.#entries.get(id);
    if (old !== undefined) this.#remove(id, old);
    while (this.#entries.size >= this.#o.maxEntries || this.#bytes + bytes > this.#o.maxBytes) {
      const [oldestId, oldest] = this.#entries.entries().next().value as [string, Entry];
      this.#remove(oldestId, oldest);
    }
    this.#entries.set(id, { result, expiresAt: this.#o.now() + ttlMs, bytes });
    this.#bytes += bytes;
  }

  /** Drops `id` now, and stops fills that started before this from storing. */
  invalidate(id: string): void {
    const entry = this.#entries.get(id);
    if (entry !== undefined) this.#remove(id, entry);
    if (this.#generations.size >= 4 * this.#o.maxEntries) {
      this.#generations.clear();
      this.#era++;
    }
    this.#generations.set(id, (this.#generations.get(id) ?? 0) + 1);
  }

  /** Drops every entry whose id starts with `prefix` (a namespace- or tag-wide invalidation), or all. */
  invalidatePrefix(prefix = ''): void {
    for (const [id, entry] of [...this.#entries]) if (id.startsWith(prefix)) this.#remove(id, entry);
    this.#era++; // fills of any key that started before this do not store
  }

  #remove(id: string, entry: Entry): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }
}
