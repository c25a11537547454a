import os from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { intIn, oneOf, parseBytes, parseHostPort, parsePort } from '../shared/config';
import { clusterSecretFlag } from '../shared/peer-auth';
import type { TlsFiles } from '../shared/tls';
import { Limits } from '../shared/protocol';
import { DEFAULT_MAX_NAMESPACES, NAMESPACE_ID_LIMIT } from './store/keyspace';
import { CLUSTER_NAME } from '../shared/topology/schema';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../shared/etcd-flags';

/** Cluster mode settings; absent when the node runs standalone (no `--etcd`). */
export interface ClusterConfig {
  /** `host:port[,host:port...]`. */
  etcd: string;
  /** `--etcd-ca`, `--etcd-cert`, `--etcd-key`, `--etcd-user`, `--etcd-password-file` (read at start). */
  etcdAccess: EtcdAccessFlags;
  cluster: string;
  shardId: number;
  /** Undefined: `<advertise-host>-<port>` once the port is known. */
  nodeId?: string;
  zone: string;
  /** Undefined: the cluster config's `leaseTtlSeconds` in etcd, else 3. */
  leaseTtlSeconds?: number;
  stepDownMarginMs: number;
  advertiseHost: string;
  /** How long a write in a `writeAck: replica` namespace waits for a replica (then WRITE_ACK_TIMEOUT). */
  writeAckTimeoutMs: number;
  /** A replica that acknowledged nothing for this long is disconnected by its primary. */
  replTimeoutMs: number;
  /** Bytes of replication stream kept for replicas that reconnect (partial resync). */
  replBacklogBytes: number;
  /** On SIGTERM, how long a primary waits for its replicas to reach its offset before it resigns. */
  shutdownSyncMs: number;
  /** Where the node keeps its region spools (invalidations not yet acknowledged by a peer region); undefined: in memory only. */
  dataDir?: string;
  /** Invalidations a region spool holds per peer before it falls back to wholesale invalidation. */
  regionSpoolMax: number;
}

/** Validated configuration of a storage node. */
export interface NodeConfig {
  host: string;
  port: number;
  adminHost: string;
  adminPort: number;
  maxMemory: number;
  maxItemBytes: number;
  eviction: 'lru' | 'lfu';
  evictionSamples: number;
  maxFrameBytes: number;
  maxPendingReplyBytes: number;
  /** Connections served at once; one past it gets `[0, BUSY, ...]` and is closed. */
  maxConnections: number;
  /** A connection that sent nothing for this long is closed (replica sessions, exports and subscribers excepted); 0 = never. */
  idleTimeoutMs: number;
  /** A connection holding an incomplete frame this long is refused and closed; 0 = never. */
  requestTimeoutMs: number;
  /** Bytes all connections together may hold for incomplete frames. */
  inputBudget: number;
  /** Namespaces without a policy past which a client write may not create one (OVER_QUOTA). */
  maxNamespaces: number;
  /** The cluster secret every connection proves first (`--cluster-secret-file` or $SHARDCACHE_CLUSTER_SECRET); '' = none. */
  clusterSecret: string;
  /** During a rotation, the other secret connections may prove (the file's second line). */
  alsoAcceptedSecrets: string[];
  /** TLS on the frame port, and for the node's own links to its peers (replication, migration); absent = plain TCP. */
  tls?: TlsFiles;
  sweepIntervalMs: number;
  sweepBudgetMs: number;
  logLevel: string;
  cluster?: ClusterConfig;
}

const NAME = /^[A-Za-z0-9_.-]+$/;

/** `host:port[,host:port...]` of etcd; empty (for example `SHARDCACHE_ETCD=`) means none. */
function parseEndpoints(text: string): string | undefined {
  if (text.trim() === '') return undefined;
  return text.split(',').map((part) => parseHostPort(part)).join(',');
}

/** A name of letters, digits, `_`, `.`, `-`, at most `max` long (`min` 0 allows empty). */
function namePattern(what: string, min: number, max: number): (text: string) => string {
  return (text: string) => {
    if (text.length < min || text.length > max || (text.length > 0 && !NAME.test(text))) {
      throw new InvalidArgumentError(`expected a ${what} of ${min}-${max} letters, digits, "_", "." or "-"`);
    }
    return text;
  };
}

function clusterName(text: string): string {
  if (!CLUSTER_NAME.test(text)) throw new InvalidArgumentError('expected a cluster name of 1-64 letters, digits, "_", "." or "-"');
  return text;
}

