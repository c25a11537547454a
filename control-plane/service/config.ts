import { Command, Option } from 'commander';
import { intIn, oneOf, parsePort } from '../../shared/config';
import { SLOT_COUNT } from '../../shared/slot';
import { DRIVER_DEFAULTS } from '../rebalance/driver';
import type { PeerAccess } from '../../shared/peer-auth';
import { addPeerAccessOptions, peerAccessFlag, type PeerAccessFlags } from '../../shared/peer-flags';
import { DEFAULT_ETCD } from '../../shared/topology/etcd';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../../shared/etcd-flags';
import { parseClusterName, parseEndpoints } from '../flags';
import { adminAuthorization } from '../sample/admin-credentials';

/** Validated configuration of the control-plane service; the `--etcd-*` access flags come from shared/etcd-flags.ts. */
export interface ServiceConfig extends EtcdAccessFlags {
  etcd: string;
  cluster: string;
  adminHost: string;
  adminPort: number;
  logLevel: string;
  /** Slots frozen and committed together per cut-over (smaller: shorter freezes, more etcd commits). */
  cutSlots: number;
  /** Longest per-cut write freeze before the cut goes cold (ms). */
  freezeMs: number;
  /** `/metrics` answers without credentials while the cluster requires auth. */
  metricsPublic: boolean;
  /** The cluster secret and node-link TLS of its connections to nodes (shared/peer-flags.ts). */
  nodeAccess: PeerAccess;
  /** Admin addresses of the proxies the dashboard shows (proxies do not register in etcd). */
  proxyAdmin: string[];
  /** `Authorization` header for the proxies' admin ports while the cluster requires auth (sample/admin-credentials.ts). */
  proxyAuthorization: string | undefined;
  /** Most dashboards (event streams) open at once; one more is answered 503. */
  dashboardClients: number;
}

/** `--proxy-admin` values: admin addresses, comma-separated (`host:port` or a URL), repeatable. */
function parseAddresses(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

/**
 * Reads flags, falling back to environment variables (SHARDCACHE_ETCD, SHARDCACHE_CLUSTER,
 * SHARDCACHE_CONTROL_*), then defaults. A bad value exits with status 1 naming the flag.
 */
export function parseServiceConfig(argv: readonly string[]): ServiceConfig {
  const opt = (flags: string, env: string, description: string) => new Option(flags, description).env(env);
  const program = addPeerAccessOptions(addEtcdAccessOptions(new Command('control-plane')))
    .description('shardcache control plane: watches the topology and serves its status, health and metrics')
    .addOption(new Option('--etcd <endpoints>', 'etcd endpoints, host:port[,host:port...] (env SHARDCACHE_ETCD)').argParser(parseEndpoints).default(DEFAULT_ETCD))
    .addOption(opt('--cluster <name>', 'SHARDCACHE_CLUSTER', 'cluster name').argParser(parseClusterName).default('default'))
    .addOption(opt('--admin-host <host>', 'SHARDCACHE_CONTROL_ADMIN_HOST', 'address of the admin HTTP port').default('127.0.0.1'))
    .addOption(opt('--admin-port <port>', 'SHARDCACHE_CONTROL_ADMIN_PORT', 'admin HTTP port (0 = any free port)').argParser(parsePort).default(9300))
    .addOption(opt('--metrics-public', 'SHARDCACHE_CONTROL_METRICS_PUBLIC', 'while the cluster requires auth, still serve /metrics without credentials (for a scraper)').default(false))
    .addOption(opt('--proxy-admin <host:port>', 'SHARDCACHE_PROXY_ADMIN', 'admin address of a proxy the dashboard shows (repeat or comma-separate)').argParser(parseAddresses).default([]))
    .addOption(opt('--admin-user <name>', 'SHARDCACHE_ADMIN_USER', 'with auth on: the user (admin on "*") the dashboard sends to the proxies\' admin ports (default admin when a password is given)'))
    .addOption(opt('--admin-password-file <path>', 'SHARDCACHE_ADMIN_PASSWORD_FILE', 'with auth on: its password, first line of this file (or the password in SHARDCACHE_ADMIN_PASSWORD)'))
    .addOption(opt('--dashboard-clients <n>', 'SHARDCACHE_CONTROL_DASHBOARD_CLIENTS', 'most dashboards (event streams) open at once').argParser(intIn(1, 1024)).default(32))
    .addOption(opt('--cut-slots <n>', 'SHARDCACHE_CUT_SLOTS', 'slots per migration cut-over').argParser(intIn(1, SLOT_COUNT)).default(DRIVER_DEFAULTS.cutSlots))
    .addOption(opt('--freeze-ms <ms>', 'SHARDCACHE_FREEZE_MS', "longest write freeze of a cut-over before it cuts cold").argParser(intIn(10, 10_000)).default(DRIVER_DEFAULTS.freezeMs))
    .addOption(
      opt('--log-level <level>', 'SHARDCACHE_LOG_LEVEL', 'log level').argParser(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')).default('info'),
    )
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' });
  type Flags = Omit<ServiceConfig, 'nodeAccess' | 'proxyAuthorization'> & PeerAccessFlags & { adminUser?: string; adminPasswordFile?: string };
  const { clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey, adminUser, adminPasswordFile, ...opts } = program.opts<Flags>();
  let proxyAuthorization: string | undefined;
  try {
    proxyAuthorization = adminAuthorization({ adminUser, adminPasswordFile });
  } catch (err) {
    program.error(`error: ${(err as Error).message}`);
  }
  return { ...opts, proxyAuthorization, nodeAccess: peerAccessFlag({ clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey }, (m) => program.error(m)) };
}
