import { EdgeErrorCode } from '../errors';
import type { RouteName } from './http-routes';
import type { EdgeError } from './wire-error';

/**
 * Checks the client port makes before a request becomes a command (pure; both HTTP listeners and
 * the WebSocket upgrade call them, so every way in refuses the same requests the same way):
 *
 *   Origin header not on --allowed-origins ──► 403 FORBIDDEN_ORIGIN   (no header: allowed)
 *   PUT/POST whose Content-Type is not JSON ─► 415 UNSUPPORTED_MEDIA_TYPE
 *
 * Requiring a JSON media type turns away the "simple" cross-site requests a browser sends without
 * asking first (text/plain, form encodings); the Origin list turns away a page of another site
 * that does ask. Messages name what is accepted, never what the client sent.
 */

/** Routes that read a body; each needs one of the media types below. */
export const BODY_ROUTES: ReadonlySet<RouteName> = new Set<RouteName>(['put', 'batchGet', 'incr', 'expire', 'invalidate', 'command']);

/** `application/json` or a structured-syntax JSON type (`application/vnd.x+json`), parameters aside. */
const JSON_TYPE = /^application\/(?:[\w!#$&^.+-]+\+)?json$/;

/** The media type of a lowercased Content-Type value, without parameters (`; charset=utf-8`). */
export function mediaTypeOf(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  return (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim();
}

/** Whether a lowercased Content-Type names JSON (`application/json`, `application/*+json`, any parameters). */
export function isJsonMediaType(contentType: string): boolean {
  return JSON_TYPE.test(mediaTypeOf(contentType));
}

/**
 * The refusal of a request to `route` with this lowercased Content-Type ('' when absent), or
 * undefined when the route reads no body or the type is accepted: JSON everywhere, and
 * `application/octet-stream` on PUT (a binary value).
 */
export function mediaTypeRefusal(route: RouteName, contentType: string): EdgeError | undefined {
  if (!BODY_ROUTES.has(route) || isJsonMediaType(contentType)) return undefined;
  if (route === 'put' && mediaTypeOf(contentType) === 'application/octet-stream') return undefined;
  const accepted = route === 'put' ? ['application/json', 'application/*+json', 'application/octet-stream'] : ['application/json', 'application/*+json'];
  const message = contentType === ''
    ? `this request needs a Content-Type header: ${accepted.join(', ')}`
    : `this request's Content-Type is not accepted; send ${accepted.join(', ')}`;
  return { code: EdgeErrorCode.UNSUPPORTED_MEDIA_TYPE, message, detail: { accepted } };
}

/**
 * The refusal of a request or upgrade whose `Origin` header ('' when absent) is not on `allowed`,
 * or undefined: no list (every origin is allowed), no header (not a browser), or a listed origin.
 */
export function originRefusal(origin: string, allowed: ReadonlySet<string> | undefined): EdgeError | undefined {
  if (allowed === undefined || origin === '' || allowed.has(origin)) return undefined;
  return { code: EdgeErrorCode.FORBIDDEN_ORIGIN, message: 'the Origin of this request is not on the proxy\'s --allowed-origins list' };
}