/** Host name of this machine for `--advertise-host` when the node listens on every interface. */
function defaultAdvertiseHost(host: string): string {
  if (host !== '0.0.0.0' && host !== '::' && host !== '') return host;
  const name = os.hostname();
  return NAME.test(name) ? name : '127.0.0.1';
}

/** The cluster mode flags (`--etcd` and what goes with it). */
function addClusterOptions(program: Command, opt: (flags: string, env: string, description: string) => Option): Command {
  return addEtcdAccessOptions(program)
    .addOption(new Option('--etcd <host:port,...>', 'etcd endpoints; without it the node runs standalone').env('SHARDCACHE_ETCD').argParser(parseEndpoints))
    .addOption(new Option('--cluster <name>', 'cluster name (etcd prefix /shardcache/<name>/)').env('SHARDCACHE_CLUSTER').argParser(clusterName).default('default'))
    .addOption(opt('--shard <n>', 'SHARD', 'shard this node serves (required with --etcd)').argParser(intIn(0, 1023)))
    .addOption(opt('--node-id <id>', 'ID', 'node id in etcd (default <advertise-host>-<port>)').argParser(namePattern('node id', 1, 128)))
    .addOption(opt('--zone <zone>', 'ZONE', 'failure zone, for placement').argParser(namePattern('zone', 0, 64)).default(''))
    .addOption(opt('--lease-ttl <seconds>', 'LEASE_TTL', 'lease TTL (default: the cluster config in etcd, else 3)').argParser(intIn(1, 60)))
    .addOption(opt('--step-down-margin-ms <ms>', 'STEP_DOWN_MARGIN_MS', 'a primary stops taking writes this long before its lease could expire').argParser(intIn(0, 30_000)).default(500))
    .addOption(opt('--write-ack-timeout-ms <ms>', 'WRITE_ACK_TIMEOUT_MS', 'longest a writeAck=replica write waits for a replica before WRITE_ACK_TIMEOUT').argParser(intIn(1, 60_000)).default(1000))
    .addOption(opt('--repl-timeout-ms <ms>', 'REPL_TIMEOUT_MS', 'a primary disconnects a replica silent this long').argParser(intIn(100, 600_000)).default(5000))
    .addOption(opt('--shutdown-sync-ms <ms>', 'SHUTDOWN_SYNC_MS', 'on SIGTERM, how long a primary waits for its replicas to catch up before it resigns (0 = not at all)').argParser(intIn(0, 600_000)).default(2000))
    .addOption(opt('--repl-backlog <bytes>', 'REPL_BACKLOG', 'replication backlog kept for partial resyncs, e.g. 16mb').argParser(parseBytes).default(16 * 1024 ** 2, '16mb'))
    .addOption(opt('--advertise-host <host>', 'ADVERTISE_HOST', 'host peers and proxies use to reach this node (default: --host)').argParser(namePattern('host', 1, 253)))
    .addOption(opt('--data-dir <dir>', 'DATA_DIR', 'directory for the region spools (invalidations a peer region has not acknowledged survive a restart); without it they are kept in memory only'))
    .addOption(opt('--region-spool-max <n>', 'REGION_SPOOL_MAX', 'invalidations spooled per peer region before its namespaces are invalidated wholesale there').argParser(intIn(100, 100_000_000)).default(1_000_000));
}

/**
 * Reads flags, falling back to SHARDCACHE_NODE_* environment variables (SHARDCACHE_ETCD and
 * SHARDCACHE_CLUSTER for the two the other programs share), then defaults. A bad value exits with
 * status 1 and a message naming the flag and what it accepts.
 */
