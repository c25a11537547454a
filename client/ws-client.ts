import WebSocket from 'ws';
import { Limits } from '../shared/protocol';
import * as getOrLoad from './get-or-load';
import type { CacheAsideOptions } from './get-or-load';
import * as protocol from './protocol';
import { batchOf, decodeReplies, encodeRequest, itemFrom, valueArg, type Item, type Op, type Reply, type ReadPreference } from './protocol';

// Re-exported as constants: `export { } from` is a getter in CommonJS output (test/unit/exports-shape.test.ts).
export const ShardcacheRequestError = protocol.ShardcacheRequestError;
export type ShardcacheRequestError = protocol.ShardcacheRequestError;
export type { Item, ReadPreference } from './protocol';
export const CacheAside = getOrLoad.CacheAside;
export type CacheAside = getOrLoad.CacheAside;
export type { CacheAsideOptions, GetOrLoadOptions } from './get-or-load';

export interface SetOptions {
  /** TTL in ms; omitted = the namespace's default TTL; 0 = never expires. */
  ttlMs?: number;
  /** Compare-and-set: write only if the entry's current version is this one (else VERSION_CONFLICT). */
  ifVersion?: number;
  tags?: string[];
  /** Flags stored with a binary value (bit 0 is reserved for JSON). */
  flags?: number;
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 10 s). */
  timeoutMs?: number;
  /**
   * Largest message of batched requests (default 64 KiB; a single bigger request goes alone).
   * Keep it at or below the proxy's `--max-body-bytes` (default 1 MiB): the proxy drops a
   * connection that sends a bigger message.
   */
  maxBatchBytes?: number;
  /** A user and password, while the cluster requires auth (sent once, with the upgrade, as a bearer token). */
  credentials?: { user: string; password: string };
  /** wss:// with a private CA: the CA (PEM) the proxy's certificate must chain to (only it is trusted then). */
  ca?: string | Buffer;
}

interface Pending {
  resolve: (result: unknown[]) => void;
  reject: (err: Error) => void;
}

const MAX_ID = 0xffffffff;
/** Default largest batch of requests sent as one message. */
const MAX_BATCH_BYTES = 64 * 1024;
/** Most requests in one message: the proxy runs at most this many of a message. */
const MAX_BATCH_REQUESTS = Limits.MAX_WS_BATCH_REQUESTS;

/** `url` asking the proxy to batch its replies (`?batch=1`); the client reads batched replies. */
export function batchedUrl(url: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('batch', '1');
  return parsed.toString();
}

/**
 * A typed client of the proxy's WebSocket API (`ws://host:port/v1/ws`). Requests are pipelined:
 * each gets an id, and its promise settles when the reply with that id arrives, in whatever order
 * the proxy completes them. The requests made in one event-loop turn leave together as one
 * message (a batch), and the client connects with `?batch=1`, so the proxy answers a turn's
 * replies in one message too: one frame per turn instead of one per request, on both sides. Owns: the socket and the map of pending ids; when
 * the socket closes every pending request rejects with CONNECTION_CLOSED.
 *
 *   const c = await ShardcacheClient.connect('ws://127.0.0.1:8080/v1/ws');
 *   await c.set('sessions', 'u:1', { name: 'ada' }, { ttlMs: 60_000 });
 *   const item = await c.get<{ name: string }>('sessions', 'u:1'); // { hit: true, value: { name: 'ada' }, ... }
 */
export class ShardcacheClient {
  readonly #socket: WebSocket;
  readonly #maxBatchBytes: number;
  readonly #pending = new Map<number, Pending>();
  /** Encoded requests of this event-loop turn, sent as one message when it ends. */
  #outbox: Buffer[] = [];
  #outboxBytes = 0;
  #nextId = 1;
  #closed: Error | undefined;
  /** Called with errors the proxy sent without a request id (a request it could not read). */
  onUnmatchedError: ((err: ShardcacheRequestError) => void) | undefined;

