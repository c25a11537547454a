#!/usr/bin/env node
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, Option } from 'commander';
import { intIn, parsePort, parseWorkers } from '../shared/config';
import type { StatusDocument } from '../control-plane/status/document';
import { renderTable } from '../control-plane/status/table';
import { writeLocalTls, type LocalTls } from './tls-certs';
import { etcdClientArgs, toolEnv, writeClusterSecret } from './cluster/tls';
import { parseClusterName } from '../control-plane/flags';
import {
  assertPortsFree, etcdOnPath, initCluster, launch, launchProgram, programSpecs, startEtcd, stopChild, waitForPrimaries, waitHealthy,
  type Child, type ClusterLayout, type ProgramSpec,
} from './cluster/processes';
import { RestartTracker, restartLine } from './local-cluster-restart';
import { prometheusOnPath, writePrometheusConfig, PROMETHEUS_INSTALL } from './cluster/prometheus';
import { configureRegion, prefixed, regionName, regionSecretIn, REPLICATED_NS, waitLinked } from './cluster/regions';
import { REGION_SECRET_ENV } from '../shared/regions';

/**
 * `npm start`: a whole local cluster as child processes of this one.
 *
 *   etcd ─► shardctl init ─► storage nodes (shards × (replicas + 1)) + control plane [+ proxy]
 *        ─► wait until every shard has a primary ─► print where everything listens ─► wait
 *   SIGINT/SIGTERM ─► stop programs (SIGTERM, SIGKILL after a grace), etcd last ─► remove temp dir
 *
 * Children run in their own process group so a Ctrl-C reaches only this runner, which stops the
 * programs together and etcd after them (so the nodes can revoke their leases). A child that dies while
 * the cluster runs is logged and, with `--restart` (the default), started again with the same
 * command line (same ports, etcd on the same data dir) after a backoff that doubles per
 * consecutive crash (scripts/local-cluster-restart.ts); `--no-restart` leaves it dead. A shutdown
 * cancels pending restarts. Adding a program is one entry in `programSpecs` (scripts/cluster/processes.ts).
 * With `--tls`, a throwaway CA and certificates (scripts/tls-certs.ts) go to `<data dir>/tls` and
 * a random cluster secret to `<data dir>/cluster-secret` (0600): etcd takes only clients with a
 * certificate of it, the proxy's client ports speak TLS, every node link (proxy, control plane,
 * replication, migration, shardctl) is mutual TLS and proves the secret, and the runner prints how
 * to reach them (scripts/cluster/tls.ts has the flags).
 * With `--prometheus` (and `prometheus` on the PATH), deploy/prometheus/prometheus.yml rewritten for
 * the ports actually started (scripts/cluster/prometheus.ts) goes to `<data dir>/prometheus`, and
 * Prometheus runs as one more supervised program on `--prometheus-port` (TSDB in the same dir).
 * With `--regions N` (N > 1; issue 18, docs/operations.md "Regions") it runs N whole clusters, the
 * regions r1..rN, each with its own etcd, nodes, control plane and proxy on the ports of the flags
 * shifted by `--region-port-step` per region (r1 on the flags' own), data and logs under
 * `<data dir>/<region>`, program names prefixed `<region>-`; every node has a `--data-dir` (its
 * spool of invalidations), every program the region secret (generated into
 * `<data dir>/region-secret`, passed as $SHARDCACHE_REGION_SECRET); each region's etcd names it
 * and lists the others as peers (their proxy's HTTP URL), and the namespace `shared` is
 * replicated (`replicated: invalidate`) in every region.
 */
/** The runner's flags: the layout with one proxy's ports flat, plus the runner's own settings. */
type RunnerConfig = Omit<ClusterLayout, 'proxies' | 'tls'> & ClusterLayout['proxies'][number] & {
  /** Make a throwaway CA, certificates and a cluster secret; etcd, the proxy's client ports and the node links speak TLS. */
  tls: boolean;
  dataDir?: string;
  force: boolean;
  timeout: number;
  /** Start a program that died again (with backoff); `--no-restart` leaves it dead. */
  restart: boolean;
  /** Run Prometheus on the cluster's real targets (when it is on the PATH). */
  prometheus: boolean;
  prometheusPort: number;
  /** Whole clusters to run as regions of each other (1: a plain cluster, as without the flag). */
  regions: number;
  /** Port shift from one region to the next. */
  regionPortStep: number;
};

