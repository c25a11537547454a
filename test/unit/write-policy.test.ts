import { decodePayload } from '../../shared/frame';
import { Op, Status } from '../../shared/protocol';
import { AckWaiters } from '../../storage-node/replication/ack-wait';
import { applyRecord, encodeCleanRecord, encodeDirtyRecord } from '../../storage-node/replication/records';
import { dirtyChunks } from '../../storage-node/replication/source';
import { Store } from '../../storage-node/store';
import { DirtyKeys } from '../../storage-node/store/dirty-keys';
import { floatSumText, intSum, setRangeText } from '../../storage-node/store/store';
import { backoffMs } from '../../storage-node/write-policy/write-behind';

const payload = (frame: Buffer): unknown[] => decodePayload(frame.subarray(4));

describe('the write-behind queue (DirtyKeys)', () => {
  test('one record per key: a newer write replaces value and version and keeps the age of the oldest', () => {
    const q = new DirtyKeys();
    expect(q.mark('ns', 'a', Buffer.from('1'), 5, 100)).toBe(true);
    expect(q.mark('ns', 'a', Buffer.from('22'), 7, 200)).toBe(false);
    expect(q.mark('ns', 'a', Buffer.from('old'), 6, 300)).toBe(false); // older than held: ignored
    const r = q.get('ns', 'a')!;
    expect([r.value?.toString(), r.version, r.since]).toEqual(['22', 7, 100]);
    expect([q.count, q.bytes, q.depth('ns'), q.bytesOf('ns')]).toEqual([1, 2, 1, 2]);
    q.mark('ns', 'b', null, 8, 150);
    expect([...q.records('ns')!].map((x) => x.key)).toEqual(['a', 'b']);
    expect(q.clean('ns', 'a', 6)).toBe(false); // an older flush does not drop a newer write
    expect(q.clean('ns', 'a', 7)).toBe(true);
    expect(q.has('ns', 'a')).toBe(false);
    expect([q.count, q.bytes]).toEqual([1, 0]);
  });

  test('requeue moves a key written during its flush to the back with a fresh age', () => {
    const q = new DirtyKeys();
    q.mark('ns', 'a', Buffer.from('1'), 1, 10);
    q.mark('ns', 'b', Buffer.from('2'), 2, 20);
    q.requeue(q.get('ns', 'a')!, 500);
    expect([...q.records('ns')!].map((x) => [x.key, x.since])).toEqual([['b', 20], ['a', 500]]);
  });

  test('replaceWith takes another queue whole (a replica adopting its full sync)', () => {
    const a = new DirtyKeys();
    const b = new DirtyKeys();
    a.mark('x', 'gone', Buffer.from('1'), 1, 0);
    b.mark('y', 'k', Buffer.from('abc'), 9, 0);
    a.replaceWith(b);
    expect([a.has('x', 'gone'), a.has('y', 'k'), a.count, a.bytes, b.count]).toEqual([false, true, 1, 3, 0]);
  });
});

describe('write-behind records on a replica', () => {
  test('REPL_DIRTY queues a copy of the value and raises the clock; REPL_CLEAN drops up to its version', () => {
    const store = new Store({ maxMemoryBytes: 1 << 20 });
    const value = Buffer.from('v1');
    applyRecord(store, payload(encodeDirtyRecord('ns', 'k', 40, value)));
    value.write('XX');
    expect(store.dirty.get('ns', 'k')?.value?.toString()).toBe('v1');
    expect(store.versionClock).toBeGreaterThanOrEqual(40);
    applyRecord(store, payload(encodeDirtyRecord('ns', 'd', 41, null)));
    expect(store.dirty.get('ns', 'd')?.value).toBeNull();
    applyRecord(store, payload(encodeCleanRecord('ns', 'k', 39)));
    expect(store.dirty.has('ns', 'k')).toBe(true);
    applyRecord(store, payload(encodeCleanRecord('ns', 'k', 40)));
    expect(store.dirty.has('ns', 'k')).toBe(false);
  });

  test("a full sync's queue arrives in chunks that rebuild it exactly", () => {
    const from = new DirtyKeys();
    for (let i = 0; i < 25; i++) from.mark('ns', `k${i}`, i % 3 === 0 ? null : Buffer.from(`v${i}`), 100 + i, 0);
    const chunks = dirtyChunks(from, 10, 1 << 20);
    expect(chunks).toHaveLength(3);
    const store = new Store({ maxMemoryBytes: 1 << 20 });
    for (const chunk of chunks) applyRecord(store, [0, Op.REPL_SNAPSHOT_DIRTY, chunk]);
    expect(store.dirty.count).toBe(25);
    expect(store.dirty.get('ns', 'k4')?.value?.toString()).toBe('v4');
    expect(store.dirty.get('ns', 'k3')?.value).toBeNull();
    expect(() => applyRecord(store, [0, Op.REPL_SNAPSHOT_DIRTY, ['ns', 'k']])).toThrow(/dirty chunk/);
    expect(() => applyRecord(store, [0, Op.REPL_DIRTY, 'ns', 'k', 1, 'not bytes'])).toThrow(/dirty value/);
  });

  test('eviction passes over keys the store has not got yet', () => {
    const store = new Store({ maxMemoryBytes: 64 * 1024, evictionSamples: 16 });
    for (let i = 0; i < 50; i++) {
      store.set('ns', `pinned${i}`, Buffer.alloc(500));
      store.dirty.mark('ns', `pinned${i}`, Buffer.alloc(500), i + 1, 0);
    }
    for (let i = 0; i < 500; i++) store.set('ns', `other${i}`, Buffer.alloc(500));
    for (let i = 0; i < 50; i++) expect(store.get('ns', `pinned${i}`)).toBeDefined();
  });
});

