import type { Etcd3 } from 'etcd3';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createLogger, type Logger } from '../../shared/log';
import { connectEtcd } from '../../shared/topology/etcd';
import { TopologyWatcher } from '../../shared/topology/watcher';
import { createDataPlane, type DataPlane, type DataPlaneOptions } from '../../proxy/data-plane';
import { TestEtcd } from './etcd';
import { electedOne, startShardNode, TEST_LEASE_TTL, type ShardNode } from './shard-nodes';
import { shardctlInProcess } from './shardctl';

/** A real cluster for data-plane tests: etcd, `shards` × `perShard` storage nodes in cluster mode, a watcher and a data plane. */
export interface ProxyCluster {
  etcd: TestEtcd;
  client: Etcd3;
  cluster: string;
  /** nodes[shard] = the shard's nodes. */
  nodes: ShardNode[][];
  watcher: TopologyWatcher;
  dp: DataPlane;
  registry: Registry;
  /** The node currently primary of `shard` according to the data plane's snapshot. */
  primaryOf(shard: number): ShardNode;
  /** A node of the whole cluster by id. */
  node(nodeId: string): ShardNode;
  /** Stops everything it started (SIGCONT first, so frozen nodes can exit). */
  close(): Promise<void>;
}

/** Starts etcd (or uses `etcd`), initialises `cluster` and waits until every shard has a primary the watcher sees. */
export async function startProxyCluster(
  options: { cluster: string; etcd?: TestEtcd; shards?: number; perShard?: number; dataPlane?: Partial<DataPlaneOptions>; log?: Logger },
): Promise<ProxyCluster> {
  const shards = options.shards ?? 2;
  const perShard = options.perShard ?? 2;
  const etcd = options.etcd ?? (await TestEtcd.start());
  const client = connectEtcd(etcd.endpoint);
  const { cluster } = options;
  const init = await shardctlInProcess(['init', '--shards', String(shards), '--replicas', String(perShard - 1), '--lease-ttl', String(TEST_LEASE_TTL), '--etcd', etcd.endpoint, '--cluster', cluster]);
  if (init.code !== 0) throw new Error(`shardctl init failed: ${init.stderr}`);
  const started: ShardNode[] = [];
  const startNode = async (s: number): Promise<ShardNode> => {
    const n = await startShardNode(etcd.endpoint, cluster, s);
    started.push(n);
    return n;
  };
  const stopAll = async (): Promise<void> => {
    for (const n of started) n.proc.child.kill('SIGCONT');
    await Promise.all(started.map((n) => n.close().catch(() => undefined)));
  };
  const watcher = new TopologyWatcher({ client, cluster });
  let nodes: ShardNode[][];
  try {
    nodes = await Promise.all(Array.from({ length: shards }, (_, s) => Promise.all(Array.from({ length: perShard }, () => startNode(s)))));
    await Promise.all(nodes.map((group) => electedOne(group)));
    await watcher.start();
    await watcher.waitFor((s) => [...Array(shards).keys()].every((id) => s.shards.get(id)?.primary !== undefined && s.shards.get(id)!.replicas.length === perShard - 1), 10_000);
  } catch (err) {
    await watcher.close();
    await stopAll();
    client.close();
    if (!options.etcd) await etcd.stop();
    throw err;
  }
  const registry = new Registry();
  const log = options.log ?? createLogger('proxy-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const dp = createDataPlane({ topology: watcher, registry, log, ...options.dataPlane });
  const all = nodes.flat();
  const node = (nodeId: string): ShardNode => {
    const found = all.find((n) => n.nodeId === nodeId);
    if (!found) throw new Error(`no node ${nodeId}`);
    return found;
  };
  return {
    etcd, client, cluster, nodes, watcher, dp, registry, node,
    primaryOf: (shard) => node(dp.snapshot!.shards.get(shard)!.primary!.nodeId),
    close: async () => {
      try {
        await dp.close();
        await watcher.close();
      } finally {
        await stopAll();
        client.close();
        if (!options.etcd) await etcd.stop();
      }
    },
  };
}

/** A key of `ns` whose slot belongs to `shard` in the data plane's snapshot. */
export function keyOnShard(dp: DataPlane, ns: string, shard: number, prefix = 'key'): string {
  for (let i = 0; ; i++) {
    const key = `${prefix}-${i}`;
    if (dp.route(ns, key).shardId === shard) return key;
  }
}

/** A logger that keeps every line (parsed) in memory, for asserting on structured events. */
export function memoryLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

/** p-th percentile (0..100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