function parseRunnerConfig(argv: readonly string[]): RunnerConfig {
  const port = (flags: string, description: string, value: number) => new Option(flags, description).argParser(parsePort).default(value);
  return new Command('local-cluster')
    .description('run a whole shardcache cluster on this machine: etcd, storage nodes and the control plane')
    .addOption(port('--etcd-port <port>', 'etcd client port', 2379))
    .addOption(port('--etcd-peer-port <port>', 'etcd peer port', 2380))
    .addOption(new Option('--shards <n>', 'number of shards').argParser(intIn(1, 64)).default(3))
    .addOption(new Option('--replicas <r>', 'replicas per shard besides the primary').argParser(intIn(0, 8)).default(1))
    .addOption(new Option('--spare-shards <n>', 'extra shards whose nodes run but own no slots (try: npx shardctl shard add 3 && npx shardctl rebalance)').argParser(intIn(0, 16)).default(0))
    .addOption(port('--node-base-port <port>', 'frame port of the first node; node i listens on base+i', 7000))
    .addOption(port('--node-admin-base-port <port>', 'admin port of the first node; node i uses base+i', 9200))
    .addOption(port('--control-port <port>', 'admin port of the control plane', 9300))
    .addOption(port('--http-port <port>', 'client port of the proxy (HTTP/JSON and WebSocket /v1/ws)', 8080))
    .addOption(port('--resp-port <port>', 'RESP (Redis protocol) port of the proxy', 6380))
    .addOption(port('--admin-port <port>', 'admin port of the proxy (/metrics, /healthz)', 9100))
    // 1 by default: on one machine the proxy shares its cores with the nodes, and a second proxy
    // process measured slower at pipeline 1 and no faster pipelined (docs/performance.md).
    .addOption(new Option('--workers <n|auto>', 'proxy processes sharing its ports (auto: one per core; for a host whose cores serve the proxy alone)').argParser(parseWorkers).default(1))
    .addOption(new Option('--lease-ttl <seconds>', 'lease TTL of the nodes').argParser(intIn(1, 60)).default(3))
    .addOption(new Option('--data-dir <dir>', 'keep etcd data and logs here (default: a temporary dir removed on exit)'))
    .addOption(new Option('--cluster <name>', 'cluster name').argParser(parseClusterName).default('default'))
    .option('--force', 're-initialise the cluster if the data dir already holds one', false)
    .option('--tls', 'TLS everywhere: a throwaway CA and certificates (in <data dir>/tls, new each start), etcd with client certificates, HTTPS/WSS and RESP over TLS on the proxy, mutual TLS on every node link, and a random cluster secret (<data dir>/cluster-secret)', false)
    .addOption(new Option('--timeout <seconds>', 'how long to wait for every shard to elect a primary').argParser(intIn(1, 600)).default(30))
    .addOption(new Option('--restart', 'start a program that died (etcd, a node, the control plane, a proxy) again with the same flags, after 0.5 s doubling per consecutive crash up to 30 s').default(true))
    .option('--no-restart', 'leave a program that died dead (it is only reported)')
    .option('--prometheus', 'also run Prometheus (when on the PATH) scraping this cluster, with deploy/prometheus/alerts.yml; its config and TSDB go to <data dir>/prometheus', false)
    .addOption(port('--prometheus-port <port>', 'web/API port of Prometheus (with --prometheus)', 9090))
    .addOption(new Option('--regions <n>', 'run n whole clusters as regions r1..rn of each other (own etcd, nodes, control plane and proxy each; namespace "shared" replicated as invalidations between them)').argParser(intIn(1, 4)).default(1))
    .addOption(new Option('--region-port-step <n>', 'with --regions: region k listens on every port of the flags plus (k-1) x n').argParser(intIn(1, 10_000)).default(1000))
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' })
    .opts<RunnerConfig>();
}

/** The runner's flags as the layout the shared starting code takes. */
function layoutOf(config: RunnerConfig, tls: LocalTls | undefined, clusterSecretFile: string | undefined): ClusterLayout {
  const { httpPort, respPort, adminPort, workers, tls: _tls, prometheus: _p, prometheusPort: _pp, regions: _r, regionPortStep: _rs, ...rest } = config;
  return { ...rest, tls, clusterSecretFile, proxies: [{ httpPort, respPort, adminPort, workers }] };
}

