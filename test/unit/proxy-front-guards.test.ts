import { parseProxyConfig } from '../../proxy/config';
import { isJsonMediaType, mediaTypeOf, mediaTypeRefusal, originRefusal } from '../../proxy/front/http-guards';
import { errorReply } from '../../proxy/front/http-replies';
import { httpStatusOf } from '../../proxy/front/http-status';
import type { RouteName } from '../../proxy/front/http-routes';

/** The edge's pure checks: media types (415), origins (403), and the flags that configure them. */
describe('media type guard', () => {
  test('JSON media types, with or without parameters, are JSON; others are not', () => {
    for (const type of ['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8', 'application/vnd.api+json', 'application/ld+json ; q=1']) {
      expect(isJsonMediaType(type)).toBe(true);
    }
    for (const type of ['', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'text/json', 'application/+json', 'application/json, text/plain', 'application/octet-stream']) {
      expect(isJsonMediaType(type)).toBe(false);
    }
    expect(mediaTypeOf(' application/json ; charset=utf-8')).toBe('application/json');
  });

  test('every body route needs JSON; PUT also takes octet-stream; routes without a body are not checked', () => {
    const bodyRoutes: RouteName[] = ['put', 'batchGet', 'incr', 'expire', 'invalidate'];
    for (const route of bodyRoutes) {
      expect(mediaTypeRefusal(route, 'application/json')).toBeUndefined();
      expect(mediaTypeRefusal(route, 'application/json; charset=utf-8')).toBeUndefined();
      expect(mediaTypeRefusal(route, 'application/problem+json')).toBeUndefined();
      for (const bad of ['', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=b']) {
        expect(mediaTypeRefusal(route, bad)).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE', detail: { accepted: expect.arrayContaining(['application/json']) } });
      }
    }
    expect(mediaTypeRefusal('put', 'application/octet-stream')).toBeUndefined();
    expect(mediaTypeRefusal('incr', 'application/octet-stream')).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    expect(mediaTypeRefusal('get', '')).toBeUndefined();
    expect(mediaTypeRefusal('delete', 'text/plain')).toBeUndefined();
  });

  test('the refusal is 415 in the API\'s error shape, and never echoes the client\'s header', () => {
    const sent = 'text/html; charset="<script>alert(1)</script>"';
    const refusal = mediaTypeRefusal('put', sent)!;
    expect(refusal.message).not.toContain('script');
    expect(refusal.message).toContain('application/json');
    const missing = mediaTypeRefusal('incr', '')!;
    expect(missing.message).toContain('needs a Content-Type header');
    const reply = errorReply(refusal);
    expect(reply.status).toBe(415);
    expect(JSON.parse(reply.body as string)).toEqual({ error: { code: 'UNSUPPORTED_MEDIA_TYPE', message: refusal.message, detail: { accepted: ['application/json', 'application/*+json', 'application/octet-stream'] } } });
  });
});

describe('origin guard', () => {
  const allowed = new Set(['https://app.example.com', 'http://localhost:3000']);

  test('no list: every origin passes; no Origin header (not a browser): passes', () => {
    expect(originRefusal('https://evil.example', undefined)).toBeUndefined();
    expect(originRefusal('', allowed)).toBeUndefined();
  });

  test('a listed origin passes exactly; anything else is 403 FORBIDDEN_ORIGIN without echoing it', () => {
    expect(originRefusal('https://app.example.com', allowed)).toBeUndefined();
    expect(originRefusal('http://localhost:3000', allowed)).toBeUndefined();
    for (const origin of ['https://evil.example', 'null', 'http://app.example.com', 'https://app.example.com:8443', 'https://app.example.com.evil.example', 'https://APP.example.com']) {
      const refusal = originRefusal(origin, allowed);
      expect(refusal).toMatchObject({ code: 'FORBIDDEN_ORIGIN' });
      expect(refusal!.message).not.toContain(origin);
      expect(errorReply(refusal!).status).toBe(403);
    }
  });

  test('the edge codes have their statuses', () => {
    expect(httpStatusOf('UNSUPPORTED_MEDIA_TYPE')).toBe(415);
    expect(httpStatusOf('FORBIDDEN_ORIGIN')).toBe(403);
    expect(httpStatusOf('TOO_MANY_CONNECTIONS')).toBe(503);
  });
});

describe('proxy flags', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  test('--max-connections defaults to 10000; --allowed-origins is off unless set', () => {
    delete process.env.SHARDCACHE_PROXY_ALLOWED_ORIGINS;
    delete process.env.SHARDCACHE_PROXY_MAX_CONNECTIONS;
    const config = parseProxyConfig([]);
    expect(config.maxConnections).toBe(10_000);
    expect(config.allowedOrigins).toBeUndefined();
  });

  test('both read their flag or their environment variable', () => {
    expect(parseProxyConfig(['--allowed-origins', 'https://app.example.com, http://localhost:3000', '--max-connections', '5'])).toMatchObject({
      allowedOrigins: ['https://app.example.com', 'http://localhost:3000'], maxConnections: 5,
    });
    process.env.SHARDCACHE_PROXY_ALLOWED_ORIGINS = 'https://a.example';
    process.env.SHARDCACHE_PROXY_MAX_CONNECTIONS = '7';
    expect(parseProxyConfig([])).toMatchObject({ allowedOrigins: ['https://a.example'], maxConnections: 7 });
  });

  test('origins that are not exact scheme://host[:port] are refused at start', () => {
    const exits: string[] = [];
    const exit = jest.spyOn(process, 'exit').mockImplementation(((code?: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(((text: string) => exits.push(text)) as never);
    try {
      for (const bad of ['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://x.example', 'https://a.example,', '*']) {
        expect(() => parseProxyConfig(['--allowed-origins', bad])).toThrow('exit 1');
      }
      expect(() => parseProxyConfig(['--max-connections', '0'])).toThrow('exit 1');
    } finally {
      exit.mockRestore();
      stderr.mockRestore();
    }
    expect(exits.join('')).toContain('--allowed-origins');
  });
});
