/**
 * The write-behind queue of one node: the keys of write-behind namespaces whose latest write has
 * not reached the store yet (`storage-node/write-policy/write-behind.ts` flushes them).
 *
 * One record per key, whatever the number of writes since the last flush (coalescing): the
 * record holds the key's latest value as written (a copy, so a TTL that ends, or a DELETE, does
 * not lose what the store must get) and its version; `value` null means the store must delete
 * the key. A newer write replaces the value and version in place and keeps `since` (the age of
 * the oldest unflushed write, which is what the flush delay and the figures measure).
 *
 * The same queue lives on the replicas (REPL_DIRTY / REPL_CLEAN records, and REPL_SNAPSHOT_DIRTY
 * in a full sync), so a replica promoted after a primary's death flushes what the primary had not.
 *
 * Records iterate per namespace in the order keys first became dirty (a Map's insertion order),
 * so the oldest are flushed first.
 */
export interface DirtyRecord {
  readonly ns: string;
  readonly key: string;
  /** The value to PUT, or null: DELETE. */
  value: Buffer | null;
  version: number;
  /** When the oldest unflushed write of the key was applied (epoch ms). */
  since: number;
  /** Failed store attempts of this version. */
  attempts: number;
  /** Not before this time (epoch ms): a retry's backoff. */
  nextTry: number;
  /** The version a store request is carrying now (0: none in flight). */
  flushing: number;
}

/** Per namespace: its records and their value bytes. */
interface Space {
  records: Map<string, DirtyRecord>;
  bytes: number;
}

export class DirtyKeys {
  readonly #spaces = new Map<string, Space>();
  #count = 0;
  #bytes = 0;

  /** Dirty keys held, all namespaces. */
  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Dirty keys of `ns`. */
  depth(ns: string): number {
    return this.#spaces.get(ns)?.records.size ?? 0;
  }

  /** Value bytes of `ns`'s dirty keys. */
  bytesOf(ns: string): number {
    return this.#spaces.get(ns)?.bytes ?? 0;
  }

  has(ns: string, key: string): boolean {
    return this.#count !== 0 && this.#spaces.get(ns)?.records.has(key) === true;
  }

  get(ns: string, key: string): DirtyRecord | undefined {
    return this.#spaces.get(ns)?.records.get(key);
  }

  /** Namespaces holding dirty keys. */
  namespaces(): IterableIterator<string> {
    return this.#spaces.keys();
  }

  /** `ns`'s records, oldest first. Do not mark or clean while iterating. */
  records(ns: string): IterableIterator<DirtyRecord> | undefined {
    return this.#spaces.get(ns)?.records.values();
  }

  /**
   * Records a write of `key` at `version` (`value` null: a delete). An older version than the one
   * held is ignored (a replica may get it twice: from the stream and from a full sync's list).
   * Returns true when the key was not dirty before.
   */
  mark(ns: string, key: string, value: Buffer | null, version: number, now: number): boolean {
    let space = this.#spaces.get(ns);
    if (space === undefined) this.#spaces.set(ns, (space = { records: new Map(), bytes: 0 }));
    const held = space.records.get(key);
    if (held !== undefined) {
      if (version < held.version) return false;
      this.#addBytes(space, (value?.length ?? 0) - (held.value?.length ?? 0));
      held.value = value;
      held.version = version;
      held.attempts = 0;
      held.nextTry = 0;
      return false;
    }
    space.records.set(key, { ns, key, value, version, since: now, attempts: 0, nextTry: 0, flushing: 0 });
    this.#count++;
    this.#addBytes(space, value?.length ?? 0);
    return true;
  }

  /**
   * A flush took an older version while `key` was written again: its oldest unflushed write is
   * now one made since, so it waits its delay again, at the back (the order stays oldest first).
   */
  requeue(record: DirtyRecord, now: number): void {
    const space = this.#spaces.get(record.ns);
    if (space === undefined || space.records.get(record.key) !== record) return;
    space.records.delete(record.key);
    record.since = now;
    space.records.set(record.key, record);
  }

  /** Drops `key` when the version held is at most `version` (flushed, or given up); true if dropped. */
  clean(ns: string, key: string, version: number): boolean {
    const space = this.#spaces.get(ns);
    const held = space?.records.get(key);
    if (space === undefined || held === undefined || held.version > version) return false;
    space.records.delete(key);
    this.#count--;
    this.#addBytes(space, -(held.value?.length ?? 0));
    if (space.records.size === 0) this.#spaces.delete(ns);
    return true;
  }

  /** Forgets every record (a replica about to load a full sync). */
  clear(): void {
    this.#spaces.clear();
    this.#count = 0;
    this.#bytes = 0;
  }

  /** Takes `other`'s records as this queue's own (a replica's full sync adopting its loaded store). */
  replaceWith(other: DirtyKeys): void {
    this.clear();
    for (const [ns, space] of other.#spaces) this.#spaces.set(ns, space);
    this.#count = other.#count;
    this.#bytes = other.#bytes;
    other.#spaces.clear();
    other.#count = 0;
    other.#bytes = 0;
  }

  #addBytes(space: Space, delta: number): void {
    space.bytes += delta;
    this.#bytes += delta;
  }
}
