import { CollCmd } from '../../shared/collections';
import { Op, Status } from '../../shared/protocol';
import { electedOne, waitFor, type ShardNode, shardNodeSuite } from '../helpers/shard-nodes';

/**
 * Hashes and sets on real node processes (a primary and a replica of one shard, real etcd):
 * every write command reaches the replica, by the stream and by a full sync taken while writes
 * go on, and the replica's contents (type, elements, expiry, accounted bytes) equal the primary's. A
 * promoted replica serves them, and takes writes, after its primary is killed.
 */
jest.setTimeout(60_000);

const suite = shardNodeSuite();
const NS = 'coll';
const KEYS = 300;

const arg = (s: string | number): Buffer => Buffer.from(String(s));
const write = (n: ShardNode, epoch: number, key: string, cmd: number, ...args: (string | number)[]) =>
  n.conn.request(Op.COLL_WRITE, epoch, NS, key, cmd, args.map(arg), 0);
const read = (n: ShardNode, key: string, cmd: number, ...args: (string | number)[]) => n.conn.request(Op.COLL, NS, key, cmd, args.map(arg));

/** One round of every write command on key `i`'s hash and set (a mix that adds, replaces, removes and empties). */
function round(n: ShardNode, epoch: number, i: number, r: number): Promise<unknown[]>[] {
  const h = `h:${i}`;
  const s = `s:${i}`;
  const out = [
    write(n, epoch, h, CollCmd.HSET, 'name', `n${i}-${r}`, `f${r % 5}`, r),
    write(n, epoch, h, CollCmd.HSETNX, 'created', r),
    write(n, epoch, h, CollCmd.HINCRBY, 'hits', 1),
    write(n, epoch, h, CollCmd.HINCRBYFLOAT, 'score', '0.5'),
    write(n, epoch, h, CollCmd.HDEL, `f${(r + 2) % 5}`),
    write(n, epoch, s, CollCmd.SADD, `m${r % 9}`, `m${(r * 7) % 11}`, 'always'),
    write(n, epoch, s, CollCmd.SREM, `m${(r + 4) % 9}`),
  ];
  if (r % 4 === 3) out.push(write(n, epoch, s, CollCmd.SPOP, 2));
  // Large ones (indexed past 128 elements): their writes reach the replica as changes (REPL_COLL).
  out.push(write(n, epoch, `big:${i % 3}`, CollCmd.SADD, `m${r}-${i}`), write(n, epoch, `bighash:${i % 3}`, CollCmd.HSET, `f${i}`, `v${r}`.repeat(1 + (i % 40))));
  if (i % 7 === 0) out.push(write(n, epoch, `big:${i % 3}`, CollCmd.SREM, `m${r - 1}-${i}`), write(n, epoch, `bighash:${i % 3}`, CollCmd.HDEL, `f${i + 1}`));
  if (i % 10 === 0 && r % 3 === 2) out.push(n.conn.request(Op.EXPIRE, epoch, NS, h, 600_000));
  if (i % 25 === 0 && r % 5 === 4) out.push(write(n, epoch, `gone:${i}`, CollCmd.SADD, 'x'), write(n, epoch, `gone:${i}`, CollCmd.SPOP)); // made, then emptied
  return out;
}

/** What a node holds for every key: [key, type, elements (sorted), expiry, accounted bytes]. */
async function contents(n: ShardNode): Promise<unknown[]> {
  const out: unknown[] = [];
  for (let i = 0; i < KEYS; i++) {
    for (const key of [`h:${i}`, `s:${i}`, `gone:${i}`, ...(i < 3 ? [`big:${i}`, `bighash:${i}`] : [])]) {
      const [type, all, ttl, bytes] = await Promise.all([
        n.conn.request(Op.TYPE, NS, key),
        read(n, key, key.startsWith('h') || key.startsWith('bighash') ? CollCmd.HGETALL : CollCmd.SMEMBERS),
        n.conn.request(Op.TTL, NS, key),
        n.conn.request(Op.MEMORY_USAGE, NS, key),
      ]);
      expect([type[1], all[1], ttl[1]]).toEqual([Status.OK, Status.OK, Status.OK]);
      const elements = (all[2] as Buffer[]).map((b) => Buffer.from(b).toString());
      const hash = key.startsWith('h') || key.startsWith('bighash');
      out.push([key, type[2], hash ? pairs(elements) : elements.sort(), (ttl[2] as number) > 0 ? 'expiring' : ttl[2], bytes[2] ?? null]);
    }
  }
  return out;
}

const pairs = (flat: string[]): string[] => {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}=${flat[i + 1]}`);
  return out.sort();
};

async function caughtUp(primary: ShardNode, replica: ShardNode): Promise<void> {
  await waitFor('the replica to reach the primary offset', async () => {
    const [p, r] = await Promise.all([primary.stats(), replica.stats()]);
    return r.replication.state === 'streaming' && r.replication.offset === p.replication.offset;
  }, 20_000, 50);
}

test('every hash and set write reaches the replica, by full sync under writes and by the stream; the promoted replica serves and takes them', async () => {
  const [primary] = await suite.start('coll-repl', 1);
  const [, , epoch] = await electedOne([primary]);
  for (let r = 0; r < 3; r++) {
    const batch: Promise<unknown[]>[] = [];
    for (let i = 0; i < KEYS; i++) batch.push(...round(primary, epoch, i, r));
    for (const reply of await Promise.all(batch)) expect(reply[1]).toBe(Status.OK);
  }
  const [replica] = await suite.start('coll-repl', 1);
  // Writes go on while the replica's full sync streams.
  let r = 3;
  await waitFor('the replica to finish its full sync while writes go on', async () => {
    const batch: Promise<unknown[]>[] = [];
    for (let i = 0; i < KEYS; i += 3) batch.push(...round(primary, epoch, i, r));
    r++;
    for (const reply of await Promise.all(batch)) expect(reply[1]).toBe(Status.OK);
    const s = await replica.stats();
    return s.replication.syncs.full === 1 && s.replication.state === 'streaming';
  }, 20_000, 0);
  // Then the stream alone.
  for (let k = 0; k < 3; k++, r++) {
    const batch: Promise<unknown[]>[] = [];
    for (let i = 0; i < KEYS; i++) batch.push(...round(primary, epoch, i, r));
    await Promise.all(batch);
  }
  await caughtUp(primary, replica);
  const before = await contents(primary);
  expect(before.filter((row) => (row as unknown[])[1] === 'hash')).toHaveLength(KEYS + 3);
  for (const key of ['big:0', 'bighash:0']) expect((await primary.conn.request(Op.OBJECT, NS, key))[2]).toBe('hashtable');
  expect(await contents(replica)).toEqual(before);

  // The primary dies; the replica takes over with the same contents and takes writes.
  primary.proc.child.kill('SIGKILL');
  await suite.close(primary).catch(() => undefined);
  const [promoted, , newEpoch] = await electedOne([replica], 15_000);
  expect(newEpoch).toBeGreaterThan(epoch);
  expect(await contents(promoted)).toEqual(before);
  const added = await write(promoted, newEpoch, 'h:1', CollCmd.HSET, 'after', 'failover');
  expect(added.slice(1, 3)).toEqual([Status.OK, 1]);
  expect(Buffer.from((await read(promoted, 'h:1', CollCmd.HGET, 'after'))[2] as Buffer).toString()).toBe('failover');
  await suite.close(replica);
});
