import { badRequest, type OpError } from '../shared/errors';
import { KEEP_TTL, Limits, NAMESPACE_PATTERN, SetCond, type SetCondition } from '../shared/protocol';
import { GET, INCR, MGET, SET } from '../shared/ops';
import { SLOT_COUNT } from '../shared/slot';
import { read, readArrayHeader, readBinHeader, readUint } from '../shared/msgpack-read';

/**
 * Argument checks for request frames. Each returns the typed value or throws BAD_REQUEST with a
 * message naming the argument, so a bad frame gets a clear error reply and never reaches the store.
 * They are at least as strict as the store's own checks, which lets the SET handler use the
 * store's unchecked path (`Store.setTrusted`).
 */

/**
 * Namespace names that passed the pattern, so a request costs a string comparison (the name of
 * the request before) or a set lookup instead of a regex.
 */
const knownNamespaces = new Set<string>();
/** Bound on `knownNamespaces`; past it the cache starts over. */
const MAX_KNOWN_NAMESPACES = 1024;
let lastNamespace = '';

export function namespaceArg(value: unknown): string {
  if (typeof value !== 'string') throw badNamespace();
  if (value === lastNamespace) return value;
  if (!knownNamespaces.has(value)) {
    if (!NAMESPACE_PATTERN.test(value)) throw badNamespace();
    if (knownNamespaces.size >= MAX_KNOWN_NAMESPACES) knownNamespaces.clear();
    knownNamespaces.add(value);
  }
  lastNamespace = value;
  return value;
}

function badNamespace(): OpError {
  return badRequest('namespace must be 1-64 characters of letters, digits, "_", "-" or "."');
}

export function keyArg(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > Limits.MAX_KEY_LENGTH) {
    throw badRequest(`key must be a non-empty string of at most ${Limits.MAX_KEY_LENGTH} characters`);
  }
  return value;
}

export function keysArg(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > Limits.MAX_BATCH_KEYS) {
    throw badRequest(`keys must be a list of 1 to ${Limits.MAX_BATCH_KEYS} keys`);
  }
  for (const key of value) keyArg(key);
  return value as string[];
}

/** Values are bytes; a string is taken as its UTF-8 bytes. */
export function valueArg(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw badRequest('value must be binary (msgpack bin) or a string');
}

function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

export const epochArg = (value: unknown): number => wholeNumber(value, 'epoch', 0, Number.MAX_SAFE_INTEGER);
export const ttlArg = (value: unknown): number => (value === KEEP_TTL ? KEEP_TTL : wholeNumber(value ?? 0, 'ttlMs', 0, Number.MAX_SAFE_INTEGER));
export const flagsArg = (value: unknown): number => wholeNumber(value ?? 0, 'flags', 0, 0xffffffff);
export const versionArg = (value: unknown): number => wholeNumber(value ?? 0, 'ifVersion', 0, Number.MAX_SAFE_INTEGER);
export const condArg = (value: unknown): SetCondition => wholeNumber(value ?? 0, 'cond', SetCond.ALWAYS, SetCond.XX) as SetCondition;
export const signedTtlArg = (value: unknown): number =>
  wholeNumber(value, 'ttlMs', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
/** A hash slot (SCAN's cursor). */
export const slotArg = (value: unknown): number => wholeNumber(value, 'slot', 0, SLOT_COUNT - 1);
/** SCAN's COUNT: any positive number is taken (the store caps it). */
export const countArg = (value: unknown): number => wholeNumber(value, 'count', 1, Number.MAX_SAFE_INTEGER);

export function deltaArg(value: unknown): number | bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw badRequest('delta must be a whole number (signed 64-bit)');
}

export function tagsArg(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > Limits.MAX_TAGS || !value.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 256)) {
    throw badRequest(`tags must be a list of at most ${Limits.MAX_TAGS} non-empty strings of at most 256 characters`);
  }
  return value as string[];
}

export function optionalTagArg(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw badRequest('tag must be a non-empty string of at most 256 characters');
  return value;
}

/**
 * A GET, SET, INCR or MGET frame read in place by `parseHotRequest`: offsets into the frame's
 * bytes and the numbers, in one shared record (no object per request; read it before the next
 * parse). MGET's key offsets are in `hotKeys`.
 */
