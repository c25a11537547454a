import type { FrontResponse } from './http';

/** A request body read to its end, or refused for passing the limit (`received` bytes so far). */
export type BodyResult = { ok: true; body: Buffer } | { ok: false; received: number };

/**
 * Reads a request body of at most `limit` bytes. A declared Content-Length above the limit is
 * refused before a byte is read; otherwise bytes are counted as they arrive and the body is refused
 * as soon as the count passes the limit, so an oversized body is never buffered whole (the caller
 * answers 413 and closes the connection). uWS neuters each chunk after the callback: chunks are copied.
 * Calls `done` exactly once, unless the request is aborted first.
 */
export function readBody(res: FrontResponse, limit: number, declaredLength: string, done: (result: BodyResult) => void): void {
  const declared = declaredLength === '' ? undefined : Number(declaredLength);
  if (declared !== undefined && declared > limit) {
    done({ ok: false, received: 0 });
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  let finished = false;
  res.onData((chunk, isLast) => {
    if (finished) return;
    received += chunk.byteLength;
    if (received > limit) {
      finished = true;
      done({ ok: false, received });
      return;
    }
    if (chunk.byteLength > 0) chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    finished = true;
    done({ ok: true, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, received) });
  });
}
