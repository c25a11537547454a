import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';

/**
 * Signed 64-bit integers for INCR, stored as canonical ASCII decimal like Redis.
 *
 * Values are `number` while they are safe integers (the fast path: up to 15 digits parse exactly
 * with `Number`) and `bigint` beyond. A string is an integer only in canonical form: optional
 * `-`, no leading zeros, no `+`, no spaces, and not `-0`.
 */

/** Largest signed 64-bit value. */
export const INT64_MAX = 9_223_372_036_854_775_807n;
/** Smallest signed 64-bit value. */
export const INT64_MIN = -9_223_372_036_854_775_808n;

const NOT_INTEGER_MESSAGE = 'value is not an integer or out of range';
const OVERFLOW_MESSAGE = 'increment or decrement would overflow';
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const DIGIT_0 = 48;
const DIGIT_9 = 57;
const MINUS = 45;

/** The integer `s` spells in canonical decimal, or undefined when it is not one in int64 range. */
export function parseInt64(s: string): number | bigint | undefined {
  const len = s.length;
  if (len === 0 || len > 20) return undefined;
  const start = s.charCodeAt(0) === MINUS ? 1 : 0;
  const digits = len - start;
  if (digits === 0) return undefined;
  if (s.charCodeAt(start) === DIGIT_0 && (digits > 1 || start === 1)) return undefined;
  for (let i = start; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < DIGIT_0 || c > DIGIT_9) return undefined;
  }
  if (digits <= 15) return Number(s);
  const big = BigInt(s);
  if (big > INT64_MAX || big < INT64_MIN) return undefined;
  return narrow(big);
}

/** Checks an INCR delta: an integer within int64; throws NOT_INTEGER otherwise. */
export function toDelta(delta: number | bigint): number | bigint {
  if (typeof delta === 'number') {
    if (Number.isSafeInteger(delta)) return delta;
    if (!Number.isInteger(delta)) throw notInteger();
    return toDelta(BigInt(delta));
  }
  if (typeof delta !== 'bigint' || delta > INT64_MAX || delta < INT64_MIN) throw notInteger();
  return narrow(delta);
}

/** `a + b` in signed 64-bit; throws OVERFLOW outside the range. */
export function addInt64(a: number | bigint, b: number | bigint): number | bigint {
  if (typeof a === 'number' && typeof b === 'number') {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  const big = BigInt(a) + BigInt(b);
  if (big > INT64_MAX || big < INT64_MIN) throw new OpError(Status.OVERFLOW, OVERFLOW_MESSAGE);
  return narrow(big);
}

/** The NOT_INTEGER error INCR raises for a bad stored value or delta. */
export function notInteger(): OpError {
  return new OpError(Status.NOT_INTEGER, NOT_INTEGER_MESSAGE);
}

function narrow(big: bigint): number | bigint {
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big;
}
