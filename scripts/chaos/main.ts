#!/usr/bin/env node
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ShardcacheClient } from '../../client/ws-client';
import { etcdOnPath, type ClusterLayout } from '../cluster/processes';
import { writeClusterSecret } from '../cluster/tls';
import { writeLocalTls } from '../tls-certs';
import { checkHistory } from './checker';
import { ChaosCluster } from './cluster';
import { inject, waitWhole, type FaultContext } from './faults';
import { parseFaultsLog, type Fault, type History } from './history';
import { ChaosLoad } from './load';
import { EpochWatch, NodeWritesLog } from './observe';
import { parseChaosOptions, type ChaosOptions } from './options';
import { formatReport } from './report';
import { planSchedule, scheduleLines } from './schedule';
import { rebalanceScenario, SCENARIO_CUT_SLOTS, type RebalanceSummary } from './rebalance';
import { RecordingStore } from '../store-server';
import { runRegionScenario } from './regions';
import {
  flushAtEnd, STORE_FAULT_PLAN, StoreFaults, WB_KEYS_PER_SHARD, WB_NS, WB_RATE, WB_WORKERS, writeBehindFlags, writeBehindInvariants, writeBehindLines, writeBehindSummary,
  type WriteBehindSummary,
} from './write-behind';

/**
 * `npm run chaos`: the process chaos harness.
 *
 *   start the store (write-behind.ts), etcd, shards × (replicas+1) nodes, control plane, proxies
 *   ─► namespace policies ─► ballast ─► load (ChaosLoad) + write-behind load + etcd epoch watch + node write reports
 *   ─► faults one by one (schedule.ts, faults.ts), each followed by "cluster whole again",
 *      while the store fails and goes down on its own cycle (StoreFaults)
 *   ─► stop load ─► final read of every key ─► flush the write-behind queues, compare the store
 *   ─► checker ─► report ─► stop everything
 *
 * With `--external` it starts nothing and injects nothing: it runs the same load and checker against
 * a cluster started elsewhere (compose.yaml) while scripts/chaos-compose.sh applies the schedule,
 * and reads the faults it applied from `--faults-log`. Targets 127.0.0.1 only. Bounded: a hard
 * deadline ends the run; SIGINT/SIGTERM stop every child; exit 0 when every invariant holds, 1 when
 * one fails, 2 on an error of the harness itself. With `--tls` every link of the cluster is TLS
 * (etcd, the proxies' client ports, node links with mutual TLS) and node links prove a random
 * cluster secret; the load, the ballast, the etcd watch and shardctl use the same CA and
 * client certificate. The write-behind namespace `wb` and its store run only when the harness
 * starts the cluster (not with `--external`).
 */
const ACKED_NS = 'acked';
const ASYNC_NS = 'async';
const say = (text: string): void => void process.stdout.write(`chaos: ${text}\n`);

interface Run {
  options: ChaosOptions;
  cluster?: ChaosCluster;
  epochs?: EpochWatch;
  writes: NodeWritesLog;
  load?: ChaosLoad;
  faults: Fault[];
  aborted: boolean;
  rebalance?: RebalanceSummary;
  /** The write-behind part (started clusters only): its store, the store's faults, its load and what the end found. */
  store?: RecordingStore;
  storeFaults?: StoreFaults;
  wbLoad?: ChaosLoad;
  writeBehind?: WriteBehindSummary;
}

/** The write-behind store's port: the first after the cluster's (the range a caller reserves ends with it). */
function storePortOf(o: ChaosOptions): number {
  const n = (o.shards + (o.rebalance ? 1 : 0)) * (o.replicas + 1);
  return o.portBase + 3 + 2 * n + 3 * o.proxies;
}

function layoutFor(o: ChaosOptions, dataDir: string): ClusterLayout {
  const spareShards = o.rebalance ? 1 : 0;
  const n = (o.shards + spareShards) * (o.replicas + 1);
  const base = o.portBase;
  return {
    etcdPort: base, etcdPeerPort: base + 1, controlPort: base + 2, nodeBasePort: base + 3, nodeAdminBasePort: base + 3 + n,
    proxies: Array.from({ length: o.proxies }, (_, i) => ({ httpPort: base + 3 + 2 * n + 3 * i, respPort: base + 4 + 2 * n + 3 * i, adminPort: base + 5 + 2 * n + 3 * i })),
    shards: o.shards, spareShards, replicas: o.replicas, leaseTtl: o.leaseTtl, cluster: o.cluster,
    ...(o.rebalance ? { cutSlots: SCENARIO_CUT_SLOTS } : {}),
    ...(o.tls ? { tls: writeLocalTls(path.join(dataDir, 'tls')), clusterSecretFile: writeClusterSecret(path.join(dataDir, 'cluster-secret')) } : {}),
  };
}

