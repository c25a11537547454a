import { clusterKeys, evenSlotMap } from '../../shared/topology/schema';
import { buildSnapshot, type TopologyKv } from '../../shared/topology/snapshot';
import { health } from '../../control-plane/service/admin';
import { escapeHtml, renderStatusPage } from '../../control-plane/service/page';
import { topologyChanges } from '../../control-plane/status/changes';
import { replicationOf, statusDocument } from '../../control-plane/status/document';
import { renderTable } from '../../control-plane/status/table';
import { formatLag, formatSlots, renderStatus } from '../../control-plane/status/text';

const keys = clusterKeys('test');
let revision = 1;
const kv = (key: string, value: unknown, createRevision = ++revision): TopologyKv => ({ key, value: JSON.stringify(value), createRevision, modRevision: createRevision });
const config = (shards: number, replicas: number) => kv(keys.config, { slots: 16384, shards, replicas, leaseTtlSeconds: 3, createdAt: 1 });
const node = (id: string, shardId: number, port: number) => kv(keys.node(id), { addr: `127.0.0.1:${port}`, shardId, zone: 'z' });
const primary = (shardId: number, id: string, port: number, epoch: number) => kv(keys.primary(shardId), { nodeId: id, addr: `127.0.0.1:${port}` }, epoch);

/** Two shards: shard 0 with a primary and a replica, shard 1 with a primary only. */
function twoShards(extra: TopologyKv[] = []) {
  return buildSnapshot(keys, [
    config(2, 1), kv(keys.slotmap, evenSlotMap(2)),
    node('a', 0, 7000), node('b', 0, 7001), node('c', 1, 7002),
    primary(0, 'a', 7000, 10), primary(1, 'c', 7002, 11), ...extra,
  ], 20);
}

describe('status document', () => {
  test('shards carry slot ranges, primary with epoch, live replicas and health', () => {
    const doc = statusDocument('test', twoShards());
    expect(doc).toMatchObject({ cluster: 'test', revision: 20, initialised: true, config: { shards: 2, replicas: 1, leaseTtlSeconds: 3, slotMapEpoch: 1 } });
    expect(doc.shards[0]).toEqual({
      shardId: 0, slots: [[0, 8191]], primary: { nodeId: 'a', addr: '127.0.0.1:7000', epoch: 10 },
      replicas: [{ nodeId: 'b', addr: '127.0.0.1:7001' }], healthy: true, problems: [], resignEpoch: null,
    });
    expect(doc.shards[1]).toMatchObject({ shardId: 1, slots: [[8192, 16383]], healthy: false, problems: ['0 of 1 replicas live'] });
    expect(doc.nodes.map((n) => [n.nodeId, n.role, n.live])).toEqual([['a', 'primary', true], ['b', 'replica', true], ['c', 'primary', true]]);
  });

  test('a node without a live lease is listed but neither a replica nor a live primary', () => {
    const doc = statusDocument('test', twoShards(), (id) => id !== 'b' && id !== 'c');
    expect(doc.shards[0]).toMatchObject({ replicas: [], healthy: false, problems: ['0 of 1 replicas live'] });
    expect(doc.shards[1].problems).toEqual(['primary c is not registered under a live lease', '0 of 1 replicas live']);
    expect(doc.nodes.find((n) => n.nodeId === 'b')?.live).toBe(false);
  });

  test('no primary, a pending resign request, and an uninitialised cluster', () => {
    const snap = buildSnapshot(keys, [config(1, 0), kv(keys.slotmap, evenSlotMap(1)), kv(keys.resign(0), { epoch: 4, requestedAt: 1 })], 9);
    expect(statusDocument('test', snap).shards).toEqual([{ shardId: 0, slots: [[0, 16383]], primary: null, replicas: [], healthy: false, problems: ['no primary'], resignEpoch: 4 }]);
    const empty = statusDocument('test', buildSnapshot(keys, [], 3));
    expect(empty).toEqual({ cluster: 'test', revision: 3, initialised: false, config: null, shards: [], nodes: [], regions: { region: null, peers: [] } });
    expect(renderStatus(empty)).toBe('cluster test: not initialised (revision 3)');
  });

  test('text rendering: shard table, node table and one line per unhealthy shard', () => {
    const text = renderStatus(statusDocument('test', twoShards()));
    expect(text).toContain('cluster test  revision 20  shards 2  replicas 1  lease ttl 3s  slot map epoch 1');
    expect(text).toMatch(/^0 +0-8191 +a +127\.0\.0\.1:7000 +10 +b@127\.0\.0\.1:7001 +ok$/m);
    expect(text).toMatch(/^1 +8192-16383 +c .* UNHEALTHY$/m);
    expect(text).toMatch(/^b +127\.0\.0\.1:7001 +- +0 +z +replica +yes +-$/m);
    expect(text.trimEnd().split('\n').at(-1)).toBe('shard 1 unhealthy: 0 of 1 replicas live');
  });

  test('table and slot formatting', () => {
    expect(renderTable(['A', 'LONG'], [['xyz', '1'], ['q', '22']])).toBe('A    LONG\nxyz  1\nq    22');
    expect(formatSlots([[0, 10], [12, 12]])).toBe('0-10,12');
    expect(formatSlots([])).toBe('-');
  });
});

