/**
 * The store's side of RESP OBJECT and INFO keyspace: `Store.objectInfo` (encoding, LFU counter,
 * idle seconds from the coarse per-entry access second) and the per-namespace count of keys with
 * an expiry (`StoreKeys.expiringCount`), kept in O(1) where an expiry is set or cleared.
 */
import { LFU_INIT_VAL } from '../../storage-node/store/lfu';
import { stringEncoding } from '../../storage-node/store/store';
import { b, makeStore } from './store-helpers';

describe('stringEncoding: Redis\'s rule for strings', () => {
  test.each([
    ['12345', 'int'], ['0', 'int'], ['-1', 'int'], ['9223372036854775807', 'int'], ['-9223372036854775808', 'int'],
    ['9223372036854775808', 'embstr'], ['007', 'embstr'], ['+1', 'embstr'], ['-0', 'embstr'], [' 1', 'embstr'], ['1.5', 'embstr'],
    ['short', 'embstr'], ['', 'embstr'], ['x'.repeat(44), 'embstr'], ['x'.repeat(45), 'raw'], ['x'.repeat(100), 'raw'],
  ])('%j is %s', (value, encoding) => {
    expect(stringEncoding(value)).toBe(encoding);
  });
});

describe('Store.objectInfo', () => {
  test('encoding of each value, undefined for a missing or expired key; no hit counted, recency untouched', () => {
    const { store, clock } = makeStore();
    store.set('app', 'n', b('12345'));
    store.set('app', 's', b('short'));
    store.set('app', 'r', Buffer.alloc(100, 'x'));
    store.set('app', 'e', b('v'), { ttlMs: 50 });
    const before = store.stats();
    expect(store.objectInfo('app', 'n')).toMatchObject({ encoding: 'int', freq: -1, idleSeconds: 0 });
    expect(store.objectInfo('app', 's')?.encoding).toBe('embstr');
    expect(store.objectInfo('app', 'r')?.encoding).toBe('raw');
    expect(store.objectInfo('app', 'nope')).toBeUndefined();
    expect(store.objectInfo('other', 'n')).toBeUndefined();
    clock.advance(51);
    expect(store.objectInfo('app', 'e')).toBeUndefined();
    const after = store.stats();
    expect([after.hits, after.misses]).toEqual([before.hits, before.misses]);
  });

  test('idle seconds: from the last write or hit, not refreshed by objectInfo itself', () => {
    const { store, clock } = makeStore();
    store.set('app', 'k', b('v'));
    clock.advance(2500);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(2);
    clock.advance(1000);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(3); // OBJECT did not touch it
    store.get('app', 'k'); // a hit of an LRU entry without expiry takes no clock reading: the last second read (objectInfo's)
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(0);
    clock.advance(5000);
    store.set('app', 'other', b('x')); // any write reads the clock
    store.get('app', 'k');
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(0);
  });

  test('EXISTS with touch (RESP TOUCH) counts as an access; without it, not', () => {
    const { store, clock } = makeStore();
    store.set('app', 'k', b('v'));
    clock.advance(4000);
    expect(store.exists('app', ['k', 'nope'])).toBe(1);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(4);
    const hits = store.stats().hits;
    expect(store.exists('app', ['k', 'k'], true)).toBe(2);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(0);
    expect(store.stats().hits).toBe(hits);
  });

  test('a hit that reads no clock stamps the second the sweep last read', () => {
    const { store, clock } = makeStore();
    store.set('app', 'k', b('v'));
    clock.advance(10_000);
    store.sweep(1); // the node's timer: the coarse clock moves on without any request
    store.get('app', 'k');
    clock.advance(400);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(0);
    clock.advance(1600);
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(2);
  });

  test('a hit on an entry with an expiry reads the clock and stamps its second', () => {
    const { store, clock } = makeStore();
    store.set('app', 'k', b('v'), { ttlMs: 60_000 });
    clock.advance(7000);
    store.get('app', 'k');
    expect(store.objectInfo('app', 'k')?.idleSeconds).toBe(0);
  });

  test('LFU namespace: the counter (decayed to now), no idle time; LRU: no counter', () => {
    const { store, clock } = makeStore({ lfuDecayMinutes: 1 });
    store.setNamespacePolicy('f', { eviction: 'lfu' });
    store.set('f', 'k', b('v'));
    expect(store.objectInfo('f', 'k')).toMatchObject({ encoding: 'embstr', freq: LFU_INIT_VAL, idleSeconds: -1 });
    for (let i = 0; i < 3; i++) store.get('f', 'k'); // below LFU_INIT_VAL + 1 each access counts
    const freq = store.objectInfo('f', 'k')!.freq;
    expect(freq).toBeGreaterThan(LFU_INIT_VAL);
    expect(store.objectInfo('f', 'k')!.freq).toBe(freq); // OBJECT FREQ does not count an access
    clock.advance(2 * 60_000);
    expect(store.objectInfo('f', 'k')!.freq).toBe(freq - 2); // one point per decay period
    store.setNamespacePolicy('f', { eviction: 'lru' });
    expect(store.objectInfo('f', 'k')).toMatchObject({ freq: -1, idleSeconds: 120 });
  });
});

