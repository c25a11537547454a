import { ExpireCond, SetCond, Status } from '../../shared/protocol';
import { addLongDouble, DECIMAL, formatLongDouble, parseLongDouble, type LongDouble } from '../../shared/long-double';
import { entrySize } from '../../storage-node/store';
import { b, makeStore, opError as opErrorOf, text } from './store-helpers';

const value = (store: ReturnType<typeof makeStore>['store'], key: string, ns = 'app'): string | undefined => text(store.get(ns, key));

describe("INCRBYFLOAT's arithmetic: x87 long double, printed as Redis prints it", () => {
  const add = (a: string, by: string): string | undefined => {
    const x = parseLongDouble(a) as LongDouble;
    const y = parseLongDouble(by) as LongDouble;
    const sum = addLongDouble(x, y);
    return sum === undefined ? undefined : formatLongDouble(sum);
  };

  test.each([
    ['10.50', '0.1', '10.6'], // Redis's documented example
    ['10.6', '-5', '5.6'],
    ['5.0e3', '2.0e2', '5200'],
    ['0.1', '0.2', '0.3'], // a double would say 0.30000000000000004
    ['0', '3.0', '3'],
    ['1', '-1', '0'],
    ['-0.5', '0.25', '-0.25'],
    ['0', '-0.00000000000000000001', '0'], // "-0" after trimming is written 0
    ['1e20', '1', '100000000000000000000'], // past 64 bits of mantissa the 1 is lost, as in Redis
    ['9007199254740993', '0', '9007199254740993'], // above 2^53: exact in a long double, not in a double
    ['.5', '+5.', '5.5'],
    ['3', '1.5e-3', '3.0015'],
    ['1.1', '2.2', '3.3'],
    ['123456789.123456789', '0.000000001', '123456789.12345678999554366'], // glibc's %.17Lf of the x87 sum
  ])('%s + %s = %s', (a, by, sum) => expect(add(a, by)).toBe(sum));

  test('refused as Redis refuses: spaces, bytes after the number, NaN, out of range, too long', () => {
    for (const bad of ['', ' 1', '1 ', '1e', 'abc', 'nan', '1e5000', '1e-5000', '0x10', '1.2.3', '.', '-', '1'.repeat(5 * 1024)]) {
      expect([bad.slice(0, 12), parseLongDouble(bad)]).toEqual([bad.slice(0, 12), undefined]);
    }
    expect(parseLongDouble('inf')).toBe('inf');
    expect(parseLongDouble('-Infinity')).toBe('-inf');
    expect(add('1e4932', '1e4932')).toBeUndefined(); // infinite sum
    expect(formatLongDouble(parseLongDouble('1e30') as LongDouble)).toBe('1000000000000000000024696061952'); // the long double's exact digits, as glibc's %.17Lf prints them
  });

  test.each([
    ['1.', '1'],
    ['.5', '0.5'],
    ['-0.0', '0'],
    ['1e5', '100000'],
    ['1.5E-3', '0.0015'],
    ['+.5', '0.5'],
    ['007', '7'],
    ['12.50e+1', '125'],
  ])('reads %s as %s', (input, printed) => expect(formatLongDouble(parseLongDouble(input) as LongDouble)).toBe(printed));

  test('-0.0 reads as a negative zero; malformed numbers are refused', () => {
    expect(parseLongDouble('-0.0')).toEqual({ neg: true, m: 0n, e: 0 });
    for (const bad of ['.', '1..2', '1e', 'e5', '0x10', '+', '1.e', '.e5', '1e+', '--1', '1.5.']) {
      expect([bad, parseLongDouble(bad)]).toEqual([bad, undefined]);
    }
  });

  test('a long run of digits followed by a stray byte is refused (the pattern has one parse per input)', () => {
    for (const digits of [5118, 5119]) {
      // 5118 digits + 'x' is the longest such input under MAX_LONG_DOUBLE_CHARS, so it reaches the pattern
      const bad = '1'.repeat(digits) + 'x';
      expect([digits, parseLongDouble(bad)]).toEqual([digits, undefined]);
      expect([digits, parseLongDouble('.' + '1'.repeat(digits - 1) + 'x')]).toEqual([digits, undefined]);
    }
    expect(formatLongDouble(parseLongDouble('0'.repeat(5117) + '7') as LongDouble)).toBe('7'); // a run as long, alone, is a number
    // The shape that makes it so: a run of digits is all integer part; a fraction is captured only
    // after a point. The pattern `(\d+)\.?(\d*)` also split '123' as '1' + '23', '12' + '3', ...,
    // and V8 tried each of those ~n²/2 splits before refusing a long run with a stray byte.
    expect(DECIMAL.exec('123')?.slice(1)).toEqual(['', '123', undefined, undefined, undefined]);
    expect(DECIMAL.exec('-1.25e3')?.slice(1)).toEqual(['-', '1', '25', undefined, '3']);
    expect(DECIMAL.exec('.5')?.slice(1)).toEqual(['', undefined, undefined, '5', undefined]);
  });
});

