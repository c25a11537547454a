import { MgetResults } from '../../proxy/routing/mget';
import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { errorReply, hitJson, outcomeReply } from '../../proxy/front/http-replies';
import { jsonBody, toCommand, type HttpRequestParts } from '../../proxy/front/http-requests';
import { matchRoute } from '../../proxy/front/http-routes';
import { HTTP_STATUS_OF, httpStatusOf, statusLine } from '../../proxy/front/http-status';
import { ValueFlag } from '../../proxy/front/values';
import { toWireError } from '../../proxy/front/wire-error';

const parts = (over: Partial<HttpRequestParts>): HttpRequestParts => ({ route: 'get', namespace: 'ns', key: 'k', query: '', contentType: '', body: Buffer.alloc(0), ...over });
const body = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const badRequestOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('BAD_REQUEST');
    return (err as Error).message;
  }
  throw new Error('expected BAD_REQUEST');
};

describe('matchRoute', () => {
  test('item routes decode namespace and key; an encoded slash stays in the key', () => {
    expect(matchRoute('get', '/v1/cache/users/a%2Fb%20c')).toEqual({ ok: true, route: 'get', namespace: 'users', key: 'a/b c' });
    expect(matchRoute('put', '/v1/cache/users/k')).toMatchObject({ ok: true, route: 'put' });
    expect(matchRoute('delete', '/v1/cache/users/k')).toMatchObject({ ok: true, route: 'delete' });
  });

  test('actions and batch get are POST only', () => {
    for (const route of ['incr', 'expire', 'invalidate', 'command'] as const) {
      expect(matchRoute('post', `/v1/cache/${route}`)).toEqual({ ok: true, route });
      expect(matchRoute('get', `/v1/cache/${route}`)).toMatchObject({ ok: false, allow: 'POST', error: { code: 'METHOD_NOT_ALLOWED' } });
    }
    expect(matchRoute('post', '/v1/cache/batch/get')).toEqual({ ok: true, route: 'batchGet' });
    // GET of namespace "batch", key "get" is an ordinary item read.
    expect(matchRoute('get', '/v1/cache/batch/get')).toMatchObject({ ok: true, route: 'get', namespace: 'batch', key: 'get' });
    expect(matchRoute('patch', '/v1/cache/batch/get')).toMatchObject({ ok: false, allow: 'GET, PUT, DELETE, POST' });
  });

  test('unknown paths are NOT_FOUND, with a hint for raw slashes', () => {
    expect(matchRoute('get', '/nope')).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(matchRoute('get', '/v1/cache/ns')).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const slash = matchRoute('get', '/v1/cache/ns/a/b');
    expect(slash).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(!slash.ok && slash.error.message).toContain('%2F');
    expect(matchRoute('post', '/v1/cache/ns/k')).toMatchObject({ ok: false, allow: 'GET, PUT, DELETE', error: { code: 'METHOD_NOT_ALLOWED' } });
    expect(matchRoute('constructor', '/v1/cache/ns/k')).toMatchObject({ ok: false, error: { code: 'METHOD_NOT_ALLOWED' } });
  });

  test('malformed percent-encoding is BAD_REQUEST', () => {
    expect(matchRoute('get', '/v1/cache/ns/%E0%A4%A')).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('key') } });
  });
});

