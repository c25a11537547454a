import { InvalidArgumentError, Option, type Command } from 'commander';
import { intIn } from '../../shared/config';
import { peerAccessFromEnv } from '../../shared/peer-flags';
import { originTemplateProblem } from '../../shared/url-template';
import { storeBulkUrlProblem } from '../commands/namespaces';
import { NodeClients } from '../rebalance/node-client';
import { DEFAULT_FLUSH_TIMEOUT_MS, flushNamespace, flushProblems, readFlushStatus } from '../commands/write-policy';
import { ExitCode } from '../errors';
import { parseUrl } from '../flags';
import { withConnection, type ConnectionOptions } from './options';
import { runWithEtcd, type Session } from './run';
import { formatFlush, formatFlushStatus } from './write-policy-print';

/**
 * The write-policy side of `shardctl ns` (issue 17): the parsers of `ns set`'s store flags, and
 * `ns flush-status` / `ns flush`, which talk to the storage nodes over the node protocol with the
 * cluster secret and node TLS from the environment ($SHARDCACHE_CLUSTER_SECRET(_FILE),
 * $SHARDCACHE_NODE_TLS_*), as `rebalance` and `top` do.
 */

export const WRITE_POLICIES = ['cache-aside', 'write-through', 'write-behind'] as const;
export type WritePolicy = (typeof WRITE_POLICIES)[number];

/** `--store`: an absolute http(s) URL (as `--origin`) whose `{key}` sits in the path or query. */
export function parseStoreUrl(text: string): string {
  parseUrl(text);
  const problem = originTemplateProblem(text, 'the store template');
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return text;
}

/** `--store-bulk-url`: an absolute http(s) URL without `{key}` (one URL for every batch). */
export function parseStoreBulkUrl(text: string): string {
  parseUrl(text);
  const problem = storeBulkUrlProblem(text);
  if (problem !== undefined) throw new InvalidArgumentError(problem);
  return text;
}

const NODES_NOTE = '\nThe nodes are reached over the node protocol: set $SHARDCACHE_CLUSTER_SECRET(_FILE) and $SHARDCACHE_NODE_TLS_* as for rebalance and top.';

/** Adds `flush-status` and `flush` to the `ns` command group. */
export function addFlushCommands(ns: Command, session: Session): void {
  const io = session.io;
  withConnection(ns.command('flush-status <namespace>'))
    .description("a namespace's write-behind queues: per shard the primary's depth, oldest unflushed write, flushed/failed counts, dead letters and last store error, the replicas' copies; then the dead letters")
    .addHelpText('after', NODES_NOTE)
    .action(async (namespace: string, opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const nodes = new NodeClients(peerAccessFromEnv());
        try {
          const report = await readFlushStatus(ctx, namespace, nodes);
          io.out(opts.json ? JSON.stringify(report, null, 2) : formatFlushStatus(report));
        } finally {
          await nodes.close();
        }
      });
    });
  withConnection(ns.command('flush <namespace>'))
    .description("flush a namespace's write-behind queues now (every shard's primary at once) and wait until they are empty (exit 4 when one is not drained in time)")
    .addOption(new Option('--timeout <ms>', 'how long the primaries may take (100-3600000)').argParser(intIn(100, 3_600_000)).default(DEFAULT_FLUSH_TIMEOUT_MS))
    .addHelpText('after', NODES_NOTE)
    .action(async (namespace: string, opts: ConnectionOptions & { json: boolean; timeout: number }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const nodes = new NodeClients(peerAccessFromEnv());
        try {
          const report = await flushNamespace(ctx, namespace, opts.timeout, nodes);
          io.out(opts.json ? JSON.stringify(report, null, 2) : formatFlush(report));
          if (report.drained) return ExitCode.OK;
          io.err(`shardctl: namespace ${namespace} is not drained: ${flushProblems(report).join('; ')}`);
          return ExitCode.TIMED_OUT;
        } finally {
          await nodes.close();
        }
      });
    });
}
