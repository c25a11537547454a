import { OpError } from '../../shared/errors';
import { FRAME } from '../../shared/ops';
import { Status } from '../../shared/protocol';
import { SLOT_COUNT, slotOf } from '../../shared/slot';
import { FRAME_HEADER_BYTES } from '../../shared/frame';
import { packr, unpackPlain } from '../../shared/msgpack';
import { handle, STANDALONE, type HandlerContext, type SlotGuard } from '../../storage-node/handlers';
import { ReplyWriter } from '../../storage-node/reply-writer';
import { SCAN_MAX_COUNT, SCAN_MAX_SLOT_KEYS, SCAN_MAX_SLOTS } from '../../storage-node/store/key-walk';
import { dbsizeMessage, parseDbsize, parseRandomKey, parseScan, randomKeyMessage, scanMessage } from '../../proxy/routing/messages';
import { errorFromReply } from '../../proxy/routing/status';
import { SlotOwnership } from '../../storage-node/migration/ownership';
import { copyPlaces } from '../../proxy/hotkeys/rules';
import { buildSnapshot } from '../../shared/topology/snapshot';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { b, makeStore } from './store-helpers';

const all = (): boolean => true;

/** Every key `scan` returns over the whole slot range, page by page; checks each page's slots are whole. */
function scanAll(scan: (slot: number) => { next: number; keys: string[] }): string[][] {
  const pages: string[][] = [];
  for (let slot = 0; slot < SLOT_COUNT;) {
    const page = scan(slot);
    expect(page.next).toBeGreaterThan(slot);
    pages.push(page.keys);
    slot = page.next;
  }
  return pages;
}

describe('store key walks: SCAN', () => {
  test('every live key of the namespace once, other namespaces, expired and invalidated keys never', () => {
    const { store, clock } = makeStore();
    for (let i = 0; i < 500; i++) store.set('app', `k${i}`, b('v'));
    for (let i = 0; i < 50; i++) store.set('other', `k${i}`, b('v'));
    store.set('app', 'short', b('v'), { ttlMs: 100 });
    store.set('app', 'tagged', b('v'), { tags: ['t'] });
    store.invalidate('app', 't');
    clock.advance(200);
    const pages = scanAll((slot) => store.keys.scan('app', slot, 10, all));
    const keys = pages.flat();
    expect(keys.sort()).toEqual(Array.from({ length: 500 }, (_, i) => `k${i}`).sort());
    // COUNT is a target: whole slots may overshoot it, never by more than one slot's keys.
    for (const page of pages) expect(page.length).toBeLessThan(10 + 5);
  });

  test('a slot is never split: a page ends after the slot in which COUNT was reached', () => {
    const { store } = makeStore();
    const tagged = Array.from({ length: 30 }, (_, i) => `{same}${i}`); // one slot
    for (const key of tagged) store.set('app', key, b('v'));
    const slot = slotOf('app', tagged[0]);
    expect(tagged.every((key) => slotOf('app', key) === slot)).toBe(true);
    const page = store.keys.scan('app', slot, 1, all);
    expect(page.keys.sort()).toEqual([...tagged].sort());
    expect(page.next).toBe(slot + 1);
  });

  test('stops before the first slot the shard does not own; COUNT and slots walked are bounded', () => {
    const { store } = makeStore();
    for (let i = 0; i < 5000; i++) store.set('app', `k${i}`, b('v'));
    const owns = (slot: number): boolean => slot < 8000;
    const pages = scanAll((slot) => (owns(slot) ? store.keys.scan('app', slot, 1e9, owns) : { next: 8000 + SLOT_COUNT, keys: [] }));
    const owned = Array.from({ length: 5000 }, (_, i) => `k${i}`).filter((k) => slotOf('app', k) < 8000);
    expect(pages.flat().sort()).toEqual(owned.sort());
    const first = store.keys.scan('app', 0, 1e9, owns);
    expect(first.keys.length).toBeLessThan(SCAN_MAX_COUNT + 10);
    expect(store.keys.scan('app', 0, 1e9, owns).next).toBeLessThanOrEqual(8000);
    // Empty slots cost nothing against the slot bound; slots holding entries do.
    const sparse = makeStore().store;
    for (let i = 0; i < 3000; i++) sparse.set('x', `k${i}`, b('v'));
    expect(sparse.keys.scan('app', 0, 10, all).next).toBe(SLOT_COUNT); // namespace absent: one call crosses every slot
    const holding = new Set(Array.from({ length: 3000 }, (_, i) => slotOf('x', `k${i}`))).size;
    expect(holding).toBeGreaterThan(SCAN_MAX_SLOTS);
    const walked = sparse.keys.scan('x', 0, 1e9, all);
    expect(walked.keys.length).toBeLessThanOrEqual(SCAN_MAX_COUNT + 5);
  });

  test('keys present for the whole scan are returned while others are written and deleted between pages', () => {
    const { store } = makeStore();
    const stable = Array.from({ length: 300 }, (_, i) => `stable${i}`);
    for (const key of stable) store.set('app', key, b('v'));
    for (let i = 0; i < 300; i++) store.set('app', `gone${i}`, b('v'));
    let n = 0;
    const seen = scanAll((slot) => {
      store.set('app', `new${n}`, b('v'));
      store.delete('app', `gone${n}`);
      n++;
      return store.keys.scan('app', slot, 10, all);
    }).flat();
    for (const key of stable) expect(seen).toContain(key);
  });
});

