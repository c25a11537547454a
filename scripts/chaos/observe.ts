import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { connectEtcd, type EtcdAccess } from '../../shared/topology/etcd';
import { SLOT_COUNT } from '../../shared/slot';
import { clusterKeys, parseRecord, SlotMapSchema } from '../../shared/topology/schema';
import type { EpochSeen, NodeWrites } from './history';

/**
 * What the harness watches besides the load: the shards' primary keys in etcd (each create revision
 * is an epoch; the first sighting of each is kept with its wall-clock time), the slot map (which
 * shard each load key is on as slots move), and the storage nodes' reports of their last accepted
 * write per epoch (their admin `/healthz`).
 * Owns: one etcd client, its watch and a poll timer (the poll covers what a watch misses while
 * etcd restarts).
 */
export class EpochWatch {
  readonly seen: EpochSeen[] = [];
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #pattern: RegExp;
  readonly #slotmapKey: string;
  /** Slot → shard by the newest slot map read (-1 before the first). */
  readonly #owner = new Int16Array(SLOT_COUNT).fill(-1);
  #slotmapRevision = 0;
  #watcher: Watcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;

  /** `access`: TLS and credentials toward etcd (none for a plain etcd). */
  constructor(etcd: string, cluster: string, access: EtcdAccess = {}) {
    this.#client = connectEtcd(etcd, { callTimeoutMs: 1000, retry: false, access });
    const keys = clusterKeys(cluster);
    this.#prefix = keys.shardsPrefix;
    this.#pattern = new RegExp(`^${keys.shardsPrefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d+)/primary$`);
    this.#slotmapKey = keys.slotmap;
  }

  async start(): Promise<void> {
    await this.#poll();
    this.#watcher = await this.#client.watch().prefix(this.#prefix).create();
    this.#watcher.on('put', (kv) => this.#note(kv));
    this.#watcher.on('error', () => undefined);
    this.#timer = setInterval(() => void this.#poll(), 200);
  }

  /** The newest epoch seen of each shard, with its node. */
  current(): Map<number, EpochSeen> {
    const now = new Map<number, EpochSeen>();
    for (const e of this.seen) if ((now.get(e.shard)?.epoch ?? 0) < e.epoch) now.set(e.shard, e);
    return now;
  }

  /** Current primary node of `shard` as etcd says now (read, not remembered); undefined: none. */
  async primaryOf(shard: number): Promise<EpochSeen | undefined> {
    const all = await this.#client.getAll().prefix(this.#prefix).exec();
    for (const kv of all.kvs) {
      const e = this.#note(kv);
      if (e?.shard === shard) return e;
    }
    return undefined;
  }

  /** Slot → shard by the slot map in etcd, kept current by the poll; fails when the cluster has no valid slot map. */
  async shardOfSlot(): Promise<(slot: number) => number> {
    await this.#readSlotMap();
    if (this.#owner[0] === -1) throw new Error('no valid slot map in etcd for the cluster');
    return (slot) => this.#owner[slot];
  }

  async #readSlotMap(): Promise<void> {
    const res = await this.#client.get(this.#slotmapKey).exec();
    const kv = res.kvs[0];
    if (kv === undefined || Number(kv.mod_revision) === this.#slotmapRevision) return;
    const parsed = parseRecord(SlotMapSchema, kv.value.toString());
    if (!parsed.ok) return;
    for (const [from, to, shard] of parsed.value.ranges) this.#owner.fill(shard, from, to + 1);
    this.#slotmapRevision = Number(kv.mod_revision);
  }

  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const all = await this.#client.getAll().prefix(this.#prefix).exec();
      for (const kv of all.kvs) this.#note(kv);
      await this.#readSlotMap();
    } catch {
      // etcd down: the watch and the next poll catch up
    } finally {
      this.#polling = false;
    }
  }

  #note(kv: IKeyValue): EpochSeen | undefined {
    const match = this.#pattern.exec(kv.key.toString());
    if (!match) return undefined;
    const shard = Number(match[1]);
    const epoch = Number(kv.create_revision);
    const known = this.seen.find((e) => e.shard === shard && e.epoch === epoch);
    if (known) return known;
    let nodeId = '?';
    try {
      nodeId = String((JSON.parse(kv.value.toString()) as { nodeId?: string }).nodeId ?? '?');
    } catch {
      // a value that is not ours: keep the epoch anyway
    }
    const e: EpochSeen = { shard, epoch, nodeId, seenAt: Date.now() };
    this.seen.push(e);
    return e;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#watcher?.cancel().catch(() => undefined);
    this.#client.close();
  }
}

/** A node's `/healthz`, as far as the harness reads it. */
export interface NodeHealth {
  nodeId: string;
  shardId: number;
  role: string;
  epoch: number;
  lastWriteByEpoch?: Array<[number, number]>;
  replication?: { state?: string };
  /** The epoch of the slot map the node serves by (cluster mode). */
  slotMapEpoch?: number;
}

/** Reads a node's `/healthz` (undefined when it does not answer within `timeoutMs`). */
export async function nodeHealth(adminUrl: string, timeoutMs = 1000): Promise<NodeHealth | undefined> {
  try {
    const res = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? ((await res.json()) as NodeHealth) : undefined;
  } catch {
    return undefined;
  }
}

/** Collects nodes' reports of their last accepted write per epoch. */
export class NodeWritesLog {
  readonly reports: NodeWrites[] = [];

  /** Reads every node's report now (the ones that answer). */
  async collect(nodes: ReadonlyArray<{ nodeId: string; shard: number; adminUrl: string }>): Promise<void> {
    await Promise.all(nodes.map((n) => this.collectOne(n)));
  }

  async collectOne(node: { nodeId: string; shard: number; adminUrl: string }): Promise<void> {
    const health = await nodeHealth(node.adminUrl);
    if (health?.lastWriteByEpoch?.length) this.reports.push({ nodeId: node.nodeId, shard: node.shard, lastWriteByEpoch: health.lastWriteByEpoch });
  }
}
