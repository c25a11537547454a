import { promotions } from '../../proxy/hotkeys/promoter';
import type { HotKeyReport } from '../../proxy/hotkeys/hot-keys';
import { buildSnapshot } from '../../shared/topology/snapshot';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';

const keys = clusterKeys('t');
const kv = (rel: string, value: unknown, createRevision = 7) => ({ key: `${keys.prefix}${rel}`, value: JSON.stringify(value), createRevision, modRevision: createRevision });
const base = [
  kv('config', { slots: 16384, shards: 3, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 }),
  kv('slotmap', evenSlotMap(3)),
  kv('namespaces/auto', { hotKeyAutoQps: 100, hotKeyAutoMode: 'copies' }),
  kv('namespaces/plain', {}),
];
const report = (namespace: string, key: string, qpsLowerBound: number): HotKeyReport => ({ namespace, key, qps: qpsLowerBound + 5, qpsLowerBound, mode: 'none' });
const options = { holdMs: 10_000, refreshMs: 5000 };
const NOW = 1_000_000;

describe('auto promotion', () => {
  it('promotes keys whose guaranteed rate reaches their namespace threshold, with an expiry', () => {
    const snapshot = buildSnapshot(keys, base, 1);
    const out = promotions([report('auto', 'hot', 150), report('auto', 'warm', 99), report('plain', 'hot', 1e6)], snapshot, NOW, options);
    expect(out).toEqual([{ namespace: 'auto', key: 'hot', createRevision: 0, rule: { mode: 'copies', copies: 3, source: 'auto', expiresAt: NOW + 10_000 } }]);
  });

  it('leaves operator rules alone and refreshes only auto rules close to expiry', () => {
    const snapshot = buildSnapshot(keys, [
      ...base,
      kv('hotkeys/auto/op', { mode: 'near-cache', source: 'operator' }),
      kv('hotkeys/auto/fresh', { mode: 'copies', copies: 3, source: 'auto', expiresAt: NOW + 8000 }),
      kv('hotkeys/auto/old', { mode: 'copies', copies: 3, source: 'auto', expiresAt: NOW + 1000 }, 42),
    ], 1);
    const out = promotions(['op', 'fresh', 'old'].map((k) => report('auto', k, 500)), snapshot, NOW, options);
    expect(out.map((p) => [p.key, p.createRevision])).toEqual([['old', 42]]);
  });
});
