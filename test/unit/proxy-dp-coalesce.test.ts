import { getFlightKey, SingleFlight } from '../../proxy/routing/coalesce';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('singleflight', () => {
  test('concurrent calls with one key share one flight; the value is the same object', async () => {
    let shared = 0;
    const flights = new SingleFlight<{ value: Buffer }>(() => shared++);
    const d = deferred<{ value: Buffer }>();
    let starts = 0;
    const calls = Array.from({ length: 100 }, () => flights.do('k', () => (starts++, d.promise)));
    expect(starts).toBe(1);
    expect(flights.size).toBe(1);
    const value = { value: Buffer.from('v') };
    d.resolve(value);
    const results = await Promise.all(calls);
    expect(results.every((r) => r === value)).toBe(true);
    expect(shared).toBe(99);
    expect(flights.shared).toBe(99);
    expect(flights.size).toBe(0);
  });

  test('a call after the flight settled starts a new one (results are shared, never cached)', async () => {
    const flights = new SingleFlight<number>();
    let starts = 0;
    expect(await flights.do('k', async () => ++starts)).toBe(1);
    expect(await flights.do('k', async () => ++starts)).toBe(2);
  });

  test('different keys fly separately; a failure reaches every caller of its flight and is forgotten', async () => {
    const flights = new SingleFlight<number>();
    const a = deferred<number>();
    const b = deferred<number>();
    const a1 = flights.do('a', () => a.promise);
    const a2 = flights.do('a', () => Promise.resolve(-1));
    const b1 = flights.do('b', () => b.promise);
    expect(flights.size).toBe(2);
    a.reject(new Error('boom'));
    b.resolve(2);
    await expect(a1).rejects.toThrow('boom');
    await expect(a2).rejects.toThrow('boom');
    expect(await b1).toBe(2);
    expect(flights.size).toBe(0);
    expect(await flights.do('a', async () => 3)).toBe(3);
  });

  test('flight keys separate read preference, namespace and key', () => {
    const keys = new Set([
      getFlightKey('primary', 'ns', 'k'), getFlightKey('replica', 'ns', 'k'), getFlightKey('primary', 'ns', 'k2'),
      getFlightKey('primary', 'ns2', 'k'), getFlightKey('primary', 'n', 's\nk'),
    ]);
    expect(keys.size).toBe(5);
  });
});

describe('SingleFlight.forget (read-your-writes)', () => {
  test('a call after forget starts a new flight while the old one still answers its callers', async () => {
    const { SingleFlight } = await import('../../proxy/routing/coalesce');
    const flights = new SingleFlight<string>();
    let release!: (v: string) => void;
    const old = flights.do('k', () => new Promise<string>((r) => (release = r)));
    flights.forget('k');
    const fresh = flights.do('k', () => Promise.resolve('new'));
    release('old');
    expect(await old).toBe('old');
    expect(await fresh).toBe('new');
    expect(flights.shared).toBe(0);
    flights.do('a', () => new Promise(() => undefined));
    flights.forgetAll();
    expect(flights.size).toBe(0);
  });
});