function describe(children: readonly Child[], doc: StatusDocument): string {
  const roles = new Map(doc.nodes.map((n) => [n.nodeId, `shard ${n.shardId} ${n.role}`]));
  return renderTable(
    ['PROGRAM', 'PID', 'ROLE', 'LISTENS', 'LOG'],
    children.map((c) => [c.spec.name, String(c.process.pid ?? '-'), roles.get(c.spec.name) ?? '-', c.spec.listens, c.logFile]),
  );
}

/** Where the CA and the secret's file are, and how clients and shardctl use them (paths only: no key or secret is printed). */
function tlsHowTo(layout: ClusterLayout, etcd: string, config: RunnerConfig): string {
  const tls = layout.tls!;
  const env = { SHARDCACHE_ETCD: etcd, SHARDCACHE_CLUSTER: layout.cluster, ...toolEnv(tls, layout.clusterSecretFile) };
  return [
    `TLS on: CA ${tls.caFile} (new each start); etcd takes only clients with a certificate of it (${tls.clientCertFile}, ${tls.clientKeyFile})`,
    `  node links: mutual TLS (nodes present ${tls.serverCertFile}; the proxy, the control plane and shardctl ${tls.clientCertFile}); cluster secret in ${layout.clusterSecretFile} (mode 0600)`,
    `  curl --cacert ${tls.caFile} https://127.0.0.1:${config.httpPort}/v1/cache/app/greeting`,
    `  redis-cli --tls --cacert ${tls.caFile} -p ${config.respPort} ping`,
    `  NODE_EXTRA_CA_CERTS=${tls.caFile} node app.js   # Node clients (wss://127.0.0.1:${config.httpPort}/v1/ws)`,
    '  # shardctl in another terminal (status, shard add, rebalance, ...): etcd and node links over TLS, the secret\'s file',
    `  export ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' \\\n    ')}`,
    '  npx shardctl status && npx shardctl rebalance --dry-run',
  ].join('\n');
}

function say(text: string): void {
  process.stdout.write(`local-cluster: ${text}\n`);
}

/** Everything the runner started, restarting what dies (with `restart`), and how to tear it down once. */
class Supervisor {
  /** etcd first, then the programs in start order; a restarted program takes its predecessor's place. */
  readonly children: Child[] = [];
  readonly #tracker = new RestartTracker();
  /** Restarts waiting out their backoff, by program name; a shutdown cancels them. */
  readonly #pending = new Map<string, NodeJS.Timeout>();
  #stopping: Promise<void> | undefined;

  constructor(readonly dataDir: string, readonly removeDataDir: boolean, readonly logDir: string, readonly restart: boolean) {}

  /** Takes `child` into the cluster: stopped with it and, with `restart`, started again when it dies. */
  adopt(child: Child): Child {
    this.children.push(child);
    this.#watch(child);
    return child;
  }

