import { Option, type Command } from 'commander';
import { ConfigError } from './errors';
import { loadClusterSecrets, OPEN_ACCESS, type PeerAccess } from './peer-auth';
import { clientTlsOptions, readPem } from './tls';

/**
 * The flags of a program that dials storage nodes (the proxy, the control-plane service; shardctl
 * reads the same variables): the cluster secret's file and node-link TLS. Declared once here.
 *
 *   --cluster-secret-file  $SHARDCACHE_CLUSTER_SECRET_FILE  (else $SHARDCACHE_CLUSTER_SECRET)
 *   --node-tls-ca          $SHARDCACHE_NODE_TLS_CA          CA the nodes' certificates chain to: turns TLS on
 *   --node-tls-cert/-key   $SHARDCACHE_NODE_TLS_CERT/_KEY   this side's certificate, for nodes started with --tls-client-auth
 */
export interface PeerAccessFlags {
  clusterSecretFile?: string;
  nodeTlsCa?: string;
  nodeTlsCert?: string;
  nodeTlsKey?: string;
}

/** Adds the node-access flags to a program. */
export function addPeerAccessOptions(command: Command): Command {
  return command
    .addOption(new Option('--cluster-secret-file <path>', 'file whose first line is the cluster secret proved to every storage node (else $SHARDCACHE_CLUSTER_SECRET)').env('SHARDCACHE_CLUSTER_SECRET_FILE'))
    .addOption(new Option('--node-tls-ca <file>', 'CA the storage nodes\' certificates chain to: dial the nodes over TLS').env('SHARDCACHE_NODE_TLS_CA'))
    .addOption(new Option('--node-tls-cert <file>', 'certificate presented to nodes started with --tls-client-auth (with --node-tls-key)').env('SHARDCACHE_NODE_TLS_CERT'))
    .addOption(new Option('--node-tls-key <file>', 'private key of --node-tls-cert').env('SHARDCACHE_NODE_TLS_KEY'));
}

/** The access the flags describe; throws ConfigError (or the secret loader's Error) naming the flag. */
export function loadPeerAccess(flags: PeerAccessFlags, env: NodeJS.ProcessEnv = process.env): PeerAccess {
  const secret = loadClusterSecrets(flags.clusterSecretFile, env)[0];
  if ((flags.nodeTlsCert === undefined) !== (flags.nodeTlsKey === undefined)) throw new ConfigError('--node-tls-cert and --node-tls-key go together');
  if (flags.nodeTlsCa === undefined) {
    if (flags.nodeTlsCert !== undefined) throw new ConfigError('--node-tls-cert needs --node-tls-ca (TLS to the nodes)');
    return secret === '' ? OPEN_ACCESS : { secret };
  }
  const ca = readPem(flags.nodeTlsCa, '--node-tls-ca', 'certificate');
  const cert = flags.nodeTlsCert === undefined ? undefined : readPem(flags.nodeTlsCert, '--node-tls-cert', 'certificate');
  const key = flags.nodeTlsKey === undefined ? undefined : readPem(flags.nodeTlsKey, '--node-tls-key', 'private key');
  return { secret, tls: clientTlsOptions({ ca, cert, key }) };
}

/** For shardctl, which has no such flags: the same settings from the environment only. */
export function peerAccessFromEnv(env: NodeJS.ProcessEnv = process.env): PeerAccess {
  return loadPeerAccess({
    clusterSecretFile: env.SHARDCACHE_CLUSTER_SECRET_FILE, nodeTlsCa: env.SHARDCACHE_NODE_TLS_CA,
    nodeTlsCert: env.SHARDCACHE_NODE_TLS_CERT, nodeTlsKey: env.SHARDCACHE_NODE_TLS_KEY,
  }, env);
}

/** `loadPeerAccess` for a program's flags: a bad setting ends the program through `fail` (commander's `program.error`). */
export function peerAccessFlag(flags: PeerAccessFlags, fail: (message: string) => never): PeerAccess {
  try {
    return loadPeerAccess(flags);
  } catch (err) {
    return fail(`error: ${(err as Error).message}`);
  }
}
