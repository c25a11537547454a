import { buildPeer, checkPolicyRegions, proxyRegions, validateRegionName } from '../../control-plane/commands/regions';
import { mergePolicy } from '../../control-plane/commands/namespaces';
import { parseRegionList } from '../../control-plane/cli/policy-commands';
import { parseProxyList, renderRegionStatus } from '../../control-plane/cli/region-commands';
import { runShardctl } from '../../control-plane/cli/shardctl';
import { statusDocument } from '../../control-plane/status/document';
import { regionSenders, regionsStatus, renderReceived, renderRegions } from '../../control-plane/status/regions';
import { renderStatus } from '../../control-plane/status/text';
import { clusterKeys, evenSlotMap, ReplOffsetRecordSchema, type ReplOffsetRecord } from '../../shared/topology/schema';
import { buildSnapshot, type TopologyKv } from '../../shared/topology/snapshot';

const keys = clusterKeys('t');
const kv = (key: string, value: unknown): TopologyKv => ({ key, value: JSON.stringify(value), createRevision: 2, modRevision: 2 });
const base = [kv(keys.config, { slots: 16384, shards: 1, replicas: 0, leaseTtlSeconds: 3, createdAt: 1 }), kv(keys.slotmap, evenSlotMap(1))];
const offsets = (at: number, regions: ReplOffsetRecord['regions']): ReplOffsetRecord => ({ role: 'primary', replId: 'r', offset: 1, at, regions });
const peerFig = (peer: string, depth: number, oldestMs: number, overflows = 0, lastError: string | null = null) => ({ peer, depth, oldestMs, sent: 10, overflows, lastError });

