import { ShardcacheError } from '../shared/errors';

/**
 * Stable error codes of the proxy, shared by every front. Each front maps a code to its own wire
 * (HTTP status, WebSocket frame, RESP error) in one table; messages are for people.
 */
export const ProxyErrorCode = {
  BAD_REQUEST: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  VERSION_CONFLICT: 'VERSION_CONFLICT',
  TOO_LARGE: 'TOO_LARGE',
  OVER_QUOTA: 'OVER_QUOTA',
  NOT_INTEGER: 'NOT_INTEGER',
  OVERFLOW: 'OVERFLOW',
  /** The key holds another type (string, hash, set) than the operation works on (HTTP 409, RESP `-WRONGTYPE`). */
  WRONG_TYPE: 'WRONG_TYPE',
  RATE_LIMITED: 'RATE_LIMITED',
  /** The node's breaker is open, or its connection failed. */
  NODE_UNAVAILABLE: 'NODE_UNAVAILABLE',
  /** No topology, no primary for the shard, or redirects exhausted. */
  UNAVAILABLE: 'UNAVAILABLE',
  TIMEOUT: 'TIMEOUT',
  /** Read-through: the origin failed (5xx, refused, body too large) and no stale value was at hand. */
  ORIGIN_ERROR: 'ORIGIN_ERROR',
  /** Read-through: the origin did not answer in time, or another loader's fill did not come in time. */
  ORIGIN_TIMEOUT: 'ORIGIN_TIMEOUT',
  /** A `writeAck: replica` write no replica acknowledged in time; it stays on the primary. */
  WRITE_ACK_TIMEOUT: 'WRITE_ACK_TIMEOUT',
  /** Write-through: the store refused the write or could not be reached; the cache is as it was (HTTP 502). */
  STORE_ERROR: 'STORE_ERROR',
  /** Write-through: the store did not answer in time; the cache is as it was (HTTP 504). */
  STORE_TIMEOUT: 'STORE_TIMEOUT',
  /** Write-behind: the namespace's queue of unflushed writes is full; retry later (HTTP 429, RESP `-BUSY`). */
  WRITE_QUEUE_FULL: 'WRITE_QUEUE_FULL',
  OUT_OF_MEMORY: 'OUT_OF_MEMORY',
  /** Authentication is on and the client presented no credentials (HTTP 401, RESP `-NOAUTH`). */
  NOAUTH: 'NOAUTH',
  /** The credentials presented are wrong, or the user is gone (HTTP 401, RESP `-WRONGPASS`). */
  WRONGPASS: 'WRONGPASS',
  /** The user has no grant for this namespace at the level the operation needs (HTTP 403, RESP `-NOPERM`). */
  NOPERM: 'NOPERM',
  /** Too many credential checks in progress on this proxy; retry shortly (HTTP 503). */
  AUTH_BUSY: 'AUTH_BUSY',
  INTERNAL: 'INTERNAL',
} as const;
export type ProxyErrorCodeName = (typeof ProxyErrorCode)[keyof typeof ProxyErrorCode];

export class ProxyError extends ShardcacheError {
  declare readonly code: ProxyErrorCodeName;
  /** Structured detail (e.g. `{ currentVersion }`, `{ nodeId }`), safe to show to clients. */
  readonly detail: Record<string, unknown> | undefined;
  constructor(code: ProxyErrorCodeName, message: string, detail?: Record<string, unknown>) {
    super(code, message);
    this.detail = detail;
  }
}

/**
 * Codes the HTTP edge of the client port answers with before a request becomes a command (the
 * HTTP/JSON API and WebSocket upgrades): they never come from the data plane, so only the HTTP
 * status table (`front/http-status.ts`) has rows for them.
 */
export const EdgeErrorCode = {
  /** A PUT or POST whose Content-Type is missing or not JSON (nor octet-stream on a binary PUT): 415. */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** A request or WebSocket upgrade whose Origin is not on `--allowed-origins`: 403. */
  FORBIDDEN_ORIGIN: 'FORBIDDEN_ORIGIN',
  /** A WebSocket upgrade past `--max-connections`: 503. */
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  /** A region route (`/v1/region/*`) or home read on a proxy without a region secret: 403. */
  FORBIDDEN: 'FORBIDDEN',
} as const;
export type EdgeErrorCodeName = (typeof EdgeErrorCode)[keyof typeof EdgeErrorCode];