/** Writes `count` ballast keys of 512 bytes, pipelined, so that a full sync has something to copy. */
async function writeBallast(wsUrl: string, count: number, ca: Buffer | undefined): Promise<void> {
  if (count === 0) return;
  const client = await ShardcacheClient.connect(wsUrl, ca ? { ca } : {});
  const value = Buffer.alloc(512, 0x62);
  try {
    for (let i = 0; i < count; i += 500) {
      await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => client.set('ballast', `b${i + j}`, value, { ttlMs: 0 })));
    }
  } finally {
    await client.close();
  }
}

/** The faults log written by chaos-compose.sh (see parseFaultsLog); empty until it exists. */
function readFaultsLog(file: string | undefined): { faults: Fault[]; ended: boolean } {
  return file && fs.existsSync(file) ? parseFaultsLog(fs.readFileSync(file, 'utf8')) : { faults: [], ended: false };
}

/** External mode: the load runs until the faults log says the schedule is over, or `until`. */
async function awaitExternalFaults(run: Run, until: number): Promise<void> {
  while (!run.aborted && Date.now() < until && !readFaultsLog(run.options.faultsLog).ended) await sleep(500);
}

async function applyFaults(run: Run, ctx: FaultContext, until: number): Promise<void> {
  const o = run.options;
  const plan = planSchedule(o.profile, (o.duration ?? 600) * 1000, o.seed, o.shards, o.proxies);
  for (const [i, planned] of plan.entries()) {
    if (run.aborted || Date.now() > until) {
      say(`fault phase over its time (${plan.length - i} faults of the schedule not applied)`);
      break;
    }
    run.faults.push(await inject(ctx, planned, i + 1));
    if (!(await waitWhole(ctx, 30_000))) say(`the cluster is not whole 30 s after fault ${i + 1}; going on`);
    await sleep(planned.gapMs);
  }
}

/** Where the load and the observers point (the started cluster, or the `--external` flags), and the CA of a cluster over TLS. */
function endpointsOf(run: Run): { proxyUrls: string[]; nodes: Array<{ nodeId: string; shard: number; adminUrl: string }>; etcd: string; ca?: Buffer } {
  const o = run.options;
  if (!run.cluster) return { proxyUrls: o.proxyUrls!, nodes: o.nodeAdmins!, etcd: o.etcd! };
  const { tls, proxies } = run.cluster.layout;
  return {
    proxyUrls: proxies.map((p) => `${tls ? 'https' : 'http'}://127.0.0.1:${p.httpPort}`), nodes: run.cluster.nodes, etcd: run.cluster.etcd,
    ...(tls ? { ca: fs.readFileSync(tls.caFile) } : {}),
  };
}