describe('store key walks: DBSIZE and RANDOMKEY', () => {
  test('a slot holding more keys of the namespace than a page may carry: the keys before it are answered, then it is refused', () => {
    const { store } = makeStore();
    const tagged = Array.from({ length: SCAN_MAX_SLOT_KEYS + 1 }, (_, i) => `{big}:${i}`);
    const big = slotOf('app', tagged[0]);
    for (const key of tagged) store.set('app', key, b('v'));
    const small = Array.from({ length: 2000 }, (_, i) => `k${i}`).find((k) => slotOf('app', k) < big)!;
    store.set('app', small, b('v'));
    // From the small key's slot: the page stops before the big slot, which is left for the next call.
    const page = store.keys.scan('app', slotOf('app', small), 10, all);
    expect(page.keys).toContain(small);
    expect(page.keys.every((k) => !k.startsWith('{big}'))).toBe(true);
    expect(page.next).toBeLessThanOrEqual(big);
    // The big slot alone is refused with a message that names it, instead of a reply of every key.
    expect(() => store.keys.scan('app', big, 10, all)).toThrow(new RegExp(`slot ${big} holds more than ${SCAN_MAX_SLOT_KEYS} keys of namespace app`));
    store.delete('app', tagged[0]);
    expect(store.keys.scan('app', big, 10, all).keys).toHaveLength(SCAN_MAX_SLOT_KEYS); // at the bound: served
  });

  test('RANDOMKEY finds the one live key among thousands a FLUSHDB left to reclaim, call after call', () => {
    const { store } = makeStore();
    for (let i = 0; i < 3000; i++) store.set('app', `k${i}`, b('v'));
    store.invalidate('app');
    store.set('app', 'fresh', b('v'));
    // Each call reclaims the dead members it draws, which moves others (fresh among them) around.
    for (let i = 0; i < 30; i++) expect(store.keys.randomKey('app', all)).toBe('fresh');
  });

  test('the live count is 0 right after a namespace invalidation though its entries are reclaimed later', () => {
    const { store } = makeStore();
    for (let i = 0; i < 100; i++) store.set('app', `k${i}`, b('v'));
    store.set('other', 'x', b('v'));
    expect(store.keys.liveCount('app')).toBe(100);
    store.invalidate('app');
    expect(store.size).toBe(101); // nothing reclaimed yet
    expect(store.keys.liveCount('app')).toBe(0);
    expect(store.keys.randomKey('app', all)).toBeNull();
    store.set('app', 'fresh', b('v'));
    store.get('app', 'k3'); // a lazy reclaim
    expect(store.keys.liveCount('app')).toBe(1);
    expect(store.keys.randomKey('app', all)).toBe('fresh'); // drawn among entries written since
    store.sweep(1000);
    expect(store.size).toBe(2);
    expect(store.keys.liveCount('app')).toBe(1);
    expect(store.keys.liveCount('other')).toBe(1);
    expect(store.keys.liveCount('none')).toBe(0);
  });

  test('a replica counts what its primary counts, through the replicated invalidation', () => {
    const { store: replica } = makeStore();
    replica.passive = true;
    for (let i = 1; i <= 10; i++) replica.replication.applySet('app', `k${i}`, b('v'), i, 0, 0, null);
    replica.replication.applyInvalidate('app', null, 10);
    expect(replica.keys.liveCount('app')).toBe(0);
    replica.replication.applySet('app', 'k1', b('w'), 11, 0, 0, null); // rewritten after the invalidation
    replica.replication.applyDelete('app', 'k2');
    expect(replica.keys.liveCount('app')).toBe(1);
  });

  test('RANDOMKEY draws live keys only, removes the dead ones it draws, and keeps to owned slots', () => {
    const { store, clock, removed } = makeStore();
    for (let i = 0; i < 50; i++) store.set('app', `dead${i}`, b('v'), { ttlMs: 10 });
    store.set('app', 'alive', b('v'));
    clock.advance(20);
    expect(store.keys.randomKey('app', all)).toBe('alive');
    expect(removed.some(([, , reason]) => reason === 'expired')).toBe(true);
    const slot = slotOf('app', 'alive');
    expect(store.keys.randomKey('app', (s) => s !== slot)).toBeNull();
    const keys = new Set<string>();
    for (let i = 0; i < 20; i++) store.set('app', `k${i}`, b('v'));
    for (let i = 0; i < 200; i++) keys.add(store.keys.randomKey('app', all)!);
    expect(keys.size).toBeGreaterThan(15); // spread over the members, not one key
  });
});