export function parseNodeConfig(argv: readonly string[]): NodeConfig {
  const opt = (flags: string, env: string, description: string) => new Option(flags, description).env(`SHARDCACHE_NODE_${env}`);
  const program = new Command('storage-node')
    .description('shardcache storage node: an in-memory store served over the frame protocol')
    .addOption(opt('--host <host>', 'HOST', 'address to listen on').default('127.0.0.1'))
    .addOption(opt('--port <port>', 'PORT', 'frame protocol port (0 = any free port)').argParser(parsePort).default(7000))
    .addOption(opt('--admin-host <host>', 'ADMIN_HOST', 'address of the admin HTTP port').default('127.0.0.1'))
    .addOption(opt('--admin-port <port>', 'ADMIN_PORT', 'admin HTTP port for /metrics and /healthz (0 = any)').argParser(parsePort).default(9200))
    .addOption(opt('--max-memory <bytes>', 'MAX_MEMORY', 'memory limit for cached data, e.g. 512mb').argParser(parseBytes).default(256 * 1024 ** 2, '256mb'))
    .addOption(opt('--max-item-bytes <bytes>', 'MAX_ITEM_BYTES', 'default largest item (key + value)').argParser(parseBytes).default(1024 ** 2, '1mb'))
    .addOption(opt('--eviction <policy>', 'EVICTION', 'default eviction policy: lru or lfu').argParser(oneOf('lru', 'lfu')).default('lru'))
    .addOption(opt('--eviction-samples <n>', 'EVICTION_SAMPLES', 'entries sampled per eviction').argParser(intIn(1, 64)).default(5))
    .addOption(opt('--max-frame-bytes <bytes>', 'MAX_FRAME_BYTES', 'largest request frame accepted').argParser(parseBytes).default(Limits.DEFAULT_MAX_FRAME_BYTES, '16mb'))
    .addOption(opt('--max-pending-reply-bytes <bytes>', 'MAX_PENDING_REPLY_BYTES', 'unread reply bytes per connection before reading pauses').argParser(parseBytes).default(4 * 1024 ** 2, '4mb'))
    .addOption(opt('--max-connections <n>', 'MAX_CONNECTIONS', 'connections served at once; past it a connection is refused (BUSY)').argParser(intIn(1, 1_000_000)).default(10_000))
    .addOption(opt('--idle-timeout-ms <ms>', 'IDLE_TIMEOUT_MS', 'close connections that send nothing this long (0 = never)').argParser(intIn(0, 86_400_000)).default(300_000))
    .addOption(opt('--request-timeout-ms <ms>', 'REQUEST_TIMEOUT_MS', 'refuse and close a connection holding an incomplete frame this long (0 = never)').argParser(intIn(0, 86_400_000)).default(10_000))
    .addOption(opt('--input-budget <bytes>', 'INPUT_BUDGET', 'bytes all connections together may hold for incomplete frames').argParser(parseBytes).default(256 * 1024 ** 2, '256mb'))
    .addOption(opt('--max-namespaces <n>', 'MAX_NAMESPACES', 'namespaces without a policy a client may create by writing').argParser(intIn(1, NAMESPACE_ID_LIMIT)).default(DEFAULT_MAX_NAMESPACES))
    .addOption(opt('--tls-cert <file>', 'TLS_CERT', 'certificate of the frame port (PEM; with --tls-key): peers connect over TLS'))
    .addOption(opt('--tls-key <file>', 'TLS_KEY', 'private key of --tls-cert'))
    .addOption(opt('--tls-ca <file>', 'TLS_CA', 'CA the peers\' certificates chain to: checked when this node dials its primary or a migration source, and with --tls-client-auth of every client'))
    .addOption(opt('--tls-client-auth', 'TLS_CLIENT_AUTH', 'refuse clients without a certificate of --tls-ca (mutual TLS)').default(false))
    .addOption(new Option('--cluster-secret-file <path>', 'file whose first line is the cluster secret every connection must prove (else $SHARDCACHE_CLUSTER_SECRET; none: no handshake)').env('SHARDCACHE_CLUSTER_SECRET_FILE'))
    .addOption(opt('--sweep-interval-ms <ms>', 'SWEEP_INTERVAL_MS', 'period of the active expiry sweep').argParser(intIn(1, 60_000)).default(100))
    .addOption(opt('--sweep-budget-ms <ms>', 'SWEEP_BUDGET_MS', 'time budget of one sweep').argParser(intIn(1, 1000)).default(3))
    .addOption(opt('--log-level <level>', 'LOG_LEVEL', 'log level').argParser(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')).default('info'))
    .allowExcessArguments(false);
  addClusterOptions(program, opt).parse(argv, { from: 'user' });
  const config = program.opts<Omit<NodeConfig, 'cluster'> & ClusterFlags>();
  if (config.maxItemBytes > config.maxMemory) program.error(`error: --max-item-bytes (${config.maxItemBytes}) cannot exceed --max-memory (${config.maxMemory})`);
  if (config.maxFrameBytes < config.maxItemBytes + 4096) {
    program.error(`error: --max-frame-bytes (${config.maxFrameBytes}) must leave room for an item of --max-item-bytes (${config.maxItemBytes}) plus 4kb`);
  }
  if (config.inputBudget < config.maxFrameBytes + 4) {
    program.error(`error: --input-budget (${config.inputBudget}) must hold at least one frame of --max-frame-bytes (${config.maxFrameBytes}) and its header`);
  }
  const { clusterSecretFile, tlsCert, tlsKey, tlsCa, tlsClientAuth, ...rest } = config as typeof config & NodeTlsFlags & { clusterSecretFile?: string };
  const [clusterSecret, ...alsoAccepted] = clusterSecretFlag(clusterSecretFile, (m) => program.error(m));
  const tls = nodeTlsFiles({ tlsCert, tlsKey, tlsCa, tlsClientAuth }, rest.etcd !== undefined, (m) => program.error(m));
  return withCluster(program, { ...rest, clusterSecret, alsoAcceptedSecrets: alsoAccepted, tls });
}

/** The TLS flags of the frame port, as commander returns them. */
interface NodeTlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsClientAuth: boolean;
}

/**
 * The frame port's TLS files, or undefined without `--tls-cert`; a clustered node with TLS also
 * needs `--tls-ca`, since it dials its peers over TLS and must know whom to trust.
 */
function nodeTlsFiles(f: NodeTlsFlags, clustered: boolean, fail: (message: string) => never): TlsFiles | undefined {
  if (f.tlsCert === undefined && f.tlsKey === undefined) {
    if (f.tlsCa !== undefined || f.tlsClientAuth) fail(`error: ${f.tlsClientAuth ? '--tls-client-auth' : '--tls-ca'} needs --tls-cert and --tls-key (TLS on the frame port)`);
    return undefined;
  }
  if (f.tlsCert === undefined || f.tlsKey === undefined) return fail('error: --tls-cert and --tls-key go together');
  if (f.tlsClientAuth && f.tlsCa === undefined) return fail('error: --tls-client-auth needs --tls-ca (the CA client certificates must chain to)');
  if (clustered && f.tlsCa === undefined) return fail('error: a clustered node with --tls-cert needs --tls-ca (the CA its peers\' certificates chain to)');
  return { certFile: f.tlsCert, keyFile: f.tlsKey, caFile: f.tlsCa, requestClientCert: f.tlsClientAuth };
}

/** Folds the cluster flags into `cluster` (absent without `--etcd`), checking how they combine. */
function withCluster(program: Command, config: Omit<NodeConfig, 'cluster'> & ClusterFlags): NodeConfig {
  const {
    etcd, etcdCa, etcdCert, etcdKey, etcdUser, etcdPasswordFile, cluster, shard, nodeId, zone, leaseTtl, stepDownMarginMs, advertiseHost, writeAckTimeoutMs, replTimeoutMs, replBacklog,
    shutdownSyncMs, dataDir, regionSpoolMax, ...node
  } = config;
  if (!etcd) {
    if (shard !== undefined) program.error('error: --shard needs --etcd (a standalone node has no shard)');
    return node;
  }
  if (shard === undefined) program.error('error: --shard <n> is required with --etcd');
  if (replBacklog < 1024 || replBacklog > 2 ** 31) program.error(`error: --repl-backlog (${replBacklog}) must be from 1kb to 2gb`);
  if (leaseTtl !== undefined && stepDownMarginMs * 2 >= leaseTtl * 1000) {
    program.error(`error: --step-down-margin-ms (${stepDownMarginMs}) must be under half of --lease-ttl (${leaseTtl * 1000} ms)`);
  }
  return {
    ...node,
    cluster: {
      etcd, etcdAccess: { etcdCa, etcdCert, etcdKey, etcdUser, etcdPasswordFile }, cluster, shardId: shard, nodeId, zone, leaseTtlSeconds: leaseTtl, stepDownMarginMs,
      advertiseHost: advertiseHost ?? defaultAdvertiseHost(node.host), writeAckTimeoutMs, replTimeoutMs, replBacklogBytes: replBacklog, shutdownSyncMs,
      dataDir, regionSpoolMax,
    },
  };
}

/** Flags as commander returns them, before they are folded into `cluster`. */
interface ClusterFlags extends EtcdAccessFlags {
  etcd?: string;
  cluster: string;
  shard?: number;
  nodeId?: string;
  zone: string;
  leaseTtl?: number;
  stepDownMarginMs: number;
  advertiseHost?: string;
  writeAckTimeoutMs: number;
  replTimeoutMs: number;
  replBacklog: number;
  shutdownSyncMs: number;
  dataDir?: string;
  regionSpoolMax: number;
}
