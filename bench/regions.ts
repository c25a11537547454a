import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { ShardcacheClient } from '../client/ws-client';
import { intIn, parsePort } from '../shared/config';
import { REGION_SECRET_ENV } from '../shared/regions';
import type { ClusterLayout } from '../scripts/cluster/processes';
import { configureRegion, regionsOf } from '../scripts/cluster/regions';
import { ChaosCluster } from '../scripts/chaos/cluster';
import { connectEtcd } from '../shared/topology/etcd';
import { clusterKeys } from '../shared/topology/schema';

/**
 * `npm run bench -- regions` (issue 18; docs/performance.md "Regions (issue 18)"): what shipping
 * invalidations to a peer region costs region A's write path, and what the stream carries.
 *
 *   regions a and b: each etcd, 1 shard x 2 nodes (a --data-dir each: the spool on disk), a proxy
 *   run 1: SETs over WebSocket into a's namespace `bench` (replicated: invalidate), a has no peer
 *   run 2: the same with region b as a's peer (b's proxy URL): every SET is an invalidation to b
 *   run 3: the same into a plain namespace with b as a's peer (no invalidations)
 *
 * Per run: a's SET ops/s and latency (same clients, same keys, same process setup); for run 2,
 * invalidations acknowledged by b per second (a's nodes' `sent`, from the load's start to the
 * spool drained), the drain time after the load stops, batches and their sizes (the nodes'
 * `shardcache_region_batch_size_total` buckets), and the lag from a's write to b's apply (b's
 * proxy: `shardcache_region_invalidation_lag_seconds` histogram over the run, and the p50/p99 of
 * its last 1024 items from `GET /v1/admin/regions`). One machine: both regions share its cores.
 */
export const REGIONS_BENCH_USAGE = `npm run bench -- regions [--seconds 10] [--connections 4] [--pipeline 32] [--keys 10000] [--value-bytes 100] [--port-base 25100]
  A's write throughput in a replicated namespace without and with a peer region, the invalidation stream's throughput, batch sizes and lag.`;

export interface RegionsBenchOptions {
  seconds: number;
  connections: number;
  pipeline: number;
  keys: number;
  valueBytes: number;
  portBase: number;
}

export function parseRegionsBenchOptions(args: string[]): RegionsBenchOptions | undefined {
  if (args.includes('--help') || args.includes('-h')) return undefined;
  return new Command('regions')
    .addOption(new Option('--seconds <s>', 'seconds of load per run').argParser(intIn(1, 600)).default(10))
    .addOption(new Option('--connections <n>', 'WebSocket clients').argParser(intIn(1, 64)).default(4))
    .addOption(new Option('--pipeline <n>', 'SETs in flight per client').argParser(intIn(1, 1024)).default(32))
    .addOption(new Option('--keys <n>', 'distinct keys').argParser(intIn(1, 10_000_000)).default(10_000))
    .addOption(new Option('--value-bytes <n>', 'value size').argParser(intIn(1, 1_000_000)).default(100))
    .addOption(new Option('--port-base <port>', 'first of 20 consecutive ports on 127.0.0.1 (two regions of 10)').argParser(parsePort).default(25100))
    .allowExcessArguments(false)
    .parse(args, { from: 'user' })
    .opts<RegionsBenchOptions>();
}

const REPLICATED = 'bench';
const PLAIN = 'plain';

function layoutOf(base: number, cluster: string, dir: string): ClusterLayout {
  return {
    etcdPort: base, etcdPeerPort: base + 1, controlPort: base + 2, nodeBasePort: base + 3, nodeAdminBasePort: base + 5,
    proxies: [{ httpPort: base + 7, respPort: base + 8, adminPort: base + 9 }], shards: 1, replicas: 1, leaseTtl: 3, cluster, nodeDataDir: path.join(dir, 'nodes'),
  };
}

