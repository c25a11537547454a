import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { TopologyWatcher } from '../../shared/topology/watcher';
import { TestEtcd } from '../helpers/etcd';
import { TcpRelay } from '../helpers/tcp-proxy';

const CLUSTER = 'watch-test';
const keys = clusterKeys(CLUSTER);
let etcd: TestEtcd;
let admin: Etcd3;

beforeAll(async () => {
  etcd = await TestEtcd.start();
  admin = connectEtcd(etcd.endpoint);
  await admin.put(keys.config).value(JSON.stringify({ slots: 16384, shards: 2, replicas: 1, leaseTtlSeconds: 3, createdAt: 1 }));
  await admin.put(keys.slotmap).value(JSON.stringify(evenSlotMap(2)));
});

afterAll(async () => {
  admin?.close();
  await etcd?.stop();
});

async function withWatcher(endpoint: string, body: (w: TopologyWatcher) => Promise<void>): Promise<void> {
  const client = connectEtcd(endpoint);
  const watcher = new TopologyWatcher({ client, cluster: CLUSTER, minBackoffMs: 50, maxBackoffMs: 200 });
  try {
    await watcher.start();
    await body(watcher);
  } finally {
    await watcher.close();
    client.close();
  }
}

describe('TopologyWatcher against a real etcd', () => {
  test('replication offsets do not rebuild the snapshot; the next topology change does', async () => {
    await withWatcher(etcd.endpoint, async (w) => {
      const revisions: number[] = [];
      w.on('change', (s: { revision: number }) => revisions.push(s.revision));
      try {
        await admin.put(keys.offsets(0, 'n1')).value(JSON.stringify({ role: 'replica', replId: 'x', offset: 1, at: 1 }));
        const policy = await admin.put(keys.namespace('offsets-test')).value(JSON.stringify({ defaultTtlSeconds: 5 }));
        await w.waitFor((s) => s.namespaces.has('offsets-test'), 5000);
        expect(revisions).toEqual([Number(policy.header.revision)]); // the offsets' put, one revision earlier, made none
      } finally {
        await admin.delete().key(keys.offsets(0, 'n1'));
        await admin.delete().key(keys.namespace('offsets-test'));
      }
    });
  });

  test('loads the prefix, then follows puts and deletes with change events', async () => {
    await withWatcher(etcd.endpoint, async (w) => {
      expect(w.snapshot.config?.shards).toBe(2);
      expect(w.snapshot.slotShard[0]).toBe(0);
      expect(w.snapshot.slotShard[16383]).toBe(1);
      const changed = new Promise((resolve) => w.once('change', resolve));
      await admin.put(keys.node('n1')).value(JSON.stringify({ addr: '127.0.0.1:7001', shardId: 1, zone: 'a' }));
      await changed;
      expect(w.snapshot.nodes.get('n1')?.addr).toBe('127.0.0.1:7001');
      expect(w.snapshot.shards.get(1)?.replicas).toEqual(['n1']);
      await admin.put(keys.primary(1)).value(JSON.stringify({ nodeId: 'n1', addr: '127.0.0.1:7001' }));
      const s = await w.waitFor((snap) => snap.shards.get(1)?.primary !== undefined, 5000);
      const created = await admin.get(keys.primary(1)).exec();
      expect(s.shards.get(1)?.primary?.epoch).toBe(Number(created.kvs[0].create_revision));
      expect(s.shards.get(1)?.replicas).toEqual([]);
      await admin.delete().key(keys.node('n1'));
      await w.waitFor((snap) => !snap.nodes.has('n1'), 5000);
      await admin.delete().key(keys.primary(1));
    });
  });

  test('an invalid record is reported and skipped, never used', async () => {
    await admin.put(keys.namespace('broken')).value('{"eviction":"fifo"}');
    await withWatcher(etcd.endpoint, async (w) => {
      expect(w.snapshot.namespaces.has('broken')).toBe(false);
      expect(w.snapshot.invalid.map((i) => i.key)).toContain(keys.namespace('broken'));
    });
    await admin.delete().key(keys.namespace('broken'));
  });

  test('converges after etcd is restarted', async () => {
    await withWatcher(etcd.endpoint, async (w) => {
      await etcd.restart(300);
      await admin.put(keys.namespace('after-restart')).value(JSON.stringify({ defaultTtlSeconds: 30 }));
      const s = await w.waitFor((snap) => snap.namespaces.has('after-restart'), 15000);
      expect(s.namespaces.get('after-restart')?.defaultTtlSeconds).toBe(30);
    });
  });

  test('reloads in full when the revision it would resume from was compacted', async () => {
    const relay = await TcpRelay.start(etcd.clientPort);
    try {
      await withWatcher(`127.0.0.1:${relay.port}`, async (w) => {
        const loadsBefore = w.loads;
        relay.cut();
        for (let i = 0; i < 5; i++) await admin.put(keys.namespace(`c${i}`)).value(JSON.stringify({ quotaBytes: 1000 + i }));
        await admin.delete().key(keys.namespace('c0'));
        const latest = await admin.get(keys.config).exec();
        await admin.put(keys.namespace('c9')).value('{}');
        await (admin as unknown as { kv: { compact(req: { revision: string; physical: boolean }): Promise<unknown> } }).kv.compact({
          revision: String(Number(latest.header.revision) + 1), physical: true,
        });
        relay.restore();
        const s = await w.waitFor((snap) => snap.namespaces.has('c9') && snap.namespaces.has('c4') && !snap.namespaces.has('c0'), 20000);
        expect(s.namespaces.get('c4')?.quotaBytes).toBe(1004);
        expect(w.loads).toBeGreaterThan(loadsBefore);
      });
    } finally {
      await relay.close();
    }
  });
});
