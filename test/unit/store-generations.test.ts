import { SetCond, Status } from '../../shared/protocol';
import { entrySize } from '../../storage-node/store';
import { b, makeStore, opError, text } from './store-helpers';

describe('namespace invalidation', () => {
  test('hides every older entry from every operation, not newer writes', () => {
    const { store } = makeStore();
    store.set('ns', 'a', b('1'));
    store.set('ns', 'b', b('2'));
    store.set('ns', 'n', b('10'));
    store.set('ns', 'c', b('c'));
    store.set('other', 'a', b('kept'));
    store.invalidate('ns');
    store.set('ns', 'new', b('fresh'));
    expect(store.get('ns', 'a')).toBeUndefined();
    expect(store.mget('ns', ['a', 'b', 'new']).map(text)).toEqual([undefined, undefined, 'fresh']);
    expect(store.exists('ns', ['a', 'b', 'new'])).toBe(1);
    expect(store.ttl('ns', 'b')).toBe(-2);
    expect(store.incr('ns', 'n', 1).value).toBe(1);
    expect(store.set('ns', 'c', b('x'), { cond: SetCond.XX })).toBeUndefined();
    expect(text(store.get('other', 'a'))).toBe('kept');
    expect(text(store.get('ns', 'new'))).toBe('fresh');
  });

  test('NX succeeds over an invisible entry and CAS sees version 0', () => {
    const { store } = makeStore();
    const v = store.set('ns', 'k', b('old'))!.version;
    store.invalidate('ns');
    const err = opError(() => store.set('ns', 'k', b('x'), { ifVersion: v }));
    expect(err.status).toBe(Status.VERSION_CONFLICT);
    expect(err.detail).toEqual([0]);
    expect(store.set('ns', 'k', b('new'), { cond: SetCond.NX })).toBeDefined();
    expect(text(store.get('ns', 'k'))).toBe('new');
  });

  test('unknown namespaces and unused tags are no-ops', () => {
    const { store } = makeStore();
    store.invalidate('nothing');
    store.invalidate('nothing', 't');
    store.set('ns', 'k', b('v'), { tags: ['a'] });
    store.invalidate('ns', 'unused');
    expect(store.get('ns', 'k')).toBeDefined();
  });
});

describe('tag invalidation', () => {
  test('hides only entries carrying the tag', () => {
    const { store } = makeStore();
    store.set('ns', 'x', b('1'), { tags: ['user:1'] });
    store.set('ns', 'xy', b('2'), { tags: ['user:2', 'user:1'] });
    store.set('ns', 'y', b('3'), { tags: ['user:2'] });
    store.set('ns', 'none', b('4'));
    store.set('other', 'x', b('5'), { tags: ['user:1'] });
    store.invalidate('ns', 'user:1');
    expect(store.exists('ns', ['x', 'xy', 'y', 'none'])).toBe(2);
    expect(text(store.get('ns', 'y'))).toBe('3');
    expect(text(store.get('other', 'x'))).toBe('5');
  });

  test('a rewrite after the invalidation is visible, with or without the tag', () => {
    const { store } = makeStore();
    store.set('ns', 'a', b('old'), { tags: ['t'] });
    store.set('ns', 'b', b('old'), { tags: ['t'] });
    store.invalidate('ns', 't');
    store.set('ns', 'a', b('new'), { tags: ['t'] });
    store.set('ns', 'b', b('new'));
    expect(text(store.get('ns', 'a'))).toBe('new');
    expect(text(store.get('ns', 'b'))).toBe('new');
    store.invalidate('ns', 't');
    expect(store.get('ns', 'a')).toBeUndefined();
    expect(text(store.get('ns', 'b'))).toBe('new');
  });

  test('tags are accounted bytes', () => {
    const { store } = makeStore();
    store.set('ns', 'k', b('v'), { tags: ['abc', 'de'] });
    expect(store.stats().bytes).toBe(entrySize(1, 1, 5));
    store.set('ns', 'k', b('v'));
    expect(store.stats().bytes).toBe(entrySize(1, 1, 0));
  });
});

