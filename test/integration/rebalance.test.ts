import Redis from 'ioredis';
import { Op, Status } from '../../shared/protocol';
import { SLOT_COUNT } from '../../shared/slot';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys, MigrationRecordSchema, SlotMapSchema } from '../../shared/topology/schema';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { startProgram, type Started } from '../helpers/process';
import { electedOne, startShardNode, waitFor, type ShardNode } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';
import { lostWrites, startCheckedLoad } from '../helpers/checked-load';

jest.setTimeout(240_000);

let cluster: TestCluster;
let control: Started;
let spare: ShardNode[];
const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', cluster.etcd.endpoint, '--cluster', cluster.cluster]);

beforeAll(async () => {
  cluster = await startTestCluster({ shards: 3, perShard: 2, cluster: 'rebal' });
  spare = await Promise.all([0, 1].map(() => startShardNode(cluster.etcd.endpoint, cluster.cluster, 3)));
  await electedOne(spare);
  control = await startProgram('control-plane/main.js', ['--etcd', cluster.etcd.endpoint, '--cluster', cluster.cluster, '--admin-port', '0']);
  expect((await ctl('ns', 'set', 'acked', '--write-ack', 'replica')).code).toBe(0);
  expect((await ctl('ns', 'set', 'async')).code).toBe(0);
});

afterAll(async () => {
  await control?.stop();
  await Promise.all((spare ?? []).map((n) => n.close()));
  await cluster?.stop();
});

/** The slot map in etcd: slots per shard. */
async function slotsPerShard(): Promise<Map<number, number>> {
  const client = connectEtcd(cluster.etcd.endpoint);
  try {
    const map = SlotMapSchema.parse(JSON.parse((await client.get(clusterKeys(cluster.cluster).slotmap).string())!));
    const out = new Map<number, number>();
    for (const [a, b, s] of map.ranges) out.set(s, (out.get(s) ?? 0) + b - a + 1);
    return out;
  } finally {
    client.close();
  }
}

/** Every primary agrees with etcd on who owns a sample of slots: the owner serves, the others answer MOVED. */
async function ownersAgree(nodes: ShardNode[]): Promise<void> {
  for (const node of nodes) {
    const stats = await node.stats();
    if (stats.role !== 'primary') continue;
    const reply = await node.conn.request(Op.GET, 'acked', 'probe-key-that-nobody-wrote');
    expect([Status.MISS, Status.MOVED]).toContain(reply[1]);
  }
}

async function runUnderLoad(steps: () => Promise<void>): Promise<void> {
  const load = startCheckedLoad({ baseUrl: cluster.httpUrl, namespaces: ['acked', 'async'], writers: 40, keysPerWriter: 25 });
  await new Promise((r) => setTimeout(r, 1500));
  await steps();
  await new Promise((r) => setTimeout(r, 1000));
  const report = await load.stop();
  expect(report.writes).toBeGreaterThan(1000);
  expect(report.nonRetryable).toEqual([]);
  expect(report.staleReads).toEqual([]);
  expect(await lostWrites(cluster.httpUrl, report.acked)).toEqual([]);
}

const HASHES = 400;
const hashKey = (i: number): string => `session:${i}`;
const setKey = (i: number): string => `tags:${i}`;
const hashOf = (i: number): Record<string, string> => ({ user: `u${i}`, cart: `${i * 3}`, at: `t${i}` });
const membersOf = (i: number): string[] => [`a${i}`, 'shared', `b${i % 7}`];

/**
 * Over RESP, in namespace `coll`: hashes and sets written before `steps`, then SCAN loops run
 * while `steps` moves slots. Every scan must return each of those keys at least once (Redis's
 * SCAN guarantee for keys present the whole time), and afterwards every hash and set must be as
 * written wherever its slot went.
 */
