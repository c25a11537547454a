import { CacheAside, jitteredTtl, type CacheAsideStore } from '../../client/get-or-load';
import type { Item } from '../../client/protocol';

/** An in-memory cache that expires by the fake clock and counts calls; values are copied through JSON like the wire. */
class FakeCache implements CacheAsideStore {
  readonly entries = new Map<string, { value: string; expiresAt: number }>();
  readonly sets: Array<{ key: string; value: unknown; ttlMs: number }> = [];
  gets = 0;
  failSets = false;
  constructor(readonly clock: { now: number }) {}

  async get<T>(ns: string, key: string): Promise<Item<T>> {
    this.gets++;
    const e = this.entries.get(`${ns}/${key}`);
    if (e === undefined || this.clock.now >= e.expiresAt) return { hit: false };
    return { hit: true, value: JSON.parse(e.value) as T, version: 1, ttlMs: e.expiresAt - this.clock.now, flags: 1 };
  }

  async set(ns: string, key: string, value: unknown, options: { ttlMs?: number }): Promise<unknown> {
    if (this.failSets) throw new Error('cache down');
    this.sets.push({ key, value, ttlMs: options.ttlMs! });
    this.entries.set(`${ns}/${key}`, { value: JSON.stringify(value), expiresAt: this.clock.now + options.ttlMs! });
    return {};
  }
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(random = () => 0.5) {
  const clock = { now: 1_000_000 };
  const cache = new FakeCache(clock);
  const errors: unknown[] = [];
  const aside = new CacheAside(cache, 'users', { now: () => clock.now, random, onError: (err) => errors.push(err) });
  return { clock, cache, aside, errors };
}

describe('getOrLoad', () => {
  test('singleflight: concurrent misses of one key call the loader once and all get its value', async () => {
    const { cache, aside } = setup();
    const d = deferred<{ name: string }>();
    let loads = 0;
    const loader = (): Promise<{ name: string }> => (loads++, d.promise);
    const calls = Array.from({ length: 100 }, () => aside.getOrLoad('u:1', loader, { ttlMs: 1000 }));
    await flush();
    expect(loads).toBe(1);
    expect(aside.inFlight).toBe(1);
    d.resolve({ name: 'ada' });
    const values = await Promise.all(calls);
    expect(values.every((v) => v?.name === 'ada')).toBe(true);
    expect(cache.sets).toHaveLength(1);
    expect(aside.inFlight).toBe(0);
    // Other keys fly on their own.
    await aside.getOrLoad('u:2', async () => ({ name: 'bob' }), { ttlMs: 1000 });
    expect(cache.sets).toHaveLength(2);
  });

  test('a hit does not call the loader; after the TTL the loader runs again', async () => {
    const { clock, aside } = setup();
    let loads = 0;
    const loader = async (): Promise<number> => ++loads;
    expect(await aside.getOrLoad('k', loader, { ttlMs: 1000, jitterPct: 0 })).toBe(1);
    clock.now += 999;
    expect(await aside.getOrLoad('k', loader, { ttlMs: 1000, jitterPct: 0 })).toBe(1);
    clock.now += 1;
    expect(await aside.getOrLoad('k', loader, { ttlMs: 1000, jitterPct: 0 })).toBe(2);
  });

  test('jitter spreads the TTL by ± pct (default 10%)', async () => {
    expect(jitteredTtl(1000, 10, () => 0)).toBe(900);
    expect(jitteredTtl(1000, 10, () => 0.5)).toBe(1000);
    expect(jitteredTtl(1000, 10, () => 0.999999)).toBe(1100);
    expect(jitteredTtl(1000, 0, () => 0)).toBe(1000);
    const { cache, aside } = setup(() => 0);
    await aside.getOrLoad('a', async () => 'x', { ttlMs: 1000 });
    await aside.getOrLoad('b', async () => 'x', { ttlMs: 1000, jitterPct: 50 });
    expect(cache.sets.map((s) => s.ttlMs)).toEqual([900, 500]);
  });

  test('stale-while-revalidate: the stale value is served at once while one background load runs', async () => {
    const { clock, cache, aside } = setup();
    const opts = { ttlMs: 1000, jitterPct: 0, staleWhileRevalidateMs: 5000 };
    await aside.getOrLoad('k', async () => 'v1', opts);
    expect(cache.sets[0].ttlMs).toBe(6000); // soft TTL + stale window
    clock.now += 1500; // stale
    const d = deferred<string>();
    let loads = 0;
    const loader = (): Promise<string> => (loads++, d.promise);
    const stale = await Promise.all([aside.getOrLoad('k', loader, opts), aside.getOrLoad('k', loader, opts)]);
    expect(stale).toEqual(['v1', 'v1']);
    expect(await aside.getOrLoad('k', loader, opts)).toBe('v1'); // a later call while the refresh runs
    expect(loads).toBe(1);
    d.resolve('v2');
    await flush();
    expect(await aside.getOrLoad('k', loader, opts)).toBe('v2');
    expect(loads).toBe(1);
  });

  test('a failed background load keeps the stale value and is reported', async () => {
    const { clock, aside, errors } = setup();
    const opts = { ttlMs: 1000, jitterPct: 0, staleWhileRevalidateMs: 5000 };
    await aside.getOrLoad('k', async () => 'v1', opts);
    clock.now += 2000;
    expect(await aside.getOrLoad('k', async () => Promise.reject(new Error('db down')), opts)).toBe('v1');
    await flush();
    expect(errors.map((e) => (e as Error).message)).toEqual(['db down']);
    expect(await aside.getOrLoad('k', async () => 'v2', opts)).toBe('v1'); // still stale: this call starts a refresh
    await flush();
    expect(await aside.getOrLoad('k', async () => 'v3', opts)).toBe('v2');
  });

  test('negative caching: "not found" is cached for negativeTtlMs, then the loader runs again', async () => {
    const { clock, cache, aside } = setup();
    let loads = 0;
    const loader = async (): Promise<string | undefined> => (++loads > 1 ? 'found' : undefined);
    const opts = { ttlMs: 10_000, negativeTtlMs: 500 };
    expect(await aside.getOrLoad('k', loader, opts)).toBeUndefined();
    expect(cache.sets[0]).toMatchObject({ ttlMs: 500, value: { $sc: 1, neg: 1 } });
    clock.now += 499;
    expect(await aside.getOrLoad('k', loader, opts)).toBeUndefined();
    expect(loads).toBe(1);
    clock.now += 1;
    expect(await aside.getOrLoad('k', loader, opts)).toBe('found');
    expect(loads).toBe(2);
    // Without negativeTtlMs nothing is cached for a miss.
    let misses = 0;
    await aside.getOrLoad('m', async () => (misses++, undefined), { ttlMs: 1000 });
    await aside.getOrLoad('m', async () => (misses++, undefined), { ttlMs: 1000 });
    expect(misses).toBe(2);
  });

  test('loader errors fail the call (and the next call retries); cache write failures still answer the value', async () => {
    const { cache, aside, errors } = setup();
    await expect(aside.getOrLoad('k', async () => Promise.reject(new Error('boom')), { ttlMs: 1000 })).rejects.toThrow('boom');
    expect(await aside.getOrLoad('k', async () => 'ok', { ttlMs: 1000 })).toBe('ok');
    cache.failSets = true;
    expect(await aside.getOrLoad('j', async () => 'still', { ttlMs: 1000 })).toBe('still');
    expect(errors).toHaveLength(1);
  });

  test('bad options are refused with a clear error', async () => {
    const { aside } = setup();
    await expect(aside.getOrLoad('k', async () => 1, { ttlMs: 0 })).rejects.toThrow('ttlMs must be');
    await expect(aside.getOrLoad('k', async () => 1, { ttlMs: 10, jitterPct: 150 })).rejects.toThrow('jitterPct');
    await expect(aside.getOrLoad('k', async () => 1, { ttlMs: 10, negativeTtlMs: -1 })).rejects.toThrow('negativeTtlMs');
    await expect(aside.getOrLoad('k', async () => 1, undefined as never)).rejects.toThrow('ttlMs must be');
  });
});
