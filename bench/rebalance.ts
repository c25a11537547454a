import { parseArgs } from 'node:util';
import { Etcd3 } from 'etcd3';
import { NodeConnection } from '../shared/node-connection';
import { Op, Status } from '../shared/protocol';
import { SLOT_COUNT } from '../shared/slot';
import { createLogger } from '../shared/log';
import { clusterKeys, type MigrationRecord } from '../shared/topology/schema';
import { DriverService } from '../control-plane/rebalance/driver-service';
import { DRIVER_DEFAULTS } from '../control-plane/rebalance/driver';
import { commandContext, readTopology } from '../control-plane/commands/context';
import { addShard, migrateRange } from '../control-plane/commands/migrations';
import { readMigration } from '../control-plane/rebalance/records';
import { runBounded, type ChildRegistry } from './children';
import { LatencyRecorder, type LatencySummary } from './latency';
import { startBenchCluster, type BenchCluster } from './proxy-cluster';

export const REBALANCE_BENCH_USAGE = `npm run bench -- rebalance [--keys N] [--value-bytes N] [--throttle MB] [--clients N] [--timeout S] [--cpu-prof-dir DIR]
  Moves every slot of a 1-shard cluster holding --keys keys (default 1,000,000 of --value-bytes 100) to a second
  shard unthrottled, then half of them back at --throttle MB/s (default 5), with --clients concurrent HTTP
  clients (default 16) reading and writing through the proxy. Prints MB/s, keys/s, per-cut freeze
  p50/p99/max and the clients' p99 before and during each move.`;

interface Options {
  keys: number;
  valueBytes: number;
  throttleMb: number;
  clients: number;
  timeoutSeconds: number;
  /** Write a CPU profile of every storage node here (--cpu-prof-dir). */
  cpuProfDir?: string;
}

