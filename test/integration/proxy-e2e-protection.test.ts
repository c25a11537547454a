import { performance } from 'node:perf_hooks';
import { ShardcacheClient } from '../../client/ws-client';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { waitFor, type ShardNode } from '../helpers/shard-nodes';

jest.setTimeout(60_000);

let c: TestCluster;
let client: ShardcacheClient;

beforeAll(async () => {
  // A lease longer than the freeze: the test is about the breaker, not about failover.
  c = await startTestCluster({ shards: 2, perShard: 1, proxyArgs: ['--request-timeout-ms', '200'], nodeArgs: ['--lease-ttl', '15'] });
  client = await ShardcacheClient.connect(c.wsUrl);
}, 40_000);

afterAll(async () => {
  await client?.close();
  await c?.stop();
});

/** The node process that is primary for `key` (from the proxy's own route answer). */
async function ownerOf(ns: string, key: string): Promise<{ node: ShardNode; shardId: number }> {
  const info = (await (await fetch(`${c.adminUrl}/v1/admin/route/${ns}/${key}`)).json()) as { shardId: number; primary: { addr: string } };
  const node = c.nodes.flat().find((n) => n.addr === info.primary.addr);
  if (!node) throw new Error(`no node at ${info.primary.addr}`);
  return { node, shardId: info.shardId };
}

const p99 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

const scrape = async (): Promise<string> => (await fetch(`${c.adminUrl}/metrics`)).text();

/**
 * Requests the proxy sent to `node`, from a scrape: those answered or failed (any op, any outcome
 * but BREAKER_OPEN, which the node's client refuses without sending) and those in flight.
 */
function sentTo(metrics: string, node: string): number {
  let n = 0;
  for (const line of metrics.split('\n')) {
    const counted = line.startsWith('shardcache_proxy_upstream_requests_total{') || line.startsWith('shardcache_proxy_inflight{');
    if (counted && line.includes(`node="${node}"`) && !line.includes('status="BREAKER_OPEN"')) n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

test('1,000 concurrent GETs of one key through the proxy reach the node as 1 request (node STATS)', async () => {
  await client.set('herd', 'hot', { n: 1 });
  const { node } = await ownerOf('herd', 'hot');
  const before = (await node.stats()).ops.get as number;
  const results = await Promise.all(Array.from({ length: 1000 }, () => client.get('herd', 'hot')));
  expect(results.every((r) => r.hit && (r.value as { n: number }).n === 1)).toBe(true);
  const after = (await node.stats()).ops.get as number;
  expect(after - before).toBe(1);
});

test('a primary frozen by SIGSTOP: its shard fails fast once the breaker opens, the other shard is unaffected, SIGCONT restores it', async () => {
  // Two keys on different shards.
  const frozenKey = 'k0';
  const first = await ownerOf('brk', frozenKey);
  let otherKey = '';
  for (let i = 1; !otherKey; i++) {
    if ((await ownerOf('brk', `k${i}`)).shardId !== first.shardId) otherKey = `k${i}`;
  }
  await client.set('brk', frozenKey, 1);
  await client.set('brk', otherKey, 2);
  first.node.proc.child.kill('SIGSTOP');
  try {
    // Rounds of concurrent reads of distinct keys (no coalescing) time out and open the breaker
    // (a node's requests of one turn are one breaker call, so it takes a few rounds) well within
    // the lease TTL, before any failover could change the shard's primary.
    const openState = new RegExp(`shardcache_proxy_breaker_state\\{node="${first.node.nodeId}"\\} 2`);
    const open = await waitFor('the breaker to open', async () => {
      await Promise.all(Array.from({ length: 30 }, (_, i) => c.call('GET', `/v1/cache/brk/${frozenKey}-${i}`)));
      const m = await scrape();
      return openState.test(m) ? m : undefined;
    }, 5_000, 0);
    const sentBefore = sentTo(open, first.node.nodeId);
    const failures: number[] = [];
    const others: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = performance.now();
      const r = await c.call('GET', `/v1/cache/brk/${frozenKey}`);
      failures.push(performance.now() - t0);
      expect(r.status).toBe(503);
      expect(r.json.error.code).toBe('NODE_UNAVAILABLE');
      const o = await c.call('GET', `/v1/cache/brk/${otherKey}`);
      others.push(o.status);
    }
    console.log(`breaker open: p99 of fast failures ${p99(failures).toFixed(2)} ms over ${failures.length} requests`);
    expect(others.every((s) => s === 200)).toBe(true);
    // Failing fast means the proxy answered them itself: of the 200, none but the odd half-open
    // probe (one per reset timeout) was sent to the frozen node.
    expect(sentTo(await scrape(), first.node.nodeId) - sentBefore).toBeLessThanOrEqual(10);
  } finally {
    first.node.proc.child.kill('SIGCONT');
  }
  // The breaker's half-open probe finds the node answering again and closes.
  await waitFor('reads to resume', async () => ((await c.call('GET', `/v1/cache/brk/${frozenKey}`)).status === 200 ? true : undefined), 20_000, 100);
});