export interface HotRequest {
  op: number;
  id: number;
  epoch: number;
  nsStart: number;
  nsEnd: number;
  keyStart: number;
  keyEnd: number;
  valueStart: number;
  valueEnd: number;
  /** SET's ttlMs, INCR's ttlMsOnCreate. */
  ttlMs: number;
  flags: number;
  cond: SetCondition;
  ifVersion: number;
  /** INCR's delta (a safe integer). */
  delta: number;
  /** MGET's number of keys. */
  keyCount: number;
}

/** The record `parseHotRequest` fills. */
export const hotRequest: HotRequest = {
  op: 0, id: 0, epoch: 0, nsStart: 0, nsEnd: 0, keyStart: 0, keyEnd: 0, valueStart: 0, valueEnd: 0, ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0,
  delta: 0, keyCount: 0,
};
/** MGET's keys read in place: key `i` is `bytes[hotKeys[2 * i], hotKeys[2 * i + 1])`. */
export const hotKeys = new Int32Array(2 * Limits.MAX_BATCH_KEYS);

/** msgpack fixarray headers of whole GET, SET, INCR and MGET requests (the op table's lengths). */
export const HOT_GET_HEAD = 0x90 | GET.length;
export const HOT_SET_HEAD = 0x90 | SET.length;
export const HOT_INCR_HEAD = 0x90 | INCR.length;
export const HOT_MGET_HEAD = 0x90 | MGET.length;
/** 1 for a first byte of a frame `parseHotRequest` may take (a cheap test before `checkPlain`). */
export const HOT_HEADS = new Uint8Array(256);
for (const head of [HOT_GET_HEAD, HOT_SET_HEAD, HOT_INCR_HEAD, HOT_MGET_HEAD]) HOT_HEADS[head] = 1;
// parseHotRequest reads the fields in this order: a change to the table must change it too.
if (
  GET.fields.join() !== 'ns,key' || SET.fields.join() !== 'epoch,ns,key,value,ttlMs,flags,cond,ifVersion,tags'
  || INCR.fields.join() !== 'epoch,ns,key,delta,ttlMsOnCreate' || MGET.fields.join() !== 'ns,keys'
  || [GET, SET, INCR, MGET].some((d) => d.length > 15 || d.code > 0x7f)
) {
  throw new Error('storage-node/validate.ts: parseHotRequest reads GET, SET, INCR and MGET in an order the op table no longer has');
}

/** 1 for the bytes a namespace name may hold (`NAMESPACE_PATTERN`: letters, digits, `_`, `-`, `.`). */
const NAMESPACE_BYTE = new Uint8Array(256);
for (let c = 0; c < 128; c++) NAMESPACE_BYTE[c] = /[A-Za-z0-9_.-]/.test(String.fromCharCode(c)) ? 1 : 0;

/** Position after the value `parseUint` or `parseInt` read. */
let cursor = 0;
/** The number `parseUint` or `parseInt` read. */
let uint = 0;

/** A msgpack unsigned integer (positive fixint, uint 8/16/32/64 up to 2^53 - 1) at `p`, into `uint`/`cursor`. */
function parseUint(b: Uint8Array, p: number, end: number): boolean {
  if (!readUint(b, p, end)) return false;
  uint = read.n;
  cursor = read.at;
  return true;
}

/** Big-endian float64 bytes, read as a number. */
const float64 = new DataView(new ArrayBuffer(8));

/**
 * A safe integer of either sign at `p`, into `uint`/`cursor`: fixints, uint and int 8/16/32/64,
 * and float64 holding a whole number (msgpackr and the proxy's writer send whole numbers beyond
 * 32 bits as float64).
 */
