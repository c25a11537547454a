import { KEEP_TTL, SetCond } from '../../shared/protocol';
import { EntryTable } from '../../storage-node/store/entry-table';
import { b, makeStore, text } from './store-helpers';

describe('EntryTable', () => {
  test('columns are independent and survive growth past the reserved capacity', () => {
    const table = new EntryTable(16);
    const ids: number[] = [];
    for (let i = 0; i < 100; i++) {
      const id = table.alloc(`k${i}`, `v${i}`);
      table.setVersion(id, 2 ** 40 + i);
      table.setTick(id, i * 3);
      table.setFlags(id, 0xffff_ffff - i);
      table.setSize(id, 1000 + i);
      table.setTtlPos(id, i);
      table.setLfu(id, 255 - i, 65_535 - i);
      table.ns[id] = i;
      table.nsPos[id] = i * 7;
      ids.push(id);
    }
    expect(table.capacity).toBeGreaterThanOrEqual(100);
    for (let i = 0; i < 100; i++) {
      const id = ids[i];
      expect([table.key(id), table.value(id), table.version(id), table.tick(id)]).toEqual([
        `k${i}`, `v${i}`, 2 ** 40 + i, i * 3,
      ]);
      expect([table.flags(id), table.size(id), table.ttlPos(id), table.lfu(id), table.lfuTime(id)]).toEqual([
        0xffff_ffff - i, 1000 + i, i, 255 - i, 65_535 - i,
      ]);
      expect([table.ns[id], table.nsPos[id]]).toEqual([i, i * 7]);
    }
  });

  test('a freed id is handed out again and is not live meanwhile', () => {
    const table = new EntryTable(16);
    const a = table.alloc('a', '1');
    table.alloc('b', '2');
    table.release(a);
    expect(table.isLive(a)).toBe(false);
    expect(table.live).toBe(1);
    expect(table.alloc('c', '3')).toBe(a);
    expect([table.key(a), table.value(a), table.highWater]).toEqual(['c', '3', 2]);
  });
});

describe('Store.setTrusted', () => {
  test('writes like set, and the result object is reused', () => {
    const { store, clock } = makeStore();
    const first = store.setTrusted('ns', 'k', b('v1'), 1000, 9, SetCond.ALWAYS, 0, ['t']);
    expect(first).toEqual({ version: 1, expiresAt: clock.t + 1000 });
    const second = store.setTrusted('ns', 'k', b('v2'), KEEP_TTL, 0, SetCond.XX, 1, undefined);
    expect(second).toBe(first);
    expect(second).toEqual({ version: 2, expiresAt: clock.t + 1000 });
    expect(text(store.get('ns', 'k'))).toBe('v2');
    expect(store.setTrusted('ns', 'k', b('v3'), 0, 0, SetCond.NX, 0, undefined)).toBeUndefined();
    expect(store.stats().bytes).toBe(store.stats().namespaces['ns'].bytes);
  });

  test('tags given to setTrusted are copied and count towards the entry size', () => {
    const { store } = makeStore();
    const tags = ['red'];
    store.setTrusted('ns', 'k', b('v'), 0, 0, SetCond.ALWAYS, 0, tags);
    tags[0] = 'blue';
    store.invalidate('ns', 'red');
    expect(store.get('ns', 'k')).toBeUndefined();
    const { store: plain } = makeStore();
    plain.set('ns', 'k', b('v'), { tags: ['red'] });
    const { store: trusted } = makeStore();
    trusted.setTrusted('ns', 'k', b('v'), 0, 0, SetCond.ALWAYS, 0, ['red']);
    expect(trusted.stats().bytes).toBe(plain.stats().bytes);
  });
});

describe('Store over the key index', () => {
  test('20,000 random sets, deletes and expiries agree with a Map', () => {
    const { store, clock } = makeStore();
    const reference = new Map<string, { value: string; expiresAt: number }>();
    const mismatches: string[] = [];
    let seed = 3;
    const next = (n: number): number => (seed = (seed * 48_271) % 2_147_483_647) % n;
    for (let op = 0; op < 20_000; op++) {
      const key = `key:${next(3000)}`;
      const roll = next(100);
      if (roll < 50) {
        const ttlMs = roll < 10 ? 1 + next(50) : 0;
        store.set('ns', key, b(`v${op}`), { ttlMs });
        reference.set(key, { value: `v${op}`, expiresAt: ttlMs > 0 ? clock.t + ttlMs : 0 });
      } else if (roll < 70) {
        store.delete('ns', key);
        reference.delete(key);
      } else if (roll < 75) {
        clock.advance(5);
      }
      const want = reference.get(key);
      const live = want !== undefined && (want.expiresAt === 0 || want.expiresAt > clock.t);
      if (text(store.get('ns', key)) !== (live ? want.value : undefined)) mismatches.push(`op ${op}: ${key}`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });
});
