import { EventEmitter } from 'node:events';
import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { buildSnapshot, shapesSnapshot, type TopologyKv, type TopologySnapshot } from './snapshot';
import { clusterKeys, type ClusterKeys } from './schema';

export interface TopologyWatcherOptions {
  client: Etcd3;
  cluster: string;
  /** Backoff bounds for reloading while etcd is unreachable, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Called with failures it recovers from (for logs). */
  onError?: (err: Error, during: 'load' | 'watch') => void;
}

export interface TopologyWatcherEvents {
  change: [TopologySnapshot];
}

/**
 * Keeps an in-memory snapshot of one cluster's prefix from one prefix watch:
 *
 *   load (range at revision R) ─► watch from R+1 ─► apply events ─► 'change' (new snapshot)
 *        ▲                                │
 *        └── watch canceled (compaction) or failed: full reload, new watch
 *
 * etcd3 resumes a watch after a disconnect from the last revision it saw; when that revision was
 * compacted away, etcd cancels the watch and the watcher reloads everything. Readers take
 * `snapshot` (never awaiting etcd); owns the watch and the key-value mirror.
 */
export class TopologyWatcher extends EventEmitter<TopologyWatcherEvents> {
  readonly keys: ClusterKeys;
  readonly #client: Etcd3;
  readonly #options: TopologyWatcherOptions;
  readonly #kvs = new Map<string, TopologyKv>();
  #snapshot: TopologySnapshot | undefined;
  #watcher: Watcher | undefined;
  #closed = false;
  #reloading: Promise<void> | undefined;
  /** Number of full loads so far (1 after start; more after compactions or watch failures). */
  loads = 0;

  constructor(options: TopologyWatcherOptions) {
    super();
    this.keys = clusterKeys(options.cluster);
    this.#client = options.client;
    this.#options = options;
  }

  /** The current snapshot; throws before `start()` resolved. */
  get snapshot(): TopologySnapshot {
    if (!this.#snapshot) throw new Error('topology not loaded yet');
    return this.#snapshot;
  }

  get loaded(): boolean {
    return this.#snapshot !== undefined;
  }

  /** Loads the topology (retrying with backoff while etcd is unreachable) and starts watching. */
  async start(): Promise<TopologySnapshot> {
    await this.#reload();
    return this.snapshot;
  }

  /** Resolves with the first snapshot (current or future) for which `test` holds. */
  waitFor(test: (s: TopologySnapshot) => boolean, timeoutMs: number): Promise<TopologySnapshot> {
    if (this.#snapshot && test(this.#snapshot)) return Promise.resolve(this.#snapshot);
    return new Promise((resolve, reject) => {
      const onChange = (s: TopologySnapshot): void => {
        if (!test(s)) return;
        clearTimeout(timer);
        this.off('change', onChange);
        resolve(s);
      };
      const timer = setTimeout(() => {
        this.off('change', onChange);
        reject(new Error(`topology condition not met within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('change', onChange);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const watcher = this.#watcher;
    this.#watcher = undefined;
    await cancelQuietly(watcher);
  }

  /** Single-flight full reload: range read, then a new watch from the next revision. */
  #reload(): Promise<void> {
    this.#reloading ??= this.#reloadLoop().finally(() => (this.#reloading = undefined));
    return this.#reloading;
  }

  async #reloadLoop(): Promise<void> {
    let backoff = this.#options.minBackoffMs ?? 100;
    while (!this.#closed) {
      try {
        await this.#loadAndWatch();
        return;
      } catch (err) {
        this.#options.onError?.(err as Error, 'load');
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, this.#options.maxBackoffMs ?? 2000);
      }
    }
  }

  async #loadAndWatch(): Promise<void> {
    await cancelQuietly(this.#watcher);
    this.#watcher = undefined;
    const res = await this.#client.getAll().prefix(this.keys.prefix).exec();
    const revision = Number(res.header.revision);
    this.#kvs.clear();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (shapesSnapshot(this.keys, key)) this.#kvs.set(key, toKv(kv));
    }
    this.loads++;
    this.#publish(revision);
    if (this.#closed) return;
    const watcher = await this.#client.watch().prefix(this.keys.prefix).startRevision(String(revision + 1)).create();
    if (this.#closed) {
      await cancelQuietly(watcher);
      return;
    }
    this.#watcher = watcher;
    watcher.on('data', (r: IWatchResponse) => this.#apply(r));
    watcher.on('error', (err: Error) => {
      if (this.#watcher !== watcher) return;
      this.#watcher = undefined; // etcd already dropped it: cancelling would wait forever
      this.#options.onError?.(err, 'watch');
      void this.#reload();
    });
  }

  #apply(res: IWatchResponse): void {
    let changed = false;
    for (const event of res.events) {
      const key = event.kv.key.toString();
      if (!shapesSnapshot(this.keys, key)) continue;
      if (event.type === 'Delete') this.#kvs.delete(key);
      else this.#kvs.set(key, toKv(event.kv));
      changed = true;
    }
    if (changed) this.#publish(Number(res.header.revision));
  }

  #publish(revision: number): void {
    this.#snapshot = buildSnapshot(this.keys, this.#kvs.values(), revision);
    this.emit('change', this.#snapshot);
  }
}

function toKv(kv: IKeyValue): TopologyKv {
  return {
    key: kv.key.toString(),
    value: kv.value.toString(),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: kv.lease,
  };
}

/** Cancels a watch without waiting more than a second for etcd to confirm (it may be down). */
async function cancelQuietly(watcher: Watcher | undefined): Promise<void> {
  if (!watcher) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    watcher.cancel().catch(() => undefined),
    new Promise((resolve) => (timer = setTimeout(resolve, 1000))),
  ]);
  clearTimeout(timer);
}
