import { Status, type SetCondition } from '../../shared/protocol';
import {
  buildError, buildRequest, DBSIZE, DELETE, ENTRY, EXISTS, EXPIRE, FRAME, GET, INCR, INVALIDATE, MEMORY_USAGE, MGET, OBJECT, PERSIST, PING, RANDOMKEY, REGION_INVALIDATE, SCAN, SET, STATS, TTL,
  WRITE_TARGET,
} from '../../shared/ops';
import type { GetResult, WriteResult } from '../backend';
import { errorFromReply } from './status';
import { MgetView } from '../upstream/mget-reply';

/**
 * Request messages and reply parsers for every operation the data plane sends, in the layout of
 * the op table (`shared/ops.ts`): every position comes from there. Pure. A message's slot `ID`
 * (0) is the request id: the link writes it just before encoding, so builders leave 0 there.
 */

// Positions read on every reply, as plain numbers.
const ID = FRAME.id;
const STATUS = FRAME.status;
const GET_VALUE = GET.reply.value;
const GET_VERSION = GET.reply.version;
const GET_EXPIRES_AT = GET.reply.expiresAt;
const GET_FLAGS = GET.reply.flags;
const GET_RESYNC = GET.reply.resync;
const MISS_RESYNC = GET.replies.MISS.at.resync;
const E_VALUE = ENTRY.at.value;
const E_VERSION = ENTRY.at.version;
const E_EXPIRES_AT = ENTRY.at.expiresAt;
const E_FLAGS = ENTRY.at.flags;

/** `[id, GET, ns, key]`. */
export const getMessage = (ns: string, key: string): unknown[] => buildRequest(GET, ns, key);

/** `[id, MGET, ns, keys[]]`. */
export const mgetMessage = (ns: string, keys: readonly string[]): unknown[] => buildRequest(MGET, ns, keys);

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
  return buildRequest(SET, epoch, ns, key, f.value, f.ttlMs, f.flags, f.cond, f.ifVersion, f.tags);
}

/** `[id, DELETE, epoch, ns, key]`. */
export const deleteMessage = (epoch: number, ns: string, key: string): unknown[] => buildRequest(DELETE, epoch, ns, key);

/** `[id, INCR, epoch, ns, key, delta, ttlMsOnCreate]`. */
export function incrMessage(epoch: number, ns: string, key: string, delta: number | bigint, ttlMsOnCreate: number): unknown[] {
  return buildRequest(INCR, epoch, ns, key, delta, ttlMsOnCreate);
}

/** `[id, EXPIRE, epoch, ns, key, ttlMs]`. */
export const expireMessage = (epoch: number, ns: string, key: string, ttlMs: number): unknown[] => buildRequest(EXPIRE, epoch, ns, key, ttlMs);

/** `[id, INVALIDATE, epoch, ns, tag | null, fromRegion?]`: `fromRegion`, a peer region's invalidation (never shipped back). */
export const invalidateMessage = (epoch: number, ns: string, tag: string | undefined, fromRegion?: string): unknown[] =>
  (fromRegion === undefined ? buildRequest(INVALIDATE, epoch, ns, tag ?? null) : buildRequest(INVALIDATE, epoch, ns, tag ?? null, fromRegion));

/** `[id, REGION_INVALIDATE, epoch, ns, key, at]`: a peer region's invalidation of `key`, written there at `at` (epoch ms). */
export const regionInvalidateMessage = (epoch: number, ns: string, key: string, at: number): unknown[] => buildRequest(REGION_INVALIDATE, epoch, ns, key, at);

/** `[id, OK, deleted 0|1]` → whether REGION_INVALIDATE removed the entry (0: a newer local write, or none). */
export function parseRegionInvalidated(reply: readonly unknown[], nodeId?: string): boolean {
  expectStatus(reply, Status.OK, nodeId);
  return reply[REGION_INVALIDATE.reply.deleted] === 1;
}

/** `[id, PING]`: the breaker's half-open probe. */
export const pingMessage = (): unknown[] => buildRequest(PING);

/** Throws the translated error unless the reply's status is one of `ok`. */
function expectStatus(reply: readonly unknown[], ok: number, nodeId?: string): void {
  if (reply[STATUS] !== ok) throw errorFromReply(reply, nodeId);
}

/**
 * `[id, OK, value, version, expiresAt, flags] | [id, MISS]` → GetResult; a trailing `true` (a
 * replica answering from the data a full sync replaces) marks the result `stale: 'resync'`.
 */
export function parseGet(reply: readonly unknown[], nodeId?: string): GetResult {
  if (reply[STATUS] === Status.MISS) return reply[MISS_RESYNC] === true ? { hit: false, stale: 'resync' } : { hit: false };
  expectStatus(reply, Status.OK, nodeId);
  const hit: GetResult = {
    hit: true, value: reply[GET_VALUE] as Buffer, version: reply[GET_VERSION] as number, expiresAt: reply[GET_EXPIRES_AT] as number, flags: reply[GET_FLAGS] as number,
  };
  if (reply[GET_RESYNC] === true) hit.stale = 'resync';
  return hit;
}

