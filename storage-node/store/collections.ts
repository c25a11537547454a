import { Buffer } from 'node:buffer';
import { badRequest } from '../../shared/errors';
import { CollCmd, type CollCmdDef, type CollReply, MAX_RANDOM_PICKS } from '../../shared/collections';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../../shared/long-double';
import { addInt64, parseInt64 } from './int64';

/**
 * Hashes and sets as the store holds them, and the Redis commands on them (pure: no store, no
 * clock; randomness passed in).
 *
 * A hash or set is one entry whose value is a packed latin1 string, like Redis's listpack:
 *
 *   count  then, per element:  hash  len field  len value        set  len member
 *
 * where `count` and each `len` take one char below 0x80, else four (`0x80 | n >>> 24`, then the
 * next three bytes of n, big-endian). A hash of 10 fields of 20 bytes is one flat string of a few
 * hundred bytes: no object per field, nothing for the garbage collector to trace, and the entry
 * is evicted, expired, replicated and migrated as a string entry is (the value's bytes, with the
 * entry's type beside them).
 *
 * The price is Redis's for a listpack: a lookup walks the elements and a write builds the string
 * anew, O(size of the entry) per command. The namespace's item limit (1 MiB by default) bounds
 * the size, so one command costs at most a walk over that many bytes; caches keep hashes and sets
 * small (sessions, tag sets), where the walk is shorter than a hash lookup's overhead. Every
 * command that takes many arguments (HMGET, SMISMEMBER, HDEL, SADD ...) does one walk for all of
 * them, never one per argument.
 *
 * Arguments arrive as latin1 strings (one char per byte, `bytesToString`), so a field is compared
 * to the packed bytes with `startsWith` at a position: no string is made while walking.
 */

/** What a write leaves: the new packed value, `null` (the entry is now empty: delete it) or `undefined` (unchanged). */
export interface CollWrite {
  value: string | null | undefined;
  reply: CollReply;
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

/** Elements of a packed value (0 for a missing one). */
export function countOf(packed: string | undefined): number {
  return packed === undefined || packed.length === 0 ? 0 : lenAt(packed, 0);
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

const cursor = (): Cursor => ({ keyAt: 0, keyLen: 0, valueAt: 0, valueLen: 0, end: 0 });
const scan = cursor();

/** The position of `key`'s element in `s`, or -1; `scan` holds its positions after a hit. */
function find(s: string, key: string, pairs: boolean): number {
  for (let p = bodyOf(s); p < s.length; p = scan.end) {
    next(s, p, pairs, scan);
    if (scan.keyLen === key.length && s.startsWith(key, scan.keyAt)) return p;
  }
  return -1;
}

const bytes = (s: string, at: number, len: number): Buffer => Buffer.from(s.substring(at, at + len), 'latin1');

interface NodeBuffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
}

/**
 * Builds a packed value in a reused buffer: the elements from offset 4, the count written before
 * them at the end, so the result is one flat string made by one copy.
 */
class Packer {
  #buf = Buffer.allocUnsafeSlow(16 * 1024) as NodeBuffer;
  #pos = 4;
  #count = 0;

