import { Option, type Command } from 'commander';
import { DEFAULT_ETCD } from '../../shared/topology/etcd';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../../shared/etcd-flags';
import { parseClusterName, parseEndpoints } from '../flags';

/** The options every shardctl command takes (with the `--etcd-*` access flags of shared/etcd-flags.ts). */
export interface ConnectionOptions extends EtcdAccessFlags {
  etcd: string;
  cluster: string;
}

/** One-line summary of exit statuses, shown under every command's --help. */
export const EXIT_SUMMARY = '\nExit status: 0 ok, 1 bad input or refused, 2 etcd unreachable, 3 cluster not initialised, 4 timed out, 5 migration aborted.';

/** Adds `--etcd`, the `--etcd-*` access flags and `--cluster` (with their environment fallbacks) to a command. */
export function withConnection(command: Command): Command {
  return addEtcdAccessOptions(command
    .addHelpText('after', EXIT_SUMMARY)
    .addOption(new Option('--etcd <endpoints>', 'etcd endpoints, host:port[,host:port...] (env SHARDCACHE_ETCD)').argParser(parseEndpoints).default(DEFAULT_ETCD))
    .addOption(new Option('--cluster <name>', 'cluster name').env('SHARDCACHE_CLUSTER').argParser(parseClusterName).default('default')));
}
