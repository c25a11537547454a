import { PROXY_METRICS_READ } from '../../control-plane/sample/rates';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { freePort, freeRange } from '../helpers/etcd';
import { alive, ROOT, startProgram, type Started } from '../helpers/process';

/**
 * deploy/prometheus and deploy/grafana against the real thing: promtool checks and unit-tests the
 * rules; every metric name the rules and the dashboard use is on the /metrics of a running `npm start`
 * cluster (nodes, proxy, control plane, etcd); and a real Prometheus, given prometheus.yml with its
 * default ports swapped for the test cluster's, scrapes every target and evaluates each alert's
 * inner expression to data. promtool and prometheus come from Debian's `prometheus` package (.ci/run).
 */
const PROM_DIR = path.join(ROOT, 'deploy/prometheus');
const ALERTS = path.join(PROM_DIR, 'alerts.yml');
const CONFIG = path.join(PROM_DIR, 'prometheus.yml');
const DASHBOARD = path.join(ROOT, 'deploy/grafana/shardcache.json');
const RUNNER = 'scripts/local-cluster.js';
/** npm start's defaults (scripts/local-cluster.ts): 3 shards × 2 nodes; prometheus.yml targets them. */
const SHARDS = 3;
const NODES = SHARDS * 2;
const DEFAULT = { etcd: 2379, nodeAdminBase: 9200, control: 9300, proxyAdmin: 9100 };
jest.setTimeout(40_000);

const onPath = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const hasPromtool = onPath('promtool');
const hasPrometheus = onPath('prometheus');
function requireTool(tool: 'promtool' | 'prometheus'): void {
  if (!(tool === 'promtool' ? hasPromtool : hasPrometheus)) throw new Error(`${tool} not on the PATH: install Debian's prometheus package (apt-get install -y prometheus; .ci/run does)`);
}