describe('SCAN, DBSIZE, RANDOMKEY through the node handler and the proxy parsers', () => {
  let nextId = 1;
  function call(ctx: HandlerContext, message: unknown[]): unknown[] {
    message[FRAME.id] = nextId++;
    const out = new ReplyWriter();
    handle(unpackPlain(packr.pack(message)) as unknown[], ctx, out, (err) => {
      throw err;
    });
    const bytes = out.flush()!;
    return unpackPlain(bytes, FRAME_HEADER_BYTES, bytes.length) as unknown[];
  }

  test('replies and MOVED for a cursor slot the shard does not own', () => {
    const { store } = makeStore();
    for (let i = 0; i < 40; i++) store.set('app', `k${i}`, b('v'));
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}) };
    const seen: string[] = [];
    for (let slot = 0; slot < SLOT_COUNT;) {
      const page = parseScan(call(ctx, scanMessage('app', slot, 7)));
      seen.push(...page.keys);
      slot = page.next;
    }
    expect(seen.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `k${i}`).sort());
    expect(parseDbsize(call(ctx, dbsizeMessage('app')))).toBe(40);
    expect(parseDbsize(call(ctx, dbsizeMessage('empty')))).toBe(0);
    expect(parseRandomKey(call(ctx, randomKeyMessage('app')))).toMatch(/^k\d+$/);
    expect(parseRandomKey(call(ctx, randomKeyMessage('empty')))).toBeNull();

    const slots: SlotGuard = {
      check: () => undefined,
      checkWrite: () => undefined,
      checkAscii: () => undefined,
      owns: (slot) => slot < 100,
      moved: (slot) => new OpError(Status.MOVED, `slot ${slot} is owned by shard 1`, [slot, 1, 3]),
      checkWalk: () => undefined,
    };
    const clustered = { ...ctx, slots };
    const moved = call(clustered, scanMessage('app', 100, 10));
    expect(moved[FRAME.status]).toBe(Status.MOVED);
    expect(errorFromReply(moved).detail).toMatchObject({ nodeStatus: 'MOVED' });
    expect(parseScan(call(clustered, scanMessage('app', 0, 1e6))).next).toBe(100); // stops at the first slot owned elsewhere

    for (const bad of [scanMessage('app', SLOT_COUNT, 10), scanMessage('app', 0, 0), scanMessage('app', -1, 10), scanMessage('bad ns!', 0, 10)]) {
      expect(call(ctx, bad)[FRAME.status]).toBe(Status.BAD_REQUEST);
    }
  });

  test('a cluster node that has not read the slot map yet answers BUSY to SCAN and RANDOMKEY (DBSIZE still answers)', () => {
    const { store } = makeStore();
    for (let i = 0; i < 40; i++) store.set('app', `k${i}`, b('v'));
    const ownership = new SlotOwnership(0);
    ownership.strict = true;
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}), slots: ownership };
    for (const message of [scanMessage('app', 0, 10), randomKeyMessage('app')]) {
      const reply = call(ctx, message);
      expect(reply[FRAME.status]).toBe(Status.BUSY);
      expect(errorFromReply(reply)).toMatchObject({ code: 'NODE_UNAVAILABLE', message: 'the node has not read the slot map yet; retry shortly' });
    }
    expect(parseDbsize(call(ctx, dbsizeMessage('app')))).toBe(40);
    // Once the map is read, the walk keeps to the shard's slots.
    ownership.apply(1, [[0, 8191, 0], [8192, SLOT_COUNT - 1, 1]]);
    let page = parseScan(call(ctx, scanMessage('app', 0, 1e6)));
    while (page.next < 8192) page = parseScan(call(ctx, scanMessage('app', page.next, 1e6)));
    expect(page.next).toBe(8192);
    expect(parseRandomKey(call(ctx, randomKeyMessage('app')))).toMatch(/^k\d+$/);
    // A node that is not strict (no cluster) takes every slot as its own before any map.
    const loose = { ...ctx, slots: new SlotOwnership(0) };
    let end = parseScan(call(loose, scanMessage('app', 0, 1e6)));
    while (end.next < SLOT_COUNT) end = parseScan(call(loose, scanMessage('app', end.next, 1e6)));
    expect(end.next).toBe(SLOT_COUNT);
  });
});