  private constructor(socket: WebSocket, maxBatchBytes: number) {
    this.#socket = socket;
    this.#maxBatchBytes = maxBatchBytes;
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#onMessage(data, isBinary));
    socket.on('close', (code: number, reason: Buffer) => this.#fail(new ShardcacheRequestError('CONNECTION_CLOSED', `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`)));
    socket.on('error', (err: Error) => this.#fail(new ShardcacheRequestError('CONNECTION_CLOSED', `connection failed: ${err.message}`)));
  }

  /** Opens a connection; rejects when the proxy cannot be reached within `timeoutMs`. */
  static connect(url: string, options: ConnectOptions = {}): Promise<ShardcacheClient> {
    return new Promise((resolve, reject) => {
      const headers = options.credentials ? { authorization: `Bearer ${options.credentials.user}:${options.credentials.password}` } : undefined;
      const socket = new WebSocket(batchedUrl(url), { handshakeTimeout: options.timeoutMs ?? 10_000, perMessageDeflate: false, headers, ...(options.ca ? { ca: options.ca } : {}) });
      socket.binaryType = 'nodebuffer';
      const onError = (err: Error): void => reject(new ShardcacheRequestError('CONNECTION_CLOSED', `cannot connect to ${url}: ${err.message}`));
      socket.once('error', onError);
      socket.once('open', () => {
        socket.off('error', onError);
        resolve(new ShardcacheClient(socket, options.maxBatchBytes ?? MAX_BATCH_BYTES));
      });
    });
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.#pending.size;
  }

  async get<T = unknown>(ns: string, key: string, options: { readPreference?: ReadPreference } = {}): Promise<Item<T>> {
    const [item] = await this.#request('get', options.readPreference ? [ns, key, options.readPreference] : [ns, key]);
    return itemFrom<T>(item);
  }

  /** Per-key results in the order of `keys`; a key whose shard failed carries its error. */
  async mget<T = unknown>(ns: string, keys: readonly string[], options: { readPreference?: ReadPreference } = {}): Promise<Array<Item<T> | ShardcacheRequestError>> {
    const [items] = await this.#request('mget', options.readPreference ? [ns, keys, options.readPreference] : [ns, keys]);
    return (items as unknown[]).map((raw) => {
      try {
        return itemFrom<T>(raw);
      } catch (err) {
        return err as ShardcacheRequestError;
      }
    });
  }

  /** Stores bytes (Buffer/Uint8Array) as they are, any other value as JSON. */
  async set(ns: string, key: string, value: unknown, options: SetOptions = {}): Promise<{ version: number; expiresAt: number | null }> {
    const [version, expiresAt] = await this.#request('set', Object.keys(options).length ? [ns, key, valueArg(value), options] : [ns, key, valueArg(value)]);
    return { version: version as number, expiresAt: expiresAt as number | null };
  }

  async delete(ns: string, key: string): Promise<boolean> {
    return (await this.#request('delete', [ns, key]))[0] as boolean;
  }

  /** Adds `delta` (signed 64-bit); values beyond 2^53 come back as bigint. */
  async incr(ns: string, key: string, delta: number | bigint = 1, options: { ttlMs?: number } = {}): Promise<{ value: number | bigint; version: number }> {
    const [value, version] = await this.#request('incr', options.ttlMs === undefined ? [ns, key, delta] : [ns, key, delta, options.ttlMs]);
    return { value: value as number | bigint, version: version as number };
  }

  /** Sets a TTL in ms (0 deletes the key); resolves whether the key existed. */
  async expire(ns: string, key: string, ttlMs: number): Promise<boolean> {
    return (await this.#request('expire', [ns, key, ttlMs]))[0] as boolean;
  }

  /** Removes the key's expiry; resolves whether it had one. */
  async persist(ns: string, key: string): Promise<boolean> {
    return (await this.#request('persist', [ns, key]))[0] as boolean;
  }

  /** Invalidates a whole namespace, or only the entries carrying `tag`. */
  async invalidate(ns: string, tag?: string): Promise<void> {
    await this.#request('invalidate', tag === undefined ? [ns] : [ns, tag]);
  }

  /**
   * Runs a hash or set command by its Redis name (`'HSET'`, `'SMEMBERS'` ...; docs/api.md) on `key`
   * with its arguments after the key (strings, or bytes); `keys`: SINTER / SUNION / SDIFF's other
   * keys, in `key`'s slot. Resolves Redis's reply: an integer, bytes (a Buffer), null, or a list
   * of those; a key of another type rejects with WRONG_TYPE.
   */
  async command(
    ns: string, key: string, command: string, args: ReadonlyArray<string | Uint8Array> = [], options: { keys?: readonly string[]; readPreference?: ReadPreference } = {},
  ): Promise<number | bigint | Buffer | null | Array<Buffer | number | null>> {
    const fields: unknown[] = [ns, key, command, args];
    if (options.keys !== undefined || options.readPreference !== undefined) fields.push(options.keys ?? null);
    if (options.readPreference !== undefined) fields.push(options.readPreference);
    const [reply] = await this.#request('coll', fields);
    return reply as number | bigint | Buffer | null | Array<Buffer | number | null>;
  }

  /**
   * Cache-aside over `namespace` (`get-or-load.ts`): `cacheAside('users').getOrLoad(key, loader,
   * { ttlMs })` loads once per key in this process and caches with jitter, stale-while-revalidate
   * and negative caching. Keep the returned object: its flights are per instance.
   */
  cacheAside(namespace: string, options?: CacheAsideOptions): CacheAside {
    return new CacheAside(this, namespace, options);
  }

  async ping(): Promise<void> {
    await this.#request('ping', []);
  }

  /** Closes the connection; pending requests reject with CONNECTION_CLOSED. */
  close(): Promise<void> {
    this.#flush(); // requests made in this turn go out before the close frame
    if (this.#socket.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.close(1000);
    });
  }

  #request(op: Op, args: readonly unknown[]): Promise<unknown[]> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#takeId();
    const request = encodeRequest(id, op, args);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const full = this.#outbox.length === MAX_BATCH_REQUESTS || this.#outboxBytes + request.length > this.#maxBatchBytes;
      if (this.#outbox.length > 0 && full) this.#flush();
      if (this.#outbox.length === 0) process.nextTick(this.#flush);
      this.#outbox.push(request);
      this.#outboxBytes += request.length;
    });
  }

  /** Sends this turn's requests as one message. */
  readonly #flush = (): void => {
    const outbox = this.#outbox;
    if (outbox.length === 0) return;
    const bytes = this.#outboxBytes;
    this.#outbox = [];
    this.#outboxBytes = 0;
    if (this.#socket.readyState !== WebSocket.OPEN) return; // closing: 'close' rejects the requests
    this.#socket.send(batchOf(outbox, bytes), { binary: true });
  };

  #takeId(): number {
    do {
      this.#nextId = this.#nextId >= MAX_ID ? 1 : this.#nextId + 1;
    } while (this.#pending.has(this.#nextId));
    return this.#nextId;
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    let replies: Reply[];
    try {
      if (!isBinary) throw new Error('the proxy sent a text message');
      replies = decodeReplies(data);
    } catch (err) {
      this.#socket.terminate();
      this.#fail(new ShardcacheRequestError('PROTOCOL_ERROR', (err as Error).message));
      return;
    }
    for (const reply of replies) this.#settle(reply);
  }

  #settle(reply: Reply): void {
    const pending = this.#pending.get(reply.id);
    if (!pending) {
      if (!reply.ok) this.onUnmatchedError?.(reply.error);
      return;
    }
    this.#pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(reply.error);
  }

  #fail(err: Error): void {
    this.#closed ??= err;
    for (const p of this.#pending.values()) p.reject(this.#closed);
    this.#pending.clear();
  }
}
