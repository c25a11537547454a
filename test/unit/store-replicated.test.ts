import { Store } from '../../storage-node/store';
import { Op, SetCond } from '../../shared/protocol';
import { applyRecord } from '../../storage-node/replication/records';
import { ReplicationLog } from '../../storage-node/replication/log';
import { decodePayload } from '../../shared/frame';
import { slotOf } from '../../shared/slot';
import { b, makeStore, text } from './store-helpers';

describe('store: replica apply', () => {
  test('applySet keeps the primary\'s version and absolute expiry, and raises the version clock', () => {
    const { store } = makeStore();
    store.replication.applySet('ns', 'k', b('v'), 42, 1_800_000_000_000, 3, ['t']);
    expect(store.get('ns', 'k')).toMatchObject({ version: 42, expiresAt: 1_800_000_000_000, flags: 3 });
    expect(store.versionClock).toBe(42);
    store.replication.applySet('ns', 'k', b('older'), 40, 0, 0, null); // a replayed older record
    expect(store.get('ns', 'k')).toMatchObject({ version: 40 });
    expect(store.versionClock).toBe(42);
  });

  test('a passive store hides expired and invisible entries but keeps them until the primary deletes', () => {
    const { store, clock, removed } = makeStore();
    store.passive = true;
    store.replication.applySet('ns', 'k', b('v'), 1, clock.t + 100, 0, null);
    clock.advance(100);
    expect(store.get('ns', 'k')).toBeUndefined();
    expect(store.sweep(10)).toEqual({ expired: 0, reclaimed: 0 });
    expect(store.size).toBe(1);
    expect(store.replication.applyDelete('ns', 'k')).toBe(true);
    expect(store.size).toBe(0);
    expect(removed).toEqual([]);
  });

  test('watermarks replicate invisibility exactly', () => {
    const { store } = makeStore();
    store.replication.applySet('ns', 'a', b('1'), 5, 0, 0, ['t']);
    store.replication.applySet('ns', 'b', b('2'), 6, 0, 0, null);
    store.replication.applyInvalidate('ns', 't', 6);
    expect(store.get('ns', 'a')).toBeUndefined();
    expect(text(store.get('ns', 'b'))).toBe('2');
    store.replication.applyInvalidate('ns', null, 6);
    expect(store.get('ns', 'b')).toBeUndefined();
    store.replication.applySet('ns', 'c', b('3'), 7, 0, 0, null);
    expect(text(store.get('ns', 'c'))).toBe('3');
  });

  test('a snapshot in chunks plus the stream rebuilds the primary on an empty store', () => {
    const primary = makeStore();
    const replica = makeStore();
    const frames: Buffer[] = [];
    const log = new ReplicationLog(primary.store, 1 << 20, () => undefined);
    log.recording = true;
    for (let i = 0; i < 500; i++) {
      const r = primary.store.set('ns', `k${i}`, b(`v${i}`), { ttlMs: i % 2 ? 60_000 : 0, tags: i % 3 ? undefined : ['t'] })!;
      log.set('ns', `k${i}`, b(`v${i}`), r.version, r.expiresAt, 0, i % 3 ? undefined : ['t']);
    }
    primary.store.invalidate('ns', 't');
    log.invalidated('ns', 't');
    let next = 0;
    const start = log.offset;
    while (next >= 0) {
      const chunk = primary.store.replication.snapshotChunk(next, 64, 1 << 20);
      for (const e of chunk.entries) replica.store.replication.applySet(e.ns, e.key, e.value, e.version, e.expiresAt, e.flags, e.tags);
      next = chunk.next;
      // Writes continue between chunks; the stream carries them.
      const r = primary.store.set('ns', `k${next & 511}`, b('new'), { cond: SetCond.ALWAYS })!;
      log.set('ns', `k${next & 511}`, b('new'), r.version, r.expiresAt, 0, undefined);
    }
    const tail = log.backlog.read(start);
    for (let at = 0; at < tail.length;) {
      const n = tail.readUInt32BE(at);
      applyRecord(replica.store, decodePayload(tail.subarray(at + 4, at + 4 + n)));
      at += 4 + n;
    }
    for (const [ns, mark, tags] of primary.store.replication.watermarks()) {
      if (mark > 0) replica.store.replication.applyInvalidate(ns, null, mark);
      for (const [tag, m] of tags) replica.store.replication.applyInvalidate(ns, tag, m);
    }
    replica.store.replication.raiseVersionClock(primary.store.versionClock);
    for (let i = 0; i < 500; i++) expect(replica.store.get('ns', `k${i}`)).toEqual(primary.store.get('ns', `k${i}`));
    expect(replica.store.versionClock).toBe(primary.store.versionClock);
  });

  test('clear removes every entry and watermark', () => {
    const { store } = makeStore();
    store.set('a', 'x', b('1'));
    store.set('b', 'y', b('2'));
    store.invalidate('a');
    store.replication.clear();
    expect(store.size).toBe(0);
    expect(store.replication.watermarks().every(([, mark, tags]) => mark === 0 && tags.length === 0)).toBe(true);
  });
});

