import { Limits, SetCond, Status } from '../../shared/protocol';
import { Store } from '../../storage-node/store';
import { b, makeStore, opError, text } from './store-helpers';

const statusOf = (fn: () => unknown): number => opError(fn).status;

describe('Store get/set/delete', () => {
  test('set then get returns value, version, expiry and flags', () => {
    const { store } = makeStore();
    const w = store.set('ns', 'k', b('hello'), { flags: 7 });
    expect(w).toEqual({ version: 1, expiresAt: 0 });
    const e = store.get('ns', 'k');
    expect(text(e)).toBe('hello');
    expect(e).toMatchObject({ version: 1, expiresAt: 0, flags: 7 });
  });

  test('missing namespace and missing key are misses', () => {
    const { store } = makeStore();
    expect(store.get('nope', 'k')).toBeUndefined();
    store.set('ns', 'a', b('1'));
    expect(store.get('ns', 'b')).toBeUndefined();
    expect(store.stats()).toMatchObject({ hits: 0, misses: 2 });
    store.get('ns', 'a');
    expect(store.stats()).toMatchObject({ hits: 1, misses: 2 });
  });

  test('namespaces are separate key spaces', () => {
    const { store } = makeStore();
    store.set('a', 'k', b('A'));
    store.set('b', 'k', b('B'));
    expect(text(store.get('a', 'k'))).toBe('A');
    expect(text(store.get('b', 'k'))).toBe('B');
    expect(store.size).toBe(2);
  });

  test('every byte value round-trips, and empty values work', () => {
    const { store } = makeStore();
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    store.set('ns', 'bin', all);
    expect(store.get('ns', 'bin')?.value.equals(all)).toBe(true);
    store.set('ns', 'empty', new Uint8Array(0));
    expect(store.get('ns', 'empty')?.value.length).toBe(0);
  });

  test('a plain Uint8Array view (with offset) is accepted', () => {
    const { store } = makeStore();
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    store.set('ns', 'k', backing.subarray(2, 5));
    expect([...(store.get('ns', 'k')?.value ?? [])]).toEqual([1, 2, 3]);
  });

  test('the caller buffer is copied on write and the reader gets a copy', () => {
    const { store } = makeStore();
    const input = b('abc');
    store.set('ns', 'k', input);
    input[0] = 0x7a;
    const first = store.get('ns', 'k');
    expect(text(first)).toBe('abc');
    first!.value[1] = 0x7a;
    expect(text(store.get('ns', 'k'))).toBe('abc');
  });

  test('non-ASCII and long keys work (keys are copied out of larger strings)', () => {
    const { store } = makeStore();
    const parent = 'prefix-' + 'ключ-é-🔑-long-enough-to-be-sliced' + '-suffix';
    const key = parent.slice(7, parent.length - 7);
    store.set('ns', key, b('v'));
    expect(text(store.get('ns', 'ключ-é-🔑-long-enough-to-be-sliced'))).toBe('v');
    const lone = 'x'.repeat(20) + '\ud800';
    store.set('ns', lone, b('w'));
    expect(text(store.get('ns', lone))).toBe('w');
  });

  test('delete returns whether the key existed', () => {
    const { store } = makeStore();
    store.set('ns', 'k', b('v'));
    expect(store.delete('ns', 'k')).toBe(true);
    expect(store.delete('ns', 'k')).toBe(false);
    expect(store.delete('other', 'k')).toBe(false);
    expect(store.get('ns', 'k')).toBeUndefined();
    expect(store.stats()).toMatchObject({ items: 0, bytes: 0 });
  });

  test('mget returns entries in order with undefined for misses', () => {
    const { store } = makeStore();
    store.set('ns', 'a', b('1'));
    store.set('ns', 'c', b('3'));
    const got = store.mget('ns', ['a', 'b', 'c', 'a']);
    expect(got.map(text)).toEqual(['1', undefined, '3', '1']);
    expect(store.stats()).toMatchObject({ hits: 3, misses: 1 });
  });
});

