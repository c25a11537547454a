import type { GetResult } from '../../proxy/backend';
import { ProxyError } from '../../proxy/errors';
import type { LeaseReply } from '../../proxy/readthrough/fill-messages';
import {
  DOT_SEGMENT_KEY, httpOrigin, isDotSegmentKey, originKeyRefusal, originTemplateProblem, originUrl, type OriginLoader,
} from '../../proxy/readthrough/origin';
import { ReadThrough, type FillStore } from '../../proxy/readthrough/read-through';
import { SingleFlight } from '../../proxy/routing/coalesce';
import { PathRecordingOrigin } from '../helpers/origin';

/**
 * Read-through keys stay inside their own path segment at the origin: every key is
 * percent-encoded as one segment, dot-segment keys are refused before any origin request, and
 * templates whose {key} is outside the path and query are never loaded.
 */
const HOSTILE = ['%2f..%2f', 'a/../../admin', '?x=1', '#frag', '../admin', '..%2fadmin', '%2e%2e%2fadmin', 'a\\..\\b', 'a b', '100%', 'x/./y', '/leading', '%00', '.../'];
const DOT_KEYS = ['.', '..', '%2e', '%2E', '%2e%2e', '%2E%2e', '.%2e', '%2e.', '%252e%252e', '%25252e', '%2525252e%2525252e'];

describe('which keys are refused', () => {
  test('. and .. and every key that percent-decodes to them', () => {
    for (const key of DOT_KEYS) expect([key, isDotSegmentKey(key)]).toEqual([key, true]);
  });

  test('other keys are loaded, dots and slashes included (they are encoded)', () => {
    for (const key of [...HOSTILE, '...', '. .', 'a.', '.a', '..a', '%2e%2e%2f', '%zz', '%2', '%']) expect([key, isDotSegmentKey(key)]).toEqual([key, false]);
  });

  test('the refusal is BAD_REQUEST with a stable reason and a message that does not echo the key', () => {
    const err = originKeyRefusal('%2e%2e')!;
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.code).toBe('BAD_REQUEST');
    expect(err.detail).toEqual({ reason: DOT_SEGMENT_KEY });
    expect(err.message).not.toContain('%2e');
    expect(originKeyRefusal('fine')).toBeUndefined();
  });
});

describe('origin URL', () => {
  test('each key becomes exactly one path segment', () => {
    for (const key of HOSTILE) {
      const url = new URL(originUrl('http://o:1/items/{key}', key));
      expect([key, url.pathname]).toEqual([key, `/items/${encodeURIComponent(key)}`]);
      expect(url.search).toBe('');
      expect(url.hash).toBe('');
      expect(decodeURIComponent(url.pathname.slice('/items/'.length))).toBe(key);
    }
  });

  test('a template without {key} gets the key as its last path segment, before its query', () => {
    expect(originUrl('http://o:1/items?v=2', 'a/b')).toBe('http://o:1/items/a%2Fb?v=2');
    expect(originUrl('http://o:1/items/#x', '?q')).toBe('http://o:1/items/%3Fq#x');
  });

  test('templates: {key} in the path or query is fine; in the scheme, user, host, port or fragment it is not', () => {
    for (const ok of ['http://o:1/items/{key}', 'https://o/items/{key}.json', 'http://o/items?id={key}', 'http://o/a/{key}/b?c={key}', 'http://o:1/items']) {
      expect([ok, originTemplateProblem(ok)]).toEqual([ok, undefined]);
    }
    const bad: Array<[string, string]> = [
      ['http://{key}.example/items', 'host'], ['http://o:{key}/items', 'host'], ['http://{key}@o/items', 'host'], ['http://o{key}', 'host'],
      ['http://o/items#{key}', 'fragment'], ['ftp://o/{key}', 'http'], ['not a url {key}', 'absolute'], ['http:/o/{key}', 'host'],
    ];
    for (const [template, why] of bad) expect([template, originTemplateProblem(template)]).toEqual([template, expect.stringContaining(why)]);
  });
});

/** A FillStore that must not be reached. */
function untouchedStore(): FillStore & { calls: number } {
  const store = {
    calls: 0,
    read: async (): Promise<GetResult> => ((store.calls += 1), { hit: false }),
    lease: async (): Promise<LeaseReply> => ((store.calls += 1), { kind: 'held', heldMs: 1 }),
    fill: async () => ((store.calls += 1), undefined),
    release: async () => ((store.calls += 1), true),
  };
  return store;
}

describe('read-through refuses dot-segment keys before anything is asked', () => {
  test('no read, no lease, no origin load', async () => {
    const store = untouchedStore();
    let loads = 0;
    const origin: OriginLoader = { load: async () => ((loads += 1), { kind: 'not-found' }) };
    const rt = new ReadThrough({ store, origin, flights: new SingleFlight<GetResult>(), flightKey: (ns, key) => `${ns}\n${key}` });
    for (const key of DOT_KEYS) {
      await expect(rt.get('ns', key, { origin: 'http://o/items/{key}' })).rejects.toMatchObject({ code: 'BAD_REQUEST', detail: { reason: DOT_SEGMENT_KEY } });
    }
    expect(store.calls).toBe(0);
    expect(loads).toBe(0);
  });
});

describe('the HTTP loader against a real origin', () => {
  let origin: PathRecordingOrigin;
  beforeAll(async () => {
    origin = await PathRecordingOrigin.start();
  });
  afterAll(async () => {
    await origin.close();
  });

  test('every hostile key is requested at /items/<its own encoded segment> and nowhere else', async () => {
    origin.paths.length = 0;
    for (const key of HOSTILE) {
      const result = await httpOrigin.load(origin.template, key, 2000, 1024);
      expect(result).toMatchObject({ kind: 'value', json: true });
    }
    expect(origin.paths).toEqual(HOSTILE.map((key) => `/items/${encodeURIComponent(key)}`));
    for (const path of origin.paths) expect(path).toMatch(/^\/items\/[^/?#]+$/);
  });

  test('dot-segment keys and templates with {key} outside the path are never requested', async () => {
    origin.paths.length = 0;
    for (const key of DOT_KEYS) expect(await httpOrigin.load(origin.template, key, 2000, 1024)).toMatchObject({ kind: 'error' });
    expect(await httpOrigin.load(`http://127.0.0.1:{key}/items`, String(origin.port), 2000, 1024)).toMatchObject({ kind: 'error', reason: expect.stringContaining('host') });
    expect(await httpOrigin.load(`http://127.0.0.1:${origin.port}/items#{key}`, 'k', 2000, 1024)).toMatchObject({ kind: 'error' });
    expect(origin.paths).toEqual([]);
  });
});

test('an unreachable origin is reported without its address (origin URLs are for admins)', async () => {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as import('node:net').AddressInfo).port;
  await new Promise((r) => server.close(r)); // nothing listens there any more
  const result = await httpOrigin.load(`http://127.0.0.1:${port}/items/{key}`, 'k', 2000, 1024);
  expect(result).toEqual({ kind: 'error', reason: 'origin unreachable (ECONNREFUSED)' });
});