async function execute(run: Run): Promise<number> {
  const o = run.options;
  const { proxyUrls, nodes, etcd, ca } = endpointsOf(run);
  if (run.cluster) {
    const over = o.tls ? ' over TLS (etcd, client ports, node links with mutual TLS) with a cluster secret' : '';
    say(`starting ${o.shards} shards x ${o.replicas + 1} nodes, ${o.proxies} proxies, etcd on ${etcd}${over}; logs in ${run.cluster.logDir}`);
    const namespaces: Array<[string, string[]]> = [[ACKED_NS, ['--write-ack', 'replica']], [ASYNC_NS, ['--write-ack', 'primary']]];
    if (o.writeBehind) {
      run.store = await RecordingStore.start({ bulk: true, port: storePortOf(o) });
      say(`write-behind store on ${run.store.template} (bulk ${run.store.bulkUrl}); namespace ${WB_NS}: ${writeBehindFlags(run.store).join(' ')}`);
      namespaces.push([WB_NS, writeBehindFlags(run.store)]);
    }
    await run.cluster.start(namespaces, 60);
    process.stdout.write(`${JSON.stringify({ event: 'ready', etcd, tls: o.tls, logDir: run.cluster.logDir, pids: run.cluster.pids })}\n`);
  }
  const epochs = new EpochWatch(etcd, o.cluster, run.cluster?.etcdAccess);
  run.epochs = epochs;
  await epochs.start();
  const wsUrls = proxyUrls.map((u) => `${u.replace(/^http/, 'ws')}/v1/ws`); // https -> wss
  await writeBallast(wsUrls[0], o.ballastKeys, ca);
  const load = new ChaosLoad({
    wsUrls, ca, namespaces: [ACKED_NS, ASYNC_NS], shards: o.shards, shardOfSlot: await epochs.shardOfSlot(),
    workers: o.workers, keysPerShard: 1, rate: o.rate, requestTimeoutMs: 10_000,
  });
  run.load = load;
  const wbLoad = run.store ? new ChaosLoad({
    wsUrls, ca, namespaces: [WB_NS], shards: o.shards, shardOfSlot: await epochs.shardOfSlot(), workers: WB_WORKERS, keysPerShard: WB_KEYS_PER_SHARD, rate: WB_RATE, requestTimeoutMs: 10_000,
  }) : undefined;
  run.wbLoad = wbLoad;
  const startedAt = Date.now();
  load.start();
  wbLoad?.start();
  say(`load: ${load.keys.length} keys, ${o.workers} workers over ${wsUrls.length} proxies, about ${o.rate} requests/s`);
  if (wbLoad) say(`write-behind load: ${wbLoad.keys.length} keys of ${WB_NS}, ${WB_WORKERS} workers, about ${WB_RATE} requests/s`);
  const poll = setInterval(() => void run.writes.collect(nodes), 1000);
  try {
    await sleep(3000);
    const until = Date.now() + (o.duration ?? (o.profile === 'ci' ? 150 : 600)) * 1000;
    const ctx = run.cluster ? { cluster: run.cluster, epochs, writes: run.writes, leaseTtlMs: o.leaseTtl * 1000, say } : undefined;
    if (run.store) {
      run.storeFaults = new StoreFaults(run.store, STORE_FAULT_PLAN[o.profile], say);
      run.storeFaults.start();
    }
    if (ctx) await applyFaults(run, ctx, until);
    else await awaitExternalFaults(run, until);
    if (ctx && o.rebalance && !run.aborted) {
      say(`rebalance scenario: shard ${o.shards} joins, then leaves, with faults during the copies and the cut-overs`);
      run.rebalance = await rebalanceScenario(ctx, o.shards, () => run.faults.length + 1, run.faults);
      for (const line of [...run.rebalance.steps, ...run.rebalance.problems]) say(`rebalance: ${line}`);
    }
    await run.storeFaults?.stop(); // the store healthy again for the rest of the run
    await sleep(3000);
  } finally {
    clearInterval(poll);
  }
  await Promise.all([load.stop(), wbLoad?.stop()]);
  const loadEndedAt = Date.now();
  const unread = await load.verify(Date.now() + 30_000);
  if (unread.length) say(`final verification could not read ${unread.length} keys`);
  if (run.cluster && run.store && wbLoad) run.writeBehind = await endWriteBehind(run, run.cluster, run.store, wbLoad);
  await run.writes.collect(nodes);
  const history: History = {
    ops: load.ops, faults: run.cluster ? run.faults : readFaultsLog(o.faultsLog).faults, epochs: epochs.seen, nodeWrites: run.writes.reports,
    ackedNs: ACKED_NS, asyncNs: ASYNC_NS, proxies: proxyUrls.length, startedAt, loadEndedAt,
  };
  return report(run, history);
}

/**
 * The end of the write-behind part: the store healthy, `shardctl ns flush wb` (bounded), every
 * key of the namespace read back through a proxy, then the store compared with the cache.
 */
async function endWriteBehind(run: Run, cluster: ChaosCluster, store: RecordingStore, wbLoad: ChaosLoad): Promise<WriteBehindSummary> {
  await run.storeFaults?.stop();
  const flush = await flushAtEnd(cluster.etcd, cluster.layout, WB_NS);
  say(`write-behind: shardctl ns flush ${WB_NS}: exit ${flush.code} after ${flush.ms} ms${flush.code === 0 ? '' : `: ${flush.out}`}`);
  const unread = await wbLoad.verify(Date.now() + 30_000);
  if (unread.length) say(`write-behind: final verification could not read ${unread.length} keys`);
  return writeBehindSummary({ etcd: cluster.etcd, layout: cluster.layout, store, faults: run.storeFaults?.applied ?? [], ops: wbLoad.ops, keys: wbLoad.keys.length, flush });
}

