import type { Etcd3 } from 'etcd3';
import { Op, Status } from '../../shared/protocol';
import type { WritePolicyFigures } from '../../shared/ops';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys } from '../../shared/topology/schema';
import type { FlushReport, FlushStatusReport } from '../../control-plane/commands/write-policy';
import { TestEtcd } from '../helpers/etcd';
import { FakeNode } from '../helpers/fake-node';
import { shardctlInProcess } from '../helpers/shardctl';

/**
 * `shardctl ns set --write-policy`, `ns flush-status` and `ns flush` end to end: a real etcd, and
 * storage nodes played by FakeNode on real TCP ports answering WRITE_POLICY_STATUS and
 * WRITE_POLICY_FLUSH as the node contract (shared/ops.ts) says.
 */
const CLUSTER = 'wpol';
const keys = clusterKeys(CLUSTER);
let etcd: TestEtcd;
let client: Etcd3;
/** Shard 0: a0 (primary), b0; shard 1: a1 (primary), b1. */
const nodes = new Map<string, FakeNode>();
/** Every request the nodes received, `[nodeId, op, ...args]`. */
const seen: unknown[][] = [];

const figures = (over: Partial<WritePolicyFigures>): WritePolicyFigures => ({
  namespace: 'orders', policy: 'write-behind', primary: false, depth: 0, bytes: 0, oldestMs: 0, inFlight: 0,
  flushed: 0, failed: 0, coalesced: 0, refused: 0, deadLetters: 0, recent: [], lastError: null, ...over,
});

/** What each node answers to WRITE_POLICY_STATUS, and to WRITE_POLICY_FLUSH (remaining, dead letters). */
const state: Record<string, { figures: WritePolicyFigures[]; flush: [number, number] }> = {
  a0: { figures: [figures({ primary: true, depth: 40, bytes: 4000, oldestMs: 2500, flushed: 900, failed: 2, coalesced: 300, deadLetters: 1, lastError: 'HTTP 503 from the store', recent: [{ key: 'order:7', version: 12, deleted: false, reason: 'HTTP 400', at: Date.UTC(2025, 0, 1) }] }), figures({ namespace: 'other' })], flush: [0, 1] },
  b0: { figures: [figures({ depth: 40, bytes: 4000 })], flush: [0, 0] },
  a1: { figures: [figures({ primary: true, depth: 2, bytes: 20, oldestMs: 100, flushed: 50 })], flush: [0, 0] },
  b1: { figures: [], flush: [0, 0] },
};

beforeAll(async () => {
  etcd = await TestEtcd.start();
  client = connectEtcd(etcd.endpoint);
  expect((await ctl('init', '--shards', '2', '--replicas', '1')).code).toBe(0);
  for (const [shard, ids] of [[0, ['a0', 'b0']], [1, ['a1', 'b1']]] as const) {
    for (const id of ids) {
      const node = await FakeNode.start();
      node.reply = (m) => {
        seen.push([id, ...m.slice(1)]);
        if (m[1] === Op.WRITE_POLICY_STATUS) return [m[0], Status.OK, state[id].figures.filter((f) => m[2] === null || f.namespace === m[2])];
        if (m[1] === Op.WRITE_POLICY_FLUSH) return [m[0], Status.OK, ...state[id].flush];
        return [m[0], Status.UNKNOWN_OP];
      };
      nodes.set(id, node);
      await client.put(keys.node(id)).value(JSON.stringify({ addr: node.addr, shardId: shard, zone: 'z' }));
    }
    await client.put(keys.primary(shard)).value(JSON.stringify({ nodeId: ids[0], addr: nodes.get(ids[0])!.addr }));
  }
}, 30_000);

afterAll(async () => {
  for (const node of nodes.values()) await node.close();
  client?.close();
  await etcd?.stop();
});

const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', etcd.endpoint, '--cluster', CLUSTER]);

describe('shardctl ns set: write policies', () => {
  test('write-behind without a store is refused; with one it is stored, and get and list show it', async () => {
    const refused = await ctl('ns', 'set', 'orders', '--write-policy', 'write-behind');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe('shardctl: --write-policy: write policy write-behind needs a store: set --store (or --origin)\n');
    expect(await client.get(keys.namespace('orders')).string()).toBeNull();

    const set = await ctl('ns', 'set', 'orders', '--write-policy', 'write-behind', '--store', 'http://db-api:8080/items/{key}', '--store-bulk-url', 'http://db-api:8080/bulk',
      '--store-timeout-ms', '1500', '--write-behind-delay-ms', '200', '--write-behind-batch', '250', '--write-behind-max-queue', '50000', '--write-behind-max-attempts', '8');
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const stored = {
      writePolicy: 'write-behind', store: 'http://db-api:8080/items/{key}', storeBulkUrl: 'http://db-api:8080/bulk', storeTimeoutMs: 1500,
      writeBehindDelayMs: 200, writeBehindBatch: 250, writeBehindMaxQueue: 50000, writeBehindMaxAttempts: 8,
    };
    expect(await client.get(keys.namespace('orders')).json()).toEqual(stored);
    // Flags not given keep their stored value.
    expect((await ctl('ns', 'set', 'orders', '--write-behind-batch', '500')).code).toBe(0);
    expect(await client.get(keys.namespace('orders')).json()).toEqual({ ...stored, writeBehindBatch: 500 });

    expect(JSON.parse((await ctl('ns', 'get', 'orders')).stdout)).toMatchObject({ writePolicy: 'write-behind', store: 'http://db-api:8080/items/{key}' });
    expect((await ctl('ns', 'list')).stdout).toMatch(/^orders .* write-behind http:\/\/db-api:8080\/items\/\{key\}$/m);

    // The origin serves as the store; a write-through namespace with one is accepted.
    expect((await ctl('ns', 'set', 'profiles', '--write-policy', 'write-through', '--origin', 'http://o:1/p/{key}')).code).toBe(0);
    expect((await ctl('ns', 'list')).stdout).toMatch(/^profiles .* write-through \(origin\)$/m);
  });
});

