import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { Op, Status } from '../../shared/protocol';
import type { InvalidationBatch } from '../../shared/regions';
import { clusterKeys } from '../../shared/topology/schema';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { electedOne, waitFor } from '../helpers/shard-nodes';

const SECRET = 'region-secret-for-tests';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A peer region's ingest endpoint that records every batch (and can refuse them). */
class RecordingPeer {
  readonly batches: Array<{ auth: string | undefined; batch: InvalidationBatch }> = [];
  refuse = false;
  readonly #server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (this.refuse) {
        res.writeHead(503).end('{"error":{"code":"UNAVAILABLE"}}');
        return;
      }
      const batch = JSON.parse(Buffer.concat(chunks).toString('utf8')) as InvalidationBatch;
      this.batches.push({ auth: req.headers.authorization, batch });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ackSeq: batch.items.at(-1)?.seq ?? -1, applied: batch.items.length, kept: 0 }));
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  items(): InvalidationBatch['items'] {
    return this.batches.flatMap((b) => b.batch.items);
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * The sending side of regions on real processes: etcd, a shard of a primary and a replica with a
 * data dir, a proxy; the peer region is an HTTP endpoint that records what it gets.
 */
describe('regions: a primary ships its writes as invalidations, and guards a peer\'s', () => {
  let c: TestCluster;
  let peer: RecordingPeer;
  let etcd: Etcd3;
  const dataDirs: string[] = [];
  const put = (ns: string, key: string, value: string) => c.call('PUT', `/v1/cache/${ns}/${encodeURIComponent(key)}`, { value });

  beforeAll(async () => {
    process.env.SHARDCACHE_REGION_SECRET = SECRET;
    peer = new RecordingPeer();
    const endpoint = await peer.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'region-node-'));
    dataDirs.push(dir);
    c = await startTestCluster({ shards: 1, perShard: 1, cluster: 'rs', nodeArgs: ['--data-dir', dir] });
    etcd = new Etcd3({ hosts: c.etcd.url });
    const keys = clusterKeys(c.cluster);
    await etcd.put(keys.region).value(JSON.stringify({ name: 'home' }));
    await etcd.put(keys.regionPeer('away')).value(JSON.stringify({ name: 'away', endpoint }));
    await etcd.put(keys.namespace('shared')).value(JSON.stringify({ replicated: 'invalidate' }));
    await waitFor('the node to see the peer and the namespace', async () => (await c.nodes[0][0].stats()).regions?.length === 1, 10_000, 50);
  }, 60_000);

  afterAll(async () => {
    delete process.env.SHARDCACHE_REGION_SECRET;
    etcd?.close();
    await c?.stop();
    await peer?.close();
    for (const d of dataDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test('writes of a replicated namespace reach the peer in order, with the secret; other namespaces stay local', async () => {
    await waitFor('a heartbeat', () => peer.batches.length > 0, 10_000, 20);
    expect(peer.batches[0].auth).toBe(`Bearer ${SECRET}`);
    expect(peer.batches[0].batch.from).toBe('home');
    for (let i = 0; i < 20; i++) expect([200, 201]).toContain((await put('shared', `k${i}`, `v${i}`)).status);
    expect([200, 201]).toContain((await put('private', 'p', 'x')).status);
    expect([200, 204]).toContain((await c.call('DELETE', '/v1/cache/shared/k0')).status);
    await waitFor('the invalidations', () => peer.items().filter((i) => i.key !== null).length >= 21, 10_000, 20);
    const items = peer.items();
    expect(items.map((i) => i.key).filter((k) => k !== null)).toEqual([...Array.from({ length: 20 }, (_, i) => `k${i}`), 'k0']);
    expect(items.every((i) => i.ns === 'shared')).toBe(true);
    const seqs = items.map((i) => i.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // upTo only grows, and never passes an item still to come.
    const ups = peer.batches.map((b) => b.batch.upTo);
    expect(ups).toEqual([...ups].sort((a, b) => a - b));
  });

  test('a peer that refuses keeps the invalidations spooled (on disk) and gets them once it takes them again', async () => {
    peer.refuse = true;
    for (let i = 0; i < 10; i++) await put('shared', `down${i}`, 'x');
    const node = c.nodes[0][0];
    await waitFor('the spool to hold them', async () => (await node.stats()).regions?.[0]?.depth >= 10, 5000, 20);
    const stats = await node.stats();
    expect(stats.regions[0]).toMatchObject({ peer: 'away' });
    expect(stats.regions[0].lastError).toMatch(/503/);
    peer.refuse = false;
    await waitFor('the spool to drain', async () => (await node.stats()).regions[0].depth === 0, 10_000, 20);
    const keys = peer.items().map((i) => i.key);
    for (let i = 0; i < 10; i++) expect(keys).toContain(`down${i}`);
  });

  test('an invalidation the peer has not taken is in the spool file on disk (what a restarted sender sends)', async () => {
    peer.refuse = true;
    for (let i = 0; i < 5; i++) await put('shared', `crash${i}`, 'x');
    const [primary] = await electedOne(c.nodes[0]);
    await waitFor('the spool to hold them', async () => (await primary.stats()).regions?.[0]?.depth >= 5, 5000, 20);
    const spool = fs.readFileSync(path.join(dataDirs[0], 'regions', 'away.spool'), 'utf8');
    for (let i = 0; i < 5; i++) expect(spool).toContain(`"crash${i}"`);
  });

  test('REGION_INVALIDATE removes an entry written before the peer\'s write, and keeps one written after it', async () => {
    const [primary, , epoch] = await electedOne(c.nodes[0]);
    await put('shared', 'old', 'x');
    await sleep(100);
    const between = Date.now();
    await sleep(100);
    await put('shared', 'new', 'y');
    const removed = await primary.conn.request(Op.REGION_INVALIDATE, epoch, 'shared', 'old', between);
    expect(removed.slice(0, 3)).toEqual([removed[0], Status.OK, 1]);
    const kept = await primary.conn.request(Op.REGION_INVALIDATE, epoch, 'shared', 'new', between);
    expect(kept[2]).toBe(0);
    expect((await c.call('GET', '/v1/cache/shared/old')).json.hit).toBe(false);
    expect((await c.call('GET', '/v1/cache/shared/new')).json).toMatchObject({ hit: true, value: 'y' });
    // A peer's invalidation is not shipped back to the peers.
    const before = peer.items().filter((i) => i.key === 'old').length;
    await sleep(300);
    expect(peer.items().filter((i) => i.key === 'old').length).toBe(before);
  });
});
