import type { Hit } from '../../proxy/backend';
import { errorReply, outcomeReply } from '../../proxy/front/http-replies';
import { itemOf } from '../../proxy/front/ws-protocol';
import { respErrorLine } from '../../proxy/front/resp/errors';
import { ValueFlag } from '../../proxy/front/values';

const ctx = { acceptsBinary: false, now: 1000, errorOf: () => ({ code: 'INTERNAL' as const, message: 'x' }) };
const hit: Hit = { hit: true, value: Buffer.from('{"a":1}'), version: 3, expiresAt: 0, flags: ValueFlag.JSON };

describe('fronts: read-through answers', () => {
  test('a stale value carries x-shardcache-stale over HTTP (JSON and binary) and stale in the WebSocket item', () => {
    const json = outcomeReply({ op: 'get', result: { ...hit, stale: 'origin-error' } }, ctx);
    expect(json.headers).toContainEqual(['x-shardcache-stale', 'origin-error']);
    expect(JSON.parse(json.body.toString())).toEqual({ hit: true, value: { a: 1 }, version: 3, ttlRemainingSeconds: null });
    const binary = outcomeReply({ op: 'get', result: { ...hit, flags: 0, stale: 'revalidating' } }, ctx);
    expect(binary.headers).toContainEqual(['x-shardcache-stale', 'revalidating']);
    expect(outcomeReply({ op: 'get', result: hit }, ctx).headers.map(([name]) => name)).not.toContain('x-shardcache-stale');
    expect(itemOf({ ...hit, stale: 'revalidating' }, 1000)).toMatchObject({ hit: true, stale: 'revalidating' });
    expect(itemOf(hit, 1000)).not.toHaveProperty('stale');
  });

  test('RATE_LIMITED answers carry Retry-After; origin errors map to 502/504 and RESP lines', () => {
    const limited = errorReply({ code: 'RATE_LIMITED', message: 'namespace n is over its limit of 5 requests per second', detail: { namespace: 'n', limit: 5, retryAfterSeconds: 2 } });
    expect(limited.status).toBe(429);
    expect(limited.headers).toContainEqual(['retry-after', '2']);
    expect(errorReply({ code: 'ORIGIN_ERROR', message: 'm' }).status).toBe(502);
    expect(errorReply({ code: 'ORIGIN_TIMEOUT', message: 'm' }).status).toBe(504);
    expect(errorReply({ code: 'ORIGIN_TIMEOUT', message: 'm' }).headers.map(([name]) => name)).not.toContain('retry-after');
    expect(respErrorLine({ code: 'RATE_LIMITED', message: 'namespace n is over its limit of 5 requests per second' })).toBe('ERR namespace n is over its limit of 5 requests per second');
    expect(respErrorLine({ code: 'ORIGIN_ERROR', message: 'loading n/k failed: origin answered 500' })).toBe('ERR loading n/k failed: origin answered 500');
    expect(respErrorLine({ code: 'ORIGIN_TIMEOUT', message: 'origin of n did not answer within 500 ms' })).toBe('TIMEOUT origin of n did not answer within 500 ms');
  });
});