describe('shardctl ns flush-status', () => {
  test('per shard the primary\'s figures and the replicas\' depth, from every node; then the dead letters', async () => {
    seen.length = 0;
    const r = await ctl('ns', 'flush-status', 'orders');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // Every node was asked, for this namespace only.
    expect(seen.map((s) => s[0]).sort()).toEqual(['a0', 'a1', 'b0', 'b1']);
    expect(seen.every((s) => s[1] === Op.WRITE_POLICY_STATUS && s[2] === 'orders')).toBe(true);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('namespace orders (cluster wpol): write-behind');
    expect(lines[2].split(/ {2,}/)).toEqual(['0', 'a0', '40', '4000', '2.5s', '0', '900', '2', '300', '0', '1', 'b0=40', 'HTTP 503 from the store']);
    expect(lines[3].split(/ {2,}/)).toEqual(['1', 'a1', '2', '20', '0.1s', '0', '50', '0', '0', '0', '0', 'b1=0', '-']);
    expect(r.stdout).toMatch(/^0 +order:7 +12 +put +2025-01-01T00:00:00\.000Z +HTTP 400$/m);
  });

  test('--output json; a node that does not answer is shown as such, exit 0', async () => {
    await nodes.get('b1')!.close();
    const r = await ctl('ns', 'flush-status', 'orders', '--output', 'json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as FlushStatusReport;
    expect(report.totals).toMatchObject({ depth: 42, bytes: 4020, oldestMs: 2500, flushed: 950, deadLetters: 1 });
    expect(report.shards[1].replicas).toEqual([{ nodeId: 'b1', depth: null, error: expect.stringMatching(/^no answer from 127\.0\.0\.1:\d+: .*ECONNREFUSED/) }]);
    expect(report.deadLetters).toEqual([{ shardId: 0, key: 'order:7', version: 12, deleted: false, reason: 'HTTP 400', at: Date.UTC(2025, 0, 1) }]);
    const text = await ctl('ns', 'flush-status', 'orders');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^1 +a1 +2 +.* b1=\? +-$/m);
  });
});

describe('shardctl ns flush', () => {
  test('every primary at once with the timeout; exit 0 once all answered remaining 0', async () => {
    seen.length = 0;
    const r = await ctl('ns', 'flush', 'orders', '--timeout', '2000');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(seen.sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual([['a0', Op.WRITE_POLICY_FLUSH, 'orders', 2000], ['a1', Op.WRITE_POLICY_FLUSH, 'orders', 2000]]);
    expect(r.stdout).toMatch(/^0 +a0 +0 +1 +-$/m);
    expect(r.stdout).toMatch(/^1 +a1 +0 +0 +-$/m);
    expect(r.stdout).toMatch(/^flushed: every shard drained in \d+\.\ds$/m);
    expect(r.stdout).toContain('1 dead letter (writes the store refused for good): shardctl ns flush-status orders');
  });

  test('keys left on a shard: the report, a message naming the shard, exit 4', async () => {
    state.a1.flush = [7, 0];
    const r = await ctl('ns', 'flush', 'orders', '--json');
    state.a1.flush = [0, 0];
    expect(r.code).toBe(4);
    expect(r.stderr).toBe('shardctl: namespace orders is not drained: shard 1: 7 keys still unflushed after 30000 ms\n');
    const report = JSON.parse(r.stdout) as FlushReport;
    expect(report).toMatchObject({ namespace: 'orders', timeoutMs: 30_000, drained: false });
    expect(report.shards.map((s) => [s.shardId, s.remaining, s.error])).toEqual([[0, 0, null], [1, 7, null]]);
  });

  test('a primary that never answers is a shard not drained, after the timeout and its grace', async () => {
    nodes.get('a0')!.frozen = true;
    const started = Date.now();
    const r = await ctl('ns', 'flush', 'orders', '--timeout', '100');
    nodes.get('a0')!.thaw();
    expect(Date.now() - started).toBeLessThan(9000);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^shardctl: namespace orders is not drained: shard 0: node 127\.0\.0\.1:\d+ did not answer within 5100 ms\n$/);
    expect(r.stdout).toMatch(/^1 +a1 +0 +0 +-$/m);
  }, 20_000);

  test('an unknown cluster or a bad namespace name fail as other commands do', async () => {
    expect((await shardctlInProcess(['ns', 'flush', 'orders', '--etcd', etcd.endpoint, '--cluster', 'nothing-here'])).code).toBe(3);
    const bad = await ctl('ns', 'flush-status', 'no/slash');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('<namespace>: "no/slash"');
  });
});
