import { Registry } from 'prom-client';
import { HotKeys, type HotRouting } from '../../proxy/hotkeys/hot-keys';
import { hotId, tagForSlot } from '../../proxy/hotkeys/rules';
import type { GetResult } from '../../proxy/backend';
import type { Intent } from '../../proxy/routing/picker';
import { createLogger } from '../../shared/log';
import { Op, SetCond } from '../../shared/protocol';
import { buildSnapshot, type TopologySnapshot } from '../../shared/topology/snapshot';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';

const keys = clusterKeys('t');
const kv = (rel: string, value: unknown, createRevision = 5) => ({ key: `${keys.prefix}${rel}`, value: JSON.stringify(value), createRevision, modRevision: createRevision });

/** Three shards without primaries (so the near cache subscribes nowhere), and hot-key rules. */
function snapshot(rules: Record<string, unknown>): TopologySnapshot {
  return buildSnapshot(keys, [
    kv('config', { slots: 16384, shards: 3, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 }),
    kv('slotmap', evenSlotMap(3)),
    ...Object.entries(rules).map(([key, rule]) => kv(`hotkeys/ns/${key}`, rule)),
  ], 1);
}

/** Copy keys carry a hash tag that puts them in the first slot of their shard (evenSlotMap(3): 5461, 10922). */
const COPY1 = `{${tagForSlot(5461)}}a\u0000copy1@5`;
const COPY2 = `{${tagForSlot(10922)}}a\u0000copy2@5`;

const hit = (v: string): GetResult => ({ hit: true, value: Buffer.from(v), version: 1, expiresAt: 0, flags: 0 });

/** A fake data plane: values per `shard/key`, every call recorded. */
class FakeRouting implements HotRouting {
  readonly values = new Map<string, GetResult>();
  readonly reads: Array<[number, Intent, string]> = [];
  readonly writes: Array<[number, unknown[]]> = [];
  unhealthy = new Set<number>();
  failWritesTo = new Set<number>();
  spreadMisses = false;

  async read(shardId: number, intent: Intent, _ns: string, key: string): Promise<GetResult> {
    this.reads.push([shardId, intent, key]);
    if (intent === 'spread' && this.spreadMisses) return { hit: false };
    return this.values.get(`${shardId}/${key}`) ?? { hit: false };
  }

  async write<T>(shardId: number, build: (epoch: number) => unknown[], parse: (reply: unknown[], nodeId: string) => T): Promise<T> {
    const message = build(0);
    this.writes.push([shardId, message]);
    if (this.failWritesTo.has(shardId)) throw new Error('node down');
    return parse([0, 0, 1, 0], 'n');
  }

  healthy(_s: TopologySnapshot, shardId: number): boolean {
    return !this.unhealthy.has(shardId);
  }

  shardOf(): number {
    return 0;
  }
}

