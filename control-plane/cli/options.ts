import { Option, type Command } from 'commander';
import { DEFAULT_ETCD } from '../../shared/topology/etcd';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../../shared/etcd-flags';
import { parseClusterName, parseEndpoints } from '../flags';

/** The options every shardctl command takes (with the `--etcd-*` access flags of shared/etcd-flags.ts). */
export interface ConnectionOptions extends EtcdAccessFlags {
  etcd: string;
  cluster: string;
}

/** `--output` values; the hook of `addGlobalOptions` also sets `json` (true for JSON) on the command that runs. */
export const OUTPUT_FORMATS = ['table', 'json'] as const;

/** One-line summary of exit statuses, shown under every command's --help. */
export const EXIT_SUMMARY = '\nExit status: 0 ok, 1 bad input or refused, 2 etcd unreachable, 3 cluster not initialised, 4 timed out, 5 migration aborted.';

/** Where global options may go, for the help of the program and of every command. */
export const GLOBAL_OPTIONS_NOTE = 'Global options go before or after the command, as with etcdctl and kubectl (shardctl --etcd h:2379 status = shardctl status --etcd h:2379); given in both places, the one after the command wins.';

/**
 * Declares the global options on the program: `--etcd`, `--cluster`, the `--etcd-*` access flags
 * (with their environment fallbacks) and `--output`/`--json`. Commander parses a program's options
 * anywhere in argv (no `enablePositionalOptions`), so they may come before the command, after it or
 * between a group and its command; the last one given wins, which is the one after the command.
 * A hook copies them into the options of the command that runs (`optsWithGlobals`), so every
 * action reads them from its own `opts` as before.
 */
export function addGlobalOptions(program: Command): Command {
  addEtcdAccessOptions(program
    .addOption(new Option('--etcd <endpoints>', 'etcd endpoints, host:port[,host:port...] (env SHARDCACHE_ETCD)').argParser(parseEndpoints).default(DEFAULT_ETCD))
    .addOption(new Option('--cluster <name>', 'cluster name').env('SHARDCACHE_CLUSTER').argParser(parseClusterName).default('default')))
    .addOption(new Option('-o, --output <format>', 'output of listings and results: table (text) or json').choices(OUTPUT_FORMATS).default('table'))
    .option('--json', 'the same as --output json');
  // `--json` is an alias: it sets --output where it stands, so the last of the two given wins.
  program.on('option:json', () => program.setOptionValueWithSource('output', 'json', 'cli'));
  program.hook('preAction', (_program, action) => {
    const all = action.optsWithGlobals();
    for (const key of Object.keys(program.opts())) action.setOptionValueWithSource(key, all[key], program.getOptionValueSource(key));
    action.setOptionValue('json', all.output === 'json');
  });
  return program;
}

/** Marks a command that talks to etcd: the exit statuses and where global options go under its --help (the connection options are global). */
export function withConnection(command: Command): Command {
  return command.addHelpText('after', `${EXIT_SUMMARY}\n${GLOBAL_OPTIONS_NOTE}`);
}
