import { Status, type ExpireCondition, type SetCondition } from '../../shared/protocol';
import { APPEND, buildRequest, COPY, EXPIREAT, INCRBYFLOAT, MSETNX, RENAME, SETGET, SETRANGE, STATUS } from '../../shared/ops';
import { bufferOf, parseOk } from './messages';

/**
 * Messages and reply parsers of the string read-modify-writes (APPEND ... MSETNX; layouts in
 * `shared/ops.ts`), which only the RESP front sends. Like `messages.ts`: pure, every position from
 * the op table, epoch 0 (the router stamps the primary's).
 */

/** `[id, APPEND, epoch, ns, key, value, ttlMsOnCreate]`. */
export const appendMessage = (epoch: number, ns: string, key: string, value: Uint8Array, ttlMsOnCreate: number): unknown[] =>
  buildRequest(APPEND, epoch, ns, key, value, ttlMsOnCreate);

/** `[id, SETRANGE, epoch, ns, key, offset, value, ttlMsOnCreate]`. */
export const setRangeMessage = (epoch: number, ns: string, key: string, offset: number, value: Uint8Array, ttlMsOnCreate: number): unknown[] =>
  buildRequest(SETRANGE, epoch, ns, key, offset, value, ttlMsOnCreate);

/** `[id, SETGET, epoch, ns, key, value, ttlMs, cond]`. */
export const setGetMessage = (epoch: number, ns: string, key: string, value: Uint8Array, ttlMs: number, cond: SetCondition): unknown[] =>
  buildRequest(SETGET, epoch, ns, key, value, ttlMs, cond);

/** `[id, INCRBYFLOAT, epoch, ns, key, delta, ttlMsOnCreate]`. */
export const incrByFloatMessage = (epoch: number, ns: string, key: string, delta: string, ttlMsOnCreate: number): unknown[] =>
  buildRequest(INCRBYFLOAT, epoch, ns, key, delta, ttlMsOnCreate);

/** `[id, EXPIREAT, epoch, ns, key, at, cond]`. */
export const expireAtMessage = (epoch: number, ns: string, key: string, at: number, cond: ExpireCondition): unknown[] =>
  buildRequest(EXPIREAT, epoch, ns, key, at, cond);

/** `[id, RENAME, epoch, ns, key, dst, nx]`. */
export const renameMessage = (epoch: number, ns: string, key: string, dst: string, nx: boolean): unknown[] =>
  buildRequest(RENAME, epoch, ns, key, dst, nx ? 1 : 0);

/** `[id, COPY, epoch, ns, key, dst, replace]`. */
export const copyMessage = (epoch: number, ns: string, key: string, dst: string, replace: boolean): unknown[] =>
  buildRequest(COPY, epoch, ns, key, dst, replace ? 1 : 0);

/** `[id, MSETNX, epoch, ns, keys[0], keys, values, ttlMs]`: the first key names the slot. */
export const msetnxMessage = (epoch: number, ns: string, keys: readonly string[], values: readonly Uint8Array[], ttlMs: number): unknown[] =>
  buildRequest(MSETNX, epoch, ns, keys[0], keys, values, ttlMs);

// APPEND and SETRANGE answer alike.
if (APPEND.reply.length !== SETRANGE.reply.length) throw new Error('string-messages: APPEND and SETRANGE replies differ in layout');

/** `[id, OK, length, version]` → the value's length after APPEND or SETRANGE. */
export function parseLength(reply: readonly unknown[], nodeId?: string): number {
  parseOk(reply, nodeId);
  return reply[APPEND.reply.length] as number;
}

/** `[id, OK, old | null, stored 0|1]` → the replaced value and whether the write happened. */
export function parseSetGet(reply: readonly unknown[], nodeId?: string): { old: Buffer | null; stored: boolean } {
  parseOk(reply, nodeId);
  const old = reply[SETGET.reply.old];
  return { old: old instanceof Uint8Array ? bufferOf(old) : null, stored: reply[SETGET.reply.stored] === 1 };
}

/** `[id, OK, value, version]` → the number after INCRBYFLOAT, as its text. */
export function parseIncrByFloat(reply: readonly unknown[], nodeId?: string): string {
  parseOk(reply, nodeId);
  return String(reply[INCRBYFLOAT.reply.value]);
}

/** `[id, OK, renamed 0|1] | [id, MISS]` → 1 renamed, 0 not (RENAMENX: the target exists), -1 no such key. */
export function parseRename(reply: readonly unknown[], nodeId?: string): -1 | 0 | 1 {
  if (reply[STATUS] === Status.MISS) return -1;
  parseOk(reply, nodeId);
  return reply[RENAME.reply.renamed] === 1 ? 1 : 0;
}
