import { Status, STATUS_NAME } from '../../shared/protocol';
import { ERROR_REPLY, ERRORS, FRAME } from '../../shared/ops';
import { ProxyError, ProxyErrorCode, type ProxyErrorCodeName } from '../errors';

/**
 * The one table where node reply statuses become proxy error codes. Statuses that are values
 * (OK, MISS, NOT_STORED) and redirects (NOT_PRIMARY, MOVED, ASK: the router retries them) are
 * handled before a reply gets here; if one still arrives (redirects exhausted) it maps to
 * UNAVAILABLE. A status the table does not know is INTERNAL.
 */
export const STATUS_TO_CODE: Readonly<Record<number, ProxyErrorCodeName>> = Object.freeze({
  [Status.VERSION_CONFLICT]: ProxyErrorCode.VERSION_CONFLICT,
  [Status.NOT_PRIMARY]: ProxyErrorCode.UNAVAILABLE,
  [Status.MOVED]: ProxyErrorCode.UNAVAILABLE,
  [Status.ASK]: ProxyErrorCode.UNAVAILABLE,
  [Status.TOO_LARGE]: ProxyErrorCode.TOO_LARGE,
  [Status.OVER_QUOTA]: ProxyErrorCode.OVER_QUOTA,
  [Status.NOT_INTEGER]: ProxyErrorCode.NOT_INTEGER,
  [Status.OVERFLOW]: ProxyErrorCode.OVERFLOW,
  [Status.BAD_REQUEST]: ProxyErrorCode.BAD_REQUEST,
  [Status.WRONG_TYPE]: ProxyErrorCode.WRONG_TYPE,
  [Status.BUSY]: ProxyErrorCode.NODE_UNAVAILABLE,
  [Status.OUT_OF_MEMORY]: ProxyErrorCode.OUT_OF_MEMORY,
  [Status.PROTOCOL_ERROR]: ProxyErrorCode.INTERNAL,
  [Status.UNKNOWN_OP]: ProxyErrorCode.INTERNAL,
  [Status.INTERNAL]: ProxyErrorCode.INTERNAL,
  [Status.WRITE_ACK_TIMEOUT]: ProxyErrorCode.WRITE_ACK_TIMEOUT,
  [Status.STORE_ERROR]: ProxyErrorCode.STORE_ERROR,
  [Status.STORE_TIMEOUT]: ProxyErrorCode.STORE_TIMEOUT,
  [Status.WRITE_QUEUE_FULL]: ProxyErrorCode.WRITE_QUEUE_FULL,
});

/**
 * The `ProxyError` for an error reply `[id, status, message, ...detail]`. Structured detail is
 * kept where the node sends it: VERSION_CONFLICT → `{ currentVersion }`, TOO_LARGE /
 * OVER_QUOTA / OUT_OF_MEMORY → `{ size, limit }`; every error carries `{ nodeStatus, nodeId }`.
 */
export function errorFromReply(reply: readonly unknown[], nodeId?: string): ProxyError {
  const status = reply[FRAME.status] as number;
  const code = STATUS_TO_CODE[status] ?? ProxyErrorCode.INTERNAL;
  const text = reply[ERROR_REPLY.message];
  const message = typeof text === 'string' ? text : `node replied ${STATUS_NAME[status] ?? String(status)}`;
  const detail: Record<string, unknown> = { nodeStatus: STATUS_NAME[status] ?? status };
  if (nodeId !== undefined) detail.nodeId = nodeId;
  if (status === Status.VERSION_CONFLICT) detail.currentVersion = reply[ERRORS.VERSION_CONFLICT.at.currentVersion];
  else if (status === Status.TOO_LARGE || status === Status.OVER_QUOTA || status === Status.OUT_OF_MEMORY) {
    // TOO_LARGE, OVER_QUOTA and OUT_OF_MEMORY share `[id, status, message, size?, limit?]`.
    if (reply.length > ERRORS.TOO_LARGE.at.size) Object.assign(detail, { size: reply[ERRORS.TOO_LARGE.at.size], limit: reply[ERRORS.TOO_LARGE.at.limit] });
  } else if (status === Status.WRITE_ACK_TIMEOUT) detail.offset = reply[ERRORS.WRITE_ACK_TIMEOUT.at.offset];
  return new ProxyError(code, code === ProxyErrorCode.INTERNAL ? `node error: ${message}` : message, detail);
}

/** Redirect statuses: the node is not (or no longer) the owner the proxy believed in. */
export function isRedirect(status: unknown): boolean {
  return status === Status.NOT_PRIMARY || status === Status.MOVED || status === Status.ASK;
}