/** Checks the history, prints the report (and writes the JSON files asked for); 0 when every invariant held, else 1. */
function report(run: Run, history: History): number {
  const o = run.options;
  const verdict = checkHistory(history);
  const wb = run.writeBehind;
  if (wb) verdict.invariants.push(...writeBehindInvariants(wb));
  const info = {
    profile: o.profile, seed: o.seed, leaseTtlSeconds: o.leaseTtl, shards: o.shards, nodesPerShard: o.replicas + 1, proxies: history.proxies,
    loadSeconds: (history.loadEndedAt - history.startedAt) / 1000, requests: history.ops.length, ackedNs: ACKED_NS, asyncNs: ASYNC_NS, external: o.external, tls: o.tls,
  };
  process.stdout.write(`\n${formatReport(info, verdict)}\n`);
  if (wb) process.stdout.write(`${writeBehindLines(wb).join('\n')}\n`);
  const r = run.rebalance;
  if (r) {
    const moved = r.migrations.map((m) => `${m.id} ${m.from}->${m.to} ${m.state} (${m.slots} slots, ${m.keys} keys, ${m.attempts} attempts, ${m.coldSlots} cold, max freeze ${m.freezeMsMax} ms)`);
    process.stdout.write(`rebalance: ${r.ok ? 'ok' : 'FAILED'}; slot map epoch ${r.slotMapEpoch}; ${moved.join('; ')}${r.problems.length ? `; problems: ${r.problems.join('; ')}` : ''}\n`);
  }
  if (o.reportJson) fs.writeFileSync(o.reportJson, JSON.stringify({ run: info, verdict, rebalance: r ?? null, writeBehind: wb ?? null, pids: run.cluster?.pids ?? [] }, null, 2));
  if (o.historyJson) fs.writeFileSync(o.historyJson, JSON.stringify({ ...history, writeBehindOps: run.wbLoad?.ops ?? [] }));
  return verdict.invariants.every((i) => i.ok) && (r?.ok ?? true) ? 0 : 1;
}

async function main(): Promise<void> {
  const options = parseChaosOptions(process.argv.slice(2));
  if (options.printSchedule) {
    process.stdout.write(`${scheduleLines(planSchedule(options.profile, (options.duration ?? 600) * 1000, options.seed, options.shards, options.proxies))}\n`);
    return;
  }
  if (!options.external && !etcdOnPath()) {
    process.stderr.write('chaos: etcd is not on the PATH. Install it (Debian/Ubuntu: apt-get install -y etcd-server).\n');
    process.exit(2);
  }
  if (options.regions) process.exit(await runRegionScenario(options, say)); // its own topology, load, faults and report
  const dataDir = options.external ? undefined : options.dataDir ? path.resolve(options.dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-chaos-'));
  const cluster = dataDir === undefined ? undefined : new ChaosCluster(layoutFor(options, dataDir), dataDir, say);
  const run: Run = { options, cluster, writes: new NodeWritesLog(), faults: [], aborted: false };
  let finishing: Promise<void> | undefined;
  const finish = (code: number): Promise<void> => {
    finishing ??= (async () => {
      run.aborted = true;
      await run.load?.close().catch(() => undefined);
      await run.wbLoad?.close().catch(() => undefined);
      await run.storeFaults?.stop().catch(() => undefined);
      await run.store?.close().catch(() => undefined);
      await run.epochs?.close().catch(() => undefined);
      await cluster?.close();
      if (dataDir && !options.dataDir && code === 0) fs.rmSync(dataDir, { recursive: true, force: true });
      else if (cluster) say(`logs kept in ${cluster.logDir}`);
      process.exit(code);
    })();
    return finishing;
  };
  process.once('exit', () => cluster?.killAll());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      say(`${signal}: stopping every program`);
      void finish(130);
    });
  }
  const hardLimitMs = (options.maxSeconds ?? (options.duration ?? (options.profile === 'ci' ? 150 : 600)) + 180) * 1000;
  const hardLimit = setTimeout(() => {
    say(`the run passed its hard limit of ${hardLimitMs / 1000} s; stopping`);
    void finish(2);
  }, hardLimitMs);
  hardLimit.unref();
  try {
    await finish(await execute(run));
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).stack ?? (err as Error).message}\n`);
    await finish(2);
  }
}

void main();