describe('peek (what a write record reads back)', () => {
  test('reads the entry of that namespace and key whichever entry was written last', () => {
    const { store } = makeStore();
    store.set('a', 'k', b('in a'));
    store.set('b', 'k', b('in b')); // same key, another namespace: written last
    expect(store.replication.peek('a', 'k')?.value).toBe('in a');
    expect(store.replication.peek('b', 'k')?.value).toBe('in b');
    store.incr('a', 'n', 5, 0);
    expect(store.replication.peek('a', 'n')?.value).toBe('5');
    expect(store.replication.peek('b', 'n')).toBeUndefined();
    store.delete('a', 'n'); // the id written last is freed, then taken by another key
    store.set('a', 'other', b('x'));
    expect(store.replication.peek('a', 'n')).toBeUndefined();
    expect(store.replication.peek('a', 'other')?.value).toBe('x');
    store.set('a', 'n', b('again'));
    expect(store.replication.peek('a', 'n')).toMatchObject({ value: 'again', type: 0 });
    expect(store.replication.peekMeta('b', 'k')).toMatchObject({ type: 0 });
  });
});

describe('replication log', () => {
  test('records written straight into the ring or through the scratch buffer read back intact across wraparound', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 300, () => undefined);
    log.recording = true;
    for (let i = 0; i < 50; i++) {
      const from = log.offset;
      log.set('ns', `key-${i}`, b('x'.repeat(i)), i + 1, i * 1000, i, i % 7 === 0 ? ['tag'] : undefined);
      const frame = log.backlog.read(from);
      expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
      expect(decodePayload(frame.subarray(4))).toEqual([0, 34, 'ns', `key-${i}`, b('x'.repeat(i)), i + 1, i * 1000, i, i % 7 === 0 ? ['tag'] : null]);
    }
    expect(log.backlog.start).toBeGreaterThan(0);
  });
});

describe('removals the primary decides are replicated as deletes', () => {
  test('eviction and expiry append REPL_DEL records', () => {
    let log: ReplicationLog | undefined;
    const clock = { t: 1_700_000_000_000 };
    const store = new Store({ maxMemoryBytes: 4096, now: () => clock.t, random: () => 0.5 }, { removed: (ns, key) => log?.removed(ns, key) });
    log = new ReplicationLog(store, 1 << 20, () => undefined);
    log.recording = true;
    store.set('ns', 'short', b('x'), { ttlMs: 10 });
    for (let i = 0; i < 40; i++) store.set('ns', `k${i}`, b('v'.repeat(100)));
    clock.t += 10;
    store.sweep(5);
    store.get('ns', 'short');
    const deleted: string[] = [];
    const bytes = log.backlog.read(log.backlog.start);
    for (let at = 0; at < bytes.length;) {
      const n = bytes.readUInt32BE(at);
      const m = decodePayload(bytes.subarray(at + 4, at + 4 + n));
      if (m[1] === 35) deleted.push(m[3] as string);
      at += 4 + n;
    }
    expect(deleted.length).toBeGreaterThan(5);
    expect(deleted.length).toBe(new Set(deleted).size);
    expect(deleted).toContain('short');
  });
});

