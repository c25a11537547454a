import { Argument, Option, type Command } from 'commander';
import { intIn } from '../../shared/config';
import { failover } from '../commands/failover';
import { initCluster } from '../commands/init';
import { clusterStatus, listNodes } from '../commands/status';
import { ExitCode, NotInitialisedError } from '../errors';
import { renderNodes, renderStatus } from '../status/text';
import { paintStatus } from './colour';
import { withConnection, type ConnectionOptions } from './options';
import { formatFailover, formatInit } from './print';
import { waitProgress } from './progress';
import { runWithEtcd, type Session } from './run';
import { addInitialAdmin } from './user-commands';

/** Commands about the cluster itself: init, status, node list, failover. */
export function addClusterCommands(program: Command, session: Session): void {
  const io = session.io;
  withConnection(program.command('init'))
    .description('write the cluster config and an even slot map (epoch 1) in one transaction')
    .requiredOption('--shards <n>', 'number of shards (1-1024)', intIn(1, 1024))
    .requiredOption('--replicas <r>', 'replicas per shard besides the primary (0-8)', intIn(0, 8))
    .addOption(new Option('--lease-ttl <seconds>', 'lease TTL of nodes (1-60)').argParser(intIn(1, 60)).default(3))
    .option('--force', 'overwrite the config and slot map of an initialised cluster', false)
    .option('--auth', 'clients must authenticate; also adds the user "admin" (grant "*=admin") and prints its password once', false)
    .option('--admin-password-file <path>', 'with --auth: read admin\'s password from this file ("-" = stdin) instead of making one')
    .action(async (opts: ConnectionOptions & { shards: number; replicas: number; leaseTtl: number; force: boolean; auth: boolean; adminPasswordFile?: string }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const result = await initCluster(ctx, { shards: opts.shards, replicas: opts.replicas, leaseTtlSeconds: opts.leaseTtl, force: opts.force, auth: opts.auth });
        io.out(formatInit(ctx.cluster, result));
        if (opts.auth) await addInitialAdmin(ctx, session, opts.adminPasswordFile);
      });
    });

  withConnection(program.command('status'))
    .description('shards, slot ranges, primaries with epochs, replicas and node liveness (exit 3 when not initialised)')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const doc = await clusterStatus(ctx);
        if (!doc.initialised && !opts.json) throw new NotInitialisedError(ctx.cluster);
        io.out(opts.json ? JSON.stringify(doc, null, 2) : paintStatus(renderStatus(doc), io.colour === true));
        return doc.initialised ? ExitCode.OK : ExitCode.NOT_INITIALISED;
      });
    });

  const node = program.command('node').description('storage nodes');
  withConnection(node.command('list'))
    .description('registered nodes with address, shard, zone, role and liveness')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const nodes = await listNodes(ctx);
        if (opts.json) io.out(JSON.stringify(nodes, null, 2));
        else io.out(nodes.length === 0 ? 'no nodes registered' : renderNodes({ nodes }));
      });
    });

  withConnection(program.command('failover'))
    .description("ask a shard's primary to step down and wait until a replica takes over with a higher epoch (exit 4 on timeout)")
    .addArgument(new Argument('<shard>', 'shard id').argParser(intIn(0, 1023)))
    .addOption(new Option('--timeout <seconds>', 'how long to wait for the new primary (1-600)').argParser(intIn(1, 600)).default(30))
    .action(async (shard: number, opts: ConnectionOptions & { timeout: number }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const progress = waitProgress(`failover of shard ${shard}`);
        try {
          const result = await failover(ctx, shard, { timeoutMs: opts.timeout * 1000, onProgress: (e, t) => progress.update(e, t) });
          progress.stop();
          io.out(formatFailover(result));
        } finally {
          progress.stop();
        }
      });
    });
}
