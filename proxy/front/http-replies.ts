import { isUtf8 } from 'node:buffer';
import type { CollReply } from '../../shared/collections';
import type { GetResult } from '../backend';
import { isRespOnly, notOfFront, type Outcome } from './commands';
import { httpStatusOf } from './http-status';
import { isJson, jsonInteger, ttlRemainingMs } from './values';
import type { EdgeError, WireError } from './wire-error';

/** A response to write, decided without touching a socket. */
export interface HttpReply {
  status: number;
  /** Lowercase header names; content-type included when there is a body. */
  headers: Array<[string, string]>;
  body: string | Buffer;
  /** Close the connection after it (the request body was not read to the end). */
  close?: boolean;
}

const JSON_TYPE: [string, string] = ['content-type', 'application/json'];

function json(status: number, body: unknown, headers: Array<[string, string]> = []): HttpReply {
  return { status, headers: [JSON_TYPE, ...headers], body: JSON.stringify(body) };
}

/** `{ "error": { code, message, detail? } }` with the status from the table. */
export function errorReply(error: EdgeError, options: { allow?: string; close?: boolean } = {}): HttpReply {
  const headers: Array<[string, string]> = options.allow ? [['allow', options.allow]] : [];
  const retryAfter = error.detail?.retryAfterSeconds;
  if (typeof retryAfter === 'number') headers.push(['retry-after', String(retryAfter)]);
  const status = httpStatusOf(error.code);
  if (status === 401) headers.push(['www-authenticate', 'Bearer realm="shardcache"']);
  const reply = json(status, { error }, headers);
  if (options.close) reply.close = true;
  return reply;
}

const seconds = (ms: number | null): string => (ms === null ? 'null' : String(ms / 1000));

/**
 * One read result as JSON text: a hit of a JSON value splices the stored JSON bytes in as they
 * are (no parse, no re-encode); a hit of bytes carries them as base64 with `"encoding":"base64"`.
 */
export function hitJson(result: GetResult, now: number): Buffer {
  if (!result.hit) return Buffer.from('{"hit":false}');
  const tail = `,"version":${result.version},"ttlRemainingSeconds":${seconds(ttlRemainingMs(result.expiresAt, now))}}`;
  if (isJson(result.flags)) return Buffer.concat([Buffer.from('{"hit":true,"value":'), result.value, Buffer.from(tail)]);
  return Buffer.from(`{"hit":true,"value":"${result.value.toString('base64')}","encoding":"base64"${tail}`);
}

function getReply(result: GetResult, acceptsBinary: boolean, now: number): HttpReply {
  const reply = plainGetReply(result, acceptsBinary, now);
  if (result.hot !== undefined) reply.headers.push(['x-shardcache-hot', result.hot]);
  return reply;
}

function plainGetReply(result: GetResult, acceptsBinary: boolean, now: number): HttpReply {
  if (!result.hit) return json(200, { hit: false }, result.stale === undefined ? [['x-cache-hit', '0']] : [['x-cache-hit', '0'], ['x-shardcache-stale', result.stale]]);
  const stale: Array<[string, string]> = result.stale === undefined ? [] : [['x-shardcache-stale', result.stale]];
  if (!acceptsBinary && isJson(result.flags)) return { status: 200, headers: [JSON_TYPE, ['x-cache-hit', '1'], ...stale], body: hitJson(result, now) };
  const ttl = ttlRemainingMs(result.expiresAt, now);
  return {
    status: 200,
    headers: [
      ['content-type', 'application/octet-stream'], ['x-cache-hit', '1'], ['x-cache-version', String(result.version)],
      ['x-cache-ttl', ttl === null ? '-1' : String(ttl / 1000)], ['x-cache-format', isJson(result.flags) ? 'json' : 'binary'], ...stale,
    ],
    body: result.value,
  };
}

function batchReply(results: Array<GetResult | Error>, errorOf: (err: Error) => WireError, now: number): HttpReply {
  const parts: Buffer[] = [Buffer.from('{"results":[')];
  results.forEach((r, i) => {
    if (i > 0) parts.push(Buffer.from(','));
    parts.push(r instanceof Error ? Buffer.from(JSON.stringify({ error: errorOf(r) })) : hitJson(r, now));
  });
  parts.push(Buffer.from(']}'));
  return { status: 200, headers: [JSON_TYPE], body: Buffer.concat(parts) };
}

/**
 * A hash or set command's reply as JSON: `{ "reply": ... }` with integers as numbers (decimal
 * strings past 2^53), nil as null, lists as arrays, and bytes as UTF-8 strings; when any bytes of
 * the reply are not valid UTF-8, every bytes value is base64 and the reply says
 * `"encoding": "base64"` (as GET says of a binary value).
 */
export function collReply(reply: CollReply): HttpReply {
  const base64 = !allUtf8(reply);
  const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString(base64 ? 'base64' : 'utf8');
  const one = (v: Uint8Array | number | bigint | null): unknown => (v === null ? null : v instanceof Uint8Array ? text(v) : jsonInteger(v));
  const value = Array.isArray(reply) ? (reply as ReadonlyArray<Uint8Array | number | null>).map(one) : one(reply as Uint8Array | number | bigint | null);
  return json(200, base64 ? { reply: value, encoding: 'base64' } : { reply: value });
}

function allUtf8(reply: CollReply): boolean {
  if (reply instanceof Uint8Array) return isUtf8(reply);
  if (Array.isArray(reply)) return (reply as ReadonlyArray<unknown>).every((v) => !(v instanceof Uint8Array) || isUtf8(v));
  return true;
}

export interface ReplyContext {
  /** The client's Accept header names application/octet-stream. */
  acceptsBinary: boolean;
  now: number;
  /** Turns a per-key failure of a batch into its wire error. */
  errorOf: (err: Error) => WireError;
}

/** The response to a successful command. */
export function outcomeReply(outcome: Outcome, ctx: ReplyContext): HttpReply {
  if (isRespOnly(outcome)) return notOfFront(outcome.op, 'HTTP');
  switch (outcome.op) {
    case 'get':
      return getReply(outcome.result, ctx.acceptsBinary, ctx.now);
    case 'mget':
      return batchReply(outcome.results.toArray(), ctx.errorOf, ctx.now);
    case 'set': {
      const r = outcome.result;
      return r ? json(201, { written: true, version: r.version, expiresAt: r.expiresAt === 0 ? null : r.expiresAt }) : json(200, { written: false });
    }
    case 'delete':
      return { status: 204, headers: [['x-cache-deleted', outcome.deleted ? '1' : '0']], body: '' };
    case 'incr':
      return json(200, { value: jsonInteger(outcome.value), version: outcome.version });
    case 'expire':
    case 'persist':
      return json(200, { updated: outcome.updated });
    case 'invalidate':
      return json(200, { invalidated: true });
    case 'coll':
      return collReply(outcome.reply);
    case 'ping':
      return json(200, { pong: true });
  }
}