/** One MGET entry: null (miss) or `[value, version, expiresAt, flags]`; `stale`: the reply was a resyncing replica's. */
export function entryResult(entry: unknown, stale = false): GetResult {
  const result: GetResult = Array.isArray(entry)
    ? { hit: true, value: entry[E_VALUE] as Buffer, version: entry[E_VERSION] as number, expiresAt: entry[E_EXPIRES_AT] as number, flags: entry[E_FLAGS] as number }
    : { hit: false };
  if (stale) result.stale = 'resync';
  return result;
}

/**
 * MGET entries of one node: as msgpackr decoded them (`stale` set when a resyncing replica
 * answered, see `parseGet`), or read in place by the link (`MgetView`, which knows `stale` itself).
 */
export type MgetEntries = (unknown[] & { stale?: true }) | MgetView;

/** `[id, OK, entries[]]` → the entries, checked to match the number of keys asked for. */
export function parseMget(reply: readonly unknown[], count: number, nodeId?: string): MgetEntries {
  expectStatus(reply, Status.OK, nodeId);
  const entries = reply[MGET.reply.entries];
  const found = entries instanceof MgetView ? entries.count : Array.isArray(entries) ? entries.length : -1;
  if (found !== count) {
    throw errorFromReply(buildError(reply[ID], Status.INTERNAL, `MGET reply has ${found >= 0 ? found : 'no'} entries for ${count} keys`), nodeId);
  }
  if (entries instanceof MgetView) return entries;
  return reply[MGET.reply.resync] === true ? Object.assign(entries as unknown[], { stale: true as const }) : (entries as unknown[]);
}

/** `[id, OK, version, expiresAt] | [id, NOT_STORED]` → WriteResult or undefined. */
export function parseSet(reply: readonly unknown[], nodeId?: string): WriteResult | undefined {
  if (reply[STATUS] === Status.NOT_STORED) return undefined;
  expectStatus(reply, Status.OK, nodeId);
  return { version: reply[SET.reply.version] as number, expiresAt: reply[SET.reply.expiresAt] as number };
}

/** `[id, OK, 0|1]` → boolean (DELETE, EXPIRE, PERSIST: one index, checked in shared/ops.ts). */
export function parseFlag(reply: readonly unknown[], nodeId?: string): boolean {
  expectStatus(reply, Status.OK, nodeId);
  return reply[DELETE.reply.deleted] === 1;
}

/** `[id, OK, value, version]` → the counter after INCR. */
export function parseIncr(reply: readonly unknown[], nodeId?: string): { value: number | bigint; version: number } {
  expectStatus(reply, Status.OK, nodeId);
  return { value: reply[INCR.reply.value] as number | bigint, version: reply[INCR.reply.version] as number };
}

/** `[id, OK]` (INVALIDATE, PING). */
/** A Buffer over the same bytes as `v` (msgpack may decode bin as a plain Uint8Array): no copy. */
export function bufferOf(v: Uint8Array): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export function parseOk(reply: readonly unknown[], nodeId?: string): void {
  expectStatus(reply, Status.OK, nodeId);
}

/** `[id, PERSIST, epoch, ns, key]`. */
export const persistMessage = (epoch: number, ns: string, key: string): unknown[] => buildRequest(PERSIST, epoch, ns, key);

/** `[id, OK, updated 0|1]` → whether PERSIST removed a TTL. */
export function parsePersist(reply: readonly unknown[], nodeId?: string): boolean {
  expectStatus(reply, Status.OK, nodeId);
  return reply[PERSIST.reply.updated] === 1;
}

/** `[id, TTL, ns, key]`. */
export const ttlMessage = (ns: string, key: string): unknown[] => buildRequest(TTL, ns, key);

/** `[id, OK, ms | -1 (no expiry) | -2 (missing)]` → the TTL. */
export function parseTtl(reply: readonly unknown[], nodeId?: string): number {
  expectStatus(reply, Status.OK, nodeId);
  return reply[TTL.reply.ttlMs] as number;
}

/** `[id, EXISTS, ns, keys[]]`. */
export const existsMessage = (ns: string, keys: readonly string[], touch = false): unknown[] => (touch ? buildRequest(EXISTS, ns, keys, 1) : buildRequest(EXISTS, ns, keys));

/** `[id, OK, count]` → how many of the keys exist (a key named twice counts twice). */
export function parseExists(reply: readonly unknown[], nodeId?: string): number {
  expectStatus(reply, Status.OK, nodeId);
  return reply[EXISTS.reply.count] as number;
}

