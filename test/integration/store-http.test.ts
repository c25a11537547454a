import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StoreClient, type StoreHttpOptions, type StoreWrite } from '../../shared/store-http';
import { TestStore } from '../helpers/store-server';

/**
 * The write policies' store client against a real HTTP store (test/helpers/store-server.ts):
 * outcomes, bounds, connection reuse, the bulk endpoint and the concurrency limit.
 */
let store: TestStore;
const clients: StoreClient[] = [];

function client(options: Partial<StoreHttpOptions> = {}): StoreClient {
  const made = new StoreClient({ template: store.template, timeoutMs: 2000, ...options });
  clients.push(made);
  return made;
}

const buf = (text: string): Buffer => Buffer.from(text);
const elapsed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const start = Date.now();
  const result = await fn();
  return [result, Date.now() - start];
};

beforeEach(async () => {
  store = await TestStore.start();
});

afterEach(async () => {
  for (const made of clients.splice(0)) made.close();
  await store.close();
});

describe('single writes', () => {
  test('PUT and DELETE are ok, carry the version, and the key stays one escaped path segment', async () => {
    const c = client();
    const keys = ['plain', 'a/../../admin', '?x=1', 'ключ', '%2e%2e%2fup'];
    for (const [i, key] of keys.entries()) expect(await c.put(key, buf(`v-${key}`), 10 + i)).toEqual({ kind: 'ok' });
    expect(store.requests.map((r) => [r.method, r.rawPath])).toEqual(keys.map((key) => ['PUT', `/items/${encodeURIComponent(key)}`]));
    for (const [i, key] of keys.entries()) {
      expect(store.value(key)).toEqual(buf(`v-${key}`));
      expect(store.callsOf(key)).toEqual([expect.objectContaining({ method: 'PUT', version: 10 + i, status: 204, bulk: false })]);
    }
    expect(await c.delete('a/../../admin', 20)).toEqual({ kind: 'ok' });
    expect(store.value('a/../../admin')).toBeUndefined();
    expect(store.version('a/../../admin')).toBe(20);
    // Deleting what the store never had is done too (404 means absent).
    store.failKey('never', 404);
    expect(await c.delete('never', 1)).toEqual({ kind: 'ok' });
  });

  test('a write below the stored version is stale (409) and changes nothing; an equal version is a duplicate, ok', async () => {
    const c = client();
    expect(await c.put('k', buf('five'), 5)).toEqual({ kind: 'ok' });
    expect(await c.put('k', buf('three'), 3)).toEqual({ kind: 'stale' });
    expect(await c.delete('k', 4)).toEqual({ kind: 'stale' });
    expect(store.value('k')).toEqual(buf('five'));
    expect(store.staleRejected).toBe(2);
    expect(await c.put('k', buf('five'), 5)).toEqual({ kind: 'ok' });
    expect(await c.delete('k', 6)).toEqual({ kind: 'ok' });
    // The tombstone keeps the version: an older PUT cannot bring the key back.
    expect(await c.put('k', buf('late'), 5)).toEqual({ kind: 'stale' });
    expect(store.value('k')).toBeUndefined();
  });

  test('412 is stale too; 5xx is a retryable error; 4xx a final one; nothing is applied', async () => {
    const c = client();
    store.failKey('pre', 412);
    expect(await c.put('pre', buf('x'), 1)).toEqual({ kind: 'stale' });
    store.healthy().failing(503);
    expect(await c.put('k', buf('x'), 1)).toEqual({ kind: 'error', status: 503, reason: 'store answered 503', retryable: true });
    store.failing(400);
    expect(await c.delete('k', 1)).toEqual({ kind: 'error', status: 400, reason: 'store answered 400', retryable: false });
    expect(store.items.size).toBe(0);
  });

  test('a slow store is a timeout, within the deadline', async () => {
    const c = client({ timeoutMs: 150 });
    store.slow(1000);
    const [outcome, ms] = await elapsed(() => c.put('k', buf('x'), 1));
    expect(outcome).toEqual({ kind: 'timeout' });
    expect(ms).toBeGreaterThanOrEqual(140);
    expect(ms).toBeLessThan(600);
  });

  test('a store that is down is a retryable error; once up again (same port) the same client writes', async () => {
    const c = client();
    expect(await c.put('k', buf('1'), 1)).toEqual({ kind: 'ok' }); // a kept-alive socket the down() will kill
    await store.down();
    expect(await c.put('k', buf('2'), 2)).toEqual({ kind: 'error', reason: 'store unreachable (ECONNREFUSED)', retryable: true });
    await store.up();
    expect(await c.put('k', buf('3'), 3)).toEqual({ kind: 'ok' });
    expect(store.value('k')).toEqual(buf('3'));
  });
});

