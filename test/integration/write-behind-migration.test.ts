import { Op } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import { httpCall, startTestCluster, type TestCluster } from '../helpers/cluster';
import { setPolicy } from '../helpers/origin';
import { startProgram, type Started } from '../helpers/process';
import { electedOne, waitFor } from '../helpers/shard-nodes';
import { shardctlInProcess } from '../helpers/shardctl';
import { TestStore } from '../helpers/store-server';

jest.setTimeout(120_000);

/**
 * Write-behind across a slot migration (issue 17, part 5): keys written while the store is down,
 * then moved to another shard and written again there; once the store is back, it ends with every
 * key's latest value, and no key's versions went back.
 */
describe('write-behind and slot migration', () => {
  let c: TestCluster;
  let store: TestStore;
  let control: Started;
  const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', c.etcd.endpoint, '--cluster', c.cluster]);
  const put = (key: string, value: string) => c.call('PUT', `/v1/cache/wbm/${encodeURIComponent(key)}`, { value });

  beforeAll(async () => {
    store = await TestStore.start({ bulk: false });
    c = await startTestCluster({ shards: 2, perShard: 1, cluster: 'wbm' });
    control = await startProgram('control-plane/main.js', ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, '--admin-port', '0']);
    await setPolicy(c.etcd.endpoint, c.cluster, 'wbm', ['--write-policy', 'write-behind', '--store', store.template, '--write-behind-delay-ms', '50', '--store-timeout-ms', '300'], [c.adminUrl], (p) => p.writePolicy === 'write-behind');
    await waitFor('the control plane to drive migrations', async () => (await httpCall(`http://127.0.0.1:${control.ready.adminPort as number}`, 'GET', '/v1/migrations')).json?.driver?.leader === true, 10_000, 50);
  });

  afterAll(async () => {
    await control?.stop();
    await c?.stop();
    await store?.close();
  });

  test('a moved key\'s queued write still reaches the store, and the new owner\'s later write wins', async () => {
    const keys = Array.from({ length: 400 }, (_, i) => `m${i}`).filter((k) => slotOf('wbm', k) <= 4095).slice(0, 40);
    await store.down();
    for (const key of keys) expect([200, 201]).toContain((await put(key, `before-${key}`)).status);
    const moved = await ctl('migrate', '0-4095', '--to', '1', '--max-bytes-per-sec', '0', '--timeout', '60');
    expect([moved.code, moved.stderr]).toEqual([0, '']);
    // Half the keys are written again on their new owner while the old one still holds their first write.
    for (const key of keys.slice(0, 20)) expect([200, 201]).toContain((await put(key, `after-${key}`)).status);
    await store.up();
    const primaries = await Promise.all(c.nodes.map((group) => electedOne(group)));
    await waitFor('every queue to drain', async () => {
      for (const [node] of primaries) {
        const figures = (await node.conn.request(Op.WRITE_POLICY_STATUS, 'wbm'))[2] as Array<{ depth: number }>;
        if (figures.some((f) => f.depth > 0)) return false;
      }
      return true;
    }, 20_000, 50);
    for (const [i, key] of keys.entries()) {
      const want = i < 20 ? `after-${key}` : `before-${key}`;
      expect(store.value(key)?.toString()).toBe(JSON.stringify(want));
      expect((await c.call('GET', `/v1/cache/wbm/${key}`)).json).toMatchObject({ hit: true, value: want });
      const accepted = store.callsOf(key).filter((call) => call.status < 300);
      expect(accepted.every((call, j) => j === 0 || call.version >= accepted[j - 1].version)).toBe(true);
    }
  });
});
