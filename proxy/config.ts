import { Command, InvalidArgumentError, Option } from 'commander';
import type { PeerAccess } from '../shared/peer-auth';
import { addPeerAccessOptions, peerAccessFlag, type PeerAccessFlags } from '../shared/peer-flags';
import { intIn, oneOf, parseBytes, parseHostPort, parsePort, parseWorkers } from '../shared/config';
import { NAMESPACE_PATTERN } from '../shared/protocol';
import { DEFAULT_ETCD } from '../shared/topology/etcd';
import { addEtcdAccessOptions, type EtcdAccessFlags } from '../shared/etcd-flags';
import { CLUSTER_NAME } from '../shared/topology/schema';

/**
 * Node flags every launcher starts the proxy with (npm start, the chaos harness, compose.yaml,
 * the benchmark). A 64 MiB young-generation semi-space: each request makes short-lived objects
 * (frames, promises, replies) that die within a few ms, and a bigger nursery lets most die
 * between scavenges. Measured under pipelined WebSocket load: ~20-25 % less proxy CPU per request
 * for ~90 MiB more resident memory (docs/performance.md). No allocation-site pretenuring: a
 * scavenge that lands while a pipelined burst of requests is in flight sees most of them survive,
 * and V8 then allocates every later request's arrays in old space, where the dead ones keep the
 * young objects they point to alive until a full collection (scavenges went from ~2 ms to 16 ms
 * and ~12 % of the proxy's time, for the rest of the process's life). Workers forked by --workers
 * inherit them.
 */
export const PROXY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64', '--no-allocation-site-pretenuring'];

/** Validated configuration of the proxy; the `--etcd-*` access flags come from shared/etcd-flags.ts. */
export interface ProxyConfig extends EtcdAccessFlags {
  /** `host:port[,host:port...]`. */
  etcd: string;
  cluster: string;
  host: string;
  httpPort: number;
  adminHost: string;
  adminPort: number;
  maxBodyBytes: number;
  requestTimeoutMs: number;
  /** On SIGTERM, how long requests already received get to be answered before every connection is dropped. */
  shutdownGraceMs: number;
  connectionsPerNode: number;
  wsMaxInFlight: number;
  wsMaxBufferedBytes: number;
  /** Open WebSockets on the client port; an upgrade past it gets 503 TOO_MANY_CONNECTIONS. */
  maxConnections: number;
  /** Exact origins browsers may call the client port from; absent = no Origin check. */
  allowedOrigins?: string[];
  /** `/metrics` on the admin port answers without credentials while auth is on. */
  metricsPublic: boolean;
  /** The cluster secret and node-link TLS of every connection to a storage node (shared/peer-flags.ts). */
  nodeAccess: PeerAccess;
  /** RESP listener (on `host`); 0 = any free port. */
  respPort: number;
  /** HTTP/JSON on node:http for pipelining clients (on `host`); 0 = any free port; absent = none. */
  pipeliningPort?: number;
  /** Namespace of RESP keys until a connection's AUTH selects another. */
  respNamespace: string;
  respMaxBulkBytes: number;
  respMaxMultibulk: number;
  respMaxQueryBytes: number;
  respMaxInFlight: number;
  respMaxBufferedBytes: number;
  /** RESP connections per process; one more gets `-ERR max number of clients reached`. */
  respMaxClients: number;
  /** RESP connections silent with nothing in flight this long are closed; 0 = never. */
  respIdleTimeoutS: number;
  /** A RESP connection holding an incomplete request this long is refused; 0 = never. */
  respRequestTimeoutMs: number;
  /** Bytes all RESP connections of the process may hold for incomplete requests. */
  respInputBudget: number;
  /** TLS on the client ports (HTTP/WebSocket, RESP, pipelining): certificate and key (PEM); absent = plain TCP. */
  tlsCert?: string;
  tlsKey?: string;
  /** CA client certificates must chain to (with `tlsClientAuth`). */
  tlsCa?: string;
  /** Ask clients of the client ports for a certificate of `tlsCa` (mutual TLS). */
  tlsClientAuth: boolean;
  /** Proxies sharing each namespace's qpsLimit: this one admits qpsLimit / proxyCount per second. */
  proxyCount: number;
  /** Proxy processes sharing the ports (1 = this process serves them itself). */
  workers: number;
  logLevel: string;
}

function parseEndpoints(text: string): string {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new InvalidArgumentError('expected host:port[,host:port...], for example 127.0.0.1:2379');
  return parts.map(parseHostPort).join(',');
}

