import Redis from 'ioredis';
import { Op } from '../../shared/protocol';
import type { WritePolicyFigures } from '../../shared/ops';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { setPolicy } from '../helpers/origin';
import { electedOne, waitFor, type ShardNode } from '../helpers/shard-nodes';
import { TestStore } from '../helpers/store-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A node's write-policy figures for `ns` (undefined until it applied the namespace's policy). */
async function figuresOf(node: ShardNode, ns: string): Promise<WritePolicyFigures | undefined> {
  const reply = await node.conn.request(Op.WRITE_POLICY_STATUS, ns);
  return (reply[2] as WritePolicyFigures[]).find((f) => f.namespace === ns);
}

/** Every store write accepted for `key` carried a higher version than the one before (nothing out of order). */
function acceptedInOrder(store: TestStore, key: string): boolean {
  const accepted = store.callsOf(key).filter((c) => c.status >= 200 && c.status < 300);
  return accepted.every((c, i) => i === 0 || c.version >= accepted[i - 1].version);
}

/**
 * Write policies end to end (issue 17): a real HTTP store that records every call and can be
 * made slow, failing or down; etcd, one shard of a primary and a replica, and a proxy as real
 * processes.
 */
describe('write policies', () => {
  let c: TestCluster;
  let store: TestStore;
  let redis: Redis;
  const put = (ns: string, key: string, value: string) => c.call('PUT', `/v1/cache/${ns}/${encodeURIComponent(key)}`, { value });
  const get = (ns: string, key: string) => c.call('GET', `/v1/cache/${ns}/${encodeURIComponent(key)}`);
  /** Whether a PUT was acknowledged (200 or 201). */
  const acked = (status: number): boolean => status === 200 || status === 201;

  beforeAll(async () => {
    store = await TestStore.start({ bulk: true });
    c = await startTestCluster({ shards: 1, perShard: 2, cluster: 'wp' });
    const set = (ns: string, flags: string[]): Promise<void> => setPolicy(c.etcd.endpoint, c.cluster, ns, flags, [c.adminUrl], (p) => p.writePolicy !== undefined);
    await set('wt', ['--write-policy', 'write-through', '--store', store.template, '--store-bulk-url', store.bulkUrl, '--store-timeout-ms', '400']);
    await set('wts', ['--write-policy', 'write-through', '--store', store.template, '--store-timeout-ms', '400']);
    await set('wb', ['--write-policy', 'write-behind', '--store', store.template, '--store-bulk-url', store.bulkUrl, '--write-behind-delay-ms', '300', '--store-timeout-ms', '400']);
    await set('wbq', ['--write-policy', 'write-behind', '--store', store.template, '--write-behind-max-queue', '20', '--write-behind-delay-ms', '50', '--store-timeout-ms', '300']);
    await set('wbkill', ['--write-policy', 'write-behind', '--store', store.template, '--write-ack', 'replica', '--write-behind-delay-ms', '50', '--store-timeout-ms', '300']);
    for (const node of c.nodes.flat()) {
      for (const ns of ['wt', 'wts', 'wb', 'wbq', 'wbkill']) await waitFor(`node ${node.nodeId} to apply ${ns}`, () => figuresOf(node, ns), 10_000, 50);
    }
    redis = new Redis({ port: c.respPort!, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await redis.connect();
  }, 90_000);

  afterAll(async () => {
    redis?.disconnect();
    await c?.stop();
    await store?.close();
  });

  afterEach(() => {
    store.healthy();
  });

  test('write-through: a write is acknowledged once the store took it, with the version the cache applied it at', async () => {
    expect(acked((await put('wts', 'a', 'one')).status)).toBe(true);
    expect(store.value('a')?.toString()).toBe(JSON.stringify('one'));
    const versions = store.callsOf('a').map((call) => call.version);
    expect(acked((await put('wts', 'a', 'two')).status)).toBe(true);
    expect(store.value('a')?.toString()).toBe(JSON.stringify('two'));
    expect(store.version('a')).toBeGreaterThan(versions[0]);
    expect((await get('wts', 'a')).json).toMatchObject({ hit: true, value: 'two' });
    expect([200, 204]).toContain((await c.call('DELETE', '/v1/cache/wts/a')).status);
    expect(store.value('a')).toBeUndefined();
    expect(store.callsOf('a').at(-1)?.method).toBe('DELETE');
  });

  test('write-through: a store error is 502 STORE_ERROR and a timeout 504 STORE_TIMEOUT, the cache left as it was', async () => {
    expect(acked((await put('wt', 'b', 'kept')).status)).toBe(true);
    store.failing(503);
    const failed = await put('wt', 'b', 'lost');
    expect(failed.status).toBe(502);
    expect(failed.json.error.code).toBe('STORE_ERROR');
    expect((await get('wt', 'b')).json).toMatchObject({ hit: true, value: 'kept' });
    const deleted = await c.call('DELETE', '/v1/cache/wt/b');
    expect(deleted.status).toBe(502);
    expect((await get('wt', 'b')).json).toMatchObject({ hit: true, value: 'kept' });
    store.healthy().slow(1000);
    const slow = await put('wt', 'b', 'late');
    expect(slow.status).toBe(504);
    expect(slow.json.error.code).toBe('STORE_TIMEOUT');
    expect((await get('wt', 'b')).json).toMatchObject({ hit: true, value: 'kept' });
    store.healthy();
    expect(store.value('b')?.toString()).toBe(JSON.stringify('kept'));
  });

  test('write-through: concurrent writes of one key reach the store in the order the cache applied them', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => put('wt', 'order', `v${i}`)));
    for (const a of answers) expect(acked(a.status)).toBe(true);
    const cached = (await get('wt', 'order')).json.value;
    expect(store.value('order')?.toString()).toBe(JSON.stringify(cached));
    expect(acceptedInOrder(store, 'order')).toBe(true);
    expect(store.staleRejected).toBe(0);
    // Writes of different keys in one turn go to the store's bulk endpoint together.
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => put('wt', `batch${i}`, `b${i}`)));
    for (const a of many) expect(acked(a.status)).toBe(true);
    for (let i = 0; i < 40; i++) expect(store.value(`batch${i}`)?.toString()).toBe(JSON.stringify(`b${i}`));
    expect(store.calls.filter((call) => call.key.startsWith('batch') && call.bulk).length).toBeGreaterThan(0);
  });

  test('write-through: commands the store contract cannot carry are refused with a clear error', async () => {
    // Outside a write-policy namespace RENAME works as ever; inside one it is refused.
    await redis.call('SET', '{r}x', '1');
    expect(await redis.call('RENAME', '{r}x', '{r}y')).toBe('OK');
    const inWt = new Redis({ port: c.respPort!, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await inWt.connect();
      await inWt.call('AUTH', 'default', 'wt'); // with auth off, selects namespace wt
      expect(await inWt.call('SET', '{r}1', 'v')).toBe('OK');
      await expect(inWt.call('RENAME', '{r}1', '{r}2')).rejects.toThrow(/RENAME is not available in namespace "wt"/);
    } finally {
      inWt.disconnect();
    }
    const refused = await c.call('POST', '/v1/cache/command', { namespace: 'wt', command: 'HSET', key: 'h', args: ['f', 'v'] });
    expect(refused.status).toBe(400);
    expect(refused.json.error.message).toMatch(/not available in namespace "wt"/);
  });

  test('write-behind: 40 writers on hot keys; every acknowledged latest value reaches the store, coalesced', async () => {
    const keys = Array.from({ length: 20 }, (_, i) => `hot${i}`);
    let writes = 0;
    const started = Date.now();
    const deadline = started + 2500;
    await Promise.all(Array.from({ length: 40 }, async (_, w) => {
      for (let n = 0; Date.now() < deadline; n++) {
        const key = keys[(w + n) % keys.length];
        const a = await put('wb', key, `w${w}-${n}`);
        expect(acked(a.status)).toBe(true);
        writes++;
      }
    }));
    const primary = (await electedOne(c.nodes[0]))[0];
    const flushed = await primary.conn.request(Op.WRITE_POLICY_FLUSH, 'wb', 10_000);
    expect(flushed[2]).toBe(0);
    for (const key of keys) {
      const cached = (await get('wb', key)).json.value;
      expect(store.value(key)?.toString()).toBe(JSON.stringify(cached));
      expect(acceptedInOrder(store, key)).toBe(true);
    }
    const calls = keys.reduce((n, key) => n + store.callsOf(key).length, 0);
    const elapsedMs = Date.now() - started;
    console.log(`write-behind: ${writes} acknowledged writes on ${keys.length} hot keys → ${calls} store writes (${(writes / calls).toFixed(1)} writes per store write)`);
    // Coalescing: a key reaches the store at most once per delay (300 ms) plus the final flush,
    // however many times it was written (how many writes a busy machine manages varies; this does not).
    for (const key of keys) expect(store.callsOf(key).length).toBeLessThanOrEqual(Math.ceil(elapsedMs / 300) + 2);
    expect(calls).toBeLessThan(writes);
  }, 30_000);

  test('write-behind: with the store down a full queue refuses new keys (429 WRITE_QUEUE_FULL), and drains once it is back', async () => {
    await store.down();
    const answers: number[] = [];
    for (let i = 0; i < 40; i++) answers.push((await put('wbq', `q${i}`, `v${i}`)).status);
    expect(answers.slice(0, 20).every(acked)).toBe(true);
    const refused = await put('wbq', 'q-more', 'x');
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('WRITE_QUEUE_FULL');
    expect(answers.filter((s) => s === 429).length).toBe(20);
    // A key already queued may still be written (coalesced into its place), and reads see it before the store does.
    expect(acked((await put('wbq', 'q0', 'newer')).status)).toBe(true);
    expect((await get('wbq', 'q0')).json).toMatchObject({ hit: true, value: 'newer' });
    expect(store.value('q0')).toBeUndefined();
    expect((await redis.call('SET', 'q-resp', 'x').catch((e: Error) => e.message))).toBe('OK'); // other namespaces are not held back
    await store.up();
    const primary = (await electedOne(c.nodes[0]))[0];
    await waitFor('the queue to drain', async () => (await figuresOf(primary, 'wbq'))?.depth === 0, 20_000, 50);
    expect(store.value('q0')?.toString()).toBe(JSON.stringify('newer'));
    for (let i = 1; i < 20; i++) expect(store.value(`q${i}`)?.toString()).toBe(JSON.stringify(`v${i}`));
    expect(acked((await put('wbq', 'q-more', 'x')).status)).toBe(true);
  }, 40_000);

  test('write-behind: kill -9 of a primary with unflushed writes; the promoted replica flushes every acknowledged write, in order', async () => {
    const [primary, [replica]] = await electedOne(c.nodes[0]);
    await store.down();
    const written = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const value = `before-kill-${i}`;
      const a = await put('wbkill', `k${i % 10}`, value);
      if (acked(a.status)) written.set(`k${i % 10}`, value);
    }
    expect(written.size).toBe(10);
    await waitFor('the replica to hold the queue', async () => (await figuresOf(replica, 'wbkill'))?.depth === 10, 5000, 20);
    primary.proc.child.kill('SIGKILL');
    await store.up();
    await waitFor('the replica to be promoted and flush', async () => written.size > 0 && [...written].every(([key, value]) => store.value(key)?.toString() === JSON.stringify(value)), 20_000, 50);
    for (const key of written.keys()) expect(acceptedInOrder(store, key)).toBe(true);
    expect((await figuresOf(replica, 'wbkill'))?.primary).toBe(true);
  }, 60_000);
});