describe('toCommand', () => {
  test('JSON PUT stores the value as JSON bytes with the JSON flag', () => {
    const cmd = toCommand(parts({ route: 'put', body: body({ value: { a: [1, 'x'] }, ttlSeconds: 1.5, ifVersion: 3, tags: ['t'] }) }));
    expect(cmd).toEqual({ op: 'set', ns: 'ns', key: 'k', value: Buffer.from('{"a":[1,"x"]}'), flags: ValueFlag.JSON, ttlMs: 1500, ifVersion: 3, tags: ['t'] });
    expect(toCommand(parts({ route: 'put', body: body({ value: null }) }))).toMatchObject({ value: Buffer.from('null'), ttlMs: undefined });
  });

  test('binary PUT takes the body as bytes and options from the query', () => {
    const cmd = toCommand(parts({ route: 'put', contentType: 'application/octet-stream', query: 'ttlSeconds=2&ifVersion=7&tags=a,b&tag=c', body: Buffer.from([0, 255]) }));
    expect(cmd).toEqual({ op: 'set', ns: 'ns', key: 'k', value: Buffer.from([0, 255]), flags: 0, ttlMs: 2000, ifVersion: 7, tags: ['c', 'a', 'b'] });
    expect(badRequestOf(() => toCommand(parts({ route: 'put', contentType: 'application/octet-stream', query: 'ttlSeconds=-1' })))).toContain('ttlSeconds');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', contentType: 'application/octet-stream', query: 'ttlSeconds=soon' })))).toContain('ttlSeconds');
  });

  test('bad input names the field', () => {
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: Buffer.from('{"value":') })))).toContain('not valid JSON');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: Buffer.from('{"value": s3cr3t-token') })))).not.toContain('s3cr3t');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: Buffer.alloc(0) })))).toContain('empty');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body([1]) })))).toContain('JSON object');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({}) })))).toContain('"value"');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({ value: 1, ttl: 5 }) })))).toContain('unknown field "ttl"');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({ value: 1, ttlSeconds: -1 }) })))).toContain('ttlSeconds');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({ value: 1, ttlSeconds: '5' }) })))).toContain('ttlSeconds');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({ value: 1, ifVersion: 0 }) })))).toContain('ifVersion');
    expect(badRequestOf(() => toCommand(parts({ route: 'put', body: body({ value: 1, tags: 'x' }) })))).toContain('tags');
    expect(badRequestOf(() => toCommand(parts({ namespace: 'bad ns' })))).toContain('namespace');
    expect(badRequestOf(() => toCommand(parts({ key: 'k'.repeat(1025) })))).toContain('1025 characters long; the limit is 1024');
    expect(badRequestOf(() => toCommand(parts({ key: '' })))).toContain('key');
    expect(badRequestOf(() => toCommand(parts({ query: 'readPreference=nearest' })))).toContain('readPreference');
  });

  test('GET takes the read preference from the query', () => {
    expect(toCommand(parts({ query: 'readPreference=replica' }))).toEqual({ op: 'get', ns: 'ns', key: 'k', pref: 'replica' });
    expect(toCommand(parts({}))).toEqual({ op: 'get', ns: 'ns', key: 'k', pref: undefined });
  });

  test('POST bodies: batch get, incr (64-bit deltas as strings), expire, invalidate', () => {
    expect(toCommand(parts({ route: 'batchGet', body: body({ namespace: 'n', keys: ['a', 'b'] }) }))).toEqual({ op: 'mget', ns: 'n', keys: ['a', 'b'], pref: undefined });
    expect(badRequestOf(() => toCommand(parts({ route: 'batchGet', body: body({ namespace: 'n', keys: [] }) })))).toContain('keys');
    expect(badRequestOf(() => toCommand(parts({ route: 'batchGet', body: body({ namespace: 'n', keys: ['a', 7] }) })))).toContain('key');
    expect(toCommand(parts({ route: 'incr', body: body({ namespace: 'n', key: 'c', delta: -2 }) }))).toMatchObject({ op: 'incr', delta: -2 });
    expect(toCommand(parts({ route: 'incr', body: body({ namespace: 'n', key: 'c' }) }))).toMatchObject({ delta: 1 });
    expect(toCommand(parts({ route: 'incr', body: body({ namespace: 'n', key: 'c', delta: '9223372036854775807' }) }))).toMatchObject({ delta: 2n ** 63n - 1n });
    expect(badRequestOf(() => toCommand(parts({ route: 'incr', body: body({ namespace: 'n', key: 'c', delta: '9223372036854775808' }) })))).toContain('64-bit');
    expect(badRequestOf(() => toCommand(parts({ route: 'incr', body: body({ namespace: 'n', key: 'c', delta: 1.5 }) })))).toContain('delta');
    expect(toCommand(parts({ route: 'expire', body: body({ namespace: 'n', key: 'c', ttlSeconds: 0 }) }))).toMatchObject({ op: 'expire', ttlMs: 0 });
    expect(badRequestOf(() => toCommand(parts({ route: 'expire', body: body({ namespace: 'n', key: 'c' }) })))).toContain('ttlSeconds');
    expect(toCommand(parts({ route: 'invalidate', body: body({ namespace: 'n', tag: 't' }) }))).toEqual({ op: 'invalidate', ns: 'n', tag: 't' });
    expect(badRequestOf(() => toCommand(parts({ route: 'invalidate', body: body({ tag: 't' }) })))).toContain('namespace');
  });

  test('jsonBody refuses fields the route does not take', () => {
    expect(badRequestOf(() => jsonBody('invalidate', body({ namespace: 'n', key: 'k' })))).toContain('namespace, tag');
  });
});

