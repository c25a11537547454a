import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_BENCH_USAGE, parseNodeBenchOptions, runNodeBench } from './node';
import { PEERS_BENCH_USAGE, parsePeersBenchOptions, runPeersBench } from './peers';
import { PROXY_BENCH_USAGE, parseProxyBenchOptions, runProxyBench } from './proxy';
import { CODEC_BENCH_USAGE, parseCodecBenchOptions, runCodecBench } from './codec';
import { REBALANCE_BENCH_USAGE, parseRebalanceBenchOptions, runRebalanceBench } from './rebalance';
import { DASHBOARD_BENCH_USAGE, parseDashboardBenchOptions, runDashboardBench } from './dashboard';
import { REGIONS_BENCH_USAGE, parseRegionsBenchOptions, runRegionsBench } from './regions';

/**
 * Entry point of `npm run bench -- <name> [flags]`: picks the benchmark by its first argument.
 *
 *   node   one storage node over TCP (and redis-server when installed), from a load worker process
 *   peers  shardcache's RESP front next to twemproxy and redis-server, driven by redis-benchmark
 *   proxy  a whole cluster (etcd, 3 storage nodes, proxy) over HTTP and WebSocket, from load worker processes
 *   store  the store engine alone, in a child process with --expose-gc (dist/bench/store.js)
 *   rebalance  slot migration of 1M keys between two shards, unthrottled and throttled, under client load
 *   codec  the plain-msgpack guard's cost per frame next to msgpackr's decode, in process
 *   dashboard  CPU per second of every process with 0, 1 and 5 of the control plane's dashboards open
 *   regions  a region's write throughput without and with a peer region, the invalidation stream's throughput, batch sizes and lag
 */

interface Bench {
  describe: string;
  run(args: string[]): Promise<number>;
}

/** A benchmark's entry: its flags parsed (undefined = usage asked for: print it), then the run. */
function withFlags<O>(parse: (args: string[]) => O | undefined, usage: string, run: (options: O) => Promise<number>) {
  return async (args: string[]): Promise<number> => {
    const options = parse(args);
    if (!options) {
      console.log(usage);
      return 0;
    }
    return run(options);
  };
}

const runProxy = withFlags(parseProxyBenchOptions, PROXY_BENCH_USAGE, runProxyBench);
const runPeers = withFlags(parsePeersBenchOptions, PEERS_BENCH_USAGE, runPeersBench);
const runNode = withFlags(parseNodeBenchOptions, NODE_BENCH_USAGE, runNodeBench);
const runCodec = withFlags(parseCodecBenchOptions, CODEC_BENCH_USAGE, runCodecBench);
const runRebalance = withFlags(parseRebalanceBenchOptions, REBALANCE_BENCH_USAGE, runRebalanceBench);
const runDashboard = withFlags(parseDashboardBenchOptions, DASHBOARD_BENCH_USAGE, runDashboardBench);
const runRegions = withFlags(parseRegionsBenchOptions, REGIONS_BENCH_USAGE, runRegionsBench);

const STORE_BENCH = path.join(__dirname, 'store.js');

function runStore(args: string[]): Promise<number> {
  if (!fs.existsSync(STORE_BENCH)) {
    console.error(`store benchmark not found: ${STORE_BENCH} does not exist (bench/store.ts is not written or not built yet; \`npm run build\` compiles it)`);
    return Promise.resolve(1);
  }
  const child = spawn(process.execPath, ['--expose-gc', STORE_BENCH, ...args], { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.once('error', (err) => {
      console.error(`store benchmark could not start: ${err.message}`);
      resolve(1);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0)));
  });
}

const BENCHES: Record<string, Bench> = {
  node: {
    describe: 'throughput, latency and RSS per item of one storage node over TCP, next to redis-server',
    run: runNode,
  },
  peers: {
    describe: 'redis-benchmark against shardcache (RESP), twemproxy over 2 redis-servers and one redis-server',
    run: runPeers,
  },
  proxy: {
    describe: 'HTTP and WebSocket throughput, latency and CPU share of the proxy in front of a 3-node cluster',
    run: runProxy,
  },
  store: {
    describe: 'the store engine alone, in process (run with --expose-gc)',
    run: runStore,
  },
  codec: {
    describe: 'ns per frame of the plain-msgpack guard next to msgpackr decode (GET, SET, MGET, snapshot chunk)',
    run: runCodec,
  },
  rebalance: {
    describe: 'slot migration: MB/s, keys/s, per-cut freeze and client p99 before and during a move',
    run: runRebalance,
  },
  dashboard: {
    describe: 'CPU seconds per second of nodes, proxy, control plane and etcd with 0, 1 and 5 live dashboards open',
    run: runDashboard,
  },
  regions: {
    describe: 'write ops/s of region a without and with a peer region, invalidations acknowledged per second, batch sizes, lag p50/p99',
    run: runRegions,
  },
};

function usage(): string {
  const names = Object.entries(BENCHES).map(([name, bench]) => `  ${name.padEnd(6)} ${bench.describe}`);
  return ['usage: npm run bench -- <name> [flags]', 'benchmarks:', ...names, '', NODE_BENCH_USAGE, '', PROXY_BENCH_USAGE, '', PEERS_BENCH_USAGE, '', REBALANCE_BENCH_USAGE, '', DASHBOARD_BENCH_USAGE, '', REGIONS_BENCH_USAGE].join('\n');
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const bench = name !== undefined && Object.hasOwn(BENCHES, name) ? BENCHES[name] : undefined;
  if (!bench) {
    const asked = name === 'help' || name === '--help' || name === '-h';
    if (name !== undefined && !asked) console.error(`unknown benchmark: ${name}\n`);
    console.error(usage());
    process.exitCode = asked ? 0 : 1;
    return;
  }
  process.exitCode = await bench.run(args);
}

main().catch((err: unknown) => {
  console.error(`benchmark failed: ${(err as Error).message}`);
  process.exitCode = 1;
});
