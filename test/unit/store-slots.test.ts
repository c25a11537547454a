import { Store } from '../../storage-node/store';
import { slotOf } from '../../shared/slot';

const store = (now = () => 1000) => new Store({ maxMemoryBytes: 64 * 1024 * 1024, now, random: () => 0.5 });
const bytes = (s: string) => Buffer.from(s);

test('the slot index follows inserts, rewrites and removals', () => {
  const s = store();
  for (let i = 0; i < 500; i++) s.set('ns', `k${i}`, bytes('v'));
  const figures = s.slots.figures();
  let keys = 0;
  for (let i = 0; i < figures.length; i += 3) keys += figures[i + 1];
  expect(keys).toBe(500);
  const slot = slotOf('ns', 'k1');
  const before = s.slots.count(slot);
  s.delete('ns', 'k1');
  expect(s.slots.count(slot)).toBe(before - 1);
  expect([...s.slots.ids(slot)].every((id) => s.slots.entry(id, slot)?.key !== 'k1')).toBe(true);
});

test('an entry is exported only while live and in its slot; a slot is dropped whole', () => {
  let now = 1000;
  const s = store(() => now);
  s.set('ns', '{t}a', bytes('1'), { ttlMs: 50 });
  s.set('ns', '{t}b', bytes('2'));
  const slot = slotOf('ns', '{t}a');
  const ids = s.slots.ids(slot);
  expect(ids.length).toBe(2);
  expect([...ids].map((id) => s.slots.entry(id, slot)?.key).sort()).toEqual(['{t}a', '{t}b']);
  now += 100; // a expired
  expect([...ids].map((id) => s.slots.entry(id, slot)?.key).filter(Boolean)).toEqual(['{t}b']);
  expect(s.slots.entry(ids[0], slot + 1)).toBeUndefined();
  const removed: string[] = [];
  expect(s.slots.drop(slot, 10, (_ns, key) => removed.push(key))).toBe(0);
  expect(removed.sort()).toEqual(['{t}a', '{t}b']);
  expect(s.get('ns', '{t}b')).toBeUndefined();
});

test('importEntry keeps the absolute expiry and flags and takes a version above every watermark', () => {
  const s = store();
  s.set('ns', 'x', bytes('old'));
  s.invalidate('ns');
  const version = s.importEntry('ns', 'y', bytes('new'), 5000, 7, ['tag']);
  const e = s.get('ns', 'y')!;
  expect(e.version).toBe(version);
  expect(e.expiresAt).toBe(5000);
  expect(e.flags).toBe(7);
  expect(s.importEntry('ns', 'z', bytes('gone'), 10, 0, null)).toBe(0); // already expired
  expect(s.get('ns', 'z')).toBeUndefined();
});
