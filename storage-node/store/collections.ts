import { Buffer } from 'node:buffer';
import { badRequest } from '../../shared/errors';
import { CollCmd, type CollCmdDef, type CollReply, MAX_RANDOM_PICKS } from '../../shared/collections';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../../shared/long-double';
import type { Latin1Buffer } from '../../shared/latin1';
import { addInt64, parseInt64 } from './int64';
import { stringToBytes } from './value-codec';

/**
 * Hashes and sets as the store holds them, and the Redis commands on them (pure: no store, no
 * clock; randomness passed in).
 *
 * Two encodings, as Redis has (listpack, then hashtable past `hash-max-listpack-entries` 128 /
 * `-value` 64):
 *
 * - **Packed** (up to PACKED_MAX_ELEMENTS elements of at most PACKED_MAX_ELEMENT_BYTES): one
 *   latin1 string, like a listpack:
 *
 *     count  then, per element:  hash  len field  len value        set  len member
 *
 *   where `count` and each `len` take one char below 0x80, else four (`0x80 | n >>> 24`, then the
 *   next three bytes of n, big-endian). A hash of 10 fields of 20 bytes is one flat string of a
 *   few hundred bytes: no object per field, nothing for the garbage collector to trace. A lookup
 *   walks at most 128 elements; a write builds the string anew.
 * - **Indexed** (anything larger): the elements in arrays with a `Map` from each key (field or
 *   member) to its position, so a lookup, an add, a removal (the last element moves into the hole)
 *   and a random pick are O(1), and a write changes the entry in place.
 *
 * A write is planned first (`planWrite`: its reply and the changes it makes, each key set to a
 * value or removed), then applied (`applyChanges`): the store checks the entry's new size between
 * the two, so a refused write changes nothing, and the changes are what the replicas are sent
 * (`REPL_COLL`), whatever the entry's size. Every command that takes many arguments (HMGET,
 * SMISMEMBER, HDEL, SADD ...) walks a packed value once for all of them.
 *
 * Arguments arrive as latin1 strings (one char per byte, `bytesToString`), so a field is compared
 * to the packed bytes with `startsWith` at a position: no string is made while walking.
 */

/** Most elements of a packed hash or set (Redis's `hash-max-listpack-entries`). */
export const PACKED_MAX_ELEMENTS = 128;
/** Longest field, value or member of a packed hash or set (Redis's `hash-max-listpack-value`). */
export const PACKED_MAX_ELEMENT_BYTES = 64;
/**
 * Accounted bytes of each element of an indexed hash beyond its strings: the Map entry and its
 * bucket, two array slots and two string headers. A set's element has one string and one slot
 * fewer. Measured estimates, so the memory limit counts what the heap holds.
 */
export const INDEXED_HASH_ELEMENT_BYTES = 80;
export const INDEXED_SET_ELEMENT_BYTES = 56;

/** A large hash (`values` set) or set (`values` null): see the file comment. */
export class Indexed {
  readonly keys: string[] = [];
  readonly values: string[] | null;
  readonly index = new Map<string, number>();
  /** Accounted bytes of the elements (`elementBytes` each). */
  bytes = 0;

  constructor(pairs: boolean) {
    this.values = pairs ? [] : null;
  }

  get size(): number {
    return this.keys.length;
  }

  /** The value of `key` ('' for a set's member), or undefined. */
  get(key: string): string | undefined {
    const i = this.index.get(key);
    if (i === undefined) return undefined;
    return this.values === null ? '' : this.values[i];
  }

  /** Sets `key` (to `value` in a hash); true when it was added. */
  set(key: string, value: string): boolean {
    const i = this.index.get(key);
    if (i !== undefined) {
      if (this.values !== null) {
        this.bytes += packedLength(value) - packedLength(this.values[i]);
        this.values[i] = value;
      }
      return false;
    }
    this.index.set(key, this.keys.length);
    this.keys.push(key);
    if (this.values !== null) this.values.push(value);
    this.bytes += elementBytes(key, value, this.values !== null);
    return true;
  }

  /** Removes `key`, the last element moving into its place; true when it was there. */
  delete(key: string): boolean {
    const i = this.index.get(key);
    if (i === undefined) return false;
    const last = this.keys.length - 1;
    const values = this.values;
    this.bytes -= elementBytes(key, values === null ? '' : values[i], values !== null);
    this.index.delete(key);
    if (i !== last) {
      const moved = this.keys[last];
      this.keys[i] = moved;
      this.index.set(moved, i);
      if (values !== null) values[i] = values[last];
    }
    this.keys.pop();
    values?.pop();
    return true;
  }
}

