import { STATUS_CODES } from 'node:http';
import type { EdgeError } from './wire-error';

type HttpErrorCode = EdgeError['code'];

/**
 * The one table where an error code becomes an HTTP status, for the HTTP/JSON front, WebSocket
 * upgrades and the admin port. Every code has a row, the edge's own refusals included; the type
 * checker refuses a code without one.
 */
export const HTTP_STATUS_OF: Readonly<Record<HttpErrorCode, number>> = Object.freeze({
  BAD_REQUEST: 400,
  NOAUTH: 401,
  WRONGPASS: 401,
  FORBIDDEN_ORIGIN: 403,
  FORBIDDEN: 403,
  NOPERM: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  VERSION_CONFLICT: 409,
  WRONG_TYPE: 409,
  TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_INTEGER: 422,
  OVERFLOW: 422,
  OVER_QUOTA: 429,
  RATE_LIMITED: 429,
  WRITE_QUEUE_FULL: 429,
  INTERNAL: 500,
  ORIGIN_ERROR: 502,
  STORE_ERROR: 502,
  NODE_UNAVAILABLE: 503,
  UNAVAILABLE: 503,
  TOO_MANY_CONNECTIONS: 503,
  AUTH_BUSY: 503,
  TIMEOUT: 504,
  ORIGIN_TIMEOUT: 504,
  WRITE_ACK_TIMEOUT: 504,
  STORE_TIMEOUT: 504,
  OUT_OF_MEMORY: 507,
});

/** HTTP status of an error code; 500 for a code the table does not know. */
export function httpStatusOf(code: string): number {
  return Object.hasOwn(HTTP_STATUS_OF, code) ? HTTP_STATUS_OF[code as HttpErrorCode] : 500;
}

/** A full status line for uWS `writeStatus`, e.g. `404 Not Found`. */
export function statusLine(status: number): string {
  return `${status} ${STATUS_CODES[status] ?? 'Unknown'}`;
}
