import { Command, Option } from 'commander';
import { intIn, oneOf, parsePort } from '../../shared/config';
import { SLOT_COUNT } from '../../shared/slot';
import { DRIVER_DEFAULTS } from '../rebalance/driver';
import type { PeerAccess } from '../../shared/peer-auth';
import { addPeerAccessOptions, peerAccessFlag, type PeerAccessFlags } from '../../shared/peer-flags';
import { DEFAULT_ETCD } from '../../shared/topology/etcd';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../../shared/etcd-flags';
import { parseClusterName, parseEndpoints } from '../flags';

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
    .addOption(opt('--cut-slots <n>', 'SHARDCACHE_CUT_SLOTS', 'slots per migration cut-over').argParser(intIn(1, SLOT_COUNT)).default(DRIVER_DEFAULTS.cutSlots))
    .addOption(opt('--freeze-ms <ms>', 'SHARDCACHE_FREEZE_MS', "longest write freeze of a cut-over before it cuts cold").argParser(intIn(10, 10_000)).default(DRIVER_DEFAULTS.freezeMs))
    .addOption(
      opt('--log-level <level>', 'SHARDCACHE_LOG_LEVEL', 'log level').argParser(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')).default('info'),
    )
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' });
  const { clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey, ...opts } = program.opts<Omit<ServiceConfig, 'nodeAccess'> & PeerAccessFlags>();
  return { ...opts, nodeAccess: peerAccessFlag({ clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey }, (m) => program.error(m)) };
}
