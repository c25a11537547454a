import * as origin from '../../proxy/readthrough/origin';
import { ConfigError } from '../../shared/errors';
import { isRetryableStatus, outcomeOfStatus, StoreClient } from '../../shared/store-http';
import { isDotSegmentKey, originTemplateProblem, originUrl } from '../../shared/url-template';
import { thrownBy } from '../helpers/thrown';

/**
 * The store client's pure parts: a key's URL (the read-through origin's rules, shared), what
 * each status means, and what the client refuses before any request.
 */
const T = 'http://store:8080/items/{key}';

describe('a key is one path segment of the store URL', () => {
  const cases: Array<[string, string]> = [
    ['plain', '/items/plain'],
    ['a/b', '/items/a%2Fb'],
    ['a/../../admin', '/items/a%2F..%2F..%2Fadmin'],
    ['../admin', '/items/..%2Fadmin'],
    ['%2e%2e%2fadmin', '/items/%252e%252e%252fadmin'],
    ['?x=1', '/items/%3Fx%3D1'],
    ['#frag', '/items/%23frag'],
    ['a b', '/items/a%20b'],
    ['100%', '/items/100%25'],
    ['a\\..\\b', '/items/a%5C..%5Cb'],
    ['ключ', '/items/%D0%BA%D0%BB%D1%8E%D1%87'],
    ['😀/x', '/items/%F0%9F%98%80%2Fx'],
    ['...', '/items/...'],
  ];
  test.each(cases)('%j → %s, and decodes back to the key', (key, path) => {
    const url = new URL(originUrl(T, key));
    expect(url.pathname).toBe(path);
    expect(url.search).toBe('');
    expect(url.hash).toBe('');
    expect(url.host).toBe('store:8080');
    expect(decodeURIComponent(url.pathname.slice('/items/'.length))).toBe(key);
  });

  test('{key} in the query is encoded the same way and cannot add parameters', () => {
    const url = new URL(originUrl('http://store/put?id={key}&ns=a', 'x&ns=b'));
    expect(url.searchParams.getAll('ns')).toEqual(['a']);
    expect(url.searchParams.get('id')).toBe('x&ns=b');
  });

  test('dot segments, however encoded, are the keys that cannot be confined', () => {
    for (const key of ['.', '..', '%2e', '%2E%2e', '.%2e', '%252e%252e', '%2525252e%2525252e']) expect([key, isDotSegmentKey(key)]).toEqual([key, true]);
    for (const key of ['...', '.a', 'a.', '%2e%2e%2f', '%zz', '..%2fadmin', 'ключ']) expect([key, isDotSegmentKey(key)]).toEqual([key, false]);
  });

  test('the read-through origin uses the very same functions (re-exported)', () => {
    expect(origin.originUrl).toBe(originUrl);
    expect(origin.isDotSegmentKey).toBe(isDotSegmentKey);
    expect(origin.originTemplateProblem).toBe(originTemplateProblem);
    expect(originTemplateProblem('http://{key}.x/items')).toContain('the origin template');
  });
});

describe('what a status means', () => {
  test('2xx is ok; 409 and 412 are stale; DELETE of an absent key is ok', () => {
    for (const status of [200, 201, 204, 299]) expect(outcomeOfStatus(status, 'PUT')).toEqual({ kind: 'ok' });
    for (const status of [409, 412]) for (const method of ['PUT', 'DELETE'] as const) expect(outcomeOfStatus(status, method)).toEqual({ kind: 'stale' });
    expect(outcomeOfStatus(404, 'DELETE')).toEqual({ kind: 'ok' });
    expect(outcomeOfStatus(410, 'DELETE')).toEqual({ kind: 'ok' });
    expect(outcomeOfStatus(404, 'PUT')).toMatchObject({ kind: 'error', status: 404, retryable: false });
  });

  test('errors say whether a retry may help', () => {
    for (const status of [500, 502, 503, 504, 408, 425, 429]) expect([status, isRetryableStatus(status)]).toEqual([status, true]);
    for (const status of [301, 400, 401, 403, 404, 405, 413, 422]) expect([status, isRetryableStatus(status)]).toEqual([status, false]);
    expect(outcomeOfStatus(503, 'PUT')).toEqual({ kind: 'error', status: 503, reason: 'store answered 503', retryable: true });
  });
});

describe('the client refuses, before any request', () => {
  // Port 9 (discard) on loopback: nothing listens, so a request that went out would be a retryable "unreachable" error.
  const client = new StoreClient({ template: 'http://127.0.0.1:9/items/{key}', maxBodyBytes: 10, timeoutMs: 500 });
  afterAll(() => client.close());

  test('dot-segment keys, empty keys, bad versions, values over the bound', async () => {
    for (const key of ['.', '..', '%2e%2e', '%252e']) {
      expect(await client.put(key, Buffer.from('v'), 1)).toMatchObject({ kind: 'error', retryable: false, reason: expect.stringContaining('path segment') });
      expect(await client.delete(key, 1)).toMatchObject({ kind: 'error', retryable: false });
    }
    expect(await client.put('', Buffer.from('v'), 1)).toMatchObject({ kind: 'error', retryable: false });
    expect(await client.put('a\uD800b', Buffer.from('v'), 1)).toMatchObject({ kind: 'error', retryable: false, reason: expect.stringContaining('surrogate') });
    for (const version of [-1, 1.5, Number.NaN, 2 ** 53]) expect(await client.put('k', Buffer.from('v'), version)).toMatchObject({ kind: 'error', retryable: false });
    expect(await client.put('k', Buffer.alloc(11), 1)).toMatchObject({ kind: 'error', retryable: false, reason: expect.stringContaining('limit of 10') });
    expect(client.stats().requests).toBe(0);
  });

  test('a request that does go out to nothing is a retryable error (the contrast)', async () => {
    expect(await client.put('k', Buffer.alloc(10), 1)).toMatchObject({ kind: 'error', retryable: true, reason: 'store unreachable (ECONNREFUSED)' });
    expect(client.stats().requests).toBe(1);
  });
});

describe('configuration', () => {
  test('templates and bulk URLs are checked as origins are', () => {
    for (const template of ['http://{key}.store/items', 'ftp://store/{key}', 'not a url', 'http://store/items#{key}']) {
      expect(thrownBy(() => new StoreClient({ template }), ConfigError).message).toMatch(/^the store template /);
    }
    expect(thrownBy(() => new StoreClient({ template: T, bulkUrl: 'http://store/bulk/{key}' }), ConfigError).message).toContain('bulk URL');
    expect(thrownBy(() => new StoreClient({ template: T, bulkUrl: 'file:///bulk' }), ConfigError).message).toContain('bulk URL');
  });

  test('bounds must be positive, and a bulk request must hold one largest value', () => {
    expect(() => new StoreClient({ template: T, timeoutMs: 0 })).toThrow(ConfigError);
    expect(() => new StoreClient({ template: T, maxConcurrent: 1.5 })).toThrow(ConfigError);
    expect(() => new StoreClient({ template: T, maxBodyBytes: 1024 * 1024, maxBulkBytes: 1024 * 1024 })).toThrow(/maxBulkBytes/);
    const fine = new StoreClient({ template: T, bulkUrl: 'http://store/bulk' });
    expect(fine.hasBulk).toBe(true);
    fine.close();
  });
});
