import { Op, Status, type SetCondition } from '../../shared/protocol';
import type { GetResult, WriteResult } from '../backend';
import { errorFromReply } from './status';

/**
 * Request messages and reply parsers for every operation the data plane sends, in the layout of
 * `shared/protocol.ts`. Pure. A message's slot 0 is the request id: the link writes it just
 * before encoding, so builders leave 0 there.
 */

/** `[id, GET, ns, key]`. */
export const getMessage = (ns: string, key: string): unknown[] => [0, Op.GET, ns, key];

/** `[id, MGET, ns, keys[]]`. */
export const mgetMessage = (ns: string, keys: readonly string[]): unknown[] => [0, Op.MGET, ns, keys];

/** Everything a SET carries after policy was applied (TTL resolved). */
export interface SetFields {
  value: Uint8Array;
  ttlMs: number;
  flags: number;
  cond: SetCondition;
  ifVersion: number;
  tags: readonly string[] | null;
}

/** `[id, SET, epoch, ns, key, value, ttlMs, flags, cond, ifVersion, tags]`. */
export function setMessage(epoch: number, ns: string, key: string, f: SetFields): unknown[] {
  return [0, Op.SET, epoch, ns, key, f.value, f.ttlMs, f.flags, f.cond, f.ifVersion, f.tags];
}

/** `[id, DELETE, epoch, ns, key]`. */
export const deleteMessage = (epoch: number, ns: string, key: string): unknown[] => [0, Op.DELETE, epoch, ns, key];

/** `[id, INCR, epoch, ns, key, delta, ttlMsOnCreate]`. */
export function incrMessage(epoch: number, ns: string, key: string, delta: number | bigint, ttlMsOnCreate: number): unknown[] {
  return [0, Op.INCR, epoch, ns, key, delta, ttlMsOnCreate];
}

/** `[id, EXPIRE, epoch, ns, key, ttlMs]`. */
export const expireMessage = (epoch: number, ns: string, key: string, ttlMs: number): unknown[] => [0, Op.EXPIRE, epoch, ns, key, ttlMs];

/** `[id, INVALIDATE, epoch, ns, tag | null]`. */
export const invalidateMessage = (epoch: number, ns: string, tag: string | undefined): unknown[] => [0, Op.INVALIDATE, epoch, ns, tag ?? null];

/** `[id, PING]`: the breaker's half-open probe. */
export const pingMessage = (): unknown[] => [0, Op.PING];

/** Throws the translated error unless the reply's status is one of `ok`. */
function expectStatus(reply: readonly unknown[], ok: number, nodeId?: string): void {
  if (reply[1] !== ok) throw errorFromReply(reply, nodeId);
}

/**
 * `[id, OK, value, version, expiresAt, flags] | [id, MISS]` → GetResult; a trailing `true` (a
 * replica answering from the data a full sync replaces) marks the result `stale: 'resync'`.
 */
export function parseGet(reply: readonly unknown[], nodeId?: string): GetResult {
  if (reply[1] === Status.MISS) return reply[2] === true ? { hit: false, stale: 'resync' } : { hit: false };
  expectStatus(reply, Status.OK, nodeId);
  const hit: GetResult = { hit: true, value: reply[2] as Buffer, version: reply[3] as number, expiresAt: reply[4] as number, flags: reply[5] as number };
  if (reply[6] === true) hit.stale = 'resync';
  return hit;
}

/** One MGET entry: null (miss) or `[value, version, expiresAt, flags]`; `stale`: the reply was a resyncing replica's. */
export function entryResult(entry: unknown, stale = false): GetResult {
  const result: GetResult = Array.isArray(entry)
    ? { hit: true, value: entry[0] as Buffer, version: entry[1] as number, expiresAt: entry[2] as number, flags: entry[3] as number }
    : { hit: false };
  if (stale) result.stale = 'resync';
  return result;
}

/** MGET entries; `stale` is set when a resyncing replica answered (see `parseGet`). */
export type MgetEntries = unknown[] & { stale?: true };

/** `[id, OK, entries[]]` → the entries, checked to match the number of keys asked for. */
export function parseMget(reply: readonly unknown[], count: number, nodeId?: string): MgetEntries {
  expectStatus(reply, Status.OK, nodeId);
  const entries = reply[2];
  if (!Array.isArray(entries) || entries.length !== count) {
    throw errorFromReply([reply[0], Status.INTERNAL, `MGET reply has ${Array.isArray(entries) ? entries.length : 'no'} entries for ${count} keys`], nodeId);
  }
  return reply[3] === true ? Object.assign(entries, { stale: true as const }) : entries;
}

/** `[id, OK, version, expiresAt] | [id, NOT_STORED]` → WriteResult or undefined. */
export function parseSet(reply: readonly unknown[], nodeId?: string): WriteResult | undefined {
  if (reply[1] === Status.NOT_STORED) return undefined;
  expectStatus(reply, Status.OK, nodeId);
  return { version: reply[2] as number, expiresAt: reply[3] as number };
}

/** `[id, OK, 0|1]` → boolean (DELETE, EXPIRE). */
export function parseFlag(reply: readonly unknown[], nodeId?: string): boolean {
  expectStatus(reply, Status.OK, nodeId);
  return reply[2] === 1;
}

/** `[id, OK, value, version]` → the counter after INCR. */
export function parseIncr(reply: readonly unknown[], nodeId?: string): { value: number | bigint; version: number } {
  expectStatus(reply, Status.OK, nodeId);
  return { value: reply[2] as number | bigint, version: reply[3] as number };
}

/** `[id, OK]` (INVALIDATE, PING). */
export function parseOk(reply: readonly unknown[], nodeId?: string): void {
  expectStatus(reply, Status.OK, nodeId);
}