describe('write acknowledgement waits', () => {
  test('a request\'s own mutation in an ack namespace arms the wait; a removal the store decides does not', () => {
    let log: ReplicationLog | undefined;
    const clock = { t: 1_700_000_000_000 };
    const store = new Store({ maxMemoryBytes: 1 << 20, now: () => clock.t, random: () => 0.5 }, { removed: (ns, key) => log?.removed(ns, key) });
    log = new ReplicationLog(store, 1 << 20, () => undefined);
    log.recording = true;
    log.ackNamespaces.add('acked');
    store.set('acked', 'short', b('x'), { ttlMs: 10 });
    clock.t += 10;
    const before = log.offset;
    expect(store.get('acked', 'short')).toBeUndefined(); // lazy expiry inside a read
    expect(log.offset).toBeGreaterThan(before); // replicated as a delete...
    expect(log.takeAckWait()).toBe(0); // ...but the read's reply does not wait for it
    log.deleted('acked', 'other');
    expect(log.takeAckWait()).toBe(log.offset);
    log.set('async', 'k', b('v'), 1, 0, 0, undefined);
    expect(log.takeAckWait()).toBe(0);
  });
});

describe('store: a full sync into a twin, then adopt', () => {
  test('the old entries stay readable (stale) while the twin loads; adopt swaps everything at once', () => {
    const { store } = makeStore();
    store.passive = true;
    store.setNamespacePolicy('ns', { quotaBytes: 1 << 20, eviction: 'lfu' });
    store.replication.applySet('ns', 'old', b('1'), 5, 0, 0, null);
    store.replication.applySet('ns', 'kept', b('old value'), 6, 0, 0, null);
    expect(store.get('ns', 'old')).toBeDefined(); // counted as a hit
    store.stale = true;
    const twin = store.emptyTwin();
    expect(twin.passive).toBe(true);
    expect(twin.size).toBe(0);
    twin.replication.applySet('ns', 'kept', b('new value'), 9, 0, 0, null);
    twin.replication.applySet('ns', 'new', b('2'), 10, 0, 0, null);
    twin.replication.applyInvalidate('other', null, 8);
    twin.replication.raiseVersionClock(12);
    // Meanwhile the live store still answers from the old data.
    expect(text(store.get('ns', 'kept'))).toBe('old value');
    expect(store.get('ns', 'new')).toBeUndefined();
    store.adopt(twin);
    expect(store.stale).toBe(false);
    expect(store.passive).toBe(true);
    expect(store.get('ns', 'old')).toBeUndefined();
    expect(text(store.get('ns', 'kept'))).toBe('new value');
    expect(text(store.get('ns', 'new'))).toBe('2');
    expect(store.versionClock).toBe(12);
    expect(store.replication.watermarks()).toContainEqual(['other', 8, []]);
    const stats = store.stats();
    expect(stats.items).toBe(2);
    expect(stats.hits).toBe(4); // counters carry on across the swap
    expect(stats.namespaces.ns.quotaBytes).toBe(1 << 20); // the policy applies to the adopted entries
    // The adopted keyspace is the store's own: writes, slots and snapshots all see it.
    store.passive = false;
    store.set('ns', 'after', b('3'));
    expect(store.slots.count(slotOf('ns', 'after'))).toBeGreaterThanOrEqual(1);
    expect(store.replication.snapshotChunk(0, 100, 1 << 20).entries.map((e) => e.key).sort()).toEqual(['after', 'kept', 'new']);
  });

  test('a twin that is never adopted leaves the store as it was', () => {
    const { store } = makeStore();
    store.replication.applySet('ns', 'k', b('v'), 3, 0, 0, null);
    const twin = store.emptyTwin();
    twin.replication.applySet('ns', 'other', b('w'), 4, 0, 0, null);
    expect(text(store.get('ns', 'k'))).toBe('v');
    expect(store.get('ns', 'other')).toBeUndefined();
    expect(store.size).toBe(1);
  });
});

