import { NearCache } from '../../proxy/hotkeys/near-cache';
import { activeRule, copyPlaces, hotId } from '../../proxy/hotkeys/rules';
import { buildSnapshot } from '../../shared/topology/snapshot';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';

const hit = (text: string) => ({ hit: true as const, value: Buffer.from(text), version: 1, expiresAt: 0, flags: 0 });

describe('NearCache', () => {
  let clock = 0;
  const cache = (maxEntries = 10, maxBytes = 1 << 20) => new NearCache({ maxEntries, maxBytes, now: () => clock });
  beforeEach(() => (clock = 0));

  it('serves an entry until its TTL, then misses', () => {
    const c = cache();
    c.put('a', hit('1'), 100, c.begin('a'));
    clock = 99;
    expect(c.get('a')).toEqual(hit('1'));
    clock = 100;
    expect(c.get('a')).toBeUndefined();
    expect([c.hits, c.misses, c.size]).toEqual([1, 1, 0]);
  });

  it('does not store a fill that an invalidation overtook', () => {
    const c = cache();
    const token = c.begin('a');
    c.invalidate('a');
    c.put('a', hit('old'), 100, token);
    expect(c.get('a')).toBeUndefined();
    c.put('a', hit('new'), 100, c.begin('a'));
    expect(c.get('a')).toEqual(hit('new'));
    const t2 = c.begin('b');
    c.invalidatePrefix('ns\n');
    c.put('b', hit('old'), 100, t2);
    expect(c.get('b')).toBeUndefined();
  });

  it('stays within its entry and byte bounds, dropping the oldest first', () => {
    const c = cache(3, 1000);
    for (const id of ['a', 'b', 'c', 'd']) c.put(id, hit(id), 100, c.begin(id));
    expect(c.size).toBe(3);
    expect(c.get('a')).toBeUndefined();
    c.put('big', hit('x'.repeat(800)), 100, c.begin('big'));
    expect(c.bytes).toBeLessThanOrEqual(1000);
    c.put('huge', hit('x'.repeat(2000)), 100, c.begin('huge'));
    expect(c.get('huge')).toBeUndefined();
  });

  it('drops entries of one namespace on a prefix invalidation', () => {
    const c = cache();
    c.put(hotId('a', 'k'), hit('1'), 100, c.begin(hotId('a', 'k')));
    c.put(hotId('b', 'k'), hit('1'), 100, c.begin(hotId('b', 'k')));
    c.invalidatePrefix('a\n');
    expect(c.get(hotId('a', 'k'))).toBeUndefined();
    expect(c.get(hotId('b', 'k'))).toBeDefined();
  });
});

describe('hot-key rules', () => {
  const keys = clusterKeys('t');
  const kv = (rel: string, value: unknown) => ({ key: `${keys.prefix}${rel}`, value: JSON.stringify(value), createRevision: 1, modRevision: 1 });
  const snapshot = buildSnapshot(keys, [
    kv('config', { slots: 16384, shards: 3, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 }),
    kv('slotmap', evenSlotMap(3)),
    kv(`hotkeys/ns/${encodeURIComponent('a b')}`, { mode: 'near-cache', ttlMs: 200 }),
    kv('hotkeys/ns/old', { mode: 'replica-spread', expiresAt: 1000 }),
  ], 1);

  it('finds active rules and ignores expired ones', () => {
    expect(activeRule(snapshot, hotId('ns', 'a b'), 5000)?.mode).toBe('near-cache');
    expect(activeRule(snapshot, hotId('ns', 'old'), 999)?.mode).toBe('replica-spread');
    expect(activeRule(snapshot, hotId('ns', 'old'), 1000)).toBeUndefined();
    expect(activeRule(snapshot, hotId('ns', 'none'), 0)).toBeUndefined();
  });

  it('places K copies on K distinct shards, the owner first', () => {
    const places = copyPlaces(snapshot, 2, 'k', 3);
    expect(places.map((p) => p.shardId)).toEqual([2, 0, 1]);
    expect(places[0].storageKey).toBe('k');
    expect(new Set(places.map((p) => p.storageKey)).size).toBe(3);
    expect(copyPlaces(snapshot, 0, 'k', 5)).toHaveLength(3);
    expect(copyPlaces(snapshot, 0, 'x'.repeat(1024), 3)).toHaveLength(1);
  });
});
