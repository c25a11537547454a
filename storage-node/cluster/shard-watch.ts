import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from '../../shared/log';
import { parseRecord, PrimaryRecordSchema, ResignRequestSchema, type ClusterKeys, type ResignRequest } from '../../shared/topology/schema';
import type { PrimaryView } from './role';

/** A resign request as read from etcd, with the revision that wrote it (to delete exactly it). */
export interface SeenResign {
  request: ResignRequest;
  modRevision: string;
}

/** What the shard watch reports; both run synchronously from the etcd client's events. */
export interface ShardEvents {
  /** The primary key changed (null: deleted). */
  primary(view: PrimaryView | null): void;
  /** A resign request was written (null: deleted or unreadable). */
  resign(seen: SeenResign | null): void;
}

/** Reads a primary key's value and create revision (the epoch); an unreadable value keeps the epoch. */
export function primaryViewOf(kv: IKeyValue, log: Logger): PrimaryView {
  const epoch = Number(kv.create_revision);
  const parsed = parseRecord(PrimaryRecordSchema, kv.value.toString());
  if (parsed.ok) return { nodeId: parsed.value.nodeId, addr: parsed.value.addr, epoch };
  log.warn({ key: kv.key.toString(), reason: parsed.reason }, 'unreadable primary record; treating the shard as taken');
  return { nodeId: '?', addr: null, epoch };
}

/**
 * Follows `shards/<shard>/primary` and `shards/<shard>/resign`: one read of both, then a watch from
 * the next revision, so no change between the two is missed. The etcd client resumes the watch
 * after an outage from the last revision it saw; if etcd cancels it (history compacted), the
 * watch starts over with a fresh read.
 * Owns: the etcd watcher.
 */
export class ShardWatch {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #primaryKey: string;
  readonly #resignKey: string;
  readonly #events: ShardEvents;
  readonly #log: Logger;
  #watcher: Watcher | null = null;
  #closed = false;

  constructor(client: Etcd3, keys: ClusterKeys, shardId: number, events: ShardEvents, log: Logger) {
    this.#client = client;
    this.#primaryKey = keys.primary(shardId);
    this.#resignKey = keys.resign(shardId);
    this.#prefix = this.#primaryKey.slice(0, this.#primaryKey.lastIndexOf('/') + 1);
    this.#events = events;
    this.#log = log;
  }

  get started(): boolean {
    return this.#watcher !== null;
  }

  /** Reads the current keys, reports them, and starts watching. Rejects when etcd cannot be read. */
  async start(): Promise<void> {
    const res = await this.#client.getAll().prefix(this.#prefix).exec();
    if (this.#closed) return;
    const primary = res.kvs.find((kv) => kv.key.toString() === this.#primaryKey);
    const resign = res.kvs.find((kv) => kv.key.toString() === this.#resignKey);
    this.#events.primary(primary ? primaryViewOf(primary, this.#log) : null);
    this.#onResign(resign);
    const watcher = this.#client.watch().prefix(this.#prefix).startRevision(String(Number(res.header.revision) + 1)).watcher();
    watcher.on('put', (kv) => this.#onPut(kv));
    watcher.on('delete', (kv) => this.#onDelete(kv));
    watcher.on('disconnected', (err) => this.#log.warn({ err: err?.message }, 'shard watch disconnected; resuming when etcd is back'));
    watcher.on('error', (err) => this.#restart(err));
    this.#watcher = watcher;
  }

  /** Stops watching. */
  async close(): Promise<void> {
    this.#closed = true;
    const watcher = this.#watcher;
    this.#watcher = null;
    await watcher?.cancel();
  }

  #onPut(kv: IKeyValue): void {
    const key = kv.key.toString();
    if (key === this.#primaryKey) this.#events.primary(primaryViewOf(kv, this.#log));
    else if (key === this.#resignKey) this.#onResign(kv);
  }

  #onDelete(kv: IKeyValue): void {
    const key = kv.key.toString();
    if (key === this.#primaryKey) this.#events.primary(null);
    else if (key === this.#resignKey) this.#events.resign(null);
  }

  #onResign(kv: IKeyValue | undefined): void {
    if (!kv) return this.#events.resign(null);
    const parsed = parseRecord(ResignRequestSchema, kv.value.toString());
    if (!parsed.ok) {
      this.#log.warn({ reason: parsed.reason }, 'unreadable resign request; ignored');
      return this.#events.resign(null);
    }
    this.#events.resign({ request: parsed.value, modRevision: kv.mod_revision });
  }

  #restart(err: Error): void {
    if (this.#closed) return;
    this.#log.warn({ err: err.message }, 'shard watch cancelled by etcd; reading the shard again');
    const old = this.#watcher;
    this.#watcher = null;
    void old?.cancel().catch(() => undefined);
    const retry = (): void => {
      if (this.#closed) return;
      this.start().catch((e: Error) => {
        this.#log.warn({ err: e.message }, 'cannot read the shard from etcd; retrying');
        setTimeout(retry, 1000).unref();
      });
    };
    retry();
  }
}
