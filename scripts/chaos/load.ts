import { setTimeout as sleep } from 'node:timers/promises';
import { ShardcacheClient, ShardcacheRequestError } from '../../client/ws-client';
import { slotOf } from '../../shared/slot';
import type { Op, ReadOp, WriteOp } from './history';

/**
 * The chaos load: `workers` WebSocket clients spread over the proxies. Each worker owns `keysPerShard`
 * keys per shard in each namespace and runs one loop per key: read it from the primary, and once a
 * read succeeded write the next counter, pause. A key's operations never overlap, which is what lets the checker give exact
 * verdicts (scripts/chaos/checker.ts). Every operation is recorded with its start and end.
 *
 *   worker w ──ws──► proxy (w mod proxies)
 *     └─ loop per key: get(ns, key) ─► (read ok) set(ns, key, {c: next counter}) ─► pause ─► ...
 *
 * A broken connection makes the worker reconnect (with backoff) while its loops record failures;
 * a request with no reply within `requestTimeoutMs` counts as ambiguous and resets the connection.
 */

export interface LoadOptions {
  /** ws://host:port/v1/ws (wss:// over TLS) of each proxy. */
  wsUrls: string[];
  /** wss://: the CA (PEM) the proxies' certificate chains to. */
  ca?: Buffer;
  namespaces: string[];
  shards: number;
  /** Slot → shard now (the slot map in etcd, followed as it changes: a rebalance moves keys between shards). */
  shardOfSlot(slot: number): number;
  workers: number;
  keysPerShard: number;
  /** Target total requests per second (each loop paces itself). */
  rate: number;
  requestTimeoutMs: number;
}

export interface LoadKey {
  ns: string;
  key: string;
  slot: number;
  /** The shard the key was chosen for (it may move). */
  shard: number;
  worker: number;
}

/** Keys of a worker: per namespace and shard, the first `perShard` names `w<w>-<i>` that land on that shard. Pure. */
export function keysOf(worker: number, namespaces: readonly string[], shards: number, perShard: number, shardOfSlot: (slot: number) => number): LoadKey[] {
  const keys: LoadKey[] = [];
  for (const ns of namespaces) {
    const need = new Map(Array.from({ length: shards }, (_, s) => [s, perShard]));
    for (let i = 0; [...need.values()].some((n) => n > 0); i++) {
      if (i > 100_000) throw new Error(`no key of worker ${worker} lands on some shard of ${shards}; is the slot map complete?`);
      const key = `w${worker}-${i}`;
      const slot = slotOf(ns, key);
      const shard = shardOfSlot(slot);
      const left = need.get(shard) ?? 0;
      if (left === 0) continue;
      need.set(shard, left - 1);
      keys.push({ ns, key, slot, shard, worker });
    }
  }
  return keys;
}

class TimeoutError extends Error {}

/** One worker's connection, reopened after a failure. */
class WorkerLink {
  #client: ShardcacheClient | undefined;
  #connecting: Promise<ShardcacheClient | undefined> | undefined;
  #closed = false;

  constructor(readonly url: string, readonly timeoutMs: number, readonly ca?: Buffer) {}