/** Prometheus text: the sum of the samples of `name` whose labels contain every `labels` pair. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const m = /^([^{ ]+)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

const metricsOf = (adminUrl: string): Promise<string> => fetch(`${adminUrl}/metrics`).then((r) => r.text(), () => '');

const BUCKETS = ['0', '1', '10', '100', '1000'];

/** What a's nodes and b's proxy counted, summed over a's nodes. */
async function figures(a: ChaosCluster, bAdmin: string): Promise<{ sent: number; batches: number; sizes: number[]; depth: number; lagBuckets: Array<[number, number]> }> {
  const texts = await Promise.all(a.nodes.map((n) => metricsOf(n.adminUrl)));
  const sum = (name: string, labels: Record<string, string> = {}) => texts.reduce((s, t) => s + sample(t, name, { peer: 'b', ...labels }), 0);
  const b = await metricsOf(bAdmin);
  const lagBuckets: Array<[number, number]> = [];
  for (const m of b.matchAll(/^shardcache_region_invalidation_lag_seconds_bucket\{([^}]*)\} (\S+)$/gm)) {
    if (!/from="a"/.test(m[1])) continue;
    const le = /le="([^"]+)"/.exec(m[1])![1];
    lagBuckets.push([le === '+Inf' ? Infinity : Number(le), Number(m[2])]);
  }
  return {
    sent: sum('shardcache_region_sent_total'), batches: sum('shardcache_region_batches_total'),
    sizes: BUCKETS.map((le) => sum('shardcache_region_batch_size_total', { le })), depth: sum('shardcache_region_spool_depth'), lagBuckets,
  };
}

/** The upper bound (ms) of the histogram bucket holding quantile `q` of the items counted between `before` and `after`. */
function histQuantile(before: Array<[number, number]>, after: Array<[number, number]>, q: number): string {
  const at = new Map(before);
  const delta = after.map(([le, n]) => [le, n - (at.get(le) ?? 0)] as [number, number]).sort((x, y) => x[0] - y[0]);
  const total = delta.at(-1)?.[1] ?? 0;
  if (total === 0) return '-';
  const bucket = delta.find(([, n]) => n >= q * total)!;
  return bucket[0] === Infinity ? '> 60 s' : `<= ${bucket[0] * 1000} ms`;
}

interface LoadResult {
  ops: number;
  errors: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
}

async function load(url: string, ns: string, o: RegionsBenchOptions): Promise<LoadResult> {
  const clients = await Promise.all(Array.from({ length: o.connections }, () => ShardcacheClient.connect(url)));
  const value = crypto.randomBytes(o.valueBytes);
  const latencies: number[] = [];
  let ops = 0;
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const end = started + o.seconds * 1000;
  const lane = async (c: ShardcacheClient): Promise<void> => {
    while (performance.now() < end) {
      const key = `k${next++ % o.keys}`;
      const t = performance.now();
      try {
        await c.set(ns, key, value);
        ops++;
        if (latencies.length < 2_000_000) latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: o.pipeline }, () => lane(c))));
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.close()));
  latencies.sort((x, y) => x - y);
  const q = (p: number) => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]);
  return { ops, errors, seconds, p50Ms: q(0.5), p99Ms: q(0.99) };
}