/** `[id, SCAN, ns, slot, count, type?]`: `type` (an EntryType, SCAN's TYPE option) keeps only the keys holding it. */
export function scanMessage(ns: string, slot: number, count: number, type?: number): unknown[] {
  return type === undefined ? buildRequest(SCAN, ns, slot, count) : buildRequest(SCAN, ns, slot, count, type);
}

/** One SCAN reply: the keys found and the slot to ask next (SLOT_COUNT: none left). */
export interface ScanPage {
  next: number;
  keys: string[];
}

/** `[id, OK, next, keys[]]` → the page, its shape checked (a node's reply is trusted for types, not for sizes). */
export function parseScan(reply: readonly unknown[], nodeId?: string): ScanPage {
  expectStatus(reply, Status.OK, nodeId);
  const next = reply[SCAN.reply.next];
  const keys = reply[SCAN.reply.keys];
  if (typeof next !== 'number' || !Array.isArray(keys)) throw errorFromReply(buildError(reply[ID], Status.INTERNAL, 'SCAN reply without a cursor and keys'), nodeId);
  return { next, keys: keys as string[] };
}

/** `[id, DBSIZE, ns]`. */
export const dbsizeMessage = (ns: string): unknown[] => buildRequest(DBSIZE, ns);

/** `[id, OK, count, expires?]` → the node's live keys of the namespace. */
export function parseDbsize(reply: readonly unknown[], nodeId?: string): number {
  expectStatus(reply, Status.OK, nodeId);
  return reply[DBSIZE.reply.count] as number;
}

/** A node's DBSIZE figures; `expires` undefined from a node that leaves the field off (older than it). */
export interface DbsizeCounts {
  count: number;
  expires: number | undefined;
}

/** `[id, OK, count, expires?]` → the node's live keys of the namespace and, of those, the ones with an expiry. */
export function parseDbsizeCounts(reply: readonly unknown[], nodeId?: string): DbsizeCounts {
  const count = parseDbsize(reply, nodeId);
  const expires = reply[DBSIZE.reply.expires];
  return { count, expires: typeof expires === 'number' ? expires : undefined };
}

/** `[id, RANDOMKEY, ns]`. */
export const randomKeyMessage = (ns: string): unknown[] => buildRequest(RANDOMKEY, ns);

/** `[id, OK, key | null]` → a random live key of the node's, or null. */
export function parseRandomKey(reply: readonly unknown[], nodeId?: string): string | null {
  expectStatus(reply, Status.OK, nodeId);
  const key = reply[RANDOMKEY.reply.key];
  return typeof key === 'string' ? key : null;
}

/** `[id, MEMORY_USAGE, ns, key]`. */
export const memoryUsageMessage = (ns: string, key: string): unknown[] => buildRequest(MEMORY_USAGE, ns, key);

/** `[id, OK, bytes] | [id, MISS]` → the entry's accounted bytes, or null when it is missing. */
export function parseMemoryUsage(reply: readonly unknown[], nodeId?: string): number | null {
  if (reply[STATUS] === Status.MISS) return null;
  expectStatus(reply, Status.OK, nodeId);
  return reply[MEMORY_USAGE.reply.bytes] as number;
}

/** `[id, OBJECT, ns, key]`. */
export const objectMessage = (ns: string, key: string): unknown[] => buildRequest(OBJECT, ns, key);

/** What the node tells of an entry for OBJECT (see OBJECT in shared/ops.ts): -1 is "not tracked". */
export interface ObjectFacts {
  encoding: string;
  freq: number;
  idleSeconds: number;
}

/** `[id, OK, encoding, freq, idleSeconds] | [id, MISS]` → the entry's facts, or null when it is missing. */
export function parseObject(reply: readonly unknown[], nodeId?: string): ObjectFacts | null {
  if (reply[STATUS] === Status.MISS) return null;
  expectStatus(reply, Status.OK, nodeId);
  const encoding = reply[OBJECT.reply.encoding];
  const freq = reply[OBJECT.reply.freq];
  const idleSeconds = reply[OBJECT.reply.idleSeconds];
  if (typeof encoding !== 'string' || typeof freq !== 'number' || typeof idleSeconds !== 'number') {
    throw errorFromReply(buildError(reply[ID], Status.INTERNAL, 'OBJECT reply without its facts'), nodeId);
  }
  return { encoding, freq, idleSeconds };
}

/** `[id, STATS]`. */
export const statsMessage = (): unknown[] => buildRequest(STATS);

/** `[id, OK, {stats}]` → the node's figures. */
export function parseStats(reply: readonly unknown[], nodeId?: string): Record<string, unknown> {
  expectStatus(reply, Status.OK, nodeId);
  const stats = reply[STATS.reply.stats];
  if (typeof stats !== 'object' || stats === null) throw errorFromReply(buildError(reply[ID], Status.INTERNAL, 'STATS reply without figures'), nodeId);
  return stats as Record<string, unknown>;
}
