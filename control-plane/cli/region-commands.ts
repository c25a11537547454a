import type { Command } from 'commander';
import { addRegionPeer, listRegions, proxyRegions, regionsOfCluster, removeRegionPeer, setRegionSelf } from '../commands/regions';
import { adminAuthorization, type AdminCredentialFlags } from '../sample/admin-credentials';
import { proxyBaseUrl } from '../sample/sampler';
import { renderRegions, renderReceived, type ProxyRegions } from '../status/regions';
import { renderTable } from '../status/table';
import { withConnection, type ConnectionOptions } from './options';
import { runWithEtcd, type Session } from './run';

/** `--proxy` values: admin addresses, repeated or comma-separated (`host:port` or a URL). */
export function parseProxyList(text: string, previous: string[] = []): string[] {
  return [...previous, ...text.split(',').map((s) => s.trim()).filter((s) => s !== '')];
}

const REGIONS_NOTE = `
Each region is a whole cluster: run these against each region's etcd. Every proxy of every region
needs the same $SHARDCACHE_REGION_SECRET (or $SHARDCACHE_REGION_SECRET_FILE); a namespace ships its
writes to the peers once "shardctl ns set <ns> --replicated invalidate". See docs/operations.md "Regions".`;

interface RegionStatusOptions extends ConnectionOptions, AdminCredentialFlags {
  proxy?: string[];
  json: boolean;
}

/** `region self|add|remove|list|status`: this cluster's region and its peers. */
export function addRegionCommands(program: Command, session: Session): void {
  const io = session.io;
  const region = program.command('region').description('regions: this cluster\'s region, its peer regions and cross-region invalidation figures').addHelpText('after', REGIONS_NOTE);
  withConnection(region.command('self <name>'))
    .description('name the region this cluster serves (peers list it under this name)')
    .action(async (name: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const before = await setRegionSelf(ctx, name);
        io.out(before === null || before === name ? `this cluster is region ${name}` : `this cluster is region ${name} (was ${before}; peers list it under the new name only once they are told: shardctl region add ${name} <endpoint> there)`);
      });
    });
  withConnection(region.command('add <name> <endpoint>'))
    .description('add or replace a peer region: the base URL of its proxies\' client port (one proxy or a load balancer)')
    .action(async (name: string, endpoint: string, opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const { peer, replaced } = await addRegionPeer(ctx, name, endpoint);
        io.out(opts.json ? JSON.stringify(peer, null, 2) : `${replaced ? 'replaced' : 'added'} peer region ${peer.name} at ${peer.endpoint}`);
      });
    });
  withConnection(region.command('remove <name>'))
    .description('remove a peer region: writes here no longer invalidate it')
    .action(async (name: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const naming = await removeRegionPeer(ctx, name);
        io.out(`removed peer region ${name}`);
        if (naming.length > 0) io.err(`shardctl: warning: namespace${naming.length === 1 ? '' : 's'} ${naming.join(', ')} still list${naming.length === 1 ? 's' : ''} ${name} in --regions`);
      });
    });
  withConnection(region.command('list'))
    .description('this cluster\'s region and its peers')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const list = await listRegions(ctx);
        if (opts.json) return void io.out(JSON.stringify(list, null, 2));
        const head = `region ${list.region ?? '(not set: shardctl region self <name>)'}`;
        io.out(list.peers.length === 0 ? `${head}\nno peer regions (shardctl region add <name> <endpoint>)` : `${head}\n${renderTable(['PEER', 'ENDPOINT', 'ADDED'], list.peers.map((p) => [p.name, p.endpoint, p.addedAt === undefined ? '-' : new Date(p.addedAt).toISOString()]))}`);
      });
    });
  withConnection(region.command('status'))
    .description('sender side (the nodes\' spools toward each peer) and, per proxy named, receiver side (lag p50/p99 per origin region, how far behind)')
    .option('--proxy <host:port>', 'admin address of a proxy whose receiver figures to show (repeat or comma-separate; env SHARDCACHE_PROXY_ADMIN)', parseProxyList)
    .option('--admin-user <name>', 'with auth on: the user (admin on "*") sent to the proxies\' admin ports (env SHARDCACHE_ADMIN_USER)')
    .option('--admin-password-file <path>', 'with auth on: its password, first line of this file (env SHARDCACHE_ADMIN_PASSWORD_FILE, or SHARDCACHE_ADMIN_PASSWORD)')
    .action(async (opts: RegionStatusOptions) => {
      const proxies = (opts.proxy ?? parseProxyList(process.env.SHARDCACHE_PROXY_ADMIN ?? '')).map(proxyBaseUrl);
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const authorization = proxies.length === 0 ? undefined : adminAuthorization(opts);
        const [regions, received] = await Promise.all([regionsOfCluster(ctx), Promise.all(proxies.map((p) => proxyRegions(p, authorization)))]);
        if (opts.json) return void io.out(JSON.stringify({ ...regions, proxies: received }, null, 2));
        io.out(renderRegionStatus(regions, received));
      });
    });
}

/** `region status` as text (pure). */
export function renderRegionStatus(regions: Parameters<typeof renderRegions>[0], received: readonly ProxyRegions[]): string {
  const parts = [renderRegions(regions)];
  if (received.length > 0) parts.push('', 'received (per proxy, per origin region):', renderReceived(received));
  else parts.push('', 'receiver figures: name proxies\' admin ports with --proxy (or $SHARDCACHE_PROXY_ADMIN)');
  return parts.join('\n');
}