describe('Store versions, NX/XX and CAS', () => {
  test('versions grow on every mutation, across keys and namespaces', () => {
    const { store } = makeStore();
    const seen: number[] = [];
    seen.push(store.set('a', 'x', b('1'))!.version);
    seen.push(store.set('b', 'y', b('2'))!.version);
    seen.push(store.set('a', 'x', b('3'))!.version);
    seen.push(store.incr('a', 'n', 1).version);
    store.expire('a', 'x', 1000);
    seen.push(store.get('a', 'x')!.version);
    store.persist('a', 'x');
    seen.push(store.get('a', 'x')!.version);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
  });

  test('NX writes only a missing key, XX only an existing one', () => {
    const { store } = makeStore();
    expect(store.set('ns', 'k', b('1'), { cond: SetCond.XX })).toBeUndefined();
    expect(store.get('ns', 'k')).toBeUndefined();
    expect(store.set('ns', 'k', b('1'), { cond: SetCond.NX })).toBeDefined();
    expect(store.set('ns', 'k', b('2'), { cond: SetCond.NX })).toBeUndefined();
    expect(text(store.get('ns', 'k'))).toBe('1');
    expect(store.set('ns', 'k', b('3'), { cond: SetCond.XX })).toBeDefined();
    expect(text(store.get('ns', 'k'))).toBe('3');
  });

  test('CAS succeeds on the current version and conflicts otherwise', () => {
    const { store } = makeStore();
    const v1 = store.set('ns', 'k', b('1'))!.version;
    const v2 = store.set('ns', 'k', b('2'), { ifVersion: v1 })!.version;
    expect(v2).toBeGreaterThan(v1);
    const err = opError(() => store.set('ns', 'k', b('3'), { ifVersion: v1 }));
    expect(err.status).toBe(Status.VERSION_CONFLICT);
    expect(err.detail).toEqual([v2]);
    expect(text(store.get('ns', 'k'))).toBe('2');
  });

  test('CAS on a missing key is a conflict with version 0', () => {
    const { store } = makeStore();
    const err = opError(() => store.set('ns', 'missing', b('x'), { ifVersion: 5 }));
    expect(err.status).toBe(Status.VERSION_CONFLICT);
    expect(err.detail).toEqual([0]);
  });

  test('ifVersion 0 means no CAS', () => {
    const { store } = makeStore();
    expect(store.set('ns', 'k', b('x'), { ifVersion: 0 })).toBeDefined();
  });
});

describe('Store argument checks', () => {
  const { store } = makeStore();
  test.each([
    ['negative ttl', { ttlMs: -5 }],
    ['fractional ttl', { ttlMs: 1.5 }],
    ['NaN ttl', { ttlMs: Number.NaN }],
    ['negative flags', { flags: -1 }],
    ['flags over uint32', { flags: 2 ** 32 }],
    ['fractional flags', { flags: 1.5 }],
    ['bad cond', { cond: 3 as never }],
    ['negative ifVersion', { ifVersion: -1 }],
    ['too many tags', { tags: Array.from({ length: Limits.MAX_TAGS + 1 }, (_, i) => `t${i}`) }],
    ['non-string tag', { tags: [1 as unknown as string] }],
  ])('%s is BAD_REQUEST', (_name, options) => {
    expect(statusOf(() => store.set('ns', 'k', b('v'), options))).toBe(Status.BAD_REQUEST);
    expect(store.get('ns', 'k')).toBeUndefined();
  });

  test('an over-long key, a non-bytes value and bad policies are BAD_REQUEST', () => {
    const long = 'k'.repeat(Limits.MAX_KEY_LENGTH + 1);
    expect(statusOf(() => store.set('ns', long, b('v')))).toBe(Status.BAD_REQUEST);
    expect(statusOf(() => store.set('ns', 'k', 'str' as unknown as Uint8Array))).toBe(Status.BAD_REQUEST);
    const fifo = { eviction: 'fifo' as never };
    expect(statusOf(() => store.setNamespacePolicy('ns', fifo))).toBe(Status.BAD_REQUEST);
    expect(statusOf(() => store.setNamespacePolicy('ns', { quotaBytes: -1 }))).toBe(Status.BAD_REQUEST);
    expect(statusOf(() => store.setNamespacePolicy('ns', { maxItemBytes: 0 }))).toBe(Status.BAD_REQUEST);
    expect(statusOf(() => store.expire('ns', 'k', 1.5))).toBe(Status.BAD_REQUEST);
    expect(statusOf(() => store.sweep(-1))).toBe(Status.BAD_REQUEST);
  });

  test('bad construction options throw a ConfigError', () => {
    expect(() => new Store({ maxMemoryBytes: 0 })).toThrow(/maxMemoryBytes/);
    expect(() => new Store({ maxMemoryBytes: 1000, evictionSamples: 0 })).toThrow(/evictionSamples/);
    const bad = { maxMemoryBytes: 1000, defaultEviction: 'x' as never };
    expect(() => new Store(bad)).toThrow(/defaultEviction/);
  });
});

describe('Store stats', () => {
  test('reports items, bytes and namespaces (including odd names safely)', () => {
    const { store } = makeStore();
    store.setNamespacePolicy('__proto__', { quotaBytes: 10_000 });
    store.set('__proto__', 'k', b('v'));
    store.set('plain', 'k', b('vv'));
    const s = store.stats();
    expect(s.items).toBe(2);
    expect(s.namespaces['__proto__']).toEqual({ items: 1, bytes: expect.any(Number), quotaBytes: 10_000 });
    expect(s.namespaces['plain'].items).toBe(1);
    expect(s.bytes).toBe(s.namespaces['__proto__'].bytes + s.namespaces['plain'].bytes);
    expect(Object.keys(s.namespaces).sort()).toEqual(['__proto__', 'plain']);
  });
});