describe('connection reuse', () => {
  test('a kept-alive connection the store closed is retried once on a new one; a fresh one that resets is an error', async () => {
    // A store that hangs up on the second request of each connection (as one whose idle timeout just fired), or on every request.
    let resetAll = false;
    const served = new WeakMap<object, number>();
    const flaky = http.createServer((req, res) => {
      const n = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, n);
      if (resetAll || n > 1) return void req.socket.destroy();
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    try {
      const c = client({ template: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/items/{key}` });
      expect(await c.put('k', buf('1'), 1)).toEqual({ kind: 'ok' });
      expect(await c.put('k', buf('2'), 2)).toEqual({ kind: 'ok' });
      expect(c.stats()).toMatchObject({ requests: 3, reusedSockets: 1 });
      resetAll = true;
      c.close();
      const fresh = client({ template: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/items/{key}` });
      expect(await fresh.put('k', buf('3'), 3)).toEqual({ kind: 'error', reason: 'store unreachable (ECONNRESET)', retryable: true });
      expect(fresh.stats().requests).toBe(1);
    } finally {
      flaky.closeAllConnections();
      await new Promise((resolve) => flaky.close(resolve));
    }
  });
});

describe('bounds', () => {
  test.each([false, true])('an endless answer body (declared length: %s) is cut off at the bound and its connection dropped', async (declared) => {
    const c = client({ maxResponseBytes: 64 * 1024 });
    store.hugeAnswers(declared);
    const [outcome, ms] = await elapsed(() => c.put('k', buf('x'), 1));
    expect(outcome).toEqual({ kind: 'ok' }); // the status (200) decides; the body is not wanted
    expect(ms).toBeLessThan(1000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.answersCut).toBe(1);
    expect(store.hugeBytesWritten).toBeLessThan(16 * 1024 * 1024); // far from the 256 MiB it would write
    store.healthy();
    expect(await c.put('k', buf('y'), 2)).toEqual({ kind: 'ok' });
    expect(store.connections).toBe(2); // the cut connection was not reused
  });

  test('connections are kept alive and reused', async () => {
    const c = client();
    for (let version = 1; version <= 20; version++) expect(await c.put(`k${version % 3}`, buf('v'), version)).toEqual({ kind: 'ok' });
    expect(store.connections).toBe(1);
    expect(c.stats()).toMatchObject({ requests: 20, reusedSockets: 19 });
  });

  test('at most maxConcurrent requests are in flight, and flushEach keeps its own lower limit', async () => {
    const c = client({ maxConcurrent: 3 });
    store.slow(60);
    const writes: StoreWrite[] = Array.from({ length: 12 }, (_, i) => ({ key: `k${i}`, value: buf(`${i}`), version: 1 }));
    const [outcomes, ms] = await elapsed(() => c.flushEach(writes, 10));
    expect(outcomes).toEqual(writes.map(() => ({ kind: 'ok' })));
    expect(store.peakInFlight).toBe(3);
    expect(c.stats().peakInFlight).toBe(3);
    expect(ms).toBeGreaterThanOrEqual(4 * 60 - 10);
    expect(store.connections).toBeLessThanOrEqual(3);

    store.peakInFlight = 0;
    const again = writes.map((w) => ({ ...w, version: 2 }));
    expect(await c.flushEach(again.slice(0, 6), 2)).toEqual(again.slice(0, 6).map(() => ({ kind: 'ok' })));
    expect(store.peakInFlight).toBe(2);

    // Callers that do not go through flushEach are held to the limit too.
    store.peakInFlight = 0;
    const direct = await Promise.all(writes.map((w) => c.put(w.key, buf('d'), 3)));
    expect(direct).toEqual(writes.map(() => ({ kind: 'ok' })));
    expect(store.peakInFlight).toBe(3);
    expect(c.stats()).toMatchObject({ peakInFlight: 3, inFlight: 0, queued: 0 });
  });

  test('requests over the queue bound are refused at once; a wait for a slot counts against the timeout', async () => {
    const c = client({ maxConcurrent: 1, maxQueued: 1, timeoutMs: 200 });
    store.slow(400);
    const [first, second, third] = await Promise.all([c.put('a', buf('1'), 1), c.put('b', buf('1'), 1), c.put('c', buf('1'), 1)]);
    expect(third).toEqual({ kind: 'error', reason: 'too many store requests waiting', retryable: true });
    expect(first).toEqual({ kind: 'timeout' });
    expect(second).toEqual({ kind: 'timeout' }); // waited its whole deadline for the one slot
    expect(store.requests.map((r) => r.rawPath)).toEqual(['/items/a']);
  });
});

describe('bulk', () => {
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

  test('one POST per batch, per-item outcomes, values byte-exact, unsendable keys answered locally', async () => {
    const c = client({ bulkUrl: store.bulkUrl });
    expect(await c.put('old', buf('new'), 9)).toEqual({ kind: 'ok' });
    store.failKey('broken', 503);
    const writes: StoreWrite[] = [
      { key: 'bin', value: binary, version: 1 },
      { key: 'a/../b', value: buf('slash'), version: 2 },
      { key: 'old', value: buf('older'), version: 3 },
      { key: 'gone', version: 4, deleted: true },
      { key: '..', value: buf('dots'), version: 5 },
      { key: 'broken', value: buf('x'), version: 6 },
    ];
    expect(await c.putMany(writes)).toEqual([
      { kind: 'ok' },
      { kind: 'ok' },
      { kind: 'stale' },
      { kind: 'ok' },
      { kind: 'error', reason: expect.stringContaining('path segment'), retryable: false },
      { kind: 'error', status: 503, reason: 'store answered 503', retryable: true },
    ]);
    expect(store.requests.map((r) => [r.method, r.rawPath])).toEqual([['PUT', '/items/old'], ['POST', '/bulk']]);
    expect(store.value('bin')).toEqual(binary);
    expect(store.value('a/../b')).toEqual(buf('slash'));
    expect(store.value('old')).toEqual(buf('new'));
    expect(store.version('gone')).toBe(4);
    expect(store.calls.filter((call) => call.bulk).map((call) => [call.method, call.key, call.version])).toEqual([
      ['PUT', 'bin', 1], ['PUT', 'a/../b', 2], ['PUT', 'old', 3], ['DELETE', 'gone', 4], ['PUT', 'broken', 6],
    ]);
  });

  test('batches over maxBulkItems are split; a failing store fails every item of the batch', async () => {
    const c = client({ bulkUrl: store.bulkUrl, maxBulkItems: 2 });
    const writes: StoreWrite[] = Array.from({ length: 5 }, (_, i) => ({ key: `k${i}`, value: buf(`${i}`), version: 1 }));
    expect(await c.putMany(writes)).toEqual(writes.map(() => ({ kind: 'ok' })));
    expect(store.requests.filter((r) => r.rawPath === '/bulk')).toHaveLength(3);
    store.failing(500);
    expect(await c.putMany(writes.slice(0, 2))).toEqual(writes.slice(0, 2).map(() => ({ kind: 'error', status: 500, reason: 'store answered 500 to the batch', retryable: true })));
  });

  test('a bulk answer that is endless, or not one result per item, is an error for every item', async () => {
    const c = client({ bulkUrl: store.bulkUrl, maxResponseBytes: 1024 });
    store.hugeAnswers();
    const writes: StoreWrite[] = [{ key: 'a', value: buf('1'), version: 1 }, { key: 'b', value: buf('1'), version: 1 }];
    expect(await c.putMany(writes)).toEqual(writes.map(() => ({ kind: 'error', reason: expect.stringContaining('exceeds'), retryable: true })));

    const liar = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[{"status":204}]}'));
    await new Promise<void>((resolve) => liar.listen(0, '127.0.0.1', resolve));
    try {
      const port = (liar.address() as AddressInfo).port;
      const c2 = client({ template: `http://127.0.0.1:${port}/items/{key}`, bulkUrl: `http://127.0.0.1:${port}/bulk` });
      expect(await c2.putMany(writes)).toEqual(writes.map(() => ({ kind: 'error', reason: expect.stringContaining('one result per item'), retryable: true })));
      c2.close();
    } finally {
      liar.closeAllConnections();
      await new Promise((resolve) => liar.close(resolve));
    }
  });

  test('without a bulk URL, putMany writes key by key (the store needs no bulk endpoint)', async () => {
    await store.close();
    store = await TestStore.start({ bulk: false });
    const c = client({ maxConcurrent: 2 });
    const writes: StoreWrite[] = [{ key: 'x', value: buf('1'), version: 1 }, { key: 'y', version: 2, deleted: true }, { key: 'z', value: buf('3'), version: 3 }];
    expect(c.hasBulk).toBe(false);
    expect(await c.putMany(writes)).toEqual(writes.map(() => ({ kind: 'ok' })));
    expect(store.requests.map((r) => `${r.method} ${r.rawPath}`).sort()).toEqual(['DELETE /items/y', 'PUT /items/x', 'PUT /items/z']);
    expect(store.value('z')).toEqual(buf('3'));
  });
});