export async function runRegionsBench(o: RegionsBenchOptions): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-bench-regions-'));
  process.env[REGION_SECRET_ENV] ??= crypto.randomBytes(32).toString('hex');
  const say = (t: string) => console.error(`regions: ${t}`);
  const a = new ChaosCluster(layoutOf(o.portBase, 'bench-a', path.join(dir, 'a')), path.join(dir, 'a'), (t) => say(`a: ${t}`));
  const b = new ChaosCluster(layoutOf(o.portBase + 10, 'bench-b', path.join(dir, 'b')), path.join(dir, 'b'), (t) => say(`b: ${t}`));
  process.once('exit', () => {
    a.killAll();
    b.killAll();
  });
  try {
    await Promise.all([a.start([], 60), b.start([], 60)]);
    const aWs = `ws://127.0.0.1:${a.layout.proxies[0].httpPort}/v1/ws`;
    const bHttp = `http://127.0.0.1:${b.layout.proxies[0].httpPort}`;
    const bAdmin = `http://127.0.0.1:${b.layout.proxies[0].adminPort}`;
    await configureRegion(a.etcd, a.layout.cluster, 'a', [], [REPLICATED]);
    await configureRegion(b.etcd, b.layout.cluster, 'b', [], [REPLICATED]);
    await sleep(1000); // the nodes and the proxy see the policy
    const rows: string[][] = [];
    const row = (name: string, r: LoadResult, extra: string[]) => rows.push([name, Math.round(r.ops / r.seconds).toLocaleString('en-US'), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), String(r.errors), ...extra]);
    const none = ['-', '-', '-', '-', '-'];

    say(`run 1: ${o.seconds} s of SETs into ${REPLICATED} (replicated), a has no peer`);
    row(`a: ${REPLICATED} (replicated), no peer region`, await load(aWs, REPLICATED, o), none);

    // Region b becomes a's peer: a's primary starts a sender (heartbeats reach b).
    const etcd = connectEtcd(a.etcd);
    await etcd.put(clusterKeys(a.layout.cluster).regionPeer('b')).value(JSON.stringify({ name: 'b', endpoint: bHttp, addedAt: Date.now() }));
    etcd.close();
    for (const end = Date.now() + 20_000; !(await regionsOf(bAdmin))?.received.some((r) => r.from === 'a'); await sleep(100)) {
      if (Date.now() > end) throw new Error('b never heard from a');
    }
    const before = await figures(a, bAdmin);
    say(`run 2: ${o.seconds} s of SETs into ${REPLICATED} (replicated), b is a's peer`);
    const started = Date.now();
    const withPeer = await load(aWs, REPLICATED, o);
    const loadEnded = Date.now();
    const lagDuring = (await regionsOf(bAdmin))?.received.find((r) => r.from === 'a');
    let after = await figures(a, bAdmin);
    while (after.depth > 0 && Date.now() - loadEnded < 120_000) {
      await sleep(50);
      after = await figures(a, bAdmin);
    }
    const drainedAt = Date.now();
    const sent = after.sent - before.sent;
    const sizes = after.sizes.map((n, i) => n - before.sizes[i]);
    const batches = after.batches - before.batches;
    const itemBatches = batches - sizes[0];
    row(`a: ${REPLICATED} (replicated), peer region b`, withPeer, [
      Math.round(sent / ((drainedAt - started) / 1000)).toLocaleString('en-US'), `${drainedAt - loadEnded} ms`,
      `${itemBatches.toLocaleString('en-US')} (+${sizes[0]} heartbeats); mean ${itemBatches === 0 ? '-' : (sent / itemBatches).toFixed(0)} items; <=1: ${sizes[1]}, <=10: ${sizes[2]}, <=100: ${sizes[3]}, <=1000: ${sizes[4]}`,
      `${histQuantile(before.lagBuckets, after.lagBuckets, 0.5)} / ${histQuantile(before.lagBuckets, after.lagBuckets, 0.99)}`,
      lagDuring ? `${lagDuring.lagP50Ms} / ${lagDuring.lagP99Ms} ms` : '-',
    ]);

    say(`run 3: ${o.seconds} s of SETs into ${PLAIN} (not replicated), b is a's peer`);
    row(`a: ${PLAIN} (local), peer region b`, await load(aWs, PLAIN, o), none);

    const header = ['RUN', 'A SET OPS/S', 'P50 MS', 'P99 MS', 'ERRORS', 'INVALIDATIONS ACKED BY B /S', 'DRAIN AFTER LOAD', 'BATCHES (SIZES)', 'LAG P50 / P99 (HISTOGRAM)', 'LAG P50 / P99 (LAST 1024)'];
    console.log(`\nregions bench: ${o.seconds} s per run, ${o.connections} WebSocket clients x ${o.pipeline} in flight, ${o.keys} keys, ${o.valueBytes}-byte values; a and b: 1 shard x 2 nodes + a proxy each, ${os.cpus().length} cores shared\n`);
    console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}`);
    console.log(`\ninvalidations acknowledged by b in run 2: ${sent.toLocaleString('en-US')} (a acknowledged ${withPeer.ops.toLocaleString('en-US')} SETs)`);
    return 0;
  } catch (err) {
    console.error(`regions bench failed: ${(err as Error).stack ?? (err as Error).message}`);
    return 1;
  } finally {
    await Promise.all([a.close(), b.close()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