/** Chars `s` takes in a packed value: its length prefix and itself. */
const packedLength = (s: string): number => s.length + (s.length < 0x80 ? 1 : 4);

/**
 * Accounted bytes of one element of an indexed hash (`pairs`) or set: what it takes packed (so an
 * indexed value's content is its packed length, the size the item limit and the wire see) plus
 * the fixed cost of indexing it.
 */
function elementBytes(key: string, value: string, pairs: boolean): number {
  return pairs ? packedLength(key) + packedLength(value) + INDEXED_HASH_ELEMENT_BYTES : packedLength(key) + INDEXED_SET_ELEMENT_BYTES;
}

/** What a hash or set entry holds: its packed string, or its Indexed object. */
export type CollValue = string | Indexed;

/** A write's changes: each key set to a value ('' for a set's member) or removed (null). */
export type Changes = Map<string, string | null>;

/** The accounted bytes of a value (the entry's value part: its string's length, or the indexed total). */
export function valueBytes(v: CollValue): number {
  return typeof v === 'string' ? v.length : v.bytes;
}

// ─── The packed form ────────────────────────────────────────────────────────────────────────

const SHORT = 0x80;

/** The length stored at `s[p]`. */
function lenAt(s: string, p: number): number {
  const c = s.charCodeAt(p);
  if (c < SHORT) return c;
  return (c & 0x7f) * 0x1000000 + (s.charCodeAt(p + 1) << 16) + (s.charCodeAt(p + 2) << 8) + s.charCodeAt(p + 3);
}

/** Chars a length prefix takes at `s[p]`. */
const widthAt = (s: string, p: number): number => (s.charCodeAt(p) < SHORT ? 1 : 4);
const widthOf = (n: number): number => (n < SHORT ? 1 : 4);

/** Elements of a value (0 for a missing one). */
export function countOf(v: CollValue | undefined): number {
  if (v === undefined) return 0;
  if (typeof v !== 'string') return v.size;
  return v.length === 0 ? 0 : lenAt(v, 0);
}

/** Where the elements start. */
const bodyOf = (s: string): number => widthAt(s, 0);

/** The positions of one element, filled by `next`: its key (field or member) and, in a hash, its value. */
interface Cursor {
  keyAt: number;
  keyLen: number;
  valueAt: number;
  valueLen: number;
  /** Where the element ends (the next one starts). */
  end: number;
}

/** Reads the element at `p` of a hash (`pairs`) or set into `c`. */
function next(s: string, p: number, pairs: boolean, c: Cursor): void {
  const keyLen = lenAt(s, p);
  c.keyAt = p + widthAt(s, p);
  c.keyLen = keyLen;
  const after = c.keyAt + keyLen;
  if (!pairs) {
    c.valueAt = after;
    c.valueLen = 0;
    c.end = after;
    return;
  }
  c.valueLen = lenAt(s, after);
  c.valueAt = after + widthAt(s, after);
  c.end = c.valueAt + c.valueLen;
}

const scan: Cursor = { keyAt: 0, keyLen: 0, valueAt: 0, valueLen: 0, end: 0 };

/** The value of `key` in packed `s` ('' for a member), or undefined. */
function findPacked(s: string, key: string, pairs: boolean): string | undefined {
  for (let p = bodyOf(s); p < s.length; p = scan.end) {
    next(s, p, pairs, scan);
    if (scan.keyLen === key.length && s.startsWith(key, scan.keyAt)) return s.substring(scan.valueAt, scan.valueAt + scan.valueLen);
  }
  return undefined;
}

/** Every element of packed `s`: keys, and values (null for a set). */
function unpack(s: string, pairs: boolean): { keys: string[]; values: string[] | null } {
  const keys: string[] = [];
  const values: string[] | null = pairs ? [] : null;
  for (let p = bodyOf(s); p < s.length; p = scan.end) {
    next(s, p, pairs, scan);
    keys.push(s.substring(scan.keyAt, scan.keyAt + scan.keyLen));
    values?.push(s.substring(scan.valueAt, scan.valueAt + scan.valueLen));
  }
  return { keys, values };
}


