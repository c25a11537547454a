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
    case 'ping':
      return json(200, { pong: true });
  }
}