function parseInt(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const t = b[p];
  if (t === 0xcb) {
    if (p + 9 > end) return false;
    for (let i = 0; i < 8; i++) float64.setUint8(i, b[p + 1 + i]);
    const n = float64.getFloat64(0);
    if (!Number.isSafeInteger(n)) return false;
    uint = n;
    cursor = p + 9;
    return true;
  }
  if (t < 0xd0 || t > 0xd3) {
    if (t < 0xe0) return parseUint(b, p, end);
    uint = t - 0x100; // negative fixint
    cursor = p + 1;
    return true;
  }
  const size = 1 << (t - 0xd0); // int 8/16/32/64
  if (p + 1 + size > end) return false;
  let n: number;
  if (size === 1) n = (b[p + 1] << 24) >> 24;
  else if (size === 2) n = (((b[p + 1] << 8) | b[p + 2]) << 16) >> 16;
  else {
    n = (b[p + 1] << 24) | (b[p + 2] << 16) | (b[p + 3] << 8) | b[p + 4];
    if (size === 8) {
      n = n * 0x100000000 + b[p + 5] * 0x1000000 + ((b[p + 6] << 16) | (b[p + 7] << 8) | b[p + 8]);
      if (!Number.isSafeInteger(n)) return false; // decoded as a bigint: the generic path decides
    }
  }
  uint = n;
  cursor = p + 1 + size;
  return true;
}

/** A str 8/16 or fixstr at `p` of `min`..`max` ASCII bytes (namespace bytes only when `ns`); sets `cursor` past it, returns its start or -1. */
function parseAscii(b: Uint8Array, p: number, end: number, min: number, max: number, ns: boolean): number {
  if (p >= end) return -1;
  const t = b[p];
  let length: number;
  let start: number;
  if (t >= 0xa0 && t <= 0xbf) {
    length = t & 0x1f;
    start = p + 1;
  } else if (t === 0xd9 && p + 2 <= end) {
    length = b[p + 1];
    start = p + 2;
  } else if (t === 0xda && p + 3 <= end) {
    length = (b[p + 1] << 8) | b[p + 2];
    start = p + 3;
  } else return -1;
  const stop = start + length;
  if (length < min || length > max || stop > end) return -1;
  if (ns) {
    for (let i = start; i < stop; i++) if (NAMESPACE_BYTE[b[i]] === 0) return -1;
  } else {
    for (let i = start; i < stop; i++) if (b[i] >= 0x80) return -1;
  }
  cursor = stop;
  return start;
}

/**
 * Reads `b[start, end)` in place when it is exactly one of
 *
 *   GET   [id, GET, ns, key]
 *   SET   [id, SET, epoch, ns, key, bin value, ttlMs, flags, cond, ifVersion, nil]
 *   INCR  [id, INCR, epoch, ns, key, delta, ttlMsOnCreate]
 *   MGET  [id, MGET, ns, [key, ...]]
 *
 * (the op table's order, checked at load) whose every argument the checks above would accept as
 * it is: namespace and keys as ASCII strings (so their bytes are their characters), the value as
 * msgpack bin, numbers as unsigned integers (ttlMs and ttlMsOnCreate also -1, KEEP_TTL, and nil;
 * flags, cond, ifVersion also nil), delta as a safe integer of either sign (also as float64), no tags, 1 to
 * MAX_BATCH_KEYS keys. Fills `hotRequest` (and `hotKeys`) and returns true; returns false for
 * anything else, which then takes the generic path (msgpackr and the checks above, with their
 * error replies). Written by hand because it replaces msgpackr's decode and the string, array and
 * Buffer objects it makes for the requests that are most of a node's load. The caller runs
 * `checkPlain` first, like every decoder of peer bytes.
 */
export function parseHotRequest(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 4) return false;
  const head = b[start];
  if (!parseUint(b, start + 1, end)) return false;
  const r = hotRequest;
  r.id = uint;
  const p = cursor;
  if (p >= end) return false;
  const op = b[p];
  r.op = op;
  switch (op) {
    case GET.code:
      return head === HOT_GET_HEAD && parseTarget(b, p + 1, end) && cursor === end;
    case SET.code:
      return head === HOT_SET_HEAD && parseEpoch(b, p + 1, end) && parseTarget(b, cursor, end) && parseSetFields(b, cursor, end);
    case INCR.code:
      return head === HOT_INCR_HEAD && parseEpoch(b, p + 1, end) && parseTarget(b, cursor, end) && parseIncrFields(b, cursor, end);
    case MGET.code:
      return head === HOT_MGET_HEAD && parseKeys(b, p + 1, end);
    default:
      return false;
  }
}