  async call<T>(run: (c: ShardcacheClient) => Promise<T>): Promise<T> {
    const client = this.#client ?? (await this.#connect());
    if (!client) throw new ShardcacheRequestError('CONNECTION_CLOSED', `no connection to ${this.url}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new TimeoutError()), this.timeoutMs)));
    try {
      return await Promise.race([run(client), timeout]);
    } catch (err) {
      if (err instanceof TimeoutError || (err as ShardcacheRequestError).code === 'CONNECTION_CLOSED') this.#drop(client);
      throw err instanceof TimeoutError ? new ShardcacheRequestError('CLIENT_TIMEOUT', `no reply within ${this.timeoutMs} ms`) : err;
    } finally {
      clearTimeout(timer);
    }
  }

  #drop(client: ShardcacheClient): void {
    if (this.#client === client) this.#client = undefined;
    void client.close().catch(() => undefined);
  }

  #connect(): Promise<ShardcacheClient | undefined> {
    this.#connecting ??= (async () => {
      for (let attempt = 0; !this.#closed && attempt < 3; attempt++) {
        try {
          const client = await ShardcacheClient.connect(this.url, { timeoutMs: 2000, ...(this.ca ? { ca: this.ca } : {}) });
          if (this.#closed) {
            await client.close();
            return undefined;
          }
          this.#client = client;
          return client;
        } catch {
          await sleep(100 * (attempt + 1));
        }
      }
      return undefined;
    })().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#connecting;
    await this.#client?.close().catch(() => undefined);
    this.#client = undefined;
  }
}

const codeOf = (err: unknown): string => (err as ShardcacheRequestError).code ?? 'ERROR';

/** Reads a key's counter: 0 for a miss. */
async function readCounter(c: ShardcacheClient, ns: string, key: string): Promise<number> {
  const item = await c.get<{ c: number }>(ns, key, { readPreference: 'primary' });
  return item.hit ? item.value.c : 0;
}

/** The running load; `stop()` ends every loop after its current request. */
export class ChaosLoad {
  readonly ops: Op[] = [];
  readonly keys: LoadKey[];
  readonly #links: WorkerLink[];
  readonly #options: LoadOptions;
  readonly #pauseMs: number;
  #running = true;
  #loops: Promise<void>[] = [];

  constructor(options: LoadOptions) {
    this.#options = options;
    this.#links = Array.from({ length: options.workers }, (_, w) => new WorkerLink(options.wsUrls[w % options.wsUrls.length], options.requestTimeoutMs, options.ca));
    this.keys = Array.from({ length: options.workers }, (_, w) => keysOf(w, options.namespaces, options.shards, options.keysPerShard, options.shardOfSlot)).flat();
    this.#pauseMs = Math.max(1, Math.round((this.keys.length * 2 * 1000) / options.rate));
  }

  proxyOf(worker: number): number {
    return worker % this.#options.wsUrls.length;
  }

  start(): void {
    this.#loops = this.keys.map((k, i) => this.#loop(k, i));
  }

  async #loop(k: LoadKey, index: number): Promise<void> {
    await sleep((index * this.#pauseMs) / this.keys.length); // spread the loops over one pause
    const link = this.#links[k.worker];
    const proxy = this.proxyOf(k.worker);
    for (let counter = 1; this.#running; ) {
      // A read before every write: after a failover the new primary's state of this key is read
      // before anything overwrites it, so a rolled-back acknowledged write cannot go unseen.
      const r = await this.#read(k, link, proxy, false);
      if (r.ok) {
        const w: WriteOp = { kind: 'write', ns: k.ns, key: k.key, shard: this.#options.shardOfSlot(k.slot), proxy, counter, start: Date.now(), end: 0, outcome: 'ok' };
        try {
          await link.call((c) => c.set(k.ns, k.key, { c: counter, w: k.worker }, { ttlMs: 0 }));
        } catch (err) {
          w.outcome = 'ambiguous';
          w.code = codeOf(err);
        }
        w.end = Date.now();
        this.ops.push(w);
        counter++;
      }
      await sleep(this.#pauseMs);
    }
  }

  async #read(k: LoadKey, link: WorkerLink, proxy: number, final: boolean): Promise<ReadOp> {
    const r: ReadOp = { kind: 'read', ns: k.ns, key: k.key, shard: this.#options.shardOfSlot(k.slot), proxy, start: Date.now(), end: 0, ok: true, counter: 0, final: final || undefined };
    try {
      r.counter = await link.call((c) => readCounter(c, k.ns, k.key));
    } catch (err) {
      r.ok = false;
      r.code = codeOf(err);
    }
    r.end = Date.now();
    this.ops.push(r);
    return r;
  }

  /** Stops the loops (each finishes its current request). */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  /**
   * The final verification: reads every key from the primary path, retrying a failed read until
   * `deadline`; returns the keys it could not read.
   */
  async verify(deadline: number): Promise<LoadKey[]> {
    const missing: LoadKey[] = [];
    await Promise.all(this.keys.map(async (k) => {
      for (;;) {
        const r = await this.#read(k, this.#links[k.worker], this.proxyOf(k.worker), true);
        if (r.ok) return;
        if (Date.now() > deadline) return void missing.push(k);
        await sleep(200);
      }
    }));
    return missing;
  }

  async close(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#links.map((l) => l.close()));
  }
}