describe('topology changes', () => {
  test('reports new primaries with epochs, health transitions and membership', () => {
    const before = statusDocument('test', twoShards());
    const after = statusDocument('test', buildSnapshot(keys, [
      config(2, 1), kv(keys.slotmap, evenSlotMap(2)), node('b', 0, 7001), node('c', 1, 7002), node('d', 1, 7003),
      primary(0, 'b', 7001, 30), primary(1, 'c', 7002, 11),
    ], 31));
    const changes = topologyChanges(before, after);
    expect(changes.map((c) => c.message)).toEqual([
      'shard 0 primary is b', 'shard 0 unhealthy', 'shard 1 healthy again', 'node d joined', 'node a left',
    ]);
    expect(changes[0]).toEqual({ event: 'primary-changed', message: 'shard 0 primary is b', fields: { shardId: 0, nodeId: 'b', epoch: 30, previous: 'a' } });
    expect(topologyChanges(after, after)).toEqual([]);
    expect(topologyChanges(undefined, before)[0].event).toBe('initialised');
  });
});

describe('service answers', () => {
  test('healthz: 503 before a snapshot and for an uninitialised cluster, 200 otherwise', () => {
    expect(health(undefined)[0]).toBe(503);
    expect(health(statusDocument('test', buildSnapshot(keys, [], 1)))).toEqual([503, { ok: false, reason: 'cluster "test" is not initialised', revision: 1 }]);
    expect(health(statusDocument('test', twoShards()))).toEqual([200, { ok: true, cluster: 'test', revision: 20, unhealthyShards: [1] }]);
  });

  test('the status page escapes values from etcd', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    const page = renderStatusPage(statusDocument('test', twoShards([kv(keys.node('<script>'), { addr: '127.0.0.1:1', shardId: 1 })])));
    expect(page).toContain('&lt;script&gt;');
    expect(page).not.toContain('<script>');
    expect(page).toContain('<td>0-8191</td>');
    expect(renderStatusPage(undefined)).toContain('Loading the topology');
  });
});

describe('status: replication lag', () => {
  const rec = (offset: number, replicas?: Array<{ nodeId: string; ackedOffset: number; lagBytes: number; lagMs: number }>) =>
    ({ role: replicas ? 'primary' : 'replica', replId: 'x', offset, at: 0, ...(replicas ? { replicas } : {}) }) as const;

  test('a replica\'s lag comes from the primary\'s measurement, else from the published offsets', () => {
    const offsets = new Map([
      ['p', rec(5000, [{ nodeId: 'r1', ackedOffset: 4000, lagBytes: 1000, lagMs: 12 }])],
      ['r1', rec(4000)],
      ['r2', rec(3000)],
    ]);
    expect(replicationOf('r1', 'p', offsets)).toEqual({ offset: 4000, lagBytes: 1000, lagMs: 12 });
    expect(replicationOf('r2', 'p', offsets)).toEqual({ offset: 3000, lagBytes: 2000, lagMs: null });
    expect(replicationOf('p', 'p', offsets)).toEqual({ offset: 5000, lagBytes: null, lagMs: null });
    expect(replicationOf('r3', 'p', offsets)).toBeNull();
    expect(formatLag({ role: 'replica', replication: { offset: 0, lagBytes: 2048, lagMs: 35 } })).toBe('2.0kb/35ms');
    expect(formatLag({ role: 'primary', replication: { offset: 0, lagBytes: null, lagMs: null } })).toBe('-');
  });
});