describe('store: string read-modify-writes', () => {
  test('APPEND creates, appends, keeps the TTL; TOO_LARGE past the item limit before building the value', () => {
    const { store, clock } = makeStore();
    expect(store.append('app', 'k', b('Hello'), 5000)).toEqual({ length: 5, version: expect.any(Number) });
    const created = store.get('app', 'k')!;
    expect(created.expiresAt).toBe(clock.t + 5000);
    clock.advance(1000);
    expect(store.append('app', 'k', b(' World'), 60_000).length).toBe(11);
    expect(value(store, 'k')).toBe('Hello World');
    expect(store.get('app', 'k')!.expiresAt).toBe(created.expiresAt); // kept, not the create TTL
    store.setNamespacePolicy('small', { maxItemBytes: 16 });
    store.append('small', 'k', b('0123456789'));
    const err = opErrorOf(() => store.append('small', 'k', b('0123456789')));
    expect(err.status).toBe(Status.TOO_LARGE);
    expect(value(store, 'k', 'small')).toBe('0123456789');
  });

  test('SETRANGE pads with zero bytes, overwrites in place, keeps the TTL; an empty value writes nothing; a huge offset is refused unallocated', () => {
    const { store, clock } = makeStore();
    store.set('app', 'k', b('Hello World'), { ttlMs: 9000 });
    const expiresAt = clock.t + 9000;
    expect(store.setRange('app', 'k', 6, b('Redis')).length).toBe(11);
    expect(value(store, 'k')).toBe('Hello Redis');
    expect(store.get('app', 'k')!.expiresAt).toBe(expiresAt);
    expect(store.setRange('app', 'pad', 3, b('x')).length).toBe(4);
    expect(value(store, 'pad')).toBe('\0\0\0x');
    expect(store.setRange('app', 'k', 9, b('XYZ')).length).toBe(12);
    expect(value(store, 'k')).toBe('Hello RedXYZ');
    expect(store.setRange('app', 'missing', 5, b(''))).toEqual({ length: 0, version: 0 });
    expect(store.get('app', 'missing')).toBeUndefined();
    expect(store.setRange('app', 'k', 2 ** 52, b(''))).toEqual({ length: 12, version: 0 });
    const before = process.memoryUsage().heapUsed;
    expect(opErrorOf(() => store.setRange('app', 'k', 2 ** 52, b('x'))).status).toBe(Status.TOO_LARGE);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * 1024 * 1024);
    expect(opErrorOf(() => store.setRange('app', 'k', -1, b('x'))).status).toBe(Status.BAD_REQUEST);
  });

  test('SETGET answers the replaced value and writes under NX/XX; the TTL goes unless KEEP_TTL', () => {
    const { store } = makeStore();
    expect(store.setGet('app', 'k', b('one'), 0, SetCond.ALWAYS)).toEqual({ old: undefined, stored: true });
    store.expire('app', 'k', 5000);
    expect(store.setGet('app', 'k', b('two'), 0, SetCond.ALWAYS)).toEqual({ old: 'one', stored: true });
    expect(store.ttl('app', 'k')).toBe(-1);
    expect(store.setGet('app', 'k', b('three'), 0, SetCond.NX)).toEqual({ old: 'two', stored: false });
    expect(store.setGet('app', 'nope', b('x'), 0, SetCond.XX)).toEqual({ old: undefined, stored: false });
    store.expire('app', 'k', 5000);
    expect(store.setGet('app', 'k', b('four'), -1, SetCond.ALWAYS).old).toBe('two');
    expect(store.ttl('app', 'k')).toBe(5000);
  });

  test("INCRBYFLOAT keeps the TTL, creates with the create TTL, refuses with Redis's messages", () => {
    const { store, clock } = makeStore();
    expect(store.incrByFloat('app', 'f', '10.5', 7000).value).toBe('10.5');
    expect(store.get('app', 'f')!.expiresAt).toBe(clock.t + 7000);
    expect(store.incrByFloat('app', 'f', '0.1', 1).value).toBe('10.6');
    expect(value(store, 'f')).toBe('10.6');
    expect(store.ttl('app', 'f')).toBe(7000);
    store.set('app', 's', b('abc'));
    expect(opErrorOf(() => store.incrByFloat('app', 's', '1')).message).toBe('value is not a valid float');
    expect(opErrorOf(() => store.incrByFloat('app', 'f', 'x')).message).toBe('value is not a valid float');
    expect(opErrorOf(() => store.incrByFloat('app', 'f', 'inf')).message).toBe('increment would produce NaN or Infinity');
    expect(value(store, 'f')).toBe('10.6');
  });

  test('EXPIREAT with NX, XX, GT, LT as Redis 7 decides; a past time deletes', () => {
    const { store, clock } = makeStore();
    const t = clock.t;
    store.set('app', 'k', b('v'));
    expect(store.expireAt('app', 'k', t + 10_000, ExpireCond.XX)).toBe(false); // no TTL
    expect(store.expireAt('app', 'k', t + 10_000, ExpireCond.GT)).toBe(false); // none counts as infinite
    expect(store.expireAt('app', 'k', t + 10_000, ExpireCond.NX)).toBe(true);
    expect(store.expireAt('app', 'k', t + 20_000, ExpireCond.NX)).toBe(false);
    expect(store.expireAt('app', 'k', t + 5000, ExpireCond.GT)).toBe(false);
    expect(store.expireAt('app', 'k', t + 20_000, ExpireCond.GT)).toBe(true);
    expect(store.expireAt('app', 'k', t + 30_000, ExpireCond.LT)).toBe(false);
    expect(store.expireAt('app', 'k', t + 15_000, ExpireCond.LT | ExpireCond.XX)).toBe(true);
    expect(store.get('app', 'k')!.expiresAt).toBe(t + 15_000);
    store.set('app', 'plain', b('v'));
    expect(store.expireAt('app', 'plain', t + 1000, ExpireCond.LT | ExpireCond.XX)).toBe(false); // XX: no TTL
    expect(store.expireAt('app', 'plain', t + 1000, ExpireCond.LT)).toBe(true); // LT: no TTL is infinite
    expect(store.expireAt('app', 'k', t - 1, ExpireCond.GT)).toBe(false); // the options decide before the deletion
    expect(store.expireAt('app', 'k', t, ExpireCond.ALWAYS)).toBe(true);
    expect(store.get('app', 'k')).toBeUndefined();
    expect(store.expireAt('app', 'k', t + 1000, ExpireCond.ALWAYS)).toBe(false);
  });

  test('RENAME / RENAMENX move value, TTL, flags and tags; COPY keeps the source', () => {
    const { store } = makeStore();
    store.set('app', 'a', b('va'), { ttlMs: 8000, flags: 3, tags: ['t'] });
    store.set('app', 'b', b('vb'));
    expect(store.rename('app', 'missing', 'x', false)).toBe(-1);
    expect(store.rename('app', 'a', 'b', true)).toBe(0);
    expect(store.rename('app', 'a', 'a', true)).toBe(0);
    expect(store.rename('app', 'a', 'a', false)).toBe(1);
    expect(store.rename('app', 'a', 'b', false)).toBe(1);
    expect(store.get('app', 'a')).toBeUndefined();
    expect(store.get('app', 'b')).toMatchObject({ value: b('va'), flags: 3 });
    expect(store.ttl('app', 'b')).toBe(8000);
    expect(store.copy('app', 'b', 'c', false)).toBe(true);
    expect(store.copy('app', 'b', 'c', false)).toBe(false);
    store.set('app', 'b', b('newer'));
    expect(store.copy('app', 'b', 'c', true)).toBe(true);
    expect(value(store, 'c')).toBe('newer');
    expect(store.copy('app', 'gone', 'c', true)).toBe(false);
    expect(opErrorOf(() => store.copy('app', 'b', 'b', true)).message).toBe('source and destination objects are the same');
    store.invalidate('app', 't'); // the renamed entry kept its tag
    store.set('app', 'tagged', b('x'), { tags: ['t'] });
    expect(store.rename('app', 'tagged', 'moved', false)).toBe(1);
    store.invalidate('app', 't');
    expect(store.get('app', 'moved')).toBeUndefined();
  });

  describe('RENAME takes the room its source frees: nothing is evicted at a quota or the memory limit', () => {
    const SIZE = entrySize(2, 10, 0); // keys k0..k3, 10-byte values, untagged
    const TAGGED = entrySize(2, 10, 1); // k0 carries the tag 't'
    const FULL = TAGGED + 3 * SIZE;
    type Made = ReturnType<typeof makeStore>;
    const fill = ({ store }: Made, ns: string): void => {
      store.set(ns, 'k0', Buffer.alloc(10, 0), { ttlMs: 8000, flags: 5, tags: ['t'] });
      for (let i = 1; i < 4; i++) store.set(ns, `k${i}`, Buffer.alloc(10, i));
    };
    const check = ({ store, removed }: Made, ns: string): void => {
      const before = store.stats();
      expect(before.namespaces[ns].bytes).toBe(FULL); // filled to the brim
      expect(store.rename(ns, 'k0', 'r0', false)).toBe(1); // a new key of the same length
      expect(store.get(ns, 'k0')).toBeUndefined();
      expect(store.get(ns, 'r0')).toMatchObject({ value: Buffer.alloc(10, 0), flags: 5 });
      expect(store.ttl(ns, 'r0')).toBe(8000);
      for (let i = 1; i < 4; i++) expect(store.get(ns, `k${i}`)).toMatchObject({ value: Buffer.alloc(10, i) });
      const after = store.stats();
      expect([after.bytes, after.namespaces[ns].bytes]).toEqual([before.bytes, before.namespaces[ns].bytes]);
      expect([after.evictedQuota, after.evictedMemory, removed]).toEqual([0, 0, []]);
      expect(store.rename(ns, 'k1', 'k2', false)).toBe(1); // onto an existing key: its old entry is freed
      expect(value(store, 'k2', ns)).toBe('\x01'.repeat(10));
      expect(store.get(ns, 'k1')).toBeUndefined();
      const onto = store.stats();
      expect([onto.bytes, onto.namespaces[ns].bytes]).toEqual([before.bytes - SIZE, before.namespaces[ns].bytes - SIZE]);
      expect([onto.evictedQuota, onto.evictedMemory, removed]).toEqual([0, 0, []]);
      store.invalidate(ns, 't'); // the tag moved with the entry
      expect(store.get(ns, 'r0')).toBeUndefined();
    };

    test('at a namespace quota', () => {
      const made = makeStore();
      made.store.setNamespacePolicy('q', { quotaBytes: FULL });
      fill(made, 'q');
      check(made, 'q');
    });

    test('at the node memory limit', () => {
      const made = makeStore({ maxMemoryBytes: FULL });
      fill(made, 'm');
      expect(made.store.stats().bytes).toBe(FULL);
      check(made, 'm');
    });

    test('a longer new key evicts only for the bytes it adds, never its source', () => {
      const made = makeStore();
      made.store.setNamespacePolicy('q', { quotaBytes: FULL });
      fill(made, 'q');
      expect(made.store.rename('q', 'k0', 'longer', false)).toBe(1);
      expect(made.store.get('q', 'longer')).toMatchObject({ value: Buffer.alloc(10, 0), flags: 5 });
      expect(made.store.get('q', 'k0')).toBeUndefined();
      const s = made.store.stats();
      expect(s.evictedQuota).toBe(1);
      expect(s.namespaces['q'].bytes).toBe(FULL - SIZE + ('longer'.length - 2));
    });
  });

  test('MSETNX writes all or none', () => {
    const { store } = makeStore();
    expect(store.msetnx('app', ['a', 'b'], [b('1'), b('2')], 0)).toBe(true);
    expect(store.msetnx('app', ['c', 'b'], [b('3'), b('4')], 0)).toBe(false);
    expect(store.get('app', 'c')).toBeUndefined();
    expect(value(store, 'b')).toBe('2');
    store.setNamespacePolicy('small', { maxItemBytes: 8 });
    expect(opErrorOf(() => store.msetnx('small', ['a', 'b'], [b('1'), b('0123456789')], 0)).status).toBe(Status.TOO_LARGE);
    expect(store.get('small', 'a')).toBeUndefined(); // checked before any was written
  });
});