/**
 * Builds a packed value in a reused buffer: the elements from offset 4, the count written before
 * them at the end, so the result is one flat string made by one copy.
 */
class Packer {
  /** Kept between values; a value past it gets a buffer of its own, dropped after (so the packer never holds more). */
  static readonly KEPT_BYTES = 64 * 1024;
  readonly #kept = Buffer.allocUnsafeSlow(Packer.KEPT_BYTES) as Latin1Buffer;
  #buf = this.#kept;
  #pos = 4;
  /** Elements written, and the longest key or value among them. */
  count = 0;
  longest = 0;

  /** Starts a value of at most `bound` chars of elements. */
  start(bound: number): void {
    this.#buf = bound + 4 > Packer.KEPT_BYTES ? (Buffer.allocUnsafeSlow(bound + 4) as Latin1Buffer) : this.#kept;
    this.#pos = 4;
    this.count = 0;
    this.longest = 0;
  }

  #len(n: number): void {
    const b = this.#buf;
    if (n < SHORT) b[this.#pos++] = n;
    else {
      b[this.#pos] = SHORT | (n >>> 24);
      b[this.#pos + 1] = (n >>> 16) & 0xff;
      b[this.#pos + 2] = (n >>> 8) & 0xff;
      b[this.#pos + 3] = n & 0xff;
      this.#pos += 4;
    }
  }

  #str(s: string): void {
    this.#len(s.length);
    this.#pos += this.#buf.latin1Write(s, this.#pos, s.length);
    if (s.length > this.longest) this.longest = s.length;
  }

  /** Appends a set member, or a hash field with its value. */
  element(key: string, value: string | null): void {
    this.#str(key);
    if (value !== null) this.#str(value);
    this.count++;
  }

  /** The value built, or null when it has no element. */
  finish(): string | null {
    if (this.count === 0) return null;
    const n = this.count;
    const b = this.#buf;
    let at = 4 - widthOf(n);
    const start = at;
    if (n < SHORT) b[at] = n;
    else {
      b[at++] = SHORT | (n >>> 24);
      b[at++] = (n >>> 16) & 0xff;
      b[at++] = (n >>> 8) & 0xff;
      b[at] = n & 0xff;
    }
    return b.latin1Slice(start, this.#pos);
  }
}

const packer = new Packer();

/** The packed form of any value (a snapshot's, a replication record's, RENAME's). */
export function packedOf(v: CollValue): string {
  if (typeof v === 'string') return v;
  let bound = 0;
  for (let i = 0; i < v.keys.length; i++) bound += 8 + v.keys[i].length + (v.values === null ? 0 : v.values[i].length);
  packer.start(bound);
  for (let i = 0; i < v.keys.length; i++) packer.element(v.keys[i], v.values === null ? null : v.values[i]);
  return packer.finish() ?? '';
}

/** True when every element of `v` is short enough to be packed. */
function fitsPacked(v: Indexed): boolean {
  for (let i = 0; i < v.keys.length; i++) {
    if (v.keys[i].length > PACKED_MAX_ELEMENT_BYTES || (v.values !== null && v.values[i].length > PACKED_MAX_ELEMENT_BYTES)) return false;
  }
  return true;
}

/** `s` in the encoding its size calls for: packed while small, else Indexed. */
export function encoded(s: string, pairs: boolean): CollValue {
  if (countOf(s) <= PACKED_MAX_ELEMENTS) {
    let small = true;
    for (let p = bodyOf(s); small && p < s.length; p = scan.end) {
      next(s, p, pairs, scan);
      small = scan.keyLen <= PACKED_MAX_ELEMENT_BYTES && scan.valueLen <= PACKED_MAX_ELEMENT_BYTES;
    }
    if (small) return s;
  }
  const { keys, values } = unpack(s, pairs);
  const out = new Indexed(pairs);
  for (let i = 0; i < keys.length; i++) out.set(keys[i], values === null ? '' : values[i]);
  return out;
}

// ─── Reads ─────────────────────────────────────────────────────────────────────────────────

/** The value of `key` ('' for a member), or undefined. */
function lookup(v: CollValue | undefined, key: string, pairs: boolean): string | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? findPacked(v, key, pairs) : v.get(key);
}

/** The value of each of `keys` (undefined when absent), walking a packed value once. */
function lookupMany(v: CollValue | undefined, keys: readonly string[], pairs: boolean): (string | undefined)[] {
  const out: (string | undefined)[] = new Array(keys.length).fill(undefined);
  if (v === undefined) return out;
  if (typeof v !== 'string' || keys.length === 1) {
    for (let i = 0; i < keys.length; i++) out[i] = lookup(v, keys[i], pairs);
    return out;
  }
  const found = new Map<string, string | undefined>();
  for (const k of keys) found.set(k, undefined);
  for (let p = bodyOf(v); p < v.length; p = scan.end) {
    next(v, p, pairs, scan);
    const key = v.substring(scan.keyAt, scan.keyAt + scan.keyLen);
    if (found.has(key)) found.set(key, v.substring(scan.valueAt, scan.valueAt + scan.valueLen));
  }
  for (let i = 0; i < keys.length; i++) out[i] = found.get(keys[i]);
  return out;
}

/** Every element: keys and values (null for a set), in order. */
function elements(v: CollValue | undefined, pairs: boolean): { keys: readonly string[]; values: readonly string[] | null } {
  if (v === undefined) return { keys: [], values: pairs ? [] : null };
  return typeof v === 'string' ? unpack(v, pairs) : v;
}

const bytes = stringToBytes;

/**
 * Most bytes of elements one reply may carry (with 3 bytes of framing counted per element): half
 * the 16 MiB frame limit proxies and nodes take by default, so no reply of a hash or set command
 * can be a frame its reader refuses (which would cut the connection every other request shares).
 * Past it the command is refused: HRANDFIELD / SRANDMEMBER with repeats can ask for a reply of
 * any size, and HGETALL / SMEMBERS / SUNION of entries under a raised item limit can pass it too.
 */
export const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** Refuses a reply of `count` elements of `bytes` bytes past MAX_REPLY_BYTES. */
function checkReply(count: number, bytes: number): void {
  const total = bytes + 3 * count;
  if (total > MAX_REPLY_BYTES) throw badRequest(`the reply would carry ${total} bytes, over the ${MAX_REPLY_BYTES} bytes one reply may carry; ask for fewer elements`);
}

/** The sum of the lengths of `xs` (nulls count 0). */
function lengths(xs: readonly (string | null | undefined)[]): number {
  let n = 0;
  for (const x of xs) if (x !== null && x !== undefined) n += x.length;
  return n;
}

/** `xs` as a reply of bytes (null stays null), checked against MAX_REPLY_BYTES. */
function replyOf(xs: readonly (string | null | undefined)[]): (Buffer | null)[] {
  checkReply(xs.length, lengths(xs));
  return xs.map((x) => (x === null || x === undefined ? null : bytes(x)));
}

/** Every element's key and/or value as bytes, in order. */
function all(v: CollValue | undefined, pairs: boolean, withKeys: boolean, withValues: boolean): Buffer[] {
  const { keys, values } = elements(v, pairs);
  checkReply(keys.length * (withKeys && withValues ? 2 : 1), (withKeys ? lengths(keys) : 0) + (withValues && values !== null ? lengths(values) : 0));
  const out: Buffer[] = [];
  for (let i = 0; i < keys.length; i++) {
    if (withKeys) out.push(bytes(keys[i]));
    if (withValues && values !== null) out.push(bytes(values[i]));
  }
  return out;
}

// ─── Arguments and random picks ────────────────────────────────────────────────────────────

/** Redis's words for an argument that is not an integer. */
const NOT_INTEGER = 'value is not an integer or out of range';

/** A count argument (HRANDFIELD, SPOP, SRANDMEMBER): a canonical int64. */
function countArg(s: string): number {
  const n = parseInt64(s);
  if (n === undefined) throw badRequest(NOT_INTEGER);
  if (typeof n === 'bigint') return n < 0n ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  return n;
}

/** `n` distinct indexes below `size` (Floyd's sample: n draws, whatever `size`), ascending. */
function sample(size: number, n: number, random: () => number): number[] {
  const chosen = new Set<number>();
  for (let j = size - n; j < size; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * HRANDFIELD / SRANDMEMBER / SPOP's picks among `size` elements: `count` > 0 distinct indexes (all
 * when there are no more), < 0 that many with repeats (at most MAX_RANDOM_PICKS).
 */
function picks(size: number, count: number, random: () => number): number[] {
  if (count >= size) return Array.from({ length: size }, (_, i) => i);
  if (count >= 0) return sample(size, count, random);
  const n = -count;
  if (n > MAX_RANDOM_PICKS) throw badRequest(`count is out of range: at most ${MAX_RANDOM_PICKS} elements with repeats`);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * size);
  return out;
}

/** The elements at `indexes` as bytes: keys, and values too for `withValues`. */
function elementsAt(v: CollValue, pairs: boolean, indexes: readonly number[], withValues: boolean): Buffer[] {
  const { keys, values } = elements(v, pairs);
  let total = 0;
  for (const i of indexes) total += keys[i].length + (withValues && values !== null ? values[i].length : 0);
  checkReply(indexes.length * (withValues ? 2 : 1), total);
  const out: Buffer[] = [];
  for (const i of indexes) {
    out.push(bytes(keys[i]));
    if (withValues && values !== null) out.push(bytes(values[i]));
  }
  return out;
}

/** One random element's key, or null for a missing value. */
function pickOne(v: CollValue | undefined, pairs: boolean, random: () => number): Buffer | null {
  if (v === undefined) return null;
  return elementsAt(v, pairs, picks(countOf(v), 1, random), false)[0] ?? null;
}

// ─── The commands ──────────────────────────────────────────────────────────────────────────

/** The sizes `def` allows for `n` arguments, else Redis's arity error. */
export function checkArity(def: CollCmdDef, n: number): void {
  if (n < def.min || n > def.max || n % def.step !== 0) throw badRequest(`wrong number of arguments for '${def.name.toLowerCase()}' command`);
}

/**
 * Runs a read command on `value` (the key's value, undefined when missing). `others`: the other
 * keys' values of SINTER / SUNION / SDIFF, in order.
 */
export function runRead(def: CollCmdDef, value: CollValue | undefined, args: readonly string[], others: readonly (CollValue | undefined)[], random: () => number): CollReply {
  const v = value;
  switch (def.code) {
    case CollCmd.HGET: {
      const found = lookup(v, args[0], true);
      return found === undefined ? null : bytes(found);
    }
    case CollCmd.HMGET:
      return replyOf(lookupMany(v, args, true));
    case CollCmd.HGETALL:
      return all(v, true, true, true);
    case CollCmd.HKEYS:
      return all(v, true, true, false);
    case CollCmd.HVALS:
      return all(v, true, false, true);
    case CollCmd.HEXISTS:
      return lookup(v, args[0], true) === undefined ? 0 : 1;
    case CollCmd.HLEN:
    case CollCmd.SCARD:
      return countOf(v);
    case CollCmd.HSTRLEN:
      return lookup(v, args[0], true)?.length ?? 0;
    case CollCmd.HRANDFIELD: {
      if (args.length === 0) return pickOne(v, true, random);
      const count = countArg(args[0]);
      if (args.length === 2 && args[1].toUpperCase() !== 'WITHVALUES') throw badRequest('syntax error');
      return v === undefined || count === 0 ? [] : elementsAt(v, true, picks(countOf(v), count, random), args.length === 2);
    }
    case CollCmd.SISMEMBER:
      return lookup(v, args[0], false) === undefined ? 0 : 1;
    case CollCmd.SMISMEMBER:
      return lookupMany(v, args, false).map((x) => (x === undefined ? 0 : 1));
    case CollCmd.SMEMBERS:
      return all(v, false, true, false);
    case CollCmd.SRANDMEMBER: {
      if (args.length === 0) return pickOne(v, false, random);
      const count = countArg(args[0]);
      return v === undefined || count === 0 ? [] : elementsAt(v, false, picks(countOf(v), count, random), false);
    }
    case CollCmd.SINTER:
    case CollCmd.SUNION:
    case CollCmd.SDIFF:
      return replyOf(combine(def.code, [v, ...others])) as Buffer[];
    default:
      throw badRequest(`${def.name} is not a read`);
  }
}

/** SINTER / SUNION / SDIFF of `sets` (undefined: an empty set), in the first set's order, then the others'. */
function combine(code: number, sets: readonly (CollValue | undefined)[]): string[] {
  const first = elements(sets[0], false).keys;
  if (code === CollCmd.SUNION) {
    const union = new Set(first);
    for (let i = 1; i < sets.length; i++) for (const m of elements(sets[i], false).keys) union.add(m);
    return [...union];
  }
  if (code === CollCmd.SINTER && sets.some((x) => x === undefined)) return [];
  let result: readonly string[] = first;
  for (let i = 1; i < sets.length && result.length > 0; i++) {
    const other = sets[i];
    if (other === undefined) continue; // SDIFF: an empty set takes nothing away
    result = result.filter((m) => (lookup(other, m, false) !== undefined) === (code === CollCmd.SINTER));
  }
  return [...result];
}

/** What a write does: its reply, and its changes (empty: it changes nothing). */
export interface WritePlan {
  reply: CollReply;
  changes: Changes;
}

const NO_CHANGES: Changes = new Map();

/** Plans a write command on `value` (undefined when the key is missing): nothing is changed yet. */
export function planWrite(def: CollCmdDef, value: CollValue | undefined, args: readonly string[], random: () => number): WritePlan {
  const v = value;
  switch (def.code) {
    case CollCmd.HSET: {
      const changes: Changes = new Map();
      for (let i = 0; i < args.length; i += 2) changes.set(args[i], args[i + 1]);
      return { reply: absent(v, changes, true), changes };
    }
    case CollCmd.HSETNX:
      if (lookup(v, args[0], true) !== undefined) return { reply: 0, changes: NO_CHANGES };
      return { reply: 1, changes: new Map([[args[0], args[1]]]) };
    case CollCmd.HDEL:
    case CollCmd.SREM: {
      const pairs = def.code === CollCmd.HDEL;
      const wanted = [...new Set(args)];
      const found = lookupMany(v, wanted, pairs);
      const changes: Changes = new Map();
      for (let i = 0; i < wanted.length; i++) if (found[i] !== undefined) changes.set(wanted[i], null);
      return { reply: changes.size, changes };
    }
    case CollCmd.HINCRBY: {
      const by = parseInt64(args[1]);
      if (by === undefined) throw badRequest(NOT_INTEGER);
      const text = lookup(v, args[0], true);
      const current = text === undefined ? 0 : parseInt64(text);
      if (current === undefined) throw badRequest('hash value is not an integer');
      const sum = addInt64(current, by);
      return { reply: sum, changes: new Map([[args[0], String(sum)]]) };
    }
    case CollCmd.HINCRBYFLOAT: {
      const by = parseLongDouble(args[1]);
      if (by === undefined || typeof by === 'string') throw badRequest('value is not a valid float');
      const current = parseLongDouble(lookup(v, args[0], true) ?? '0');
      if (current === undefined || typeof current === 'string') throw badRequest('hash value is not a float');
      const sum = addLongDouble(current, by);
      if (sum === undefined) throw badRequest('increment would produce NaN or Infinity');
      const text = formatLongDouble(sum);
      return { reply: bytes(text), changes: new Map([[args[0], text]]) };
    }
    case CollCmd.SADD: {
      const members: Changes = new Map();
      for (const m of args) members.set(m, '');
      return addedOnly(v, members);
    }
    case CollCmd.SPOP: {
      const count = args.length === 0 ? 1 : countArg(args[0]);
      if (count < 0) throw badRequest('value is out of range, must be positive');
      if (v === undefined) return { reply: args.length === 0 ? null : [], changes: NO_CHANGES };
      if (count === 0) return { reply: [], changes: NO_CHANGES };
      const { keys } = elements(v, false);
      const changes: Changes = new Map();
      for (const i of picks(keys.length, count, random)) changes.set(keys[i], null);
      const popped = replyOf([...changes.keys()]) as Buffer[];
      return { reply: args.length === 0 ? popped[0] : popped, changes };
    }
    default:
      throw badRequest(`${def.name} is not a write`);
  }
}

/** How many keys of `changes` `v` does not hold (one walk of a packed value). */
function absent(v: CollValue | undefined, changes: Changes, pairs: boolean): number {
  const keys = [...changes.keys()];
  let n = 0;
  for (const x of lookupMany(v, keys, pairs)) if (x === undefined) n++;
  return n;
}

/** SADD's plan: only the members `v` does not hold are changes; the reply counts them. */
function addedOnly(v: CollValue | undefined, members: Changes): WritePlan {
  const keys = [...members.keys()];
  const found = lookupMany(v, keys, false);
  const changes: Changes = new Map();
  for (let i = 0; i < keys.length; i++) if (found[i] === undefined) changes.set(keys[i], '');
  return { reply: changes.size, changes };
}

/** A value's packed length (an indexed one's too): what the item limit counts, as a string's length, and what a snapshot or migration sends. */
export function contentBytes(v: CollValue): number {
  if (typeof v === 'string') return v.length;
  return indexedContent(v.bytes, v.size, v.values !== null);
}

/** The packed length of an indexed value of `bytes` accounted bytes and `count` elements: its elements packed, and the count. */
function indexedContent(bytes: number, count: number, pairs: boolean): number {
  return bytes - count * (pairs ? INDEXED_HASH_ELEMENT_BYTES : INDEXED_SET_ELEMENT_BYTES) + (count < 0x80 ? 1 : 4);
}

/**
 * The accounted bytes (`bytes`) and content bytes (`content`, `contentBytes`) of `v` after
 * `changes`, before they are applied: for an indexed value in O(changes) (`next` undefined: it is
 * changed in place), for a packed one by building the new value (`next`, null when empty, for
 * `applyChanges`).
 */
export function sizeAfter(v: CollValue | undefined, changes: Changes, pairs: boolean): { bytes: number; content: number; next: CollValue | null | undefined } {
  if (v !== undefined && typeof v !== 'string') {
    let bytes = v.bytes;
    let count = v.size;
    for (const [key, value] of changes) {
      const old = v.get(key);
      if (value === null) {
        if (old !== undefined) {
          bytes -= elementBytes(key, old, pairs);
          count--;
        }
      } else if (old === undefined) {
        bytes += elementBytes(key, value, pairs);
        count++;
      } else bytes += packedLength(value) - packedLength(old);
    }
    if (count === 0) return { bytes: 0, content: 0, next: null };
    return { bytes, content: indexedContent(bytes, count, pairs), next: undefined };
  }
  const next = rewritePacked(v, changes, pairs);
  return { bytes: next === null ? 0 : valueBytes(next), content: next === null ? 0 : contentBytes(next), next };
}

/**
 * `v` with `changes` made: an indexed value changed in place (and packed again once within the
 * packed limits), a packed one built anew (and indexed once past them). Null when no element is
 * left. `planned`: what `sizeAfter` built for a packed value, so it is not built twice.
 *
 * The encoding is a function of the contents alone (Redis keeps a converted hash a hashtable),
 * so a replica fed changes and one loaded from a snapshot hold the same encoding and size; near
 * the limit a key may change encoding back and forth, at most 128 elements' work each time.
 */
export function applyChanges(v: CollValue | undefined, changes: Changes, pairs: boolean, planned?: CollValue | null): CollValue | null {
  if (v !== undefined && typeof v !== 'string') {
    for (const [key, value] of changes) {
      if (value === null) v.delete(key);
      else v.set(key, pairs ? value : '');
    }
    if (v.size === 0) return null;
    return v.size <= PACKED_MAX_ELEMENTS && fitsPacked(v) ? packedOf(v) : v;
  }
  return planned !== undefined ? planned : rewritePacked(v, changes, pairs);
}

/**
 * Packed `s` (undefined: empty) with `changes` made, in one walk: elements keep their order, new
 * ones go at the end in the order given. Indexed when the result passes the packed limits.
 */
function rewritePacked(s: string | undefined, changes: Changes, pairs: boolean): CollValue | null {
  let bound = s?.length ?? 0;
  for (const [key, value] of changes) bound += 8 + key.length + (value?.length ?? 0);
  packer.start(bound);
  const seen = new Set<string>();
  if (s !== undefined) {
    for (let p = bodyOf(s); p < s.length; p = scan.end) {
      next(s, p, pairs, scan);
      const key = s.substring(scan.keyAt, scan.keyAt + scan.keyLen);
      const change = changes.get(key);
      if (change === undefined) packer.element(key, pairs ? s.substring(scan.valueAt, scan.valueAt + scan.valueLen) : null);
      else {
        seen.add(key);
        if (change !== null) packer.element(key, pairs ? change : null);
      }
    }
  }
  for (const [key, value] of changes) if (value !== null && !seen.has(key)) packer.element(key, pairs ? value : null);
  if (packer.count > PACKED_MAX_ELEMENTS || packer.longest > PACKED_MAX_ELEMENT_BYTES) {
    const built = packer.finish() as string;
    return encoded(built, pairs);
  }
  return packer.finish();
}

/** `changes` as a flat list `[key, value | null, ...]` (a REPL_COLL record's). */
export function flatChanges(changes: Changes): (string | null)[] {
  const out: (string | null)[] = [];
  for (const [key, value] of changes) out.push(key, value);
  return out;
}
