import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { createLogger } from '../../shared/log';
import { Op, Status } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import type { SlotMap } from '../../shared/topology/schema';
import type { Committer } from '../../storage-node/migration/commit';
import { NodeMigration } from '../../storage-node/migration/node-migration';
import { SlotOwnership } from '../../storage-node/migration/ownership';
import type { ReplicationLog } from '../../storage-node/replication/log';
import { makeStore } from '../unit/store-helpers';

/**
 * MIGRATE_END at a target whose etcd watch lags behind the cut-overs. A cut-over commits at the
 * source; the target hears of it through its watch. Ended on its own lagging slot map, the import
 * dropped the slots just committed to this shard (fenced, complete) as "not ours", and the late
 * map then found them empty: keys lost. The import now ends on the slot map etcd holds (read at
 * MIGRATE_END): committed slots stay, slots fenced but never committed go, and while etcd does not
 * answer the node says BUSY and drops nothing. The source is a real TCP server that answers the
 * pull, sends the entries, the end of the snapshot and the fence, and keeps the stream open.
 * Also: the background drop of slots a node gave away never deletes what an import of those slots
 * brings back.
 */
const log = createLogger('test', 'silent');
const NS = 'bulk';
const KEYS = Array.from({ length: 400 }, (_, i) => `k${i}`);
/** This node's shard takes slots 0-8191 from shard 1. */
const ME = 0;
const OLD_MAP: SlotMap = { epoch: 1, ranges: [[0, 8191, 1], [8192, 16383, 0]] };
const NEW_MAP: SlotMap = { epoch: 2, ranges: [[0, 16383, 0]] };
const moved = KEYS.filter((k) => slotOf(NS, k) <= 8191);

let server: net.Server;
let port: number;
const sockets = new Set<net.Socket>();
/** The target acknowledged the fence (it applies a fence only after the entries before it). */
let fenceAcked = false;

beforeAll(async () => {
  server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let pulled = false;
    // After the pull, the target acknowledges what it applied: [0, MIGRATE_ACK, applied, fenceApplied].
    const decoder = new FrameDecoder((m) => {
      if (m[1] === Op.MIGRATE_ACK && typeof m[3] === 'number' && m[3] >= 1) fenceAcked = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (pulled) return decoder.push(chunk);
      pulled = true;
      socket.write(encodeFrame([1, Status.OK]));
      for (const k of moved) socket.write(encodeFrame([0, Op.REPL_SET, NS, k, Buffer.from(`v-${k}`), 1, 0, 0, null]));
      socket.write(encodeFrame([0, Op.MIGRATE_SNAPSHOT_END]));
      socket.write(encodeFrame([0, Op.MIGRATE_FENCE, 1, [[0, 8191]]]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => server.close(resolve));
});

/** A target primary on OLD_MAP that imported and fenced slots 0-8191; `etcd` is what its slot-map read finds. */
async function fencedImport(etcd: () => Promise<SlotMap | null>): Promise<{ migration: NodeMigration; present: () => number }> {
  const { store } = makeStore({ maxMemoryBytes: 8 * 1024 * 1024 });
  const ownership = new SlotOwnership(ME);
  const replication = { offset: 0, tee: null, changed: () => undefined, removed: () => undefined } as unknown as ReplicationLog;
  const committer: Committer = { commit: () => Promise.reject(new Error('not used')), readSlotMap: etcd };
  fenceAcked = false;
  const migration = new NodeMigration(store, ownership, { check: () => undefined }, replication, committer, {
    nodeId: 'target', access: { secret: '' }, maxFrameBytes: 64 * 1024, replicatedTo: () => true, replicaLagBytes: () => 0,
  }, log);
  // Its first map: slots 0-8191 were never this shard's, so they start a background drop, which
  // the import takes over (it clears them itself) and must not delete what it copies.
  migration.applySlotMap(OLD_MAP);
  const started = await migration.handle([1, Op.MIGRATE_START, 0, 'm1', [[0, 8191]], `127.0.0.1:${port}`, 0]);
  expect(started).toEqual([1, Status.OK, 'started']);
  const present = (): number => moved.filter((k) => store.get(NS, k) !== undefined).length;
  for (const end = Date.now() + 5000; !fenceAcked && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
  expect(fenceAcked).toBe(true);
  expect(present()).toBe(moved.length);
  return { migration, present };
}

test('slots committed to this shard while its watch lags survive MIGRATE_END', async () => {
  expect(moved.length).toBeGreaterThan(100);
  const { migration, present } = await fencedImport(async () => NEW_MAP);
  expect(await migration.handle([3, Op.MIGRATE_END, 0, 'm1'])).toEqual([3, Status.OK]);
  expect(present()).toBe(moved.length);
  expect(migration.ownership.epoch).toBe(NEW_MAP.epoch);
  migration.close();
});

test('slots fenced but never committed are dropped at MIGRATE_END', async () => {
  const { migration, present } = await fencedImport(async () => OLD_MAP);
  expect(await migration.handle([3, Op.MIGRATE_END, 0, 'm1'])).toEqual([3, Status.OK]);
  expect(present()).toBe(0);
  migration.close();
});

test('while etcd does not answer, MIGRATE_END is BUSY and drops nothing', async () => {
  let down = true;
  const { migration, present } = await fencedImport(() => (down ? Promise.reject(new Error('etcd unavailable')) : Promise.resolve(NEW_MAP)));
  const busy = await migration.handle([3, Op.MIGRATE_END, 0, 'm1']);
  expect(busy.slice(0, 2)).toEqual([3, Status.BUSY]);
  expect(present()).toBe(moved.length);
  down = false;
  expect(await migration.handle([4, Op.MIGRATE_END, 0, 'm1'])).toEqual([4, Status.OK]);
  expect(present()).toBe(moved.length);
  migration.close();
});