  #watch(child: Child): void {
    this.#tracker.started(child.spec.name, Date.now());
    let dead = false;
    const died = (code: number | null, signal: NodeJS.Signals | null) => {
      if (dead) return;
      dead = true;
      this.#died(child, code, signal);
    };
    child.process.once('exit', died);
    child.process.once('error', () => {
      if (child.process.pid === undefined) died(null, null); // never started: no 'exit' follows
    });
  }

  #died(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (child.stopping || this.#stopping || !this.restart) return;
    const { name } = child.spec;
    // What is left of its process group (a proxy's workers) would hold its ports: the group dies with its leader.
    if (child.process.pid !== undefined) {
      try {
        process.kill(-child.process.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    const plan = this.#tracker.crashed(name, Date.now());
    say(restartLine(name, code, signal, plan));
    this.#pending.set(name, setTimeout(() => {
      this.#pending.delete(name);
      this.#relaunch(child, plan.attempt);
    }, plan.delayMs));
  }

  /** The same command line again (same ports; etcd on the same data dir), in the dead child's place. */
  #relaunch(old: Child, attempt: number): void {
    if (this.#stopping) return;
    const { spawnfile, spawnargs } = old.process;
    const fresh = launch(old.spec, spawnfile, spawnargs.slice(1), path.dirname(old.logFile), say); // its region's log dir (with --regions)
    const at = this.children.indexOf(old);
    if (at >= 0) this.children[at] = fresh;
    else this.children.push(fresh);
    this.#watch(fresh);
    process.stdout.write(`${JSON.stringify({ event: 'restarted', name: old.spec.name, pid: fresh.process.pid, attempt })}\n`);
  }

  /** Cancels pending restarts, stops the programs together, then etcd (every region's), removes a temp dir and exits. */
  stopAndExit(code: number): Promise<void> {
    this.#stopping ??= (async () => {
      for (const timer of this.#pending.values()) clearTimeout(timer);
      this.#pending.clear();
      const isEtcd = (c: Child) => c.spec.script === 'etcd'; // etcd last: nodes revoke their leases on the way out
      await Promise.all(this.children.filter((c) => !isEtcd(c)).map((c) => stopChild(c, say)));
      await Promise.all(this.children.filter(isEtcd).map((c) => stopChild(c, say)));
      if (this.removeDataDir) fs.rmSync(this.dataDir, { recursive: true, force: true });
      say(code === 0 ? 'stopped' : 'stopped after an error');
      process.exit(code);
    })();
    return this.#stopping;
  }

  /** Last resort when this process exits any other way: no child outlives it. */
  killAll(): void {
    for (const c of this.children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGKILL');
  }
}