describe('hot-key copies are not keys of the key space', () => {
  const keys = clusterKeys('t');
  const kv = (rel: string, value: unknown) => ({ key: `${keys.prefix}${rel}`, value: JSON.stringify(value), createRevision: 1, modRevision: 1 });
  const mapped = buildSnapshot(keys, [kv('config', { slots: SLOT_COUNT, shards: 3, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 }), kv('slotmap', evenSlotMap(3))], 1);
  const unmapped = buildSnapshot(keys, [kv('config', { slots: SLOT_COUNT, shards: 3, replicas: 1, leaseTtlSeconds: 2, createdAt: 0 })], 1);
  /** The storage keys of the copies (not the owner's) of `key`, as the proxy names them. */
  const copiesOf = (key: string): string[] => [
    ...copyPlaces(mapped, 0, key, 3, 17).slice(1),
    ...copyPlaces(unmapped, 0, key, 3, 0).slice(1),
  ].map((p) => p.storageKey);

  test('SCAN and RANDOMKEY skip them; DBSIZE counts them', () => {
    const { store } = makeStore();
    const real = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const copies = real.flatMap(copiesOf);
    expect(copies.length).toBe(30 * 4);
    for (const key of [...real, ...copies]) store.set('app', key, b('v'));
    expect(scanAll((slot) => store.keys.scan('app', slot, 10, all)).flat().sort()).toEqual([...real].sort());
    for (let i = 0; i < 300; i++) expect(real).toContain(store.keys.randomKey('app', all));
    expect(store.keys.liveCount('app')).toBe(real.length + copies.length); // documented: O(1), copies included

    const onlyCopies = makeStore().store;
    for (const key of copiesOf('hot')) onlyCopies.set('app', key, b('v'));
    expect(scanAll((slot) => onlyCopies.keys.scan('app', slot, 10, all)).flat()).toEqual([]);
    expect(onlyCopies.keys.randomKey('app', all)).toBeNull();
    // A key that merely looks alike is a key.
    onlyCopies.set('app', 'k\u0000copy', b('v'));
    onlyCopies.set('app', 'k\u0000copy1@x', b('v'));
    expect(scanAll((slot) => onlyCopies.keys.scan('app', slot, 10, all)).flat().sort()).toEqual(['k\u0000copy', 'k\u0000copy1@x']);
  });
});
