import { INVALIDATIONS_PATH } from '../../shared/regions';
import { ProxyErrorCode } from '../errors';
import type { WireError } from '../front/wire-error';

/** Paths under this prefix are the region routes (proxy/region/service.ts), not the cache API. */
export const REGION_PREFIX = '/v1/region/';
const READ_PREFIX = '/v1/region/read/';

export type RegionRoute =
  | { ok: true; route: 'invalidations' }
  | { ok: true; route: 'read'; namespace: string; key: string }
  | { ok: false; error: WireError; allow?: string };

/** Matches a lowercase method and a raw path under REGION_PREFIX (pure; segments percent-decoded). */
export function matchRegionRoute(method: string, path: string): RegionRoute {
  if (path === INVALIDATIONS_PATH) {
    return method === 'post' ? { ok: true, route: 'invalidations' } : notAllowed(method, 'POST');
  }
  if (path.startsWith(READ_PREFIX)) {
    const parts = path.slice(READ_PREFIX.length).split('/');
    if (parts.length !== 2) return notFound(path);
    if (method !== 'get') return notAllowed(method, 'GET');
    try {
      return { ok: true, route: 'read', namespace: decodeURIComponent(parts[0]), key: decodeURIComponent(parts[1]) };
    } catch {
      return { ok: false, error: { code: ProxyErrorCode.BAD_REQUEST, message: 'the namespace or key in the path has malformed percent-encoding' } };
    }
  }
  return notFound(path);
}

function notFound(path: string): RegionRoute {
  const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  return { ok: false, error: { code: ProxyErrorCode.NOT_FOUND, message: `no region route ${shown}; see docs/api.md "Regions"` } };
}

function notAllowed(method: string, allow: string): RegionRoute {
  return { ok: false, allow, error: { code: 'METHOD_NOT_ALLOWED', message: `method ${method.toUpperCase()} is not allowed here; use ${allow}` } };
}

/**
 * The region a GET asks to be read at: the `x-shardcache-read-home` header, else the `readHome`
 * query parameter; undefined when neither is there (the common case: checked without parsing the
 * query unless it names readHome).
 */
export function readHomeOf(header: string, query: string): string | undefined {
  if (header !== '') return header.trim();
  if (query === '' || !query.includes('readHome=')) return undefined;
  const value = new URLSearchParams(query).get('readHome');
  return value === null || value === '' ? undefined : value;
}
