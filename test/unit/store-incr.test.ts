import { Status } from '../../shared/protocol';
import { INT64_MAX, INT64_MIN } from '../../storage-node/store';
import { addInt64, parseInt64, toDelta } from '../../storage-node/store/int64';
import { b, makeStore, opError, text } from './store-helpers';

describe('int64 helpers', () => {
  test.each([
    ['0', 0],
    ['7', 7],
    ['-7', -7],
    ['123456789012345', 123456789012345],
    ['9007199254740991', 9007199254740991],
    ['9007199254740992', 9007199254740992n],
    ['9223372036854775807', INT64_MAX],
    ['-9223372036854775808', INT64_MIN],
  ])('parses %s', (s, expected) => {
    expect(parseInt64(s)).toBe(expected);
  });

  const notIntegers = ['', '-', 'abc', '1.5', ' 1', '1 ', '+1', '01', '-0', '00', '1e3', '0x10', '１'];
  test.each([...notIntegers, '9223372036854775808', '-9223372036854775809'])('rejects %p', (s) => {
    expect(parseInt64(s)).toBeUndefined();
  });

  test('addition stays exact across the number/bigint boundary', () => {
    expect(addInt64(Number.MAX_SAFE_INTEGER, 1)).toBe(9007199254740992n);
    expect(addInt64(9007199254740992n, -1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(addInt64(INT64_MAX, -INT64_MAX)).toBe(0);
    expect(opError(() => addInt64(INT64_MAX, 1)).status).toBe(Status.OVERFLOW);
    expect(opError(() => addInt64(INT64_MIN, -1)).status).toBe(Status.OVERFLOW);
  });

  test('deltas must be int64 integers', () => {
    expect(toDelta(5n)).toBe(5);
    expect(toDelta(2 ** 60)).toBe(2n ** 60n);
    expect(toDelta(INT64_MIN)).toBe(INT64_MIN);
    for (const bad of [1.5, Number.NaN, Infinity, 2 ** 64, INT64_MAX + 1n, '1' as never]) {
      expect(opError(() => toDelta(bad)).status).toBe(Status.NOT_INTEGER);
    }
  });
});

describe('Store.incr', () => {
  test('a missing key starts at 0 and the value is stored as decimal text', () => {
    const { store } = makeStore();
    const r = store.incr('ns', 'n', 5);
    expect(r.value).toBe(5);
    expect(text(store.get('ns', 'n'))).toBe('5');
    expect(store.incr('ns', 'n', -7).value).toBe(-2);
    expect(text(store.get('ns', 'n'))).toBe('-2');
    expect(store.incr('ns', 'n', 2n).value).toBe(0);
  });

  test('works on values written by SET', () => {
    const { store } = makeStore();
    store.set('ns', 'n', b('41'), { flags: 3 });
    const r = store.incr('ns', 'n', 1);
    expect(r.value).toBe(42);
    expect(store.get('ns', 'n')).toMatchObject({ version: r.version, flags: 3 });
  });

  test('a missing key gets ttlMsOnCreate; an existing key keeps its TTL', () => {
    const { store, clock } = makeStore();
    store.incr('ns', 'n', 1, 1000);
    expect(store.ttl('ns', 'n')).toBe(1000);
    clock.advance(600);
    store.incr('ns', 'n', 1, 5000);
    expect(store.ttl('ns', 'n')).toBe(400);
    store.incr('ns', 'plain', 1);
    expect(store.ttl('ns', 'plain')).toBe(-1);
    store.set('ns', 'fixed', b('1'));
    store.incr('ns', 'fixed', 1, 1000);
    expect(store.ttl('ns', 'fixed')).toBe(-1);
  });

  test('an expired counter restarts from 0', () => {
    const { store, clock } = makeStore();
    store.incr('ns', 'n', 10, 100);
    clock.advance(100);
    expect(store.incr('ns', 'n', 1).value).toBe(1);
  });

  test('incrAscii reads the key from bytes in place and agrees with incr', () => {
    const { store, clock } = makeStore();
    const frame = Buffer.from('xxcounter:1yy', 'latin1');
    const first = store.incrAscii('ns', frame, 2, 11, 5, 1000);
    expect(first.value).toBe(5);
    expect(store.lastKey).toBe('counter:1');
    expect(store.ttl('ns', 'counter:1')).toBe(1000);
    expect(store.incr('ns', 'counter:1', 1).value).toBe(6);
    const again = store.incrAscii('ns', frame, 2, 11, -10, 5000);
    expect(again).toMatchObject({ value: -4, version: store.get('ns', 'counter:1')!.version });
    expect(store.ttl('ns', 'counter:1')).toBe(1000); // an existing key keeps its TTL
    expect(text(store.get('ns', 'counter:1'))).toBe('-4');
    clock.advance(1000);
    expect(store.incrAscii('ns', frame, 2, 11, 1, 0).value).toBe(1); // expired: restarts from 0
    store.set('ns', 'text', b('abc'));
    const word = Buffer.from('text', 'latin1');
    expect(opError(() => store.incrAscii('ns', word, 0, 4, 1, 0)).status).toBe(Status.NOT_INTEGER);
  });

  const stored = ['abc', '1.5', ' 1', '01', '', '+1', '-0', '99999999999999999999'];
  test.each(stored)('NOT_INTEGER on stored %p', (v) => {
    const { store } = makeStore();
    store.set('ns', 'n', b(v));
    const err = opError(() => store.incr('ns', 'n', 1));
    expect(err.status).toBe(Status.NOT_INTEGER);
    expect(err.message).toBe('value is not an integer or out of range');
    expect(text(store.get('ns', 'n'))).toBe(v);
  });

  test('NOT_INTEGER on a non-integer delta', () => {
    const { store } = makeStore();
    expect(opError(() => store.incr('ns', 'n', 0.5)).status).toBe(Status.NOT_INTEGER);
    expect(store.exists('ns', ['n'])).toBe(0);
  });

  test('OVERFLOW at both ends of int64, leaving the value unchanged', () => {
    const { store } = makeStore();
    store.set('ns', 'max', b(INT64_MAX.toString()));
    const up = opError(() => store.incr('ns', 'max', 1));
    expect(up.status).toBe(Status.OVERFLOW);
    expect(up.message).toBe('increment or decrement would overflow');
    expect(text(store.get('ns', 'max'))).toBe('9223372036854775807');
    store.set('ns', 'min', b(INT64_MIN.toString()));
    expect(opError(() => store.incr('ns', 'min', -1)).status).toBe(Status.OVERFLOW);
    expect(store.incr('ns', 'min', 1).value).toBe(INT64_MIN + 1n);
    expect(store.incr('ns', 'zero', INT64_MIN).value).toBe(INT64_MIN);
    expect(text(store.get('ns', 'zero'))).toBe('-9223372036854775808');
  });

  test('returns a number while safe, a bigint beyond', () => {
    const { store } = makeStore();
    expect(store.incr('ns', 'n', Number.MAX_SAFE_INTEGER).value).toBe(Number.MAX_SAFE_INTEGER);
    expect(store.incr('ns', 'n', 1).value).toBe(9007199254740992n);
    expect(text(store.get('ns', 'n'))).toBe('9007199254740992');
    expect(store.incr('ns', 'n', -2).value).toBe(Number.MAX_SAFE_INTEGER - 1);
    expect(store.incr('ns', 'big', INT64_MAX).value).toBe(INT64_MAX);
  });

  test('accounts the new length of the number', () => {
    const { store } = makeStore();
    store.incr('ns', 'n', 9);
    const before = store.stats().bytes;
    store.incr('ns', 'n', 1);
    expect(store.stats().bytes).toBe(before + 1);
  });
});
