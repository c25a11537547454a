import type { Etcd3, Lease, Watcher } from 'etcd3';
import { clusterKeys, type ClusterKeys } from '../../shared/topology/schema';

/**
 * Storage nodes of one shard played by the test process, following the node contract on etcd:
 * each node registers `nodes/<id>` under its own lease, the first one campaigns for
 * `shards/<n>/primary` (create-if-absent, under its lease), and with `honourResign` a primary that
 * sees `shards/<n>/resign` carrying its epoch deletes its key while the next node takes over.
 */
export class FakeShard {
  readonly shardId: number;
  readonly nodeIds: string[];
  readonly #client: Etcd3;
  readonly #keys: ClusterKeys;
  readonly #leases = new Map<string, Lease>();
  #watcher: Watcher | undefined;
  #primary = -1;

  constructor(client: Etcd3, cluster: string, shardId: number, nodeIds: string[]) {
    this.#client = client;
    this.#keys = clusterKeys(cluster);
    this.shardId = shardId;
    this.nodeIds = nodeIds;
  }

  addrOf(nodeId: string): string {
    return `127.0.0.1:${17000 + this.shardId * 10 + this.nodeIds.indexOf(nodeId)}`;
  }

  /** Registers every node under its own lease; with `elect`, the first one becomes primary. */
  async start(options: { elect: boolean; ttlSeconds?: number } = { elect: true }): Promise<this> {
    for (const nodeId of this.nodeIds) {
      const lease = this.#client.lease(options.ttlSeconds ?? 10);
      this.#leases.set(nodeId, lease);
      await lease.put(this.#keys.node(nodeId)).value(JSON.stringify({ addr: this.addrOf(nodeId), shardId: this.shardId, zone: 'zone-a' }));
    }
    if (options.elect) await this.campaign(0);
    return this;
  }

  /** Node `index` puts the primary key if there is none; returns whether it won. */
  async campaign(index: number): Promise<boolean> {
    const nodeId = this.nodeIds[index];
    const key = this.#keys.primary(this.shardId);
    const lease = this.#leases.get(nodeId)!;
    const leaseId = await lease.grant();
    const res = await this.#client
      .if(key, 'Create', '==', 0)
      .then(this.#client.put(key).value(JSON.stringify({ nodeId, addr: this.addrOf(nodeId) })).lease(leaseId))
      .commit();
    if (res.succeeded) this.#primary = index;
    return res.succeeded;
  }

  /** Steps the primary down when a resign request carries its epoch; the next node takes over. */
  async honourResign(): Promise<void> {
    const resignKey = this.#keys.resign(this.shardId);
    this.#watcher = await this.#client.watch().key(resignKey).create();
    this.#watcher.on('put', (kv) => void this.#onResign(JSON.parse(kv.value.toString()) as { epoch: number }));
  }

  async #onResign(request: { epoch: number }): Promise<void> {
    const key = this.#keys.primary(this.shardId);
    const stepped = await this.#client.if(key, 'Create', '==', request.epoch).then(this.#client.delete().key(key)).commit();
    if (!stepped.succeeded) return;
    await this.campaign((this.#primary + 1) % this.nodeIds.length);
  }

  /** Revokes every lease (removing the node and primary keys) and stops watching. */
  async close(): Promise<void> {
    await this.#watcher?.cancel();
    for (const lease of this.#leases.values()) await lease.revoke().catch(() => undefined);
    this.#leases.clear();
  }
}
