import type { Command } from './commands';
import type { RouteName } from './http-routes';
import {
  collArgsArg, collCommandArg, collKeysArg, deltaArg, keyArg, keysArg, namespaceArg, objectArg, readPreferenceArg, tagArg, tagsArg, ttlSecondsArg, versionArg,
} from './validate';
import { ValueFlag, jsonBytes } from './values';
import { badRequest } from './wire-error';

/** What the HTTP shell read of one request, before any interpretation. */
export interface HttpRequestParts {
  route: RouteName;
  namespace?: string;
  key?: string;
  /** Raw query string, without `?`. */
  query: string;
  /** Lowercased Content-Type header ('' when absent). */
  contentType: string;
  body: Buffer;
}

/** Fields each JSON body may carry; anything else is refused so a typo (`ttl`) is not ignored. */
const FIELDS: Partial<Record<RouteName, readonly string[]>> = {
  put: ['value', 'ttlSeconds', 'ifVersion', 'tags'],
  batchGet: ['namespace', 'keys', 'readPreference'],
  incr: ['namespace', 'key', 'delta', 'ttlSeconds'],
  expire: ['namespace', 'key', 'ttlSeconds'],
  invalidate: ['namespace', 'tag'],
  command: ['namespace', 'key', 'command', 'args', 'keys', 'encoding', 'readPreference'],
};

export const isBinary = (contentType: string): boolean => contentType.split(';')[0].trim() === 'application/octet-stream';

/** Parses a JSON object body and checks its fields against the route's list. */
export function jsonBody(route: RouteName, body: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    // The parser's own message quotes the body: never passed on.
    const reason = body.length === 0 ? 'the body is empty' : `${body.length} bytes that do not parse`;
    throw badRequest(`request body is not valid JSON (${reason}); send application/json, or application/octet-stream for bytes`);
  }
  const object = objectArg(parsed);
  const allowed = FIELDS[route] ?? [];
  for (const field of Object.keys(object)) {
    if (!allowed.includes(field)) throw badRequest(`unknown field "${field.slice(0, 64)}"; this request takes ${allowed.join(', ')}`);
  }
  return object;
}

/** Query parameter as a number (`?ttlSeconds=1.5`); undefined when absent. */
function queryNumber(params: URLSearchParams, name: string): number | undefined {
  const text = params.get(name);
  if (text === null || text === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value)) throw badRequest(`query parameter ${name} must be a number (got ${JSON.stringify(text.slice(0, 40))})`);
  return value;
}

/** Tags of a binary PUT: `?tags=a,b` and/or repeated `?tag=a&tag=b`. */
function queryTags(params: URLSearchParams): string[] | undefined {
  const tags = [...params.getAll('tag'), ...params.getAll('tags').flatMap((t) => t.split(','))].filter((t) => t !== '');
  return tags.length === 0 ? undefined : tagsArg(tags);
}

function putCommand(parts: HttpRequestParts, ns: string, key: string): Command {
  if (isBinary(parts.contentType)) {
    const params = new URLSearchParams(parts.query);
    return {
      op: 'set', ns, key, value: parts.body, flags: 0, ttlMs: ttlSecondsArg(queryNumber(params, 'ttlSeconds')),
      ifVersion: versionArg(queryNumber(params, 'ifVersion')), tags: queryTags(params),
    };
  }
  const body = jsonBody('put', parts.body);
  if (!('value' in body)) throw badRequest('missing field "value" (any JSON value; use application/octet-stream for bytes)');
  return {
    op: 'set', ns, key, value: jsonBytes(body.value), flags: ValueFlag.JSON, ttlMs: ttlSecondsArg(body.ttlSeconds),
    ifVersion: versionArg(body.ifVersion), tags: tagsArg(body.tags),
  };
}

/**
 * A hash or set command: `{ namespace, key, command: 'HSET', args?: [...], keys?: [...],
 * encoding?: 'base64', readPreference? }`; `args` are strings (UTF-8, or base64 with `encoding`)
 * or numbers (their decimal text).
 */
function collCommand(body: Record<string, unknown>): Command {
  if (body.encoding !== undefined && body.encoding !== null && body.encoding !== 'base64') throw badRequest('encoding must be "base64" (the args are base64) or left out (UTF-8 text)');
  return {
    op: 'coll', ns: namespaceArg(body.namespace), key: keyArg(body.key), cmd: collCommandArg(body.command), args: collArgsArg(body.args, body.encoding === 'base64'),
    keys: collKeysArg(body.keys), pref: readPreferenceArg(body.readPreference),
  };
}

/** Turns a matched request into a command; throws BAD_REQUEST (`ProxyError`) naming what is wrong. */
export function toCommand(parts: HttpRequestParts): Command {
  switch (parts.route) {
    case 'get':
    case 'put':
    case 'delete': {
      const ns = namespaceArg(parts.namespace);
      const key = keyArg(parts.key);
      if (parts.route === 'put') return putCommand(parts, ns, key);
      if (parts.route === 'delete') return { op: 'delete', ns, key };
      return { op: 'get', ns, key, pref: readPreferenceArg(new URLSearchParams(parts.query).get('readPreference') ?? undefined) };
    }
    case 'batchGet': {
      const body = jsonBody('batchGet', parts.body);
      return { op: 'mget', ns: namespaceArg(body.namespace), keys: keysArg(body.keys), pref: readPreferenceArg(body.readPreference) };
    }
    case 'incr': {
      const body = jsonBody('incr', parts.body);
      const delta = body.delta === undefined ? 1 : deltaArg(body.delta);
      return { op: 'incr', ns: namespaceArg(body.namespace), key: keyArg(body.key), delta, ttlMs: ttlSecondsArg(body.ttlSeconds) };
    }
    case 'expire': {
      const body = jsonBody('expire', parts.body);
      if (body.ttlSeconds === undefined || body.ttlSeconds === null) throw badRequest('missing field "ttlSeconds" (seconds >= 0; 0 deletes the key)');
      return { op: 'expire', ns: namespaceArg(body.namespace), key: keyArg(body.key), ttlMs: ttlSecondsArg(body.ttlSeconds)! };
    }
    case 'invalidate': {
      const body = jsonBody('invalidate', parts.body);
      return { op: 'invalidate', ns: namespaceArg(body.namespace), tag: tagArg(body.tag) };
    }
    case 'command':
      return collCommand(jsonBody('command', parts.body));
  }
}
