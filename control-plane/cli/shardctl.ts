#!/usr/bin/env node
import { Argument, Command, CommanderError } from 'commander';
import { addClusterCommands } from './cluster-commands';
import { SHELLS, completionScript, type Shell } from './completion';
import { addMigrationCommands } from './migration-commands';
import { GLOBAL_OPTIONS_NOTE, addGlobalOptions } from './options';
import { addHotKeyCommands, addNamespaceCommands } from './policy-commands';
import { addRegionCommands } from './region-commands';
import { consoleOutput, type Output, type Session } from './run';
import { addTopCommand } from './top-command';
import { addUserCommands } from './user-commands';

/**
 * shardctl: the operator's command line for a shardcache cluster. Every command reads and writes
 * etcd under `/shardcache/<cluster>/` and nothing else; the logic lives in `../commands/`, this file
 * only wires flags to it. `runShardctl` runs one invocation in-process (tests use it); the binary
 * is that plus `process.exitCode`.
 */
const EXIT_STATUS = `
Exit status:
  0  success
  1  bad input (the message names the flag or argument), or the operation was refused
  2  etcd unreachable (each call gives up after a few seconds)
  3  the cluster is not initialised (run "shardctl init")
  4  failover: no new primary before --timeout; migrations: not finished before --timeout
  5  a migration was aborted (cancelled)

Every command takes --etcd host:port[,host:port...] (default $SHARDCACHE_ETCD or 127.0.0.1:2379),
--cluster NAME (default $SHARDCACHE_CLUSTER or "default"), the --etcd-* access flags and
--output table|json (--json = --output json): listings print a table by default.
${GLOBAL_OPTIONS_NOTE}
Colour only on a terminal: NO_COLOR=1 turns it off, FORCE_COLOR=1 on when piped.
Shell completion: source <(shardctl completion bash), or zsh.`;

/** Builds the shardctl program writing to `session.io`; commands record their exit status in `session`. */
export function buildProgram(session: Session): Command {
  const program = new Command('shardctl')
    .description('control a shardcache cluster: topology, failover, rebalancing, namespace policies, hot keys, users, regions')
    .exitOverride()
    .configureOutput({ writeOut: (s) => session.io.out(s.replace(/\n$/, '')), writeErr: (s) => session.io.err(s.replace(/\n$/, '')) })
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText('after', EXIT_STATUS);
  addGlobalOptions(program);
  addClusterCommands(program, session);
  addNamespaceCommands(program, session);
  addHotKeyCommands(program, session);
  addMigrationCommands(program, session);
  addUserCommands(program, session);
  addRegionCommands(program, session);
  addTopCommand(program, session);
  program.command('completion')
    .description('print a bash or zsh completion script (commands and flags of this shardctl): source <(shardctl completion bash)')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(SHELLS))
    .action((shell: Shell) => {
      session.io.out(completionScript(program, shell).replace(/\n$/, ''));
    });
  return program;
}

/** Runs shardctl with `argv` (without node and script) and resolves with its exit status. */
export async function runShardctl(argv: readonly string[], io: Output = consoleOutput): Promise<number> {
  const session: Session = { io, status: 0 };
  try {
    await buildProgram(session).parseAsync([...argv], { from: 'user' });
    return session.status;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    io.err(`shardctl: ${(err as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  // `shardctl ... | head`: a reader that goes away ends the program quietly, as with other tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  // Exit at once: a call abandoned after its deadline must not keep the process alive.
  void runShardctl(process.argv.slice(2)).then((status) => process.exit(status));
}