/** A write's epoch at `p` (a whole number), into `hotRequest.epoch`. */
function parseEpoch(b: Uint8Array, p: number, end: number): boolean {
  if (!parseUint(b, p, end)) return false;
  hotRequest.epoch = uint;
  return true;
}

/** Namespace and key at `p`, into `hotRequest`; `cursor` after the key. */
function parseTarget(b: Uint8Array, p: number, end: number): boolean {
  const r = hotRequest;
  const ns = parseAscii(b, p, end, 1, Limits.MAX_NAMESPACE_LENGTH, true);
  if (ns < 0) return false;
  r.nsStart = ns;
  r.nsEnd = cursor;
  const key = parseAscii(b, cursor, end, 1, Limits.MAX_KEY_LENGTH, false);
  if (key < 0) return false;
  r.keyStart = key;
  r.keyEnd = cursor;
  return true;
}

/** A TTL at `p`: whole number >= 0, -1 (KEEP_TTL) or nil (0), into `hotRequest.ttlMs`; `cursor` after it. */
function parseTtl(b: Uint8Array, p: number, end: number): boolean {
  if (p >= end) return false;
  const r = hotRequest;
  if (b[p] === 0xff) r.ttlMs = KEEP_TTL;
  else if (b[p] === 0xc0) r.ttlMs = 0;
  else {
    if (!parseUint(b, p, end)) return false;
    r.ttlMs = uint;
    return true;
  }
  cursor = p + 1;
  return true;
}

/** INCR's delta and ttlMsOnCreate at `p`, up to the frame's end. */
function parseIncrFields(b: Uint8Array, p: number, end: number): boolean {
  if (!parseInt(b, p, end)) return false;
  hotRequest.delta = uint;
  return parseTtl(b, cursor, end) && cursor === end;
}

/** SET's fields after its key, at `p`, up to the frame's end. */
function parseSetFields(b: Uint8Array, p: number, end: number): boolean {
  const r = hotRequest;
  // value: bin 8/16/32
  if (!readBinHeader(b, p, end)) return false;
  r.valueStart = read.at;
  r.valueEnd = p = read.at + read.n;
  if (!parseTtl(b, p, end)) return false;
  p = cursor;
  // flags: 0..0xffffffff or nil
  if (p < end && b[p] === 0xc0) {
    r.flags = 0;
    p++;
  } else {
    if (!parseUint(b, p, end) || uint > 0xffffffff) return false;
    r.flags = uint;
    p = cursor;
  }
  // cond: ALWAYS, NX, XX or nil
  if (p >= end) return false;
  const cond = b[p] === 0xc0 ? 0 : b[p];
  if (cond > SetCond.XX) return false;
  r.cond = cond as SetCondition;
  p++;
  // ifVersion: whole number or nil
  if (p < end && b[p] === 0xc0) {
    r.ifVersion = 0;
    p++;
  } else {
    if (!parseUint(b, p, end)) return false;
    r.ifVersion = uint;
    p = cursor;
  }
  // tags: nil only (tagged writes take the generic path)
  return p + 1 === end && b[p] === 0xc0;
}

/** MGET's namespace and keys at `p` (fixarray or array 16 of 1 to MAX_BATCH_KEYS ASCII keys), into `hotRequest` and `hotKeys`. */
function parseKeys(b: Uint8Array, p: number, end: number): boolean {
  const r = hotRequest;
  const ns = parseAscii(b, p, end, 1, Limits.MAX_NAMESPACE_LENGTH, true);
  if (ns < 0) return false;
  r.nsStart = ns;
  r.nsEnd = p = cursor;
  if (!readArrayHeader(b, p, end)) return false;
  const count = read.n;
  p = read.at;
  if (count === 0 || count > Limits.MAX_BATCH_KEYS) return false; // empty or too many: the generic path answers
  const keys = hotKeys;
  for (let i = 0; i < count; i++) {
    const key = parseAscii(b, p, end, 1, Limits.MAX_KEY_LENGTH, false);
    if (key < 0) return false;
    keys[2 * i] = key;
    keys[2 * i + 1] = p = cursor;
  }
  r.keyCount = count;
  return p === end;
}