describe('region records', () => {
  test('buildPeer validates name and endpoint, refuses this cluster\'s own region', () => {
    expect(buildPeer('eu', 'https://eu.example.com/', 'us', 5)).toEqual({ name: 'eu', endpoint: 'https://eu.example.com', addedAt: 5 });
    expect(() => buildPeer('us', 'https://x', 'us', 5)).toThrow(/own region/);
    expect(() => buildPeer('eu', 'ftp://x', null, 5)).toThrow(/<endpoint>.*http/);
    expect(() => buildPeer('eu', 'not a url', null, 5)).toThrow(/<endpoint>/);
    expect(() => buildPeer('e u', 'http://x', null, 5)).toThrow(/<name>/);
    expect(validateRegionName('eu-west.1')).toBe('eu-west.1');
  });

  test('checkPolicyRegions warns about names that are not peers (never refuses), drops duplicates', () => {
    const r = checkPolicyRegions(['eu', 'ap', 'eu', 'us'], new Set(['eu']), 'us');
    expect(r.regions).toEqual(['eu', 'ap', 'us']);
    expect(r.warnings).toEqual([expect.stringMatching(/ap, which is not a peer region yet/), expect.stringMatching(/us, this cluster's own region/)]);
    expect(() => checkPolicyRegions(['bad name'], new Set(), null)).toThrow(/--regions/);
  });

  test('ns set --replicated/--regions reach the policy; a wrong mode names the flag', () => {
    expect(mergePolicy(undefined, { replicated: 'invalidate', regions: ['eu'] })).toEqual({ replicated: 'invalidate', regions: ['eu'] });
    expect(() => mergePolicy(undefined, { replicated: 'both' as never })).toThrow(/--replicated/);
    expect(parseRegionList('eu, us,,ap')).toEqual(['eu', 'us', 'ap']);
    expect(parseProxyList('a:1,b:2', ['c:3'])).toEqual(['c:3', 'a:1', 'b:2']);
  });

  test('the CLI refuses a bad --replicated before reaching etcd', async () => {
    const err: string[] = [];
    const code = await runShardctl(['ns', 'set', 'x', '--replicated', 'sometimes', '--etcd', '127.0.0.1:1'], { out: () => undefined, err: (t) => void err.push(t) });
    expect(code).toBe(1);
    expect(err.join('\n')).toMatch(/--replicated/);
    const help: string[] = [];
    await runShardctl(['region', '--help'], { out: (t) => void help.push(t), err: (t) => void help.push(t) });
    expect(help.join('\n')).toMatch(/self <name>[\s\S]*add <name> <endpoint>[\s\S]*remove <name>[\s\S]*list[\s\S]*status/);
  });

  test('the offsets schema takes the nodes\' optional sender figures', () => {
    expect(ReplOffsetRecordSchema.safeParse(offsets(1, [peerFig('eu', 3, 40)])).success).toBe(true);
    expect(ReplOffsetRecordSchema.safeParse(offsets(1, undefined)).success).toBe(true);
    expect(ReplOffsetRecordSchema.safeParse(offsets(1, [{ ...peerFig('eu', -1, 0) }])).success).toBe(false);
  });
});

describe('regions in the status', () => {
  const snapshot = buildSnapshot(keys, [...base, kv(keys.region, { name: 'us' }), kv(keys.regionPeer('eu'), { name: 'eu', endpoint: 'http://eu:8080' }), kv(keys.regionPeer('ap'), { name: 'ap', endpoint: 'http://ap:8080' })], 3);
  const published = new Map([
    ['n1', offsets(100, [peerFig('eu', 3, 40, 1, 'old error'), peerFig('gone', 1, 5)])],
    ['n2', offsets(200, [peerFig('eu', 5, 900, 2, 'connect ECONNREFUSED')])],
    ['n3', offsets(300, [peerFig('eu', 0, 0)])],
  ]);

  test('regionSenders sums depth, sent and overflows, keeps the worst age and the latest error', () => {
    expect(regionSenders(published).get('eu')).toEqual({ depth: 8, oldestMs: 900, sent: 30, overflows: 3, lastError: 'connect ECONNREFUSED', nodes: 3 });
  });

  test('regionsStatus lists configured peers and ones only the nodes still report', () => {
    expect(regionsStatus(snapshot, published)).toEqual({
      region: 'us',
      peers: [
        { name: 'ap', endpoint: 'http://ap:8080', sender: null },
        { name: 'eu', endpoint: 'http://eu:8080', sender: { depth: 8, oldestMs: 900, sent: 30, overflows: 3, lastError: 'connect ECONNREFUSED', nodes: 3 } },
        { name: 'gone', endpoint: null, sender: { depth: 1, oldestMs: 5, sent: 10, overflows: 0, lastError: null, nodes: 1 } },
      ],
    });
  });

  test('the status document and text carry a regions section only when regions are set up', () => {
    const doc = statusDocument('t', snapshot, () => true, published);
    expect(doc.regions?.region).toBe('us');
    const text = renderStatus(doc);
    expect(text).toMatch(/region us {2}peers 3/);
    expect(text).toMatch(/eu +http:\/\/eu:8080 +8 +900ms +30 +3 +connect ECONNREFUSED/);
    const plain = statusDocument('t', buildSnapshot(keys, base, 3));
    expect(plain.regions).toEqual({ region: null, peers: [] });
    expect(renderStatus(plain)).not.toMatch(/region/);
  });

  test('region status text: sender table plus receiver figures per proxy', () => {
    const text = renderRegionStatus(regionsStatus(snapshot, published), [
      { proxy: 'http://p1:9100', region: 'us', received: [{ from: 'eu', applied: 10, kept: 2, wholesale: 0, lagP50Ms: 12, lagP99Ms: 1500, behindMs: 300, senders: 2 }] },
      { proxy: 'http://p2:9100', error: 'unreachable (ECONNREFUSED)' },
    ]);
    expect(text).toMatch(/http:\/\/p1:9100 +eu +10 +2 +0 +12ms +1\.5s +300ms +2 senders/);
    expect(text).toMatch(/http:\/\/p2:9100 .*unreachable/);
    expect(renderRegionStatus({ region: null, peers: [] }, [])).toMatch(/--proxy/);
    expect(renderRegions({ region: null, peers: [] })).toMatch(/not set/);
    expect(renderReceived([{ proxy: 'p', region: 'us', received: [] }])).toMatch(/nothing received yet/);
  });

  test('proxyRegions reads a proxy\'s report, or says why not', async () => {
    const ok = (async () => new Response(JSON.stringify({ region: 'us', peers: [], received: [] }), { status: 200 })) as unknown as typeof fetch;
    expect(await proxyRegions('http://p', 'Bearer a:b', 100, ok)).toEqual({ proxy: 'http://p', region: 'us', received: [] });
    const denied = (async () => new Response(JSON.stringify({ error: { message: 'admin only' } }), { status: 401 })) as unknown as typeof fetch;
    expect(await proxyRegions('http://p', undefined, 100, denied)).toEqual({ proxy: 'http://p', error: 'HTTP 401: admin only' });
    const old = (async () => new Response('{"error":{}}', { status: 200 })) as unknown as typeof fetch;
    expect((await proxyRegions('http://p', undefined, 100, old)).error).toMatch(/older/);
    const down = (async () => { throw new Error('connect ECONNREFUSED'); }) as unknown as typeof fetch;
    expect((await proxyRegions('http://p', undefined, 100, down)).error).toMatch(/unreachable/);
  });
});
