import type { PeerAccess } from '../../shared/peer-auth';
import { TestEtcd } from './etcd';
import { startProgram, type Started } from './process';
import { electedOne, startShardNode, TEST_LEASE_TTL, waitFor, type ShardNode } from './shard-nodes';
import { shardctlInProcess } from './shardctl';

/** An HTTP answer with its body as text and, when it parses, as JSON. */
export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  bytes: Buffer;
}

/** A whole cluster as processes for end-to-end tests: etcd, `shards` × `perShard` storage nodes, one proxy. */
export interface TestCluster {
  etcd: TestEtcd;
  cluster: string;
  /** nodes[shard] = the shard's nodes. */
  nodes: ShardNode[][];
  proxy: Started;
  httpUrl: string;
  wsUrl: string;
  adminUrl: string;
  /** The proxy's RESP (Redis protocol) port on 127.0.0.1. */
  respPort?: number;
  /** One HTTP request to the proxy's client port; a body that is not a string or bytes is sent as JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<HttpAnswer>;
  /** Starts another proxy on the same etcd (own ports, other flags) and waits until it routes. */
  startProxy(args?: string[]): Promise<StartedProxy>;
  /** Stops the proxy, the nodes and etcd. */
  stop(): Promise<void>;
}

export interface StartedProxy {
  proc: Started;
  httpUrl: string;
  adminUrl: string;
  /** The proxy's RESP port (a free port unless `--resp-port` was passed). */
  respPort?: number;
}

export interface ClusterOptions {
  shards?: number;
  perShard?: number;
  cluster?: string;
  /** Extra flags for the proxy. */
  proxyArgs?: string[];
  /** Extra flags for every storage node (e.g. a longer `--lease-ttl`). */
  nodeArgs?: string[];
  /** Extra flags for node `index` of `shard`, after `nodeArgs` (e.g. its own `--data-dir` and `--node-id`). */
  nodeArgsFor?: (shard: number, index: number) => string[];
  /**
   * How the test reaches the nodes: its secret is shared by the nodes and the proxies (through
   * SHARDCACHE_CLUSTER_SECRET); node-link TLS flags go in `nodeArgs` and `proxyArgs`.
   */
  access?: PeerAccess;
  /** Extra environment of every proxy of the cluster (e.g. SHARDCACHE_REGION_SECRET). */
  proxyEnv?: NodeJS.ProcessEnv;
}

/** Sends one HTTP request and reads the whole answer. */
export async function httpCall(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    const raw = typeof body === 'string' || body instanceof Uint8Array;
    init.body = raw ? (body as NonNullable<RequestInit['body']>) : JSON.stringify(body);
    if (!raw || !headers['content-type']) (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${base}${path}`, init);
  const bytes = Buffer.from(await res.arrayBuffer());
  const text = bytes.toString('utf8');
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json, bytes };
}

/** Starts a proxy program against `etcd` on free ports (RESP too; `args` may override) and waits for its ready line. */
export async function startProxyProcess(etcd: string, cluster: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<StartedProxy> {
  const proc = await startProgram('proxy/main.js', ['--etcd', etcd, '--cluster', cluster, '--http-port', '0', '--admin-port', '0', '--resp-port', '0', ...args], env);
  return {
    proc, httpUrl: `http://127.0.0.1:${proc.ready.httpPort as number}`, adminUrl: `http://127.0.0.1:${proc.ready.adminPort as number}`,
    respPort: proc.ready.respPort as number | undefined,
  };
}

/**
 * Starts etcd, initialises the cluster, starts the storage nodes (in cluster mode) and a proxy,
 * and resolves once every shard has a primary and the proxy's /healthz says it routes by a
 * snapshot in which every shard has one.
 */
export async function startTestCluster(options: ClusterOptions = {}): Promise<TestCluster> {
  const shards = options.shards ?? 2;
  const perShard = options.perShard ?? 2;
  const cluster = options.cluster ?? 'e2e';
  const etcd = await TestEtcd.start();
  const started: Array<{ close(): Promise<unknown> }> = [];
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.close().catch(() => undefined)));
    await etcd.stop();
  };
  try {
    const init = await shardctlInProcess(['init', '--shards', String(shards), '--replicas', String(perShard - 1), '--lease-ttl', String(TEST_LEASE_TTL), '--etcd', etcd.endpoint, '--cluster', cluster]);
    if (init.code !== 0) throw new Error(`shardctl init failed: ${init.stderr}`);
    const nodes = await Promise.all(Array.from({ length: shards }, (_, s) => Promise.all(Array.from({ length: perShard }, (_, k) => startShardNode(etcd.endpoint, cluster, s, [...(options.nodeArgs ?? []), ...(options.nodeArgsFor?.(s, k) ?? [])], options.access)))));
    started.push(...nodes.flat());
    await Promise.all(nodes.map((group) => electedOne(group)));
    // A proxy is handed out once it routes by a snapshot in which every shard has a primary.
    const startProxy = async (args: string[] = []): Promise<StartedProxy> => {
      const env = { ...(options.access?.secret ? { SHARDCACHE_CLUSTER_SECRET: options.access.secret } : {}), ...options.proxyEnv };
      const p = await startProxyProcess(etcd.endpoint, cluster, args, env);
      started.push({ close: () => p.proc.stop() });
      await waitFor('the proxy to see a primary for every shard', async () => {
        const health = await httpCall(p.adminUrl, 'GET', '/healthz').catch(() => undefined);
        return health?.status === 200 && health.json.shardsWithoutPrimary.length === 0;
      }, 15_000, 50);
      return p;
    };
    const main = await startProxy(options.proxyArgs);
    return {
      etcd, cluster, nodes, proxy: main.proc, httpUrl: main.httpUrl, adminUrl: main.adminUrl, respPort: main.respPort,
      wsUrl: `${main.httpUrl.replace(/^http/, 'ws')}/v1/ws`,
      call: (method, path, body, headers) => httpCall(main.httpUrl, method, path, body, headers),
      startProxy,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