async function withCollectionsAndScans(steps: () => Promise<void>): Promise<void> {
  const r = new Redis({ host: '127.0.0.1', port: cluster.respPort, password: 'coll', maxRetriesPerRequest: 3, lazyConnect: true });
  await r.connect();
  try {
    const write = r.pipeline();
    for (let i = 0; i < HASHES; i++) {
      write.hset(hashKey(i), hashOf(i));
      write.sadd(setKey(i), ...membersOf(i));
    }
    for (const [err] of (await write.exec())!) expect(err).toBeNull();
    const expected = new Set(Array.from({ length: HASHES }, (_, i) => [hashKey(i), setKey(i)]).flat());
    let moving = true;
    let scans = 0;
    const scanning = (async () => {
      while (moving) {
        const seen = new Set<string>();
        let cursor = '0';
        do {
          const [next, keys] = (await r.call('SCAN', cursor, 'COUNT', '50')) as [string, string[]];
          for (const key of keys) seen.add(key);
          cursor = next;
        } while (cursor !== '0');
        const missed = [...expected].filter((k) => !seen.has(k));
        expect(missed).toEqual([]);
        scans++;
      }
    })();
    try {
      await steps();
    } finally {
      moving = false;
      await scanning;
    }
    expect(scans).toBeGreaterThan(0);
    const read = r.pipeline();
    for (let i = 0; i < HASHES; i++) {
      read.hgetall(hashKey(i));
      read.smembers(setKey(i));
      read.type(setKey(i));
    }
    const replies = (await read.exec())!;
    for (let i = 0; i < HASHES; i++) {
      const [[e1, hash], [e2, members], [e3, type]] = replies.slice(3 * i, 3 * i + 3);
      expect([e1, e2, e3]).toEqual([null, null, null]);
      expect(hash).toEqual(hashOf(i));
      expect((members as string[]).sort()).toEqual(membersOf(i).sort());
      expect(type).toBe('set');
    }
    expect(await r.dbsize()).toBe(2 * HASHES);
  } finally {
    r.disconnect();
  }
}

test('3 -> 4 shards under a 40-writer load: a quarter of the slots move, nothing is lost or stale; hashes and sets move whole, and SCAN misses no key meanwhile', async () => {
  await runUnderLoad(() => withCollectionsAndScans(async () => {
    const add = await ctl('shard', 'add', '3');
    expect(add.code).toBe(0);
    const rebalance = await ctl('rebalance', '--max-bytes-per-sec', '0', '--timeout', '120');
    expect(rebalance.stderr).toBe("");
    expect(rebalance.code).toBe(0);
  }));
  const counts = await slotsPerShard();
  // Fewer keys than slots: the plan balances slot counts, so exactly a quarter moves.
  for (const s of [0, 1, 2, 3]) expect(Math.abs((counts.get(s) ?? 0) - SLOT_COUNT / 4)).toBeLessThanOrEqual(1);
  const list = await ctl('migrations', '--json');
  const rows = JSON.parse(list.stdout) as Array<{ state: string; keys: number }>;
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.every((r) => r.state === 'committed')).toBe(true);
  await ownersAgree([...cluster.nodes.flat(), ...spare]);
});

test('4 -> 3 with shard remove: every slot leaves shard 1, nothing is lost or stale', async () => {
  await runUnderLoad(async () => {
    const remove = await ctl('shard', 'remove', '1', '--max-bytes-per-sec', '0', '--timeout', '120');
    expect(remove.stderr).toBe('');
    expect(remove.code).toBe(0);
  });
  const counts = await slotsPerShard();
  expect(counts.get(1) ?? 0).toBe(0);
  const client = connectEtcd(cluster.etcd.endpoint);
  try {
    const config = JSON.parse((await client.get(clusterKeys(cluster.cluster).config).string())!);
    expect(config.retiredShards).toEqual([1]);
    const records = (await client.getAll().prefix(clusterKeys(cluster.cluster).migrationsPrefix).strings());
    for (const text of Object.values(records)) expect(MigrationRecordSchema.parse(JSON.parse(text)).state).toBe('committed');
  } finally {
    client.close();
  }
  // The drained shard's primary answers MOVED for every key now.
  const [primary] = await electedOne(cluster.nodes[1]);
  const moved = await primary.conn.request(Op.GET, 'acked', 'w0-k0');
  expect(moved[1]).toBe(Status.MOVED);
});
