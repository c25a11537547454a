import { Option, type Command } from 'commander';
import { DEFAULT_ETCD } from '../../shared/topology/etcd';
import { parseClusterName, parseEndpoints } from '../flags';

/** The options every shardctl command takes. */
export interface ConnectionOptions {
  etcd: string;
  cluster: string;
}

/** One-line summary of exit statuses, shown under every command's --help. */
export const EXIT_SUMMARY = '\nExit status: 0 ok, 1 bad input or refused, 2 etcd unreachable, 3 cluster not initialised, 4 timed out, 5 migration aborted.';

/** Adds `--etcd` and `--cluster` (with their environment fallbacks) to a command. */
export function withConnection(command: Command): Command {
  return command
    .addHelpText('after', EXIT_SUMMARY)
    .addOption(new Option('--etcd <endpoints>', 'etcd endpoints, host:port[,host:port...] (env SHARDCACHE_ETCD)').argParser(parseEndpoints).default(DEFAULT_ETCD))
    .addOption(new Option('--cluster <name>', 'cluster name').env('SHARDCACHE_CLUSTER').argParser(parseClusterName).default('default'));
}
