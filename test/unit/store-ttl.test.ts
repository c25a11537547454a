import { KEEP_TTL, SetCond } from '../../shared/protocol';
import { b, makeStore, text } from './store-helpers';

describe('Store expiry', () => {
  test('an entry is visible before expiresAt and gone at expiresAt exactly', () => {
    const { store, clock, removed } = makeStore();
    const w = store.set('ns', 'k', b('v'), { ttlMs: 1000 })!;
    expect(w.expiresAt).toBe(clock.t + 1000);
    clock.advance(999);
    expect(store.get('ns', 'k')?.expiresAt).toBe(w.expiresAt);
    expect(store.ttl('ns', 'k')).toBe(1);
    clock.advance(1);
    expect(store.get('ns', 'k')).toBeUndefined();
    expect(store.stats()).toMatchObject({ expired: 1, items: 0, bytes: 0, misses: 1 });
    expect(removed).toEqual([['ns', 'k', 'expired']]);
  });

  test('ttl: -2 missing, -1 no expiry, else ms left; expired keys are missing', () => {
    const { store, clock } = makeStore();
    expect(store.ttl('ns', 'k')).toBe(-2);
    store.set('ns', 'k', b('v'));
    expect(store.ttl('ns', 'k')).toBe(-1);
    store.set('ns', 't', b('v'), { ttlMs: 500 });
    clock.advance(200);
    expect(store.ttl('ns', 't')).toBe(300);
    clock.advance(300);
    expect(store.ttl('ns', 't')).toBe(-2);
  });

  test('KEEP_TTL keeps the current expiry; on a missing key it means none', () => {
    const { store, clock } = makeStore();
    const first = store.set('ns', 'k', b('1'), { ttlMs: 1000 })!;
    clock.advance(400);
    const second = store.set('ns', 'k', b('2'), { ttlMs: KEEP_TTL })!;
    expect(second.expiresAt).toBe(first.expiresAt);
    expect(store.ttl('ns', 'k')).toBe(600);
    expect(store.set('ns', 'fresh', b('x'), { ttlMs: KEEP_TTL })!.expiresAt).toBe(0);
    expect(store.ttl('ns', 'fresh')).toBe(-1);
  });

  test('a plain SET clears a previous TTL', () => {
    const { store, clock } = makeStore();
    store.set('ns', 'k', b('1'), { ttlMs: 100 });
    store.set('ns', 'k', b('2'));
    clock.advance(1000);
    expect(text(store.get('ns', 'k'))).toBe('2');
  });

  test('NX succeeds over an expired entry, XX fails on it', () => {
    const { store, clock } = makeStore();
    store.set('ns', 'k', b('old'), { ttlMs: 10 });
    clock.advance(10);
    expect(store.set('ns', 'k', b('x'), { cond: SetCond.XX })).toBeUndefined();
    store.set('ns', 'j', b('old'), { ttlMs: 10 });
    clock.advance(10);
    expect(store.set('ns', 'j', b('new'), { cond: SetCond.NX })).toBeDefined();
    expect(text(store.get('ns', 'j'))).toBe('new');
  });

  test('expire sets a TTL, expire <= 0 deletes, missing keys return false', () => {
    const { store, clock, removed } = makeStore();
    expect(store.expire('ns', 'k', 100)).toBe(false);
    store.set('ns', 'k', b('v'));
    expect(store.expire('ns', 'k', 100)).toBe(true);
    expect(store.ttl('ns', 'k')).toBe(100);
    clock.advance(50);
    expect(store.expire('ns', 'k', 0)).toBe(true);
    expect(store.get('ns', 'k')).toBeUndefined();
    store.set('ns', 'j', b('v'));
    expect(store.expire('ns', 'j', -10)).toBe(true);
    expect(store.exists('ns', ['j'])).toBe(0);
    expect(removed).toEqual([]);
    expect(store.stats().expired).toBe(0);
  });

  test('persist removes a TTL and reports whether there was one', () => {
    const { store, clock } = makeStore();
    expect(store.persist('ns', 'k')).toBe(false);
    store.set('ns', 'k', b('v'));
    expect(store.persist('ns', 'k')).toBe(false);
    store.expire('ns', 'k', 100);
    expect(store.persist('ns', 'k')).toBe(true);
    clock.advance(1000);
    expect(store.ttl('ns', 'k')).toBe(-1);
    expect(store.sweep(5).expired).toBe(0);
  });

  test('exists counts duplicates and skips expired keys', () => {
    const { store, clock } = makeStore();
    store.set('ns', 'a', b('1'));
    store.set('ns', 'b', b('2'), { ttlMs: 10 });
    expect(store.exists('ns', ['a', 'a', 'b', 'c'])).toBe(3);
    clock.advance(10);
    expect(store.exists('ns', ['a', 'a', 'b', 'c'])).toBe(2);
    expect(store.exists('other', ['a'])).toBe(0);
    expect(store.stats()).toMatchObject({ hits: 0, misses: 0, expired: 1 });
  });
});

describe('Store.sweep active expiry', () => {
  test('removes expired entries, not live ones, and reports them to the listener', () => {
    const { store, clock, removed } = makeStore();
    for (let i = 0; i < 1000; i++) store.set('ns', `t${i}`, b('v'), { ttlMs: 100 });
    for (let i = 0; i < 1000; i++) store.set('ns', `p${i}`, b('v'));
    clock.advance(100);
    const { expired } = store.sweep(1000);
    expect(expired).toBe(1000);
    expect(store.size).toBe(1000);
    expect(removed.length).toBe(1000);
    expect(removed.every(([, key, reason]) => key.startsWith('t') && reason === 'expired')).toBe(true);
  });

  test('expired keys never pile up under a moving clock', () => {
    const { store, clock } = makeStore({}, 7);
    let written = 0;
    for (let tick = 0; tick < 2000; tick++) {
      for (let j = 0; j < 10; j++) {
        store.set('ns', `k${written}`, b('v'), { ttlMs: 50 + ((written * 37) % 400) });
        written++;
      }
      clock.advance(1);
      store.sweep(1);
    }
    clock.advance(1000);
    for (let i = 0; i < 50; i++) store.sweep(1);
    const stats = store.stats();
    expect(stats.expired).toBe(written);
    expect(stats.items).toBe(0);
  });

  test('while live TTL entries dominate, leftovers stay under ~25% of the TTL set', () => {
    const { store, clock } = makeStore({}, 9);
    for (let i = 0; i < 2000; i++) store.set('ns', `live${i}`, b('v'), { ttlMs: 1_000_000 });
    for (let i = 0; i < 2000; i++) store.set('ns', `dead${i}`, b('v'), { ttlMs: 10 });
    clock.advance(10);
    for (let i = 0; i < 100; i++) store.sweep(1);
    const left = store.size - 2000;
    expect(left).toBeLessThan(0.25 * store.size + 20);
  });

  test('terminates with a frozen clock and with a zero budget', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 50_000; i++) store.set('ns', `k${i}`, b('v'), { ttlMs: 1 });
    clock.advance(1);
    const zero = store.sweep(0);
    expect(zero.expired).toBeGreaterThan(0);
    expect(zero.expired).toBeLessThanOrEqual(20);
    const frozen = store.sweep(1);
    expect(frozen.expired).toBeGreaterThan(0);
    expect(frozen.expired).toBeLessThan(50_000);
    let total = zero.expired + frozen.expired;
    while (store.size > 0) total += store.sweep(10).expired;
    expect(total).toBe(50_000);
  });
});