describe('reclaiming invisible entries', () => {
  test('on access, counted and reported as invalidated', () => {
    const { store, removed } = makeStore();
    store.set('ns', 'k', b('v'));
    store.invalidate('ns');
    expect(store.size).toBe(1);
    expect(store.get('ns', 'k')).toBeUndefined();
    expect(store.size).toBe(0);
    expect(store.stats()).toMatchObject({ reclaimedInvalidated: 1, bytes: 0 });
    expect(removed).toEqual([['ns', 'k', 'invalidated']]);
  });

  test('sweep reclaims them and the bytes drop', () => {
    const { store, removed } = makeStore();
    for (let i = 0; i < 1000; i++) {
      store.set('ns', `k${i}`, b('value'), { tags: i % 2 ? ['odd'] : undefined });
    }
    for (let i = 0; i < 100; i++) store.set('keep', `k${i}`, b('value'));
    const before = store.stats();
    store.invalidate('ns', 'odd');
    const { reclaimed } = store.sweep(10);
    expect(reclaimed).toBe(500);
    const after = store.stats();
    expect(after.items).toBe(600);
    let freed = 0;
    for (let i = 1; i < 1000; i += 2) freed += entrySize(`k${i}`.length, 5, 3);
    expect(after.bytes).toBe(before.bytes - freed);
    expect(after.reclaimedInvalidated).toBe(500);
    expect(removed.length).toBe(500);
    expect(removed.every(([ns, , reason]) => ns === 'ns' && reason === 'invalidated')).toBe(true);
    store.invalidate('ns');
    store.sweep(10);
    expect(store.stats().namespaces['ns']).toMatchObject({ items: 0, bytes: 0 });
    expect(store.stats().namespaces['keep'].items).toBe(100);
  });

  test('the walk is budgeted: a frozen clock and a zero budget still end, later sweeps finish', () => {
    const { store } = makeStore();
    for (let i = 0; i < 30_000; i++) store.set('ns', `k${i}`, b('v'));
    store.invalidate('ns');
    const first = store.sweep(0);
    expect(first.reclaimed).toBeGreaterThan(0);
    expect(first.reclaimed).toBeLessThanOrEqual(256);
    let total = first.reclaimed;
    let calls = 1;
    while (store.size > 0 && calls < 1000) {
      total += store.sweep(0.5).reclaimed;
      calls++;
    }
    expect(total).toBe(30_000);
    expect(calls).toBeGreaterThan(2);
  });

  test('a new invalidation during a walk restarts it and nothing is missed', () => {
    const { store } = makeStore();
    for (let i = 0; i < 3000; i++) store.set('ns', `k${i}`, b('v'), { tags: [`t${i % 3}`] });
    store.invalidate('ns', 't0');
    store.sweep(0);
    store.delete('ns', 'k1');
    store.invalidate('ns', 't1');
    for (let i = 3000; i < 3100; i++) store.set('ns', `k${i}`, b('v'), { tags: ['t0'] });
    for (let i = 0; i < 100; i++) store.sweep(0);
    expect(store.size).toBe(1000 + 100);
    expect(store.exists('ns', ['k2', 'k3000', 'k3099'])).toBe(3);
  });

  test('memory pressure reclaims invisible entries before evicting live ones', () => {
    const size = entrySize(5, 10, 0);
    const { store } = makeStore({ maxMemoryBytes: 200 * size });
    for (let i = 0; i < 100; i++) store.set('old', `o${String(i).padStart(4, '0')}`, b('0123456789'));
    for (let i = 0; i < 100; i++) store.set('live', `l${String(i).padStart(4, '0')}`, b('0123456789'));
    store.invalidate('old');
    for (let i = 0; i < 100; i++) store.set('new', `n${String(i).padStart(4, '0')}`, b('0123456789'));
    const s = store.stats();
    expect(s.evictedMemory).toBe(0);
    expect(s.reclaimedInvalidated).toBe(100);
    expect(s.namespaces['live'].items).toBe(100);
    expect(s.namespaces['new'].items).toBe(100);
  });
});
