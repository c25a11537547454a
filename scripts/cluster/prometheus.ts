import path from 'node:path';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import YAML from 'yaml';
import { programSpecs, ROOT, type ClusterLayout, type ProgramSpec } from './processes';

/**
 * deploy/prometheus/prometheus.yml made to fit a cluster of any layout: `npm start -- --prometheus`
 * (scripts/local-cluster.ts) writes the result into its data dir and runs Prometheus on it.
 *
 *   parsed prometheus.yml + layout ─► scrapeConfigFor ─► the same jobs with the cluster's real targets
 *
 * prometheus.yml targets npm start's default layout (3 shards × 2 nodes on admin ports 9200..); here
 * every job's targets come from the layout instead: etcd's client port (https with the client
 * certificate when the layout has TLS), one target per storage node with its `node` and `shard`
 * labels, one per proxy with its `proxy` label, and the control plane. The job names (which
 * alerts.yml and the Grafana dashboard select on) and everything else in the file are kept.
 * Pure: no file is read or written here.
 */
export interface PrometheusConfig {
  global?: Record<string, unknown>;
  rule_files?: string[];
  scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>; [key: string]: unknown }>;
  [key: string]: unknown;
}

export interface ScrapeConfigOptions {
  /** Where the template's relative `rule_files` are (deploy/prometheus): they become absolute. */
  ruleDir: string;
  /** Scrape and evaluation interval instead of the template's (tests use `1s`). */
  interval?: string;
}

export const PROMETHEUS_JOBS = ['shardcache-etcd', 'shardcache-node', 'shardcache-proxy', 'shardcache-control-plane'] as const;

/** `template` (parsed prometheus.yml) with targets for `layout`; fails on a job it does not know. */
export function scrapeConfigFor(template: PrometheusConfig, layout: ClusterLayout, options: ScrapeConfigOptions): PrometheusConfig {
  const specs = programSpecs(layout, `127.0.0.1:${layout.etcdPort}`);
  const local = (port: number | string): string => `127.0.0.1:${port}`;
  const portOf = (url: string): string => new URL(url).port;
  const nodes = specs.filter((s) => s.shardId !== undefined).map((s) => ({ targets: [local(portOf(s.adminUrl!))], labels: { node: s.name, shard: `${s.shardId}` } }));
  const proxies = specs.filter((s) => s.script === 'proxy/main.js').map((s) => ({ targets: [local(portOf(s.healthUrl!))], labels: { proxy: s.name } }));
  const tls = layout.tls;
  const jobs = template.scrape_configs.map((job) => {
    switch (job.job_name) {
      case 'shardcache-etcd':
        return {
          ...job,
          ...(tls ? { scheme: 'https', tls_config: { ca_file: tls.caFile, cert_file: tls.clientCertFile, key_file: tls.clientKeyFile } } : {}),
          static_configs: [{ targets: [local(layout.etcdPort)] }],
        };
      case 'shardcache-node':
        return { ...job, static_configs: nodes };
      case 'shardcache-proxy':
        return { ...job, static_configs: proxies };
      case 'shardcache-control-plane':
        return { ...job, static_configs: [{ targets: [local(layout.controlPort)] }] };
      default:
        throw new Error(`prometheus.yml has job ${job.job_name}, which is none of ${PROMETHEUS_JOBS.join(', ')}`);
    }
  });
  const global = { ...template.global, external_labels: { ...(template.global?.external_labels as Record<string, string> | undefined), cluster: layout.cluster } };
  if (options.interval) Object.assign(global, { scrape_interval: options.interval, scrape_timeout: options.interval, evaluation_interval: options.interval });
  return {
    ...template,
    global,
    rule_files: (template.rule_files ?? []).map((f) => path.resolve(options.ruleDir, f)),
    scrape_configs: jobs,
  };
}

/** How many targets `config` scrapes. */
export const targetCount = (config: PrometheusConfig): number =>
  config.scrape_configs.reduce((n, job) => n + (job.static_configs ?? []).reduce((m, sc) => m + sc.targets.length, 0), 0);

/* ---- Running it (`npm start -- --prometheus`): files and the program; everything above is pure. ---- */

export const PROMETHEUS_DIR = path.join(ROOT, 'deploy/prometheus');
export const PROMETHEUS_TEMPLATE = path.join(PROMETHEUS_DIR, 'prometheus.yml');
export const PROMETHEUS_ALERTS = path.join(PROMETHEUS_DIR, 'alerts.yml');
export const GRAFANA_DASHBOARD = path.join(ROOT, 'deploy/grafana/shardcache.json');
export const PROMETHEUS_INSTALL = 'install it with: sudo apt-get install --no-install-recommends prometheus (Debian/Ubuntu), or put a prometheus binary on the PATH';

/** Whether a prometheus binary is on the PATH. */
export const prometheusOnPath = (): boolean => spawnSync('prometheus', ['--version'], { stdio: 'ignore', timeout: 10_000 }).status === 0;

/** What the runner needs to start Prometheus and to say where it is. */
export interface PrometheusRun {
  spec: ProgramSpec;
  args: string[];
  /** Lines for the runner's summary. */
  summary: string[];
  info: { url: string; configFile: string; tsdb: string; alerts: string; dashboard: string };
}

/** Writes `<dir>/prometheus.yml` for `layout` (the TSDB goes to `<dir>/data`); returns how to run Prometheus on `port`. */
export function writePrometheusConfig(layout: ClusterLayout, dir: string, port: number): PrometheusRun {
  const template = YAML.parse(fs.readFileSync(PROMETHEUS_TEMPLATE, 'utf8')) as PrometheusConfig;
  const config = scrapeConfigFor(template, layout, { ruleDir: PROMETHEUS_DIR });
  const configFile = path.join(dir, 'prometheus.yml');
  const tsdb = path.join(dir, 'data');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(configFile, `# Written by npm start (scripts/local-cluster.ts) from ${PROMETHEUS_TEMPLATE} for the ports it started; rewritten each start.\n${YAML.stringify(config)}`);
  const url = `http://127.0.0.1:${port}`;
  const spec: ProgramSpec = {
    name: 'prometheus', script: 'prometheus', args: [], listens: `${url}/ (${targetCount(config)} targets, config ${configFile})`,
    ports: [[port, '--prometheus-port']], healthUrl: `${url}/-/ready`,
  };
  return {
    spec,
    args: [`--config.file=${configFile}`, `--storage.tsdb.path=${tsdb}`, `--web.listen-address=127.0.0.1:${port}`],
    summary: [
      `prometheus: ${url} (targets: ${url}/targets, alerts: ${url}/alerts); config ${configFile}, TSDB ${tsdb}`,
      `prometheus alerts file: ${PROMETHEUS_ALERTS}`,
      `grafana dashboard JSON: ${GRAFANA_DASHBOARD} (import it into Grafana with a Prometheus data source at ${url})`,
    ],
    info: { url, configFile, tsdb, alerts: PROMETHEUS_ALERTS, dashboard: GRAFANA_DASHBOARD },
  };
}