describe('store: the live count after a full sync', () => {
  test('a snapshot holding entries on both sides of the namespace watermark, then the watermark: only the older ones are hidden', () => {
    const { store: primary } = makeStore();
    for (let i = 0; i < 30; i++) primary.set('app', `old${i}`, b('v'));
    primary.invalidate('app'); // hides old*; reclaimed later
    for (let i = 0; i < 20; i++) primary.set('app', `new${i}`, b('v'));
    primary.set('other', 'x', b('v'));
    expect(primary.keys.liveCount('app')).toBe(20);

    const { store: replica } = makeStore();
    replica.passive = true;
    for (let next = 0; next >= 0;) {
      const chunk = primary.replication.snapshotChunk(next, 16, 1 << 20);
      const flat = chunk.entries.flatMap((e) => [e.ns, e.key, e.value, e.version, e.expiresAt, e.flags, e.tags]);
      applyRecord(replica, [0, Op.REPL_SNAPSHOT, flat]);
      next = chunk.next;
    }
    expect(replica.size).toBe(51); // the hidden entries travel too
    applyRecord(replica, [0, Op.REPL_SNAPSHOT_END, primary.versionClock, primary.replication.watermarks()]);
    expect(replica.keys.liveCount('app')).toBe(20);
    expect(replica.keys.liveCount('other')).toBe(1);

    // The count stays exact as the stream goes on, and once the promoted replica's reclaim walk ends.
    replica.replication.applySet('app', 'old0', b('w'), primary.versionClock + 1, 0, 0, null); // rewritten above the watermark
    replica.replication.applyDelete('app', 'new0');
    replica.replication.applyDelete('app', 'old1'); // a hidden one
    expect(replica.keys.liveCount('app')).toBe(20);
    replica.passive = false;
    replica.sweep(10_000);
    expect(replica.size).toBe(21); // old0, 19 new, other: the hidden ones are reclaimed
    expect(replica.keys.liveCount('app')).toBe(20);
  });
});

describe('replication log: the backlog of a primary no replica follows', () => {
  test('a first primary records nothing until a replica syncs, and that replica takes a full sync', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 1 << 20, () => undefined);
    const before = log.replId;
    log.promote(); // a new cluster's primary: no history behind it
    expect(log.recording).toBe(false);
    const r = store.set('ns', 'k', b('v'), {})!;
    log.set('ns', 'k', b('v'), r.version, r.expiresAt, 0, undefined);
    expect(log.offset).toBe(0);
    // A replica that followed this node's old id at offset 0 would miss the write: it cannot continue.
    expect(log.decide({ replId: before, offset: 0 }).kind).toBe('full');
    const unrecorded = log.replId;
    log.startRecording(); // a replica syncs
    expect(log.recording).toBe(true);
    expect(log.replId).not.toBe(unrecorded);
    expect(log.decide({ replId: unrecorded, offset: 0 }).kind).toBe('full');
    log.set('ns', 'k', b('w'), r.version + 1, 0, 0, undefined);
    expect(log.offset).toBeGreaterThan(0);
    expect(log.decide({ replId: log.replId, offset: 0 })).toMatchObject({ kind: 'continue', offset: 0 });
  });

  test('a promoted replica with a history records on, and the old primary\'s replicas continue from it', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 1 << 20, () => undefined);
    const payload = Buffer.from('a stream frame of the old primary');
    log.appendFrame(payload); // what this node received while it followed
    const oldId = 'a'.repeat(40);
    log.replId = oldId;
    const offset = log.offset;
    log.promote();
    expect(log.recording).toBe(true);
    expect(log.decide({ replId: oldId, offset })).toMatchObject({ kind: 'continue', offset });
  });

  test('a promoted replica that synced at offset 0 (its primary had recorded nothing) records on', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 1 << 20, () => undefined);
    const primaryId = 'b'.repeat(40);
    log.replId = primaryId; // what the replica link sets when a full sync at offset 0 is done
    log.following = true;
    log.promote();
    expect(log.recording).toBe(true);
    expect(log.decide({ replId: primaryId, offset: 0 })).toMatchObject({ kind: 'continue', offset: 0 });
    log.forget();
    expect(log.following).toBe(false);
  });

  test('a namespace that waits for replica acknowledgements keeps the backlog on', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 1 << 20, () => undefined);
    log.ackNamespaces.add('acked');
    log.promote();
    expect(log.recording).toBe(true);
  });

  test('a slot export is fed with writes whether or not the backlog records', () => {
    const { store } = makeStore();
    const log = new ReplicationLog(store, 1 << 20, () => undefined);
    log.promote();
    const seen: string[] = [];
    log.tee = { set: (_ns: string, key: string) => seen.push(`set ${key}`), del: (_ns: string, key: string) => seen.push(`del ${key}`), invalidated: () => undefined, wants: () => true } as unknown as NonNullable<ReplicationLog['tee']>;
    const r = store.set('ns', 'k', b('v'), {})!;
    log.set('ns', 'k', b('v'), r.version, r.expiresAt, 0, undefined);
    log.deleted('ns', 'gone');
    expect(seen).toEqual(['set k', 'del gone']);
    expect(log.offset).toBe(0);
  });
});