describe('held replies of write-through writes (AckWaiters.reserve / fill)', () => {
  test('replies behind a reserved place wait for it, then go out in request order', () => {
    const written: Array<[string, string]> = [];
    const w = new AckWaiters<string>((conn, bytes) => written.push([conn, bytes.toString()]), 1 << 20);
    const place = w.reserve('c', 1);
    expect(w.holds('c')).toBe(true);
    w.append('c', Buffer.from('B'));
    w.append('c', Buffer.from('C'));
    expect(written).toEqual([]);
    w.fill('c', place, Buffer.from('A'));
    expect(written).toEqual([['c', 'ABC']]);
    expect(w.holds('c')).toBe(false);
  });

  test('a filled place may also wait for a replica; failAll answers a place not filled yet, and a late fill is dropped', () => {
    const written: Array<[string, Buffer]> = [];
    const w = new AckWaiters<string>((conn, bytes) => written.push([conn, bytes]), 1 << 20);
    const place = w.reserve('c', 7);
    w.fill('c', place, Buffer.from('A'), 500, Date.now() + 10_000);
    expect(written).toEqual([]);
    w.release(500, Date.now());
    expect(written.map(([, b]) => b.toString())).toEqual(['A']);
    const late = w.reserve('d', 9);
    w.failAll(Status.BUSY, 'shutting down');
    const reply = decodePayload(written[1][1].subarray(4)) as unknown[];
    expect(reply.slice(0, 2)).toEqual([9, Status.BUSY]);
    w.fill('d', late, Buffer.from('never'));
    expect(written).toHaveLength(2);
  });
});

describe('write-through planning helpers', () => {
  test('the read-modify-writes compute what the store will get, with the store errors', () => {
    expect(intSum('41', 1)).toBe(42);
    expect(intSum(undefined, -3)).toBe(-3);
    expect(() => intSum('x', 1)).toThrow(/not an integer/);
    expect(setRangeText('hello', 1, 'EL')).toBe('hELlo');
    expect(setRangeText('ab', 4, 'z')).toBe('ab\0\0z');
    expect(floatSumText('10.5', '0.1')).toBe('10.6');
    expect(() => floatSumText('abc', '1')).toThrow(/not a valid float/);
  });

  test('retry backoff doubles from 100 ms to a 10 s ceiling, jittered ±25 %', () => {
    expect(backoffMs(1, () => 0.5)).toBe(100);
    expect(backoffMs(4, () => 0.5)).toBe(800);
    expect(backoffMs(30, () => 0.5)).toBe(10_000);
    expect(backoffMs(1, () => 0)).toBe(75);
    expect(backoffMs(1, () => 0.999)).toBeLessThanOrEqual(125);
  });
});

describe('the write-behind flusher paces a hot key by its delay', () => {
  afterEach(() => jest.useRealTimers());

  test('a key written every 5 ms for 2 s with a 100 ms delay is flushed about every 100 ms, the last value last', async () => {
    jest.useFakeTimers();
    const { WriteBehind } = await import('../../storage-node/write-policy/write-behind');
    const store = new Store({ maxMemoryBytes: 1 << 20 });
    const sent: Array<{ key: string; version: number }> = [];
    const client = {
      putMany: (writes: Array<{ key: string; version: number }>) => {
        sent.push(...writes.map((w) => ({ key: w.key, version: w.version })));
        return new Promise<Array<{ kind: 'ok' }>>((resolve) => setTimeout(() => resolve(writes.map(() => ({ kind: 'ok' as const }))), 5));
      },
    };
    const policy = { ns: 'n', mode: 'write-behind', client, delayMs: 100, batch: 500, maxQueue: 1000, maxAttempts: 0 };
    const policies = { flushPolicy: () => policy, get: () => policy, release: () => undefined };
    const cleaned: number[] = [];
    const logger = { warn: () => undefined } as never;
    const wb = new WriteBehind(store, policies as never, { clean: (_ns, _key, v) => cleaned.push(v) }, logger, () => true);
    wb.start();
    let version = 0;
    const writer = setInterval(() => wb.written('n', 'hot', Buffer.from(`v${++version}`), version), 5);
    await jest.advanceTimersByTimeAsync(2000);
    clearInterval(writer);
    await jest.advanceTimersByTimeAsync(500);
    wb.close();
    expect(sent.length).toBeGreaterThanOrEqual(10);
    expect(sent.length).toBeLessThanOrEqual(2000 / 100 + 3);
    expect(sent.at(-1)?.version).toBe(version); // the latest write reached the store
    expect(sent.map((w) => w.version)).toEqual([...sent.map((w) => w.version)].sort((a, b) => a - b));
    expect(store.dirty.count).toBe(0);
    expect(cleaned.at(-1)).toBe(version);
  });
});
