import { isUtf8 } from 'node:buffer';
import { ExpireCond, type ExpireCondition } from '../../../shared/protocol';
import { latin1 } from '../../../shared/latin1';
import { RespCommandError, RespMessages } from './errors';

/**
 * Reading command arguments the way Redis reads them. Pure; every failure throws a
 * `RespCommandError` carrying Redis's wording.
 */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INTEGER = /^(?:0|-?[1-9][0-9]{0,18})$/;

/** A signed 64-bit integer written as Redis's `string2ll` accepts it (no `+`, spaces or leading zeros). */
export function int64Arg(arg: Buffer): bigint {
  const text = arg.length <= 20 ? arg.toString('latin1') : '';
  if (!INTEGER.test(text)) throw new RespCommandError(RespMessages.notInteger);
  const value = BigInt(text);
  if (value < INT64_MIN || value > INT64_MAX) throw new RespCommandError(RespMessages.notInteger);
  return value;
}

/** `int64Arg`, refusing with `line` instead (commands whose Redis error names the argument). */
export function int64ArgOr(arg: Buffer, line: string): bigint {
  try {
    return int64Arg(arg);
  } catch {
    throw new RespCommandError(line);
  }
}

/** An integer as the data plane takes it: a number when exact, else a bigint. */
export function toDelta(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/**
 * A key: its UTF-8 text. Keys that are not valid UTF-8 are refused, so no two keys ever collide.
 * An ASCII key (the usual kind) is the same text read as latin1: one scan for a byte ≥ 0x80 and
 * a one-byte string, ~60 ns less per key than UTF-8 validation plus the UTF-8 decoder.
 */
export function keyArg(arg: Buffer): string {
  const n = arg.length;
  for (let i = 0; i < n; i++) if (arg[i] >= 0x80) return utf8Key(arg);
  return latin1(arg, 0, n);
}

function utf8Key(arg: Buffer): string {
  if (!isUtf8(arg)) throw new RespCommandError('ERR keys must be valid UTF-8 text in shardcache');
  return arg.toString('utf8');
}

/** Keys of a multi-key command. */
export const keysArg = (args: readonly Buffer[]): string[] => args.map(keyArg);

/** An argument as upper-case ASCII, for matching option names. */
export const word = (arg: Buffer): string => arg.toString('latin1').toUpperCase();

/** Units of a relative or absolute expiry option. */
export type ExpiryUnit = 'EX' | 'PX' | 'EXAT' | 'PXAT';

/**
 * A TTL in whole ms from an expiry option's value, as Redis checks it: the value must be an
 * integer > 0 whose ms fit; an absolute time already past becomes 1 ms (the entry expires at once).
 */
export function ttlMsOf(unit: ExpiryUnit, arg: Buffer, command: string, now: number): number {
  const value = int64Arg(arg);
  const ms = unit === 'EX' || unit === 'EXAT' ? value * 1000n : value;
  if (value <= 0n || ms > BigInt(Number.MAX_SAFE_INTEGER)) throw new RespCommandError(RespMessages.invalidExpire(command));
  if (unit === 'EX' || unit === 'PX') return Number(ms);
  return Math.max(1, Number(ms) - now);
}

/** Options of SET. `ttlMs`: undefined = the namespace default, KEEP_TTL handled by the caller via `keepTtl`. */
export interface SetOptions {
  cond?: 'NX' | 'XX';
  ttlMs?: number;
  keepTtl: boolean;
  get: boolean;
}

/**
 * Parses `[NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]` in any order, with Redis's rules: an
 * option may repeat but not meet its rival (NX with XX, two kinds of expiry), and the expiry's
 * value is checked after the whole line parsed (so a syntax error wins).
 */
export function setOptions(args: readonly Buffer[], now: number): SetOptions {
  const o: SetOptions = { keepTtl: false, get: false };
  let expiry: { unit: ExpiryUnit | 'KEEPTTL'; value?: Buffer } | undefined;
  for (let i = 0; i < args.length; i++) {
    const opt = word(args[i]);
    const sameExpiry = expiry === undefined || expiry.unit === opt;
    if ((opt === 'NX' || opt === 'XX') && (o.cond === undefined || o.cond === opt)) o.cond = opt;
    else if (opt === 'GET') o.get = true;
    else if (opt === 'KEEPTTL' && sameExpiry) expiry = { unit: opt };
    else if ((opt === 'EX' || opt === 'PX' || opt === 'EXAT' || opt === 'PXAT') && sameExpiry && i + 1 < args.length) expiry = { unit: opt, value: args[++i] };
    else throw new RespCommandError(RespMessages.syntax);
  }
  if (expiry?.unit === 'KEEPTTL') o.keepTtl = true;
  else if (expiry?.value !== undefined) o.ttlMs = ttlMsOf(expiry.unit, expiry.value, 'set', now);
  return o;
}

/** What GETEX does besides reading: nothing, set a TTL, or remove the TTL. */
export type GetExAction = { kind: 'none' } | { kind: 'expire'; ttlMs: number } | { kind: 'persist' };

/** Parses GETEX's `[EX s|PX ms|EXAT t|PXAT t|PERSIST]` (at most one). */
export function getExOptions(args: readonly Buffer[], now: number): GetExAction {
  if (args.length === 0) return { kind: 'none' };
  const opt = word(args[0]);
  if (opt === 'PERSIST' && args.length === 1) return { kind: 'persist' };
  if ((opt === 'EX' || opt === 'PX' || opt === 'EXAT' || opt === 'PXAT') && args.length === 2) {
    return { kind: 'expire', ttlMs: ttlMsOf(opt, args[1], 'getex', now) };
  }
  throw new RespCommandError(RespMessages.syntax);
}

/**
 * EXPIRE's options `NX | XX | GT | LT` as Redis 7 reads them: any order, repeats allowed, an
 * unknown word refused by name, NX with any other and GT with LT refused.
 */
export function expireOptions(args: readonly Buffer[]): ExpireCondition {
  let cond = 0;
  for (const arg of args) {
    const opt = word(arg);
    if (opt === 'NX' || opt === 'XX' || opt === 'GT' || opt === 'LT') cond |= ExpireCond[opt];
    else throw new RespCommandError(RespMessages.unsupportedOption(arg.toString('utf8')));
  }
  if ((cond & ExpireCond.NX) !== 0 && cond !== ExpireCond.NX) throw new RespCommandError(RespMessages.expireNx);
  if ((cond & ExpireCond.GT) !== 0 && (cond & ExpireCond.LT) !== 0) throw new RespCommandError(RespMessages.expireGtLt);
  return cond;
}

/**
 * COPY's options `[DB n] [REPLACE]`: DB must be 0 (the only database, as in Redis Cluster, where
 * another one is out of range), REPLACE may repeat, anything else is a syntax error.
 */
export function copyOptions(args: readonly Buffer[]): { replace: boolean } {
  let replace = false;
  for (let i = 0; i < args.length; i++) {
    const opt = word(args[i]);
    if (opt === 'REPLACE') replace = true;
    else if (opt === 'DB' && i + 1 < args.length) {
      const db = int64Arg(args[++i]);
      if (db < -(2n ** 31n) || db >= 2n ** 31n) throw new RespCommandError(RespMessages.notInteger);
      if (db !== 0n) throw new RespCommandError(RespMessages.dbIndex);
    } else throw new RespCommandError(RespMessages.syntax);
  }
  return { replace };
}