  /** Starts a value of at most `bound` chars of elements. */
  start(bound: number): void {
    if (bound + 4 > this.#buf.length) this.#buf = Buffer.allocUnsafeSlow(Math.max(bound + 4, 2 * this.#buf.length)) as NodeBuffer;
    this.#pos = 4;
    this.#count = 0;
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
  }

  /** Appends a set member, or a hash field with its value. */
  element(key: string, value?: string): void {
    this.#str(key);
    if (value !== undefined) this.#str(value);
    this.#count++;
  }

  /** Copies `count` whole elements, `s[from, to)`, as they are. */
  copy(s: string, from: number, to: number, count: number): void {
    if (to > from) this.#pos += this.#buf.latin1Write(s.substring(from, to), this.#pos, to - from);
    this.#count += count;
  }

  /** The value built, or null when it has no element. */
  finish(): string | null {
    if (this.#count === 0) return null;
    const n = this.#count;
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

/** Bound on the chars `pairs` (key, value | null) add as elements. */
function boundOf(keys: readonly string[], values: readonly (string | null)[] | undefined): number {
  let n = 0;
  for (let i = 0; i < keys.length; i++) {
    n += 4 + keys[i].length;
    const v = values?.[i];
    if (v !== undefined && v !== null) n += 4 + v.length;
  }
  return n;
}

/**
 * `s` (undefined: empty) with each key of `changes` set to its value (a hash's; a set member's is
 * '') or removed (null), in one walk: elements keep their order, new ones go at the end in the
 * order first given. Returns the new value (null when empty), and how many keys were added and
 * removed.
 */
function rewrite(s: string | undefined, changes: Map<string, string | null>, pairs: boolean): { value: string | null; added: number; removed: number } {
  const keys = [...changes.keys()];
  const values = [...changes.values()];
  packer.start((s?.length ?? 0) + boundOf(keys, values));
  let added = 0;
  let removed = 0;
  const seen = new Set<string>();
  if (s !== undefined) {
    const c = scan;
    let run = bodyOf(s);
    let runCount = 0;
    for (let p = run; p < s.length; p = c.end) {
      next(s, p, pairs, c);
      const key = s.substring(c.keyAt, c.keyAt + c.keyLen);
      const change = changes.get(key);
      if (change === undefined) {
        runCount++;
        continue;
      }
      packer.copy(s, run, p, runCount);
      runCount = 0;
      run = c.end;
      seen.add(key);
      if (change === null) removed++;
      else if (pairs) packer.element(key, change);
      else packer.element(key);
    }
    packer.copy(s, run, s.length, runCount);
  }
  for (let i = 0; i < keys.length; i++) {
    if (values[i] === null || seen.has(keys[i])) continue;
    added++;
    if (pairs) packer.element(keys[i], values[i] as string);
    else packer.element(keys[i]);
  }
  return { value: packer.finish(), added, removed };
}

/** Every element's key (and value, `withValues`) as bytes, in order. */
function all(s: string | undefined, pairs: boolean, keys: boolean, values: boolean): Buffer[] {
  const out: Buffer[] = [];
  if (s === undefined) return out;
  const c = scan;
  for (let p = bodyOf(s); p < s.length; p = c.end) {
    next(s, p, pairs, c);
    if (keys) out.push(bytes(s, c.keyAt, c.keyLen));
    if (values) out.push(bytes(s, c.valueAt, c.valueLen));
  }
  return out;
}

/** Every element's key as a string (SINTER and friends compare them). */
function keysOf(s: string | undefined, pairs: boolean): string[] {
  const out: string[] = [];
  if (s === undefined) return out;
  const c = scan;
  for (let p = bodyOf(s); p < s.length; p = c.end) {
    next(s, p, pairs, c);
    out.push(s.substring(c.keyAt, c.keyAt + c.keyLen));
  }
  return out;
}

/** The value of each of `keys` (null when absent), in one walk: HMGET, SMISMEMBER (a member's value is ''). */
function lookupMany(s: string | undefined, keys: readonly string[], pairs: boolean): (string | null)[] {
  const out: (string | null)[] = new Array(keys.length).fill(null);
  if (s === undefined) return out;
  if (keys.length === 1) {
    if (find(s, keys[0], pairs) >= 0) out[0] = s.substring(scan.valueAt, scan.valueAt + scan.valueLen);
    return out;
  }
  const wanted = new Map<string, string | null>();
  for (const k of keys) wanted.set(k, null);
  const c = scan;
  for (let p = bodyOf(s); p < s.length; p = c.end) {
    next(s, p, pairs, c);
    const key = s.substring(c.keyAt, c.keyAt + c.keyLen);
    if (wanted.has(key)) wanted.set(key, s.substring(c.valueAt, c.valueAt + c.valueLen));
  }
  for (let i = 0; i < keys.length; i++) out[i] = wanted.get(keys[i]) as string | null;
  return out;
}

/** The start of every element (for picks by index). */
function starts(s: string, pairs: boolean): number[] {
  const out: number[] = [];
  const c = scan;
  for (let p = bodyOf(s); p < s.length; p = c.end) {
    out.push(p);
    next(s, p, pairs, c);
  }
  return out;
}

// ─── Arguments ─────────────────────────────────────────────────────────────────────────────

/** Redis's words for an argument that is not an integer. */
const NOT_INTEGER = 'value is not an integer or out of range';

/** A count argument (HRANDFIELD, SPOP, SRANDMEMBER): a canonical int64. */
function countArg(s: string): number {
  const n = parseInt64(s);
  if (n === undefined) throw badRequest(NOT_INTEGER);
  if (typeof n === 'bigint') return n < 0n ? -Number.MAX_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  return n;
}

/** `n` distinct indexes below `size`, ascending (Floyd's sample: n draws, whatever `size`). */
function sample(size: number, n: number, random: () => number): number[] {
  const chosen = new Set<number>();
  for (let j = size - n; j < size; j++) {
    const t = Math.floor(random() * (j + 1));
    chosen.add(chosen.has(t) ? j : t);
  }
  return [...chosen].sort((a, b) => a - b);
}

/**
 * HRANDFIELD / SRANDMEMBER / SPOP's picks: `count` > 0 distinct elements (all when the value has
 * no more), < 0 that many with repeats; the element starts chosen.
 */
function picks(s: string, pairs: boolean, count: number, random: () => number): number[] {
  const at = starts(s, pairs);
  if (count >= at.length) return at;
  if (count >= 0) return sample(at.length, count, random).map((i) => at[i]);
  const n = -count;
  if (n > MAX_RANDOM_PICKS) throw badRequest(`count is out of range: at most ${MAX_RANDOM_PICKS} elements with repeats`);
  const out: number[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = at[Math.floor(random() * at.length)];
  return out;
}

/** The elements at `positions` as bytes: keys, and values too for `withValues`. */
function elementsAt(s: string, positions: readonly number[], pairs: boolean, withValues: boolean): Buffer[] {
  const out: Buffer[] = [];
  const c = cursor();
  for (const p of positions) {
    next(s, p, pairs, c);
    out.push(bytes(s, c.keyAt, c.keyLen));
    if (withValues) out.push(bytes(s, c.valueAt, c.valueLen));
  }
  return out;
}

function syntaxError(): Error {
  return badRequest('syntax error');
}

// ─── The commands ──────────────────────────────────────────────────────────────────────────

/** The sizes `def` allows for `n` arguments, else Redis's arity error. */
export function checkArity(def: CollCmdDef, n: number): void {
  if (n < def.min || n > def.max || n % def.step !== 0) throw badRequest(`wrong number of arguments for '${def.name.toLowerCase()}' command`);
}

/**
 * Runs a read command on `value` (the key's packed value, undefined when missing). `others`: the
 * other keys' values of SINTER / SUNION / SDIFF, in order.
 */
export function runRead(def: CollCmdDef, value: string | undefined, args: readonly string[], others: readonly (string | undefined)[], random: () => number): CollReply {
  const s = value;
  switch (def.code) {
    case CollCmd.HGET: {
      if (s === undefined || find(s, args[0], true) < 0) return null;
      return bytes(s, scan.valueAt, scan.valueLen);
    }
    case CollCmd.HMGET:
      return lookupMany(s, args, true).map((v) => (v === null ? null : Buffer.from(v, 'latin1')));
    case CollCmd.HGETALL:
      return all(s, true, true, true);
    case CollCmd.HKEYS:
      return all(s, true, true, false);
    case CollCmd.HVALS:
      return all(s, true, false, true);
    case CollCmd.HEXISTS:
      return s !== undefined && find(s, args[0], true) >= 0 ? 1 : 0;
    case CollCmd.HLEN:
    case CollCmd.SCARD:
      return countOf(s);
    case CollCmd.HSTRLEN:
      return s !== undefined && find(s, args[0], true) >= 0 ? scan.valueLen : 0;
    case CollCmd.HRANDFIELD: {
      if (args.length === 0) return s === undefined ? null : elementsAt(s, picks(s, true, 1, random), true, false)[0] ?? null;
      const count = countArg(args[0]);
      if (args.length === 2 && args[1].toUpperCase() !== 'WITHVALUES') throw syntaxError();
      return s === undefined || count === 0 ? [] : elementsAt(s, picks(s, true, count, random), true, args.length === 2);
    }
    case CollCmd.SISMEMBER:
      return s !== undefined && find(s, args[0], false) >= 0 ? 1 : 0;
    case CollCmd.SMISMEMBER:
      return lookupMany(s, args, false).map((v) => (v === null ? 0 : 1));
    case CollCmd.SMEMBERS:
      return all(s, false, true, false);
    case CollCmd.SRANDMEMBER: {
      if (args.length === 0) return s === undefined ? null : elementsAt(s, picks(s, false, 1, random), false, false)[0] ?? null;
      const count = countArg(args[0]);
      return s === undefined || count === 0 ? [] : elementsAt(s, picks(s, false, count, random), false, false);
    }
    case CollCmd.SINTER:
    case CollCmd.SUNION:
    case CollCmd.SDIFF:
      return combine(def.code, [s, ...others]).map((m) => Buffer.from(m, 'latin1'));
    default:
      throw badRequest(`${def.name} is not a read`);
  }
}

/** SINTER / SUNION / SDIFF of `sets` (undefined: an empty set), as Redis orders them: the first set's order, then the others'. */
function combine(code: number, sets: readonly (string | undefined)[]): string[] {
  const first = keysOf(sets[0], false);
  if (code === CollCmd.SUNION) {
    const union = new Set(first);
    for (let i = 1; i < sets.length; i++) for (const m of keysOf(sets[i], false)) union.add(m);
    return [...union];
  }
  if (code === CollCmd.SINTER && sets.some((x) => x === undefined)) return [];
  let result = first;
  for (let i = 1; i < sets.length && result.length > 0; i++) {
    if (sets[i] === undefined) continue; // SDIFF: an empty set takes nothing away
    const other = new Set(keysOf(sets[i], false));
    result = result.filter((m) => (code === CollCmd.SINTER ? other.has(m) : !other.has(m)));
  }
  return result;
}

/** Runs a write command on `value` (undefined when the key is missing). */
export function runWrite(def: CollCmdDef, value: string | undefined, args: readonly string[], random: () => number): CollWrite {
  const s = value;
  switch (def.code) {
    case CollCmd.HSET: {
      const changes = new Map<string, string | null>();
      for (let i = 0; i < args.length; i += 2) changes.set(args[i], args[i + 1]);
      const r = rewrite(s, changes, true);
      return { value: r.value, reply: r.added };
    }
    case CollCmd.HSETNX: {
      if (s !== undefined && find(s, args[0], true) >= 0) return { value: undefined, reply: 0 };
      return { value: rewrite(s, new Map([[args[0], args[1]]]), true).value, reply: 1 };
    }
    case CollCmd.HDEL:
    case CollCmd.SREM: {
      if (s === undefined) return { value: undefined, reply: 0 };
      const pairs = def.code === CollCmd.HDEL;
      const changes = new Map<string, string | null>();
      for (const k of args) changes.set(k, null);
      const r = rewrite(s, changes, pairs);
      return { value: r.removed === 0 ? undefined : r.value, reply: r.removed };
    }
    case CollCmd.HINCRBY: {
      const by = parseInt64(args[1]);
      if (by === undefined) throw badRequest(NOT_INTEGER);
      const current = s !== undefined && find(s, args[0], true) >= 0 ? parseInt64(s.substring(scan.valueAt, scan.valueAt + scan.valueLen)) : 0;
      if (current === undefined) throw badRequest('hash value is not an integer');
      const sum = addInt64(current, by);
      return { value: rewrite(s, new Map([[args[0], String(sum)]]), true).value, reply: sum };
    }
    case CollCmd.HINCRBYFLOAT: {
      const by = parseLongDouble(args[1]);
      if (by === undefined || typeof by === 'string') throw badRequest('value is not a valid float');
      const had = s !== undefined && find(s, args[0], true) >= 0;
      const current = had ? parseLongDouble((s as string).substring(scan.valueAt, scan.valueAt + scan.valueLen)) : parseLongDouble('0');
      if (current === undefined || typeof current === 'string') throw badRequest('hash value is not a float');
      const sum = addLongDouble(current, by);
      if (sum === undefined) throw badRequest('increment would produce NaN or Infinity');
      const text = formatLongDouble(sum);
      return { value: rewrite(s, new Map([[args[0], text]]), true).value, reply: Buffer.from(text, 'latin1') };
    }
    case CollCmd.SADD: {
      const changes = new Map<string, string | null>();
      for (const m of args) changes.set(m, '');
      const r = rewrite(s, changes, false);
      return { value: r.added === 0 ? undefined : r.value, reply: r.added };
    }
    case CollCmd.SPOP: {
      const count = args.length === 0 ? 1 : countArg(args[0]);
      if (count < 0) throw badRequest('value is out of range, must be positive');
      if (s === undefined) return { value: undefined, reply: args.length === 0 ? null : [] };
      if (count === 0) return { value: undefined, reply: [] };
      const popped = elementsAt(s, picks(s, false, count, random), false, false);
      const changes = new Map<string, string | null>();
      for (const m of popped) changes.set(m.toString('latin1'), null);
      return { value: rewrite(s, changes, false).value, reply: args.length === 0 ? popped[0] : popped };
    }
    default:
      throw badRequest(`${def.name} is not a write`);
  }
}