async function startCluster(config: RunnerConfig, supervisor: Supervisor, logDir: string, withPrometheus: boolean): Promise<void> {
  const { children } = supervisor;
  const etcd = `127.0.0.1:${config.etcdPort}`;
  const tls = config.tls ? writeLocalTls(path.join(supervisor.dataDir, 'tls')) : undefined;
  const secretFile = config.tls ? writeClusterSecret(path.join(supervisor.dataDir, 'cluster-secret')) : undefined;
  const layout = layoutOf(config, tls, secretFile);
  const specs = programSpecs(layout, etcd);
  const prometheus = withPrometheus ? writePrometheusConfig(layout, path.join(supervisor.dataDir, 'prometheus'), config.prometheusPort) : undefined;
  await assertPortsFree(layout, prometheus ? [...specs, prometheus.spec] : specs);
  supervisor.adopt(await startEtcd(layout, supervisor.dataDir, logDir, say));
  await initCluster(layout, etcd, config.force, say);
  for (const spec of specs) supervisor.adopt(launchProgram(spec, logDir, say));
  if (prometheus) supervisor.adopt(launch(prometheus.spec, 'prometheus', prometheus.args, logDir, say));
  const doc = await waitForPrimaries(etcd, config.cluster, config.timeout, tls);
  await waitHealthy(children, config.timeout);
  process.stdout.write(`\n${describe(children, doc)}\n\n`);
  for (let i = 0; i < (config.spareShards ?? 0); i++) {
    const id = config.shards + i;
    const addrs = children.filter((c) => c.spec.shardId === id).map((c) => c.spec.args[1]).map((p) => `127.0.0.1:${p}`);
    say(`spare shard ${id}: ${addrs.join(', ')} (owns no slots; add it with: npx shardctl shard add ${id} && npx shardctl rebalance)`);
  }
  const shardctl = ['node dist/control-plane/cli/shardctl.js status --etcd', etcd, ...etcdClientArgs(tls)].join(' ');
  say(`ready: etcd ${etcd}, dashboard http://127.0.0.1:${config.controlPort}/, try "${shardctl}". Ctrl-C stops everything.`);
  if (tls) say(tlsHowTo(layout, etcd, config));
  if (prometheus) for (const line of prometheus.summary) say(line);
  const ready = {
    event: 'ready', etcd, cluster: config.cluster, dataDir: supervisor.dataDir, controlPort: config.controlPort, children: children.map((c) => ({ name: c.spec.name, pid: c.process.pid })),
    ...(tls ? { tls, clusterSecretFile: secretFile } : {}),
    ...(prometheus ? { prometheus: prometheus.info } : {}),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

/** One region of `--regions N`: its flags (ports shifted), where its data and logs go, its programs. */
interface RegionRun {
  name: string;
  config: RunnerConfig;
  dir: string;
  logDir: string;
  layout: ClusterLayout;
  etcd: string;
  specs: ProgramSpec[];
}

const PORT_FLAGS = ['etcdPort', 'etcdPeerPort', 'nodeBasePort', 'nodeAdminBasePort', 'controlPort', 'httpPort', 'respPort', 'adminPort'] as const;

/** The regions of `--regions N`: region i on every port shifted by i × --region-port-step. */
function regionRuns(config: RunnerConfig, dataDir: string): RegionRun[] {
  return Array.from({ length: config.regions }, (_, i) => {
    const name = regionName(i);
    const shifted: RunnerConfig = { ...config };
    for (const flag of PORT_FLAGS) {
      shifted[flag] = config[flag] + i * config.regionPortStep;
      if (shifted[flag] > 65_000) throw new Error(`region ${name} would listen above port 65000 (${flag} ${shifted[flag]}); lower --region-port-step or the base ports`);
    }
    const dir = path.join(dataDir, name);
    const layout: ClusterLayout = { ...layoutOf(shifted, undefined, undefined), nodeDataDir: path.join(dir, 'nodes') };
    const etcd = `127.0.0.1:${shifted.etcdPort}`;
    const specs = prefixed(programSpecs(layout, etcd), `${name}-`);
    return { name, config: shifted, dir, logDir: path.join(dataDir, 'logs', name), layout, etcd, specs };
  });
}

/**
 * `--regions N`: N whole clusters as regions of each other (see the top of this file). Every
 * region's etcd is started, initialised and configured (its name, the others as peers, `shared`
 * replicated) before any program starts, so the nodes come up shipping invalidations.
 */
async function startRegions(config: RunnerConfig, supervisor: Supervisor): Promise<void> {
  const runs = regionRuns(config, supervisor.dataDir);
  const etcdPorts: ProgramSpec[] = runs.slice(1).map((r) => ({
    name: `${r.name}-etcd`, script: 'etcd', args: [], listens: '', ports: [[r.config.etcdPort, `--etcd-port (+ --region-port-step, ${r.name})`], [r.config.etcdPeerPort, `--etcd-peer-port (+ --region-port-step, ${r.name})`]],
  }));
  await assertPortsFree(runs[0].layout, [...etcdPorts, ...runs.flatMap((r) => r.specs)]);
  const secretFile = path.join(supervisor.dataDir, 'region-secret');
  process.env[REGION_SECRET_ENV] = regionSecretIn(secretFile); // every program (restarts too) inherits it
  const peersOf = (self: RegionRun) => runs.filter((r) => r !== self).map((r) => ({ name: r.name, endpoint: `http://127.0.0.1:${r.config.httpPort}` }));
  for (const r of runs) {
    const sayIn = (text: string) => say(`${r.name}: ${text}`);
    fs.mkdirSync(r.logDir, { recursive: true });
    const etcdChild = await startEtcd(r.layout, r.dir, r.logDir, sayIn);
    etcdChild.spec = { ...etcdChild.spec, name: `${r.name}-etcd` };
    supervisor.adopt(etcdChild);
    await initCluster(r.layout, r.etcd, config.force, sayIn);
    await configureRegion(r.etcd, config.cluster, r.name, peersOf(r), [REPLICATED_NS]);
  }
  for (const r of runs) for (const spec of r.specs) supervisor.adopt(launchProgram(spec, r.logDir, (text) => say(`${r.name}: ${text}`)));
  const docs = await Promise.all(runs.map((r) => waitForPrimaries(r.etcd, config.cluster, config.timeout)));
  await waitHealthy(supervisor.children, config.timeout);
  const linked = await Promise.all(runs.map((r) => waitLinked(`http://127.0.0.1:${r.config.adminPort}`, peersOf(r).map((p) => p.name), config.timeout * 1000)));
  runs.forEach((r, i) => {
    const mine = supervisor.children.filter((c) => c.spec.name.startsWith(`${r.name}-`));
    const roles = new Map(docs[i].nodes.map((n) => [`${r.name}-${n.nodeId}`, `shard ${n.shardId} ${n.role}`]));
    const table = renderTable(['PROGRAM', 'PID', 'ROLE', 'LISTENS', 'LOG'], mine.map((c) => [c.spec.name, String(c.process.pid ?? '-'), roles.get(c.spec.name) ?? '-', c.spec.listens, c.logFile]));
    process.stdout.write(`\nregion ${r.name}:\n${table}\n`);
  });
  process.stdout.write('\n');
  for (const [i, r] of runs.entries()) {
    const peers = peersOf(r).map((p) => `${p.name} at ${p.endpoint}`).join(', ');
    say(`region ${r.name}: etcd ${r.etcd}, proxy http://127.0.0.1:${r.config.httpPort} (RESP ${r.config.respPort}, admin http://127.0.0.1:${r.config.adminPort}/v1/admin/regions), dashboard http://127.0.0.1:${r.config.controlPort}/; peers: ${peers}${linked[i] ? ' (linked)' : ' (NOT linked yet: see its nodes\' logs)'}`);
  }
  const [r1, r2] = runs;
  say(`namespace "${REPLICATED_NS}" is replicated (replicated: invalidate) in ${runs.map((r) => r.name).join(', ')}: a write in one region invalidates the key in the others. Try:`);
  say(`  curl -X PUT -H 'content-type: application/json' -d '{"value":"old"}' http://127.0.0.1:${r2.config.httpPort}/v1/cache/${REPLICATED_NS}/greeting   # cached in ${r2.name}`);
  say(`  curl -X PUT -H 'content-type: application/json' -d '{"value":"new"}' http://127.0.0.1:${r1.config.httpPort}/v1/cache/${REPLICATED_NS}/greeting   # written in ${r1.name}`);
  say(`  curl http://127.0.0.1:${r2.config.httpPort}/v1/cache/${REPLICATED_NS}/greeting   # {"hit":false}: invalidated in ${r2.name}`);
  say(`region secret in ${secretFile} (mode 0600; every program has it as $${REGION_SECRET_ENV}); node spools in ${path.join(supervisor.dataDir, '<region>', 'nodes', '<node>', 'regions')}`);
  say(`ready: ${runs.length} regions; try "node dist/control-plane/cli/shardctl.js status --etcd ${r1.etcd}" (${r1.name}) or --etcd ${r2.etcd} (${r2.name}). Ctrl-C stops everything.`);
  const ready = {
    event: 'ready', etcd: r1.etcd, cluster: config.cluster, dataDir: supervisor.dataDir, controlPort: r1.config.controlPort,
    regions: runs.map((r) => ({
      name: r.name, etcd: r.etcd, httpPort: r.config.httpPort, respPort: r.config.respPort, adminPort: r.config.adminPort, controlPort: r.config.controlPort, peers: peersOf(r).map((p) => p.name),
    })),
    replicatedNamespace: REPLICATED_NS, regionSecretFile: secretFile,
    children: supervisor.children.map((c) => ({ name: c.spec.name, pid: c.process.pid })),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
}

async function main(): Promise<void> {
  const config = parseRunnerConfig(process.argv.slice(2));
  if (!etcdOnPath()) {
    process.stderr.write('local-cluster: etcd is not on the PATH. Install it (Debian/Ubuntu: apt-get install -y etcd-server) or put an etcd 3.4+ binary on the PATH.\n');
    process.exit(1);
  }
  const dataDir = config.dataDir ? path.resolve(config.dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-local-'));
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const supervisor = new Supervisor(dataDir, !config.dataDir, logDir, config.restart);
  process.once('SIGINT', () => void supervisor.stopAndExit(0));
  process.once('SIGTERM', () => void supervisor.stopAndExit(0));
  process.once('exit', () => supervisor.killAll());
  say(`data in ${dataDir}${config.dataDir ? '' : ' (removed on exit)'}; logs in ${logDir}`);
  const withPrometheus = config.prometheus && prometheusOnPath();
  if (config.prometheus && !withPrometheus) say(`--prometheus: prometheus is not installed (not on the PATH); ${PROMETHEUS_INSTALL}. Starting the cluster without it.`);
  try {
    if (config.regions > 1) {
      if (config.tls || config.prometheus) throw new Error('--regions does not go with --tls or --prometheus yet; run one region for those');
      await startRegions(config, supervisor);
    } else await startCluster(config, supervisor, logDir, withPrometheus);
  } catch (err) {
    process.stderr.write(`local-cluster: ${(err as Error).message}\n`);
    await supervisor.stopAndExit(1);
  }
}

void main();
