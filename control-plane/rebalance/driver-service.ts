import type { PeerAccess } from '../../shared/peer-auth';
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from '../../shared/log';
import { clusterKeys, type ClusterKeys } from '../../shared/topology/schema';
import { DRIVER_DEFAULTS, MigrationRunner, type DriverEvents, type DriverOptions } from './driver';
import { NodeClients } from './node-client';
import { isFinal, readMigrations } from './records';

/** TTL of the driver's lease (s): a dead driver's successor takes over within about this long. */
const LEASE_TTL_SECONDS = 3;
const TICK_MS = 250;

/** What the status page and /metrics read of the driver. */
export interface DriverState {
  leader: boolean;
  running: string[];
}

/**
 * The control-plane service's migration driver: one service at a time holds `driver` under its
 * lease (the others wait and take over when that lease lapses); the holder runs a
 * `MigrationRunner` for every migration that is neither final nor paused, at most `maxParallel`
 * at once and never two on one shard.
 * Owns: its lease, the runners, the node connections.
 */
export class DriverService {
  readonly #keys: ClusterKeys;
  readonly #runners = new Map<string, { runner: MigrationRunner; shards: [number, number]; done: Promise<void> }>();
  readonly #nodes: NodeClients;
  #lease: Lease | null = null;
  #leader = false;
  #tick: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly cluster: string,
    private readonly id: string,
    private readonly log: Logger,
    private readonly options: DriverOptions & { maxParallel: number; nodeAccess?: PeerAccess } = { ...DRIVER_DEFAULTS, maxParallel: 4 },
    private readonly events?: DriverEvents,
  ) {
    this.#keys = clusterKeys(cluster);
    this.#nodes = new NodeClients(options.nodeAccess);
  }

  state(): DriverState {
    return { leader: this.#leader, running: [...this.#runners.keys()] };
  }

  start(): void {
    this.#tick = setInterval(() => {
      this.#ticking ??= this.#onTick().catch((err: Error) => this.log.warn({ err: err.message }, 'migration driver: etcd trouble; retrying')).finally(() => (this.#ticking = null));
    }, TICK_MS);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#tick);
    await this.#ticking;
    for (const r of this.#runners.values()) r.runner.stop();
    await Promise.race([Promise.all([...this.#runners.values()].map((r) => r.done)), new Promise((resolve) => setTimeout(resolve, 3000))]);
    await this.#resign();
    await this.#nodes.close();
  }

  async #onTick(): Promise<void> {
    if (this.#closed) return;
    if (!this.#leader) await this.#campaign();
    if (!this.#leader) return;
    const busy = new Set<number>();
    for (const r of this.#runners.values()) busy.add(r.shards[0]).add(r.shards[1]);
    for (const { record } of await readMigrations(this.client, this.#keys)) {
      if (this.#runners.size >= this.options.maxParallel) break;
      if (isFinal(record.state) || record.state === 'paused' || this.#runners.has(record.id) || busy.has(record.from) || busy.has(record.to)) continue;
      busy.add(record.from).add(record.to);
      const runner = new MigrationRunner(this.client, this.cluster, record.id, this.#nodes, this.options, this.log.child({ migration: record.id }), this.events);
      const done = runner.run().finally(() => this.#runners.delete(record.id));
      this.#runners.set(record.id, { runner, shards: [record.from, record.to], done });
      this.log.info({ event: 'migration-driving', migration: record.id, from: record.from, to: record.to, state: record.state }, `driving migration ${record.id}`);
    }
  }

  /** Takes the driver key under a fresh lease if nobody holds it. */
  async #campaign(): Promise<void> {
    const lease = this.client.lease(LEASE_TTL_SECONDS);
    lease.on('lost', () => this.#lost(lease));
    const leaseId = await lease.grant();
    const res = await this.client
      .if(this.#keys.driver, 'Create', '==', 0)
      .then(this.client.put(this.#keys.driver).value(JSON.stringify({ id: this.id, since: Date.now() })).lease(leaseId))
      .commit();
    if (!res.succeeded || this.#closed) {
      await lease.revoke().catch(() => undefined);
      return;
    }
    this.#lease = lease;
    this.#leader = true;
    this.log.info({ event: 'driver-leader', id: this.id }, 'driving migrations (holding the driver lease)');
  }

  #lost(lease: Lease): void {
    if (lease !== this.#lease) return;
    this.#lease = null;
    this.#leader = false;
    this.log.warn({ event: 'driver-lost' }, 'lost the driver lease; stopping every migration runner');
    for (const r of this.#runners.values()) r.runner.stop();
  }

  async #resign(): Promise<void> {
    const lease = this.#lease;
    this.#lease = null;
    this.#leader = false;
    await lease?.revoke().catch(() => undefined);
  }
}