describe('replies', () => {
  const ctx = { acceptsBinary: false, now: 1_000_000, errorOf: (err: Error) => toWireError(err) };

  test('a JSON hit splices the stored bytes; bytes come as octet-stream with headers', () => {
    const hit = { hit: true as const, value: Buffer.from('{"a":1}'), version: 4, expiresAt: 1_001_500, flags: ValueFlag.JSON };
    const json = outcomeReply({ op: 'get', result: hit }, ctx);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.body.toString())).toEqual({ hit: true, value: { a: 1 }, version: 4, ttlRemainingSeconds: 1.5 });
    const binary = outcomeReply({ op: 'get', result: { ...hit, flags: 0, expiresAt: 0 } }, ctx);
    expect(binary.headers).toEqual(expect.arrayContaining([['content-type', 'application/octet-stream'], ['x-cache-version', '4'], ['x-cache-ttl', '-1']]));
    expect(binary.body).toEqual(hit.value);
    expect(outcomeReply({ op: 'get', result: hit }, { ...ctx, acceptsBinary: true }).headers).toContainEqual(['x-cache-format', 'json']);
    expect(JSON.parse(outcomeReply({ op: 'get', result: { hit: false } }, ctx).body.toString())).toEqual({ hit: false });
  });

  test('batch results keep order, binary as base64, failures as errors', () => {
    const reply = outcomeReply({
      op: 'mget',
      results: MgetResults.of([{ hit: false }, { hit: true, value: Buffer.from([1, 2]), version: 1, expiresAt: 0, flags: 0 }, new ProxyError(ProxyErrorCode.TIMEOUT, 'slow shard')]),
    }, ctx);
    expect(JSON.parse(reply.body.toString())).toEqual({ results: [
      { hit: false },
      { hit: true, value: 'AQI=', encoding: 'base64', version: 1, ttlRemainingSeconds: null },
      { error: { code: 'TIMEOUT', message: 'slow shard' } },
    ] });
    expect(hitJson({ hit: false }, 0).toString()).toBe('{"hit":false}');
  });

  test('writes, counters and the rest', () => {
    expect(outcomeReply({ op: 'set', result: { version: 9, expiresAt: 0 } }, ctx)).toMatchObject({ status: 201, body: '{"written":true,"version":9,"expiresAt":null}' });
    expect(outcomeReply({ op: 'delete', deleted: true }, ctx)).toMatchObject({ status: 204, body: '' });
    expect(JSON.parse(outcomeReply({ op: 'incr', value: 2n ** 60n, version: 2 }, ctx).body as string)).toEqual({ value: '1152921504606846976', version: 2 });
    expect(JSON.parse(outcomeReply({ op: 'incr', value: 5, version: 2 }, ctx).body as string)).toEqual({ value: 5, version: 2 });
    expect(outcomeReply({ op: 'expire', updated: false }, ctx).body).toBe('{"updated":false}');
    expect(outcomeReply({ op: 'invalidate' }, ctx).body).toBe('{"invalidated":true}');
  });
});

describe('error table', () => {
  test('every code has a status, as documented', () => {
    expect(HTTP_STATUS_OF).toEqual({
      BAD_REQUEST: 400, NOT_FOUND: 404, METHOD_NOT_ALLOWED: 405, VERSION_CONFLICT: 409, WRONG_TYPE: 409, TOO_LARGE: 413, NOT_INTEGER: 422, OVERFLOW: 422,
      OVER_QUOTA: 429, RATE_LIMITED: 429, INTERNAL: 500, NODE_UNAVAILABLE: 503, UNAVAILABLE: 503, TIMEOUT: 504, WRITE_ACK_TIMEOUT: 504, OUT_OF_MEMORY: 507, ORIGIN_ERROR: 502, ORIGIN_TIMEOUT: 504,
      UNSUPPORTED_MEDIA_TYPE: 415, FORBIDDEN_ORIGIN: 403, TOO_MANY_CONNECTIONS: 503, NOAUTH: 401, WRONGPASS: 401, NOPERM: 403, AUTH_BUSY: 503,
      STORE_ERROR: 502, STORE_TIMEOUT: 504, WRITE_QUEUE_FULL: 429, FORBIDDEN: 403,
    });
    for (const code of Object.values(ProxyErrorCode)) expect(httpStatusOf(code)).toBeGreaterThanOrEqual(400);
    expect(httpStatusOf('__proto__')).toBe(500);
    expect(statusLine(409)).toBe('409 Conflict');
  });

  test('error bodies carry code, message and detail; unknown failures become INTERNAL', () => {
    const conflict = toWireError(new ProxyError(ProxyErrorCode.VERSION_CONFLICT, 'nope', { currentVersion: 3 }));
    expect(errorReply(conflict)).toEqual({ status: 409, headers: [['content-type', 'application/json']], body: '{"error":{"code":"VERSION_CONFLICT","message":"nope","detail":{"currentVersion":3}}}' });
    const reported: unknown[] = [];
    expect(toWireError(new TypeError('x is undefined'), (e) => reported.push(e))).toEqual({ code: 'INTERNAL', message: expect.not.stringContaining('undefined') });
    expect(reported).toHaveLength(1);
    expect(errorReply({ code: 'METHOD_NOT_ALLOWED', message: 'm' }, { allow: 'POST', close: true })).toMatchObject({ status: 405, close: true, headers: expect.arrayContaining([['allow', 'POST']]) });
  });
});
