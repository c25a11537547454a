import { NodeConnection } from '../../shared/node-connection';
import { Op, Status } from '../../shared/protocol';
import { electedOne, waitFor, type ShardNode, shardNodeSuite } from '../helpers/shard-nodes';

/**
 * A replica's full resync loads into a store of its own: readers of the replica see the old data
 * (marked stale) until the new one is complete, never a partial or empty store; a full sync cut
 * off half-way leaves the old data in place.
 */
const suite = shardNodeSuite();
const close = (node: ShardNode): Promise<unknown> => suite.close(node).catch(() => undefined);

const NS = 'data';
const keysOf = (n: number, prefix = 'k'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const padded = (tag: string, i: number): string => `${tag}:${i}:`.padEnd(160, 'x');

/** Writes every key (pipelined in batches) with `padded(tag, i)`. */
async function writeAll(node: ShardNode, epoch: number, keys: string[], tag: string): Promise<void> {
  for (let from = 0; from < keys.length; from += 5000) {
    const batch = keys.slice(from, from + 5000).map((k, j) => node.conn.request(Op.SET, epoch, NS, k, Buffer.from(padded(tag, from + j)), 0, 0, 0, 0, null));
    for (const reply of await Promise.all(batch)) expect(reply[1]).toBe(Status.OK);
  }
}

/** What a reader of `keys` on `conn` saw: MGET replies, misses, replies marked stale, values by tag. */
interface ReadTally {
  replies: number;
  misses: number;
  staleReplies: number;
  tags: Set<string>;
}

/** Reads all of `keys` once with MGETs of 500 and adds what it saw to `tally`. */
async function readAll(conn: NodeConnection, keys: string[], tally: ReadTally): Promise<void> {
  const chunks: Promise<unknown[]>[] = [];
  for (let i = 0; i < keys.length; i += 500) chunks.push(conn.request(Op.MGET, NS, keys.slice(i, i + 500)));
  for (const reply of await Promise.all(chunks)) {
    expect(reply[1]).toBe(Status.OK);
    tally.replies++;
    if (reply[3] === true) tally.staleReplies++;
    for (const entry of reply[2] as Array<unknown[] | null>) {
      if (entry === null) tally.misses++;
      else tally.tags.add(Buffer.from(entry[0] as Buffer).toString().split(':')[0]);
    }
  }
}

const newTally = (): ReadTally => ({ replies: 0, misses: 0, staleReplies: 0, tags: new Set() });

/** Freezes `replica` until `primary` drops it, then overwrites every key: the backlog no longer holds the replica's offset. */
async function pushPastBacklog(primary: ShardNode, replica: ShardNode, epoch: number, keys: string[]): Promise<void> {
  replica.proc.child.kill('SIGSTOP');
  await waitFor('the primary to drop the frozen replica', async () => (await primary.stats()).replication.replicas.length === 0, 10_000, 50);
  await writeAll(primary, epoch, keys, 'new');
}

async function caughtUp(primary: ShardNode, replica: ShardNode): Promise<boolean> {
  const [p, r] = await Promise.all([primary.stats(), replica.stats()]);
  return r.replication.state === 'streaming' && r.replication.offset === p.replication.offset;
}

test('a replica past the backlog takes a full resync under writes; its reader never misses a key that exists', async () => {
  // The backlog holds the writes made during the snapshot, not those made while the replica was away.
  const nodes = await suite.start('resync', 2, ['--repl-backlog', '4mb', '--repl-timeout-ms', '400']);
  const [primary, [replica], epoch] = await electedOne(nodes);
  const keys = keysOf(60_000);
  await writeAll(primary, epoch, keys, 'old');
  await waitFor('the replica to catch up', () => caughtUp(primary, replica), 30_000, 50);
  const fullBefore = (await replica.stats()).replication.syncs.full as number;
  await pushPastBacklog(primary, replica, epoch, keys);
  // Writes go on during the resync: the same keys again and others beside them.
  let running = true;
  const writer = (async () => {
    for (let round = 0; running; round++) {
      const from = (round * 100) % keys.length;
      const batch = keys.slice(from, from + 100).map((k) => primary.conn.request(Op.SET, epoch, NS, k, Buffer.from(padded('later', round)), 0, 0, 0, 0, null));
      batch.push(primary.conn.request(Op.SET, epoch, NS, `extra${round}`, Buffer.from('e'), 0, 0, 0, 0, null));
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const reader = await NodeConnection.connect(replica.port);
  const tally = newTally();
  const reading = (async () => {
    for (let round = 0; running; round++) {
      const from = (round * 2000) % keys.length;
      await readAll(reader, keys.slice(from, from + 2000), tally);
    }
  })();
  replica.proc.child.kill('SIGCONT');
  await waitFor('the full resync to finish', async () => {
    const s = await replica.stats();
    return s.replication.syncs.full === fullBefore + 1 && s.replication.state === 'streaming';
  }, 60_000, 20);
  const afterSync = newTally();
  await readAll(reader, keys, afterSync);
  running = false;
  await Promise.all([writer, reading]);
  expect(tally.staleReplies).toBeGreaterThan(0); // reads were answered during the resync...
  expect(tally.misses).toBe(0); // ...and never from an empty or partial store
  expect(afterSync.misses).toBe(0);
  expect(afterSync.staleReplies).toBe(0);
  expect(afterSync.tags.has('old')).toBe(false); // the resynced data replaced the old at once
  await waitFor('the replica to catch up after the resync', () => caughtUp(primary, replica), 30_000, 50);
  expect((await replica.stats()).items).toBe((await primary.stats()).items);
  await reader.close();
  await Promise.all(nodes.map(close));
}, 120_000);

test('a full resync cut off half-way leaves the old data, marked stale while the sync was running', async () => {
  const nodes = await suite.start('cutoff', 2, ['--repl-backlog', '1mb', '--repl-timeout-ms', '400']);
  const [primary, [replica], epoch] = await electedOne(nodes);
  const keys = keysOf(100_000);
  await writeAll(primary, epoch, keys, 'old');
  await waitFor('the replica to catch up', () => caughtUp(primary, replica), 60_000, 50);
  await pushPastBacklog(primary, replica, epoch, keys);
  replica.proc.child.kill('SIGCONT');
  // Stop the primary in the middle of the snapshot: the sync stalls half-way.
  await waitFor('the replica to start its full resync', async () => (await replica.stats()).replication.state === 'full-sync', 30_000, 2);
  primary.proc.child.kill('SIGSTOP');
  const during = newTally();
  await readAll(replica.conn, keys.slice(0, 5000), during);
  expect(during.misses).toBe(0);
  expect(during.staleReplies).toBe(during.replies); // answered from the old data, and saying so
  expect([...during.tags]).toEqual(['old']);
  expect((await replica.stats()).items).toBe(keys.length); // the old store is the one served
  // The primary dies: the half-loaded data is dropped, the old data stays (and the replica takes over).
  primary.proc.child.kill('SIGKILL');
  await primary.conn.close().catch(() => undefined);
  await waitFor('the replica to give up the sync', async () => (await replica.stats()).replication.state !== 'full-sync', 15_000, 20);
  const after = newTally();
  await readAll(replica.conn, keys, after);
  expect(after.misses).toBe(0);
  expect([...after.tags]).toEqual(['old']);
  expect((await replica.stats()).items).toBe(keys.length);
  await Promise.all(nodes.map(close));
}, 120_000);