describe('HotKeys paths', () => {
  let clock = 0;
  let random = 0;
  let current: TopologySnapshot;
  let routing: FakeRouting;
  let hot: HotKeys;
  let registry: Registry;
  const make = (rules: Record<string, unknown>): void => {
    clock = 0;
    random = 0;
    current = snapshot(rules);
    routing = new FakeRouting();
    registry = new Registry();
    hot = new HotKeys({
      registry, log: createLogger('test', 'silent'), routing, current: () => current, random: () => random, now: () => clock, wallNow: () => 1000,
    });
  };
  afterEach(() => hot.close());

  it('counts GETs and reports the hottest keys with their mode', () => {
    make({ a: { mode: 'near-cache' } });
    for (let i = 0; i < 30; i++) hot.observe(hotId('ns', 'a'), current);
    for (let i = 0; i < 10; i++) expect(hot.observe(hotId('ns', 'b'), current)).toBeUndefined();
    clock = 1000;
    const top = hot.top(2);
    expect(top.map((t) => [t.key, t.mode])).toEqual([['a', 'near-cache'], ['b', 'none']]);
    expect(top[0].qps).toBe(30);
  });

  it('near-cache: serves from the cache until the TTL or a write through this proxy', async () => {
    make({ a: { mode: 'near-cache', ttlMs: 100 } });
    const rule = hot.observe(hotId('ns', 'a'), current)!;
    routing.values.set('0/a', hit('1'));
    await hot.get(rule, 'ns', 'a', 'primary', 0, current);
    await hot.get(rule, 'ns', 'a', 'primary', 0, current);
    expect(routing.reads).toHaveLength(1);
    routing.values.set('0/a', hit('2'));
    expect(hot.written('ns', 'a', 'result')).toBe('result');
    expect(await hot.get(rule, 'ns', 'a', 'primary', 0, current)).toEqual({ ...hit('2'), hot: 'near-cache' });
    clock = 99;
    await hot.get(rule, 'ns', 'a', 'primary', 0, current);
    expect(routing.reads).toHaveLength(2);
    clock = 100;
    await hot.get(rule, 'ns', 'a', 'primary', 0, current);
    expect(routing.reads).toHaveLength(3);
    expect(hot.report().nearCache).toEqual(expect.objectContaining({ hits: 2, misses: 3 }));
  });

  it('replica-spread: reads any node of the shard, and asks the primary on a miss', async () => {
    make({ a: { mode: 'replica-spread' } });
    const rule = hot.observe(hotId('ns', 'a'), current)!;
    routing.values.set('0/a', hit('v'));
    routing.spreadMisses = true;
    expect(await hot.get(rule, 'ns', 'a', 'primary', 0, current)).toEqual({ ...hit('v'), hot: 'replica-spread' });
    expect(routing.reads).toEqual([[0, 'spread', 'a'], [0, 'primary', 'a']]);
  });

  it('copies: reads a random healthy copy, refills a copy that misses from the owner, skips unhealthy shards', async () => {
    make({ a: { mode: 'copies', copies: 3 } });
    const rule = hot.observe(hotId('ns', 'a'), current)!;
    routing.values.set('0/a', hit('v'));
    random = 0.5; // copy 1, on shard 1
    expect(await hot.get(rule, 'ns', 'a', 'primary', 0, current)).toEqual({ ...hit('v'), hot: 'copies' });
    expect(routing.reads.map((r) => r[0])).toEqual([1, 1, 0]); // spread, primary of the copy, owner
    await new Promise((r) => setImmediate(r));
    const [shard, message] = routing.writes[0];
    expect(shard).toBe(1);
    expect(message[1]).toBe(Op.SET);
    expect(message[4]).toBe(COPY1);
    expect(message[8]).toBe(SetCond.NX);
    routing.reads.length = 0;
    routing.unhealthy = new Set([1, 2]);
    for (const r of [0, 0.4, 0.9]) {
      random = r;
      await hot.get(rule, 'ns', 'a', 'primary', 0, current);
    }
    expect(routing.reads.every(([s]) => s === 0)).toBe(true);
  });

  it('copies: fans a SET out to every other copy; a failed copy is counted, the owner reply stands', async () => {
    make({ a: { mode: 'copies', copies: 3 } });
    routing.failWritesTo.add(2);
    const fields = { value: Buffer.from('v'), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null };
    const owner = { version: 9, expiresAt: 0 };
    expect(await hot.written('ns', 'a', owner, { fields, result: owner })).toBe(owner);
    expect(routing.writes.map(([s, m]) => [s, m[1], m[4], m[6]])).toEqual([[1, Op.SET, COPY1, 60_000], [2, Op.SET, COPY2, 60_000]]);
    expect(await registry.getSingleMetricAsString('shardcache_proxy_hotkey_copy_failures_total')).toContain('op="set"} 1');
    routing.writes.length = 0;
    await hot.written('ns', 'a', true);
    expect(routing.writes.map(([s, m]) => [s, m[1]])).toEqual([[1, Op.DELETE], [2, Op.DELETE]]);
    routing.writes.length = 0;
    await hot.written('ns', 'a', undefined, { fields: { ...fields, cond: SetCond.NX }, result: undefined });
    expect(routing.writes).toEqual([]);
    await hot.invalidated('other');
    expect(routing.writes).toEqual([]);
    await hot.invalidated('ns');
    expect(routing.writes.map(([s, m]) => [s, m[1], m[4]])).toEqual([[1, Op.DELETE, COPY1], [2, Op.DELETE, COPY2]]);
  });
});
