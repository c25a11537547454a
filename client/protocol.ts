import { packr, unpackPlainMultiple } from '../shared/msgpack';


/**
 * The client's side of the proxy's WebSocket API (docs/api.md, "WebSocket API"): request
 * `[id, op, ...args]`, reply `[id, 'ok', ...result]` or `[id, 'error', code, message, detail?]`,
 * one msgpack array per binary message, or several back to back (a batch; replies come batched
 * only to a client that connected with `?batch=1`). Values: bytes travel as msgpack bin; anything else is sent
 * as a msgpack value that the proxy stores as JSON (flags bit 0) and is decoded back from JSON on
 * read, so values written over HTTP/JSON read back the same here. Pure.
 */
export type Op = 'get' | 'mget' | 'set' | 'delete' | 'incr' | 'expire' | 'persist' | 'invalidate' | 'coll' | 'ping';

/** Flags bit 0: the stored bytes are UTF-8 JSON text. */
export const JSON_FLAG = 1;

export type ReadPreference = 'primary' | 'replica';

/** A read: a hit carries the value (bytes as a Buffer, JSON values decoded), its CAS version and TTL. */
export type Item<T = unknown> =
  | { hit: false }
  | { hit: true; value: T; version: number; ttlMs: number | null; flags: number; stale?: 'revalidating' | 'origin-error' };

/** An error reply of the proxy, or a failure of the connection (`CONNECTION_CLOSED`). */
export class ShardcacheRequestError extends Error {
  readonly code: string;
  readonly detail: Record<string, unknown> | undefined;
  constructor(code: string, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'ShardcacheRequestError';
    this.code = code;
    this.detail = detail;
  }
}


export function encodeRequest(id: number, op: Op, args: readonly unknown[]): Buffer {
  return packr.pack([id, op, ...args]);
}

/** A decoded reply: `ok` with its result values, or the error it carries. */
export type Reply = { id: number; ok: true; result: unknown[] } | { id: number; ok: false; error: ShardcacheRequestError };

/** Decodes every reply of one message (one, or several back to back); throws on bytes that are not replies. */
export function decodeReplies(bytes: Uint8Array): Reply[] {
  return unpackPlainMultiple(bytes).map(replyOf);
}

/** Several encoded requests as one message (a batch), back to back. */
export function batchOf(requests: readonly Buffer[], bytes?: number): Buffer {
  return requests.length === 1 ? requests[0] : Buffer.concat(requests, bytes);
}

function replyOf(message: unknown): Reply {
  if (!Array.isArray(message) || typeof message[0] !== 'number' || (message[1] !== 'ok' && message[1] !== 'error')) {
    throw new Error('the proxy sent a message that is not a reply [id, status, ...]');
  }
  const [id, status, ...rest] = message as [number, string, ...unknown[]];
  if (status === 'ok') return { id, ok: true, result: rest };
  const [code, text, detail] = rest as [string, string, Record<string, unknown> | undefined];
  return { id, ok: false, error: new ShardcacheRequestError(String(code), String(text), detail) };
}

/** The wire form of a value for `set`: bytes as bin, anything else as itself (stored as JSON). */
export function valueArg(value: unknown): unknown {
  if (value === undefined) throw new TypeError('value is required');
  return value;
}

/** A read item from the wire, with a JSON value decoded. */
export function itemFrom<T>(raw: unknown): Item<T> {
  const item = raw as {
    hit: boolean; value?: Uint8Array; version?: number; ttlMs?: number | null; flags?: number; stale?: 'revalidating' | 'origin-error';
    error?: { code: string; message: string };
  };
  if (item.error) throw new ShardcacheRequestError(item.error.code, item.error.message);
  if (!item.hit) return { hit: false };
  const bytes = Buffer.from(item.value!.buffer, item.value!.byteOffset, item.value!.byteLength);
  const flags = item.flags ?? 0;
  const value = (flags & JSON_FLAG) !== 0 ? (JSON.parse(bytes.toString('utf8')) as T) : (bytes as unknown as T);
  const hit = { hit: true as const, value, version: item.version!, ttlMs: item.ttlMs ?? null, flags };
  return item.stale === undefined ? hit : { ...hit, stale: item.stale };
}