function parseClusterName(text: string): string {
  if (!CLUSTER_NAME.test(text)) throw new InvalidArgumentError('expected a cluster name of 1-64 letters, digits, "_", "." or "-"');
  return text;
}

function parseNamespace(text: string): string {
  if (!NAMESPACE_PATTERN.test(text)) throw new InvalidArgumentError('expected a namespace of 1-64 letters, digits, "_", "-" or "."');
  return text;
}

/** `https://app.example.com,http://localhost:3000`: exact origins (scheme, host, port; no path), as browsers send them. */
function parseOrigins(text: string): string[] {
  const origins = text.split(',').map((o) => o.trim());
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || parsed.origin !== origin || !/^https?:$/.test(parsed.protocol)) {
      throw new InvalidArgumentError('expected comma-separated origins such as https://app.example.com,http://localhost:3000 (scheme, lowercase host and port only)');
    }
  }
  return origins;
}

/**
 * Reads flags, falling back to SHARDCACHE_PROXY_* environment variables (SHARDCACHE_ETCD,
 * SHARDCACHE_CLUSTER and SHARDCACHE_LOG_LEVEL for the ones every program shares), then defaults.
 * A bad value exits with status 1 and a message naming the flag and what it accepts.
 */
export function parseProxyConfig(argv: readonly string[]): ProxyConfig {
  const opt = (flags: string, env: string, description: string) => new Option(flags, description).env(`SHARDCACHE_PROXY_${env}`);
  const program = addPeerAccessOptions(addEtcdAccessOptions(new Command('proxy')))
    .description('shardcache proxy: one endpoint (HTTP/JSON, WebSocket and RESP) routing to the storage nodes')
    .addOption(new Option('--etcd <host:port,...>', 'etcd endpoints').env('SHARDCACHE_ETCD').argParser(parseEndpoints).default(DEFAULT_ETCD))
    .addOption(new Option('--cluster <name>', 'cluster name (etcd prefix /shardcache/<name>/)').env('SHARDCACHE_CLUSTER').argParser(parseClusterName).default('default'))
    .addOption(opt('--host <host>', 'HOST', 'address the client port listens on').default('127.0.0.1'))
    .addOption(opt('--http-port <port>', 'HTTP_PORT', 'client port: HTTP/JSON API and WebSocket /v1/ws (0 = any free port)').argParser(parsePort).default(8080))
    .addOption(opt('--admin-host <host>', 'ADMIN_HOST', 'address of the admin port').default('127.0.0.1'))
    .addOption(opt('--admin-port <port>', 'ADMIN_PORT', 'admin port: /metrics, /healthz, /v1/admin/* (0 = any free port)').argParser(parsePort).default(9100))
    .addOption(opt('--max-body-bytes <bytes>', 'MAX_BODY_BYTES', 'largest HTTP body or WebSocket message, e.g. 1mb').argParser(parseBytes).default(1024 ** 2, '1mb'))
    .addOption(opt('--request-timeout-ms <ms>', 'REQUEST_TIMEOUT_MS', 'deadline of one request to a storage node').argParser(intIn(1, 600_000)).default(2000))
    .addOption(opt('--shutdown-grace-ms <ms>', 'SHUTDOWN_GRACE_MS', 'on SIGTERM, how long requests already received get to be answered before connections are dropped').argParser(intIn(0, 600_000)).default(5000))
    .addOption(opt('--connections-per-node <n>', 'CONNECTIONS_PER_NODE', "pipelined connections to each storage node (one carries each event-loop turn's frames to the node in one write)").argParser(intIn(1, 64)).default(1))
    .addOption(opt('--ws-max-in-flight <n>', 'WS_MAX_IN_FLIGHT', 'requests one WebSocket may have in flight').argParser(intIn(1, 1_000_000)).default(10_000))
    .addOption(opt('--ws-max-buffered-bytes <bytes>', 'WS_MAX_BUFFERED_BYTES', 'unread reply bytes before a WebSocket is closed').argParser(parseBytes).default(16 * 1024 ** 2, '16mb'))
    .addOption(opt('--max-connections <n>', 'MAX_CONNECTIONS', 'open WebSockets on the client port; more upgrades get 503').argParser(intIn(1, 10_000_000)).default(10_000))
    .addOption(opt('--metrics-public', 'METRICS_PUBLIC', 'while the cluster requires auth, still serve /metrics on the admin port without credentials (for a scraper)').default(false))
    .addOption(opt('--allowed-origins <list>', 'ALLOWED_ORIGINS', 'comma-separated origins (https://app.example.com) browsers may call the client port from; other Origins get 403 (unset: no check)').argParser(parseOrigins))
    .addOption(opt('--resp-port <port>', 'RESP_PORT', 'RESP (Redis protocol) port, on --host (0 = any free port)').argParser(parsePort).default(6380))
    .addOption(opt('--pipelining-port <port>', 'PIPELINING_PORT', 'also serve the HTTP/JSON API on node:http here, for clients that pipeline HTTP/1.1 (the client port closes their connections); off unless set (0 = any free port)').argParser(parsePort))
    .addOption(opt('--resp-namespace <ns>', 'RESP_NAMESPACE', 'namespace of RESP keys until a connection selects another with AUTH').argParser(parseNamespace).default('default'))
    .addOption(opt('--resp-max-bulk-bytes <bytes>', 'RESP_MAX_BULK_BYTES', 'largest RESP bulk string (a key or a value)').argParser(parseBytes).default(16 * 1024 ** 2, '16mb'))
    .addOption(opt('--resp-max-multibulk <n>', 'RESP_MAX_MULTIBULK', 'most elements in one RESP request').argParser(intIn(1, 1_048_576)).default(65_536))
    .addOption(opt('--resp-max-query-bytes <bytes>', 'RESP_MAX_QUERY_BYTES', 'most bytes buffered for one incomplete RESP request').argParser(parseBytes).default(64 * 1024 ** 2, '64mb'))
    .addOption(opt('--resp-max-in-flight <n>', 'RESP_MAX_IN_FLIGHT', 'unanswered RESP commands per connection before it stops reading').argParser(intIn(1, 1_000_000)).default(10_000))
    .addOption(opt('--resp-max-buffered-bytes <bytes>', 'RESP_MAX_BUFFERED_BYTES', 'unread RESP reply bytes before the connection is closed').argParser(parseBytes).default(32 * 1024 ** 2, '32mb'))
    .addOption(opt('--resp-max-clients <n>', 'RESP_MAX_CLIENTS', 'RESP connections per process; more are refused with Redis\'s "max number of clients reached"').argParser(intIn(1, 1_000_000)).default(10_000))
    .addOption(opt('--resp-idle-timeout-s <s>', 'RESP_IDLE_TIMEOUT_S', 'close RESP connections that sent nothing and have nothing in flight this long (0 = never)').argParser(intIn(0, 31_536_000)).default(300))
    .addOption(opt('--resp-request-timeout-ms <ms>', 'RESP_REQUEST_TIMEOUT_MS', 'refuse a RESP connection that holds an incomplete request this long (0 = never)').argParser(intIn(0, 3_600_000)).default(10_000))
    .addOption(opt('--resp-input-budget <bytes>', 'RESP_INPUT_BUDGET', 'bytes all RESP connections of the process may hold for incomplete requests').argParser(parseBytes).default(256 * 1024 ** 2, '256mb'))
    .addOption(opt('--tls-cert <file>', 'TLS_CERT', 'certificate (PEM, then intermediates) for TLS on the client ports: HTTPS/WSS, RESP over TLS, HTTPS pipelining; needs --tls-key'))
    .addOption(opt('--tls-key <file>', 'TLS_KEY', 'private key (PEM) of --tls-cert'))
    .addOption(opt('--tls-ca <file>', 'TLS_CA', 'CA (PEM) client certificates must chain to; with --tls-client-auth'))
    .addOption(opt('--tls-client-auth', 'TLS_CLIENT_AUTH', 'mutual TLS: ask clients of the client ports for a certificate of --tls-ca (see docs/security.md for the HTTP/WebSocket port)').default(false))
    .addOption(opt('--proxy-count <n>', 'PROXY_COUNT', 'proxies sharing each namespace qpsLimit (each admits limit / n per second)').argParser(intIn(1, 10_000)).default(1))
    .addOption(opt('--workers <n|auto>', 'WORKERS', 'proxy processes sharing the client, RESP and admin ports (node:cluster; uWS by SO_REUSEPORT); auto: one per core').argParser(parseWorkers).default(1))
    .addOption(
      new Option('--log-level <level>', 'log level').env('SHARDCACHE_LOG_LEVEL').argParser(oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent')).default('info'),
    )
    .allowExcessArguments(false)
    .parse(argv, { from: 'user' });
  const { clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey, ...opts } = program.opts<Omit<ProxyConfig, 'nodeAccess'> & PeerAccessFlags>();
  return { ...opts, nodeAccess: peerAccessFlag({ clusterSecretFile, nodeTlsCa, nodeTlsCert, nodeTlsKey }, (m) => program.error(m)) };
}