export function parseRebalanceBenchOptions(args: string[]): Options | undefined {
  const { values } = parseArgs({ args, options: { keys: { type: 'string' }, 'value-bytes': { type: 'string' }, throttle: { type: 'string' }, clients: { type: 'string' }, timeout: { type: 'string' }, 'cpu-prof-dir': { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) return undefined;
  const num = (v: string | undefined, d: number, name: string): number => {
    const n = v === undefined ? d : Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    keys: Math.floor(num(values.keys, 1_000_000, 'keys')), valueBytes: Math.floor(num(values['value-bytes'], 100, 'value-bytes')),
    throttleMb: num(values.throttle, 5, 'throttle'), clients: Math.floor(num(values.clients, 16, 'clients')), timeoutSeconds: num(values.timeout, 900, 'timeout'),
    ...(values['cpu-prof-dir'] ? { cpuProfDir: values['cpu-prof-dir'] } : {}),
  };
}

/** Client traffic through the proxy: GETs and PUTs of random keys, latency of each. */
class ClientLoad {
  #recorder = new LatencyRecorder(100_000);
  #running = true;
  #done: Promise<void>;
  errors = 0;

  constructor(url: string, clients: number, keys: number) {
    const value = JSON.stringify({ value: 'y'.repeat(80) });
    const one = async (): Promise<void> => {
      while (this.#running) {
        const key = `k${Math.floor(Math.random() * keys)}`;
        const t = performance.now();
        const put = Math.random() < 0.2;
        const res = await fetch(`${url}/v1/cache/bench/${key}`, put ? { method: 'PUT', body: value, headers: { 'content-type': 'application/json' } } : {}).catch(() => undefined);
        await res?.arrayBuffer();
        if (res === undefined || res.status >= 300) this.errors++;
        this.#recorder.record((performance.now() - t) * 1000);
      }
    };
    this.#done = Promise.all(Array.from({ length: clients }, one)).then(() => undefined);
  }

  /** The latencies since the last call. */
  take(): LatencySummary {
    const summary = this.#recorder.summarize();
    this.#recorder = new LatencyRecorder(100_000);
    return summary;
  }

  stop(): Promise<void> {
    this.#running = false;
    return this.#done;
  }
}

async function preload(cluster: BenchCluster, etcd: Etcd3, o: Options): Promise<void> {
  const { snapshot } = await readTopology(commandContext(etcd, 'bench'));
  const primary = snapshot.shards.get(0)!.primary!;
  const conn = await NodeConnection.connect(Number(primary.addr.split(':')[1]));
  const value = Buffer.alloc(o.valueBytes, 'x');
  const started = performance.now();
  for (let i = 0; i < o.keys; i += 5000) {
    const batch: Array<Promise<unknown[]>> = [];
    for (let j = i; j < Math.min(o.keys, i + 5000); j++) batch.push(conn.request(Op.SET, primary.epoch, 'bench', `k${j}`, value, 0, 0, 0, 0, null));
    for (const r of await Promise.all(batch)) if (r[1] !== Status.OK) throw new Error(`preload SET failed: ${String(r[2])}`);
  }
  await conn.close();
  console.log(`preloaded ${o.keys.toLocaleString('en')} keys of ${o.valueBytes} B into shard 0 in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  void cluster;
}

const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;
const pct = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** One move with its figures printed. */
async function move(etcd: Etcd3, load: ClientLoad, label: string, range: [number, number], to: number, bytesPerSec: number, freezes: number[], drains: number[]): Promise<void> {
  const ctx = commandContext(etcd, 'bench');
  load.take();
  await new Promise((r) => setTimeout(r, 3000));
  const before = load.take();
  freezes.length = 0;
  drains.length = 0;
  const [id] = await migrateRange(ctx, range, to, bytesPerSec);
  let m: MigrationRecord | undefined;
  const submitted = performance.now();
  let cutFrom = 0;
  for (;;) {
    m = (await readMigration(etcd, ctx.keys, id))?.record;
    if (m?.state === 'committed' || m?.state === 'aborted') break;
    if (m?.state === 'cutting' && cutFrom === 0) cutFrom = performance.now();
    await new Promise((r) => setTimeout(r, 20));
  }
  const ended = performance.now();
  const during = load.take();
  const p = m.progress;
  const seconds = ((p.finishedAt ?? Date.now()) - (p.startedAt ?? Date.now())) / 1000;
  const sorted = [...freezes].sort((a, b) => a - b);
  console.log(`\n${label}: ${m.state}, ${p.slotsDone} slots, ${p.keys.toLocaleString('en')} keys, ${(p.bytes / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s`);
  console.log(`  copy (snapshot and catch-up) ${((cutFrom - submitted) / 1000).toFixed(1)} s, cut-overs ${((ended - cutFrom) / 1000).toFixed(1)} s`);
  console.log(`  ${(p.bytes / 1e6 / seconds).toFixed(1)} MB/s, ${Math.round(p.keys / seconds).toLocaleString('en')} keys/s, ${freezes.length} cut-overs, cold slots ${p.coldSlots}`);
  const drained = [...drains].sort((a, b) => a - b);
  console.log(`  freeze per cut-over p50 ${pct(sorted, 0.5).toFixed(1)} ms, p99 ${pct(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`);
  console.log(`    of which the drain (fence to the target's acknowledgement) p50 ${pct(drained, 0.5).toFixed(1)} ms, max ${drained.at(-1)?.toFixed(1)} ms; the rest is the etcd commit`);
  console.log(`  client latency before: p50 ${ms(before.p50Us)}, p99 ${ms(before.p99Us)} (${before.samples} requests); during: p50 ${ms(during.p50Us)}, p99 ${ms(during.p99Us)} (${during.samples}); p99 ratio ${(during.p99Us / before.p99Us).toFixed(2)}`);
}

export function runRebalanceBench(o: Options): Promise<number> {
  return runBounded('rebalance benchmark', o.timeoutSeconds, async (children: ChildRegistry) => {
    const cluster = await startBenchCluster(children, { cluster: 'bench', shards: 1, replicas: 1, spareShards: 1, proxyNodeFlags: [], nodeArgs: ['--max-memory', '2gb'], nodeNodeFlags: o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : [] });
    const etcd = new Etcd3({ hosts: `http://${cluster.etcdEndpoint}` });
    const freezes: number[] = [];
    const drains: number[] = [];
    const driver = new DriverService(etcd, 'bench', 'bench', createLogger('bench', 'warn'), { ...DRIVER_DEFAULTS, maxParallel: 1 }, {
      cutOver: (_m, r) => {
        freezes.push(r.freezeMs);
        drains.push(r.drainMs);
      },
      finished: () => undefined,
    });
    try {
      await preload(cluster, etcd, o);
      await addShard(commandContext(etcd, 'bench'), 1);
      driver.start();
      const load = new ClientLoad(`http://127.0.0.1:${cluster.httpPort}`, o.clients, o.keys);
      await move(etcd, load, `unthrottled: all ${SLOT_COUNT} slots, shard 0 -> 1`, [0, SLOT_COUNT - 1], 1, 0, freezes, drains);
      await move(etcd, load, `throttled at ${o.throttleMb} MB/s: slots 0-8191, shard 1 -> 0`, [0, 8191], 0, o.throttleMb * 1e6, freezes, drains);
      await load.stop();
      console.log(`\nclient errors: ${load.errors}`);
      return 0;
    } finally {
      await driver.close();
      etcd.close();
      await cluster.stop();
    }
  });
}
