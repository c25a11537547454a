import { ProxyErrorCode } from '../errors';
import type { WireError } from './wire-error';

/**
 * The HTTP/JSON API's routes and the path matcher (pure):
 *
 *   PUT    /v1/cache/{namespace}/{key}   put        GET  /v1/cache/{namespace}/{key}   get
 *   DELETE /v1/cache/{namespace}/{key}   delete     POST /v1/cache/batch/get           batchGet
 *   POST   /v1/cache/incr                incr       POST /v1/cache/expire              expire
 *   POST   /v1/cache/invalidate          invalidate POST /v1/cache/command              command
 *
 * Path segments are percent-decoded after splitting, so a key may contain `/` only as `%2F`.
 * An unknown path is NOT_FOUND (404); a known path with another method is METHOD_NOT_ALLOWED
 * (405, with the methods it takes).
 */
export type RouteName = 'put' | 'get' | 'delete' | 'batchGet' | 'incr' | 'expire' | 'invalidate' | 'command';

export type RouteMatch =
  | { ok: true; route: RouteName; namespace?: string; key?: string }
  | { ok: false; error: WireError; allow?: string };

const PREFIX = '/v1/cache/';
const ITEM_ROUTES = new Map<string, RouteName>([['get', 'get'], ['put', 'put'], ['delete', 'delete']]);
const ACTIONS = new Set<string>(['incr', 'expire', 'invalidate', 'command']);

function notFound(method: string, path: string, hint = ''): RouteMatch {
  const shownPath = path.length > 200 ? `${path.slice(0, 200)}...` : path;
  return { ok: false, error: { code: ProxyErrorCode.NOT_FOUND, message: `no route ${method.toUpperCase()} ${shownPath}${hint}; see docs/api.md` } };
}

function notAllowed(method: string, allow: string): RouteMatch {
  return { ok: false, allow, error: { code: 'METHOD_NOT_ALLOWED', message: `method ${method.toUpperCase()} is not allowed here; use ${allow}` } };
}

function decodeSegment(segment: string, what: string): string | WireError {
  try {
    return decodeURIComponent(segment);
  } catch {
    return { code: ProxyErrorCode.BAD_REQUEST, message: `the ${what} in the path has malformed percent-encoding` };
  }
}

/** Matches a lowercase method and a raw (still percent-encoded) path without its query. */
export function matchRoute(method: string, path: string): RouteMatch {
  if (!path.startsWith(PREFIX)) return notFound(method, path);
  const parts = path.slice(PREFIX.length).split('/');
  if (parts.length === 1 && ACTIONS.has(parts[0])) {
    return method === 'post' ? { ok: true, route: parts[0] as RouteName } : notAllowed(method, 'POST');
  }
  if (parts.length !== 2) {
    return notFound(method, path, parts.length > 2 ? ' (a key containing "/" must encode it as %2F)' : '');
  }
  if (parts[0] === 'batch' && parts[1] === 'get' && method === 'post') return { ok: true, route: 'batchGet' };
  const route = ITEM_ROUTES.get(method);
  if (!route) return notAllowed(method, parts[0] === 'batch' && parts[1] === 'get' ? 'GET, PUT, DELETE, POST' : 'GET, PUT, DELETE');
  const namespace = decodeSegment(parts[0], 'namespace');
  if (typeof namespace !== 'string') return { ok: false, error: namespace };
  const key = decodeSegment(parts[1], 'key');
  if (typeof key !== 'string') return { ok: false, error: key };
  return { ok: true, route, namespace, key };
}