describe('StoreKeys.expiringCount: the namespace\'s live keys with an expiry', () => {
  test('kept where an expiry is set, changed, cleared, and where a key goes', () => {
    const { store, clock } = makeStore();
    const count = (ns = 'app') => [store.keys.liveCount(ns), store.keys.expiringCount(ns)];
    store.set('app', 'a', b('1'));
    store.set('app', 'b', b('2'), { ttlMs: 10_000 });
    store.set('app', 'c', b('3'));
    store.set('other', 'x', b('1'), { ttlMs: 10_000 });
    expect(count()).toEqual([3, 1]);
    expect(count('other')).toEqual([1, 1]);
    expect(count('none')).toEqual([0, 0]);
    store.set('app', 'b', b('2'), { ttlMs: 20_000 }); // a new expiry: still one
    expect(count()).toEqual([3, 1]);
    store.expire('app', 'a', 5000);
    expect(count()).toEqual([3, 2]);
    store.persist('app', 'a');
    expect(count()).toEqual([3, 1]);
    store.set('app', 'b', b('plain')); // a SET without TTL clears it
    expect(count()).toEqual([3, 0]);
    store.incr('app', 'n', 1, 5000);
    store.append('app', 'n', b('0'));
    expect(count()).toEqual([4, 1]);
    store.rename('app', 'n', 'm', false);
    expect(count()).toEqual([4, 1]);
    store.copy('app', 'm', 'm2', false);
    expect(count()).toEqual([5, 2]);
    store.delete('app', 'm');
    expect(count()).toEqual([4, 1]);
    clock.advance(6000);
    expect(store.get('app', 'm2')).toBeUndefined(); // expired, removed on access
    expect(count()).toEqual([3, 0]);
    store.expire('app', 'a', 1000);
    clock.advance(1001);
    store.sweep(5);
    expect(count()).toEqual([2, 0]);
  });

  test('a namespace invalidation hides them at once; keys written after it count, and rewriting a hidden key', () => {
    const { store } = makeStore();
    const count = () => [store.keys.liveCount('app'), store.keys.expiringCount('app')];
    for (let i = 0; i < 5; i++) store.set('app', `k${i}`, b('v'), i < 3 ? { ttlMs: 60_000 } : undefined);
    expect(count()).toEqual([5, 3]);
    store.invalidate('app');
    expect(count()).toEqual([0, 0]);
    store.set('app', 'k0', b('again')); // rewrites a hidden entry with an expiry, without one
    store.set('app', 'k1', b('again'), { ttlMs: 1000 });
    store.set('app', 'new', b('n'), { ttlMs: 1000 });
    expect(count()).toEqual([3, 2]);
    store.sweep(50); // the reclaim walk removes the hidden ones
    expect(count()).toEqual([3, 2]);
  });

  test('a replica: applied sets, deletes and invalidations, and a snapshot\'s watermark', () => {
    const { store, clock } = makeStore();
    store.passive = true;
    const r = store.replication;
    const count = () => [store.keys.liveCount('app'), store.keys.expiringCount('app')];
    r.applySet('app', 'a', b('1'), 1, clock.t + 60_000, 0, null);
    r.applySet('app', 'b', b('2'), 2, 0, 0, null);
    r.applySet('app', 'c', b('3'), 3, clock.t + 60_000, 0, null);
    expect(count()).toEqual([3, 2]);
    r.applySet('app', 'c', b('3'), 4, 0, 0, null);
    expect(count()).toEqual([3, 1]);
    r.applyDelete('app', 'a');
    expect(count()).toEqual([2, 0]);
    r.applySet('app', 'd', b('4'), 5, clock.t + 60_000, 0, null);
    r.applyInvalidate('app', null, 5);
    expect(count()).toEqual([0, 0]);
    r.applySet('app', 'e', b('5'), 6, clock.t + 60_000, 0, null);
    expect(count()).toEqual([1, 1]);
    // A full sync: entries newer and older than the watermark that comes after them.
    const twin = store.emptyTwin();
    twin.replication.applySet('app', 'old', b('o'), 7, clock.t + 60_000, 0, null);
    twin.replication.applySet('app', 'new', b('n'), 9, clock.t + 60_000, 0, null);
    twin.replication.applySet('app', 'new2', b('n'), 10, 0, 0, null);
    twin.replication.applySnapshotWatermark('app', null, 8);
    expect([twin.keys.liveCount('app'), twin.keys.expiringCount('app')]).toEqual([2, 1]);
    twin.replication.applySet('app', 'old', b('o'), 7, 0, 0, null); // a hidden entry loses its expiry
    expect([twin.keys.liveCount('app'), twin.keys.expiringCount('app')]).toEqual([2, 1]);
    twin.replication.applyDelete('app', 'new');
    expect([twin.keys.liveCount('app'), twin.keys.expiringCount('app')]).toEqual([1, 0]);
  });
});
