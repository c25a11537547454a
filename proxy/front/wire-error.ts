import { ProxyError, ProxyErrorCode, type EdgeErrorCodeName, type ProxyErrorCodeName } from '../errors';

/**
 * The error every front puts on its wire: a stable `code`, a `message` for people, and optional
 * structured `detail` (from `ProxyError.detail`). Fronts build it with `toWireError` and each maps
 * `code` to its own wire in one table (HTTP: `http-status.ts`; WebSocket: the code as is).
 */
export interface WireError {
  code: FrontErrorCode;
  message: string;
  detail?: Record<string, unknown>;
}

/** Codes a front may answer with: the proxy's codes plus the HTTP-only METHOD_NOT_ALLOWED. */
export type FrontErrorCode = ProxyErrorCodeName | 'METHOD_NOT_ALLOWED';

/**
 * What the HTTP edge may answer with: any `WireError`, or a refusal made before the request became
 * a command (415 media type, 403 origin, 503 connections; `EdgeErrorCode`). Only HTTP answers
 * carry these codes, so the other fronts' tables need no rows for them.
 */
export interface EdgeError {
  code: FrontErrorCode | EdgeErrorCodeName;
  message: string;
  detail?: Record<string, unknown>;
}

/** A BAD_REQUEST `ProxyError`, thrown by validators and request parsers. */
export function badRequest(message: string): ProxyError {
  return new ProxyError(ProxyErrorCode.BAD_REQUEST, message);
}

/**
 * Normalises anything a request path threw: a `ProxyError` keeps its code, message and detail;
 * anything else is a bug or an unexpected failure and becomes INTERNAL with a generic message
 * (the original goes to `report`, never to the client).
 */
export function toWireError(err: unknown, report?: (err: unknown) => void): WireError {
  if (err instanceof ProxyError) {
    return err.detail ? { code: err.code, message: err.message, detail: err.detail } : { code: err.code, message: err.message };
  }
  report?.(err);
  return { code: ProxyErrorCode.INTERNAL, message: 'internal error in the proxy; see its log' };
}
