import { performance } from 'node:perf_hooks';
import type { Etcd3 } from 'etcd3';
import { NodeConnection } from '../../shared/node-connection';
import { OPEN_ACCESS, type PeerAccess } from '../../shared/peer-auth';
import { Op, Status } from '../../shared/protocol';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys } from '../../shared/topology/schema';
import { TestEtcd } from './etcd';
import { startProgram, type Started } from './process';

/** Lease TTL the cluster tests give their nodes (seconds), to keep failovers short. */
export const TEST_LEASE_TTL = 2;

/** A storage node started in cluster mode, with one pipelined connection to it. */
export interface ShardNode {
  proc: Started;
  port: number;
  addr: string;
  nodeId: string;
  conn: NodeConnection;
  stats(): Promise<Record<string, any>>;
  /** A SET carrying `epoch`; resolves with the whole reply. */
  set(epoch: number, key?: string): Promise<unknown[]>;
  /** Closes the connection and stops the process (SIGTERM); resolves with how it exited. */
  close(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts a node of `shard` in `cluster` against etcd at `etcd`. `access`: how the test reaches it
 * (its secret is also given to the node, through SHARDCACHE_CLUSTER_SECRET; TLS flags go in `extra`).
 */
export async function startShardNode(etcd: string, cluster: string, shard: number, extra: string[] = [], access: PeerAccess = OPEN_ACCESS): Promise<ShardNode> {
  const args = ['--port', '0', '--admin-port', '0', '--etcd', etcd, '--cluster', cluster, '--shard', String(shard), '--lease-ttl', String(TEST_LEASE_TTL), ...extra];
  const proc = await startProgram('storage-node/main.js', args, access.secret ? { SHARDCACHE_CLUSTER_SECRET: access.secret } : {});
  const port = proc.ready.port as number;
  const conn = await NodeConnection.connect(port, '127.0.0.1', undefined, access);
  conn.socket.on('error', () => undefined);
  return {
    proc, port, conn, addr: `127.0.0.1:${port}`, nodeId: proc.ready.nodeId as string,
    stats: async () => (await conn.request(Op.STATS))[2] as Record<string, any>,
    set: (epoch, key = 'k') => conn.request(Op.SET, epoch, 'test', key, Buffer.from('v'), 0, 0, 0, 0, null),
    close: async () => {
      await conn.close();
      return proc.stop();
    },
  };
}

/** Polls `cond` until it returns a truthy value (returned) or `timeoutMs` passes (throws `what`). */
export async function waitFor<T>(what: string, cond: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 20): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await cond();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The primary key of `shard` as etcd has it: value and epoch (create revision), or null. */
export async function readPrimary(client: Etcd3, cluster: string, shard: number): Promise<{ nodeId: string; addr: string; epoch: number } | null> {
  const res = await client.get(clusterKeys(cluster).primary(shard)).exec();
  const kv = res.kvs[0];
  if (!kv) return null;
  const value = JSON.parse(kv.value.toString()) as { nodeId: string; addr: string };
  return { ...value, epoch: Number(kv.create_revision) };
}

/** Waits until exactly one of `nodes` says it is primary (and the others replica); returns [primary, others]. */
export async function electedOne(nodes: ShardNode[], timeoutMs = 10_000): Promise<[ShardNode, ShardNode[], number]> {
  return waitFor('one primary', async () => {
    const stats = await Promise.all(nodes.map((n) => n.stats()));
    const primaries = nodes.filter((_, i) => stats[i].role === 'primary');
    if (primaries.length !== 1) return null;
    const epoch = stats[nodes.indexOf(primaries[0])].epoch as number;
    if (!stats.every((s) => s.epoch === epoch && s.role !== 'standalone')) return null; // replicas know it too
    // A cluster primary refuses writes (BUSY) until it has read the slot map, which it watches apart from the election.
    if (stats[nodes.indexOf(primaries[0])].slotMapKnown === false) return null;
    return [primaries[0], nodes.filter((n) => n !== primaries[0]), epoch] as [ShardNode, ShardNode[], number];
  }, timeoutMs);
}

/** One write a prober sent, and what came back. */
export interface ProbeRecord {
  addr: string;
  epoch: number;
  sentAt: number;
  receivedAt: number;
  status: number;
  /** For an accepted write, when the node handled it (its Date.now(), from the reply's expiresAt). */
  handledAt?: number;
}

/** TTL of the prober's writes; the reply's `expiresAt - PROBE_TTL_MS` is the node's clock at handling. */
export const PROBE_TTL_MS = 600_000;

/**
 * Sends a SET to each node every `intervalMs`, pipelined (it does not wait for replies, so writes
 * pile up in the socket of a frozen node), each carrying the epoch the prober believes for that
 * node: the newest epoch a NOT_PRIMARY reply named for that node's address. `sentAt` and
 * `receivedAt` are performance.now() of the test process; `handledAt` is the node's wall clock.
 */
export class WriteProber {
  readonly records: ProbeRecord[] = [];
  readonly belief = new Map<string, number>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #seq = 0;

  start(nodes: ShardNode[], intervalMs = 10): void {
    for (const node of nodes) this.#timers.push(setInterval(() => this.#probe(node), intervalMs));
  }

  /** Stops sending and waits (up to `graceMs`) for the replies still due. */
  async stop(graceMs = 3000): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.#inFlight), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
  }

  accepted(): ProbeRecord[] {
    return this.records.filter((r) => r.status === Status.OK);
  }

  #probe(node: ShardNode): void {
    const epoch = this.belief.get(node.addr) ?? 0;
    const sentAt = performance.now();
    const p = node.conn
      .request(Op.SET, epoch, 'probe', `k${this.#seq++ % 64}`, Buffer.from('v'), PROBE_TTL_MS, 0, 0, 0, null)
      .then((reply) => {
        const record: ProbeRecord = { addr: node.addr, epoch, sentAt, receivedAt: performance.now(), status: reply[1] as number };
        if (reply[1] === Status.OK) record.handledAt = (reply[3] as number) - PROBE_TTL_MS;
        this.records.push(record);
        const [viewEpoch, viewAddr] = reply.slice(3) as [number, string | null];
        if (reply[1] === Status.NOT_PRIMARY && viewAddr && viewEpoch > (this.belief.get(viewAddr) ?? 0)) this.belief.set(viewAddr, viewEpoch);
      })
      .catch(() => undefined)
      .finally(() => this.#inFlight.delete(p));
    this.#inFlight.add(p);
  }
}

/** A test file's etcd, a client of it, and the storage nodes its tests start (see `shardNodeSuite`). */
export interface ShardNodeSuite {
  etcd: TestEtcd;
  client: Etcd3;
  /** Starts `count` nodes of `shard` in `cluster`; they are stopped after the file if a test does not. */
  start(cluster: string, count: number, extra?: string[], shard?: number, secret?: string): Promise<ShardNode[]>;
  /** Stops a node (thawing it first, in case a test froze it with SIGSTOP). */
  close(node: ShardNode): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Registers hooks that start an etcd before the file's tests and stop it, and every node left, after. */
export function shardNodeSuite(): ShardNodeSuite {
  const running = new Set<ShardNode>();
  const suite: ShardNodeSuite = {
    etcd: undefined as unknown as TestEtcd,
    client: undefined as unknown as Etcd3,
    async start(cluster, count, extra = [], shard = 0, secret = '') {
      const nodes = await Promise.all(Array.from({ length: count }, () => startShardNode(suite.etcd.endpoint, cluster, shard, extra, { secret })));
      for (const n of nodes) running.add(n);
      return nodes;
    },
    close(node) {
      running.delete(node);
      node.proc.child.kill('SIGCONT');
      return node.close();
    },
  };
  beforeAll(async () => {
    suite.etcd = await TestEtcd.start();
    suite.client = connectEtcd(suite.etcd.endpoint);
  });
  afterAll(async () => {
    await Promise.all([...running].map((n) => suite.close(n).catch(() => undefined)));
    suite.client?.close();
    await suite.etcd?.stop();
  });
  return suite;
}