function promtool(...args: string[]): { code: number | null; output: string } {
  const r = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

interface Rule { alert?: string; record?: string; expr: string }
const rules = (): Rule[] => (YAML.parse(fs.readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);

interface Dashboard { panels: Array<{ targets?: Array<{ expr: string }> }>; templating: { list: Array<{ query?: unknown }> } }
const dashboard = (): Dashboard => JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const dashboardExprs = (): string[] => dashboard().panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
const variableQueries = (): string[] => dashboard().templating.list.flatMap((v) => (v.query && typeof v.query === 'object' ? [(v.query as { query: string }).query] : []));

/** Every shardcache_* and etcd_* metric name an expression names (recording rules' `shardcache:` names are not metrics). */
const metricNames = (exprs: readonly string[]): Set<string> => new Set(exprs.flatMap((e) => e.match(/\b(?:shardcache|etcd)_[a-zA-Z0-9_]+\b/g) ?? []));

/** Whether Prometheus text exposition `text` declares `name`, or the histogram/summary whose series it is. */
function exported(text: string, name: string): boolean {
  if (text.includes(`# TYPE ${name} `)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && new RegExp(`^# TYPE ${base} (histogram|summary)$`, 'm').test(text);
}

/**
 * For each alert, queries that return data on a healthy cluster: the rule's inner selector or its
 * expression without the threshold. null: its metric has no series until the trouble happens.
 */
const PROBES: Record<string, string[] | null> = {
  ShardcacheShardWithoutPrimary: ['max by (job) (shardcache_control_shards_without_primary)'],
  ShardcacheReplicaLagHigh: ['max by (job, instance, node, replica) (shardcache_node_replica_lag_seconds)', 'max by (job, instance, node, replica) (shardcache_node_replica_lag_bytes)'],
  // shardcache_node_evictions_total{reason} gets a series at a node's first eviction (its name is checked above).
  ShardcacheEvictionStorm: null,
  ShardcacheBreakerOpen: ['max by (job, instance, node) (shardcache_proxy_breaker_state)'],
  ShardcacheHitRatioDrop: ['shardcache:proxy_hit_ratio:rate5m', 'shardcache:proxy_reads:rate5m'],
  ShardcacheProxyErrorRateHigh: ['shardcache:proxy_error_ratio:rate5m', 'shardcache:proxy_requests:rate5m'],
  ShardcacheEtcdUnreachable: ['up{job="shardcache-etcd"} == 1', 'etcd_server_has_leader{job="shardcache-etcd"}'],
  ShardcacheMigrationStuck: ['max by (job) (shardcache_control_migration_slots_left)', 'sum(increase(shardcache_control_cutovers_total[15m]))', 'sum(changes(shardcache_control_migration_keys_moved[15m]))'],
  ShardcacheTargetDown: ['up{job=~"shardcache-node|shardcache-proxy|shardcache-control-plane"} == 1'],
};

describe('promtool', () => {
  test('check rules, check config and the rules\' unit tests pass', () => {
    requireTool('promtool');
    for (const args of [['check', 'rules', ALERTS], ['check', 'config', CONFIG], ['test', 'rules', path.join(PROM_DIR, 'alerts.test.yml')]]) {
      const r = promtool(...args);
      expect({ args, ...r }).toMatchObject({ args, code: 0 });
    }
  });

  test('every alert has severity, summary, description and a `for:`; the probes below cover every alert', () => {
    const alerts = YAML.parse(fs.readFileSync(ALERTS, 'utf8')).groups.flatMap((g: { rules: Array<Record<string, any>> }) => g.rules).filter((r: Record<string, any>) => r.alert);
    for (const a of alerts) {
      expect({ alert: a.alert, for: typeof a.for, severity: a.labels?.severity, summary: typeof a.annotations?.summary, description: typeof a.annotations?.description })
        .toEqual({ alert: a.alert, for: 'string', severity: expect.stringMatching(/^(critical|warning)$/), summary: 'string', description: 'string' });
    }
    expect(alerts.map((a: { alert: string }) => a.alert).sort()).toEqual(Object.keys(PROBES).sort());
  });
});

describe('against a running npm start cluster', () => {
  let runner: Started | undefined;
  let children: Array<{ name: string; pid: number }> = [];
  const ports = { etcd: 0, etcdPeer: 0, control: 0, nodeBase: 0, nodeAdminBase: 0, http: 0, proxyAdmin: 0, resp: 0 };

  beforeAll(async () => {
    const base = await freeRange(3 + 2 * NODES + 3);
    Object.assign(ports, { etcd: base, etcdPeer: base + 1, control: base + 2, nodeBase: base + 3, nodeAdminBase: base + 3 + NODES, http: base + 3 + 2 * NODES, proxyAdmin: base + 4 + 2 * NODES, resp: base + 5 + 2 * NODES });
    runner = await startProgram(RUNNER, [
      '--etcd-port', `${ports.etcd}`, '--etcd-peer-port', `${ports.etcdPeer}`, '--control-port', `${ports.control}`,
      '--node-base-port', `${ports.nodeBase}`, '--node-admin-base-port', `${ports.nodeAdminBase}`, '--shards', `${SHARDS}`, '--replicas', '1',
      '--http-port', `${ports.http}`, '--admin-port', `${ports.proxyAdmin}`, '--resp-port', `${ports.resp}`, '--no-restart',
    ], {}, 30_000);
    children = runner.ready.children as typeof children;
    // Traffic through the proxy: a write, a hit and a miss, so the request, hit and miss counters have series.
    const cache = `http://127.0.0.1:${ports.http}/v1/cache/prom`;
    for (let i = 0; i < 6; i++) {
      expect((await fetch(`${cache}/k${i}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"value":"v"}' })).status).toBe(201);
      expect((await fetch(`${cache}/k${i}`)).status).toBe(200);
      expect(await (await fetch(`${cache}/missing${i}`)).json()).toMatchObject({ hit: false });
    }
  }, 35_000);

  afterAll(async () => {
    await runner?.stop(10_000);
    for (const c of children) if (alive(c.pid)) process.kill(c.pid, 'SIGKILL');
  }, 15_000);

  /** `/metrics` of every program: etcd, the nodes, the control plane, the proxy. */
  async function scrapeAll(): Promise<Record<string, string>> {
    const urls: Record<string, string> = { etcd: `http://127.0.0.1:${ports.etcd}/metrics`, control: `http://127.0.0.1:${ports.control}/metrics`, proxy: `http://127.0.0.1:${ports.proxyAdmin}/metrics` };
    for (let i = 0; i < NODES; i++) urls[`node${i}`] = `http://127.0.0.1:${ports.nodeAdminBase + i}/metrics`;
    const texts: Record<string, string> = {};
    for (const [name, url] of Object.entries(urls)) {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      texts[name] = await res.text();
    }
    return texts;
  }

  test('every metric the rules and the dashboard name is exported by a program', async () => {
    const texts = await scrapeAll();
    const all = Object.values(texts).join('\n');
    const ruleNames = metricNames(rules().map((r) => r.expr));
    // Grafana's panels and variables, and the proxy metrics the control plane's live dashboard samples.
    const dashNames = new Set([...metricNames([...dashboardExprs(), ...variableQueries()]), ...PROXY_METRICS_READ]);
    // The files do reference the programs' metrics (a broken extraction would check nothing).
    expect(ruleNames.size).toBeGreaterThanOrEqual(12);
    expect([...dashNames]).toEqual(expect.arrayContaining(['shardcache_node_ops_total', 'shardcache_proxy_request_duration_seconds_bucket', 'shardcache_proxy_breaker_state', 'shardcache_control_migrations']));
    const missing = [...new Set([...ruleNames, ...dashNames])].filter((name) => !exported(all, name));
    expect(missing).toEqual([]);
    // Each family comes from the program it is named after.
    for (const name of [...ruleNames, ...dashNames]) {
      const owner = name.startsWith('etcd_') ? ['etcd'] : name.startsWith('shardcache_node_') ? Object.keys(texts).filter((k) => k.startsWith('node'))
        : name.startsWith('shardcache_proxy_') ? ['proxy'] : ['control'];
      expect({ name, exported: owner.some((k) => exported(texts[k], name)) }).toEqual({ name, exported: true });
    }
  });

  test('a real Prometheus scrapes every target with prometheus.yml and evaluates the rules to data', async () => {
    requireTool('prometheus');
    requireTool('promtool');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-prom-'));
    let prom: ChildProcess | undefined;
    let log = '';
    try {
      // prometheus.yml with npm start's default ports replaced by the test cluster's, scraped every second.
      const config = YAML.parse(fs.readFileSync(CONFIG, 'utf8')) as { global: Record<string, unknown>; rule_files: string[]; scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[] }> }> };
      const portOf = (port: number): number => {
        if (port === DEFAULT.etcd) return ports.etcd;
        if (port === DEFAULT.control) return ports.control;
        if (port === DEFAULT.proxyAdmin) return ports.proxyAdmin;
        if (port >= DEFAULT.nodeAdminBase && port < DEFAULT.nodeAdminBase + NODES) return ports.nodeAdminBase + port - DEFAULT.nodeAdminBase;
        throw new Error(`prometheus.yml targets port ${port}, which npm start does not use by default`);
      };
      config.global = { ...config.global, scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
      config.rule_files = config.rule_files.map((f) => path.resolve(PROM_DIR, f));
      let targets = 0;
      for (const job of config.scrape_configs) {
        for (const sc of job.static_configs) {
          sc.targets = sc.targets.map((t) => `127.0.0.1:${portOf(Number(t.split(':')[1]))}`);
          targets += sc.targets.length;
        }
      }
      expect(targets).toBe(1 + NODES + 2);
      const configFile = path.join(dir, 'prometheus.yml');
      fs.writeFileSync(configFile, YAML.stringify(config));
      expect(promtool('check', 'config', configFile)).toMatchObject({ code: 0 });

      const port = await freePort();
      const api = `http://127.0.0.1:${port}`;
      prom = spawn('prometheus', [`--config.file=${configFile}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      prom.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      prom.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      const get = async (p: string): Promise<any> => {
        const res = await fetch(`${api}${p}`, { signal: AbortSignal.timeout(3000) });
        return res.json();
      };
      const query = async (q: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> => get(`/api/v1/query?query=${encodeURIComponent(q)}`);
      const waitUntil = async <T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> => {
        let last: unknown;
        for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 250))) {
          if (prom!.exitCode !== null) throw new Error(`prometheus exited (${prom!.exitCode}): ${log.slice(-2000)}`);
          try {
            const got = await check();
            if (got !== undefined) return got;
          } catch (err) {
            last = err;
          }
        }
        throw new Error(`timed out waiting for ${what} (${String(last ?? '')}); prometheus log: ${log.slice(-2000)}`);
      };

      // Every target up.
      const active = await waitUntil('every target to be up', async () => {
        const t = (await get('/api/v1/targets')).data.activeTargets as Array<{ labels: Record<string, string>; health: string; lastError: string }>;
        return t.length === targets && t.every((x) => x.health === 'up') ? t : undefined;
      }, 15_000);
      expect(active.map((t) => t.labels.job).sort()).toEqual(['shardcache-control-plane', 'shardcache-etcd', ...Array(NODES).fill('shardcache-node'), 'shardcache-proxy']);

      // The rule files load and evaluate without error.
      await waitUntil('every rule to be evaluated', async () => {
        const groups = (await get('/api/v1/rules')).data.groups as Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }>;
        const all = groups.flatMap((g) => g.rules);
        if (all.length !== rules().length || all.some((r) => r.health !== 'ok')) return undefined;
        return all;
      }, 10_000);

      // Each alert's inner expression has data on a healthy cluster (rate() needs two scrapes).
      const probes = Object.entries(PROBES).flatMap(([alert, qs]) => (qs ?? []).map((q) => ({ alert, q })));
      const empty = await waitUntil('every probe to return data', async () => {
        const results = await Promise.all(probes.map(async (p) => ({ ...p, r: await query(p.q) })));
        const bad = results.filter((x) => x.r.status !== 'success' || x.r.data!.result.length === 0);
        return bad.length === 0 ? bad : undefined;
      }, 12_000).catch(async (err: Error) => {
        const results = await Promise.all(probes.map(async (p) => ({ ...p, r: await query(p.q) })));
        throw new Error(`${err.message.slice(0, 200)}; without data: ${JSON.stringify(results.filter((x) => x.r.status !== 'success' || x.r.data!.result.length === 0).map((x) => [x.alert, x.q, x.r.error]))}`);
      });
      expect(empty).toEqual([]);
      expect((await query('shardcache_node_replica_lag_seconds')).data!.result).toHaveLength(SHARDS); // one replica per primary
      expect((await query('shardcache_proxy_breaker_state')).data!.result.length).toBeGreaterThanOrEqual(SHARDS);

      // A healthy cluster fires nothing, and every alert expression is valid PromQL.
      for (const r of rules().filter((x) => x.alert)) {
        const answer = await query(r.expr);
        expect({ alert: r.alert, status: answer.status, error: answer.error, result: answer.data?.result }).toEqual({ alert: r.alert, status: 'success', error: undefined, result: [] });
      }
      // The dashboard's queries parse (Grafana's variables replaced by what they stand for).
      for (const expr of [...dashboardExprs(), ...variableQueries().map((q) => q.replace(/^label_values\((\w+), \w+\)$/, '$1'))]) {
        const answer = await query(expr.replace(/\$__rate_interval/g, '1m').replace(/\$(node|proxy|control)_job/g, '.*'));
        expect({ expr, status: answer.status, error: answer.error }).toEqual({ expr, status: 'success', error: undefined });
      }
    } finally {
      if (prom && prom.exitCode === null && prom.signalCode === null) {
        const exited = new Promise((resolve) => prom!.once('exit', resolve));
        prom.kill('SIGTERM');
        const timer = setTimeout(() => prom!.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
