import { TYPE_NAMES, type EntryTypeCode } from '../../../shared/collections';
import { SLOT_COUNT } from '../../../shared/slot';
import { int64Arg, word } from './args';
import { patternArg } from './cmd-server';
import { RespCommandError, RespMessages } from './errors';
import { globMatches, type Glob } from './glob';

/**
 * The arguments of SCAN and KEYS, read as Redis reads them. Pure; every failure throws a
 * `RespCommandError` with Redis's wording. The cursor is a slot number (docs/resp.md, "SCAN").
 */

/** SCAN's COUNT when none is given (Redis's). */
export const SCAN_DEFAULT_COUNT = 10;

/**
 * Redis's type names (and `none`, TYPE's answer for a missing key): the ones shardcache holds
 * (string, hash, set) are filtered by the node (SCAN's `type`); the others match no key. A name
 * outside this list is refused (Redis 8's answer; 7.x matched nothing).
 */
const KNOWN_TYPES: ReadonlySet<string> = new Set(['string', 'list', 'set', 'zset', 'hash', 'stream', 'none']);
const HELD_TYPES: ReadonlyMap<string, EntryTypeCode> = new Map(TYPE_NAMES.map((name, code) => [name, code as EntryTypeCode]));

/** Longest type name quoted back in the unknown-type error (the name is the client's). */
const MAX_QUOTED = 128;

export interface ScanArgs {
  /** The slot to scan from; SLOT_COUNT (or more) for a cursor past the last slot: the scan is over. */
  slot: number;
  /** COUNT (a positive integer, at most Number.MAX_SAFE_INTEGER; the node caps it). */
  count: number;
  /** MATCH's pattern, undefined for none or `*`. */
  match: Glob | undefined;
  /** TYPE of a type shardcache holds: the node returns only keys holding it. */
  type?: EntryTypeCode;
  /** TYPE of a type shardcache does not hold (list, zset, stream, none): no key can match. */
  noType: boolean;
}

const U64_MAX = 2n ** 64n - 1n;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;

/**
 * A cursor as Redis takes it: an unsigned 64-bit decimal (Redis's `string2ull`), else
 * `ERR invalid cursor`. Read by hand, byte by byte: no regular expression on client bytes.
 */
export function cursorArg(arg: Buffer): number {
  if (arg.length === 0 || arg.length > 20) throw new RespCommandError(RespMessages.invalidCursor);
  for (let i = 0; i < arg.length; i++) if (arg[i] < DIGIT_0 || arg[i] > DIGIT_9) throw new RespCommandError(RespMessages.invalidCursor);
  const value = BigInt(arg.toString('latin1'));
  if (value > U64_MAX) throw new RespCommandError(RespMessages.invalidCursor);
  return value >= BigInt(SLOT_COUNT) ? SLOT_COUNT : Number(value);
}

/** `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`, options in any order and repeatable (the last wins), as Redis parses them. */
export function scanArgs(args: readonly Buffer[]): ScanArgs {
  const out: ScanArgs = { slot: cursorArg(args[1]), count: SCAN_DEFAULT_COUNT, match: undefined, noType: false };
  for (let i = 2; i < args.length; i += 2) {
    const option = word(args[i]);
    if (i + 1 >= args.length) throw new RespCommandError(RespMessages.syntax);
    const value = args[i + 1];
    if (option === 'COUNT') {
      const count = int64Arg(value);
      if (count < 1n) throw new RespCommandError(RespMessages.syntax);
      out.count = count > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(count);
    } else if (option === 'MATCH') {
      out.match = matchArg(value);
    } else if (option === 'TYPE') {
      const name = value.toString('latin1').toLowerCase();
      if (!KNOWN_TYPES.has(name)) throw new RespCommandError(RespMessages.unknownType(value.toString('utf8').slice(0, MAX_QUOTED)));
      out.type = HELD_TYPES.get(name);
      out.noType = out.type === undefined;
    } else {
      throw new RespCommandError(RespMessages.syntax);
    }
  }
  return out;
}

/** A MATCH or KEYS pattern, compiled (case-sensitive); `*` alone is no filter, as in Redis. */
export function matchArg(arg: Buffer): Glob | undefined {
  return arg.length === 1 && arg[0] === 0x2a ? undefined : patternArg(arg, false);
}

/** The keys of `keys` that `match` matches (all of them without a pattern). */
export function matching(keys: readonly string[], match: Glob | undefined): string[] {
  if (match === undefined) return keys as string[];
  return keys.filter((key) => globMatches(match, Buffer.from(key, 'utf8')));
}

/** The options of HSCAN and SSCAN after the cursor. */
export interface CollScanArgs {
  /** MATCH's pattern on fields (HSCAN) or members (SSCAN), undefined for none or `*`. */
  match: Glob | undefined;
  /** NOVALUES (HSCAN): the fields alone. */
  noValues: boolean;
}

/**
 * `HSCAN key cursor [MATCH pattern] [COUNT n] [NOVALUES]` and `SSCAN key cursor [MATCH pattern]
 * [COUNT n]` as Redis reads them (NOVALUES is Redis 7.4's; on SSCAN a syntax error, as 7.0 answers): the cursor checked as SCAN's (any valid cursor is taken:
 * every reply is the whole hash or set with cursor 0, as Redis answers for its small encodings),
 * COUNT an integer ≥ 1 (accepted, no effect), NOVALUES only on HSCAN.
 */
export function collScanArgs(args: readonly Buffer[], hash: boolean): CollScanArgs {
  cursorArg(args[2]);
  const out: CollScanArgs = { match: undefined, noValues: false };
  for (let i = 3; i < args.length;) {
    const option = word(args[i]);
    if (option === 'NOVALUES') {
      if (!hash) throw new RespCommandError(RespMessages.syntax);
      out.noValues = true;
      i++;
      continue;
    }
    if (i + 1 >= args.length) throw new RespCommandError(RespMessages.syntax);
    if (option === 'COUNT') {
      if (int64Arg(args[i + 1]) < 1n) throw new RespCommandError(RespMessages.syntax);
    } else if (option === 'MATCH') {
      out.match = matchArg(args[i + 1]);
    } else {
      throw new RespCommandError(RespMessages.syntax);
    }
    i += 2;
  }
  return out;
}
