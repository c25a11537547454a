/**
 * INCRBYFLOAT's arithmetic as Redis does it on x86-64: operands read by `strtold` into an x87
 * 80-bit `long double` (64-bit mantissa), added with one rounding, and the sum printed with
 * `%.17Lf` and its trailing zeros cut (`ld2string`, LD_STR_HUMAN). JavaScript's doubles would
 * answer `0.30000000000000004` where Redis answers `0.3`, so the mantissa is kept in a bigint.
 *
 * Pure; shared by the proxy (checks the increment before sending it) and the storage node (adds
 * it to the stored value). Every input is at most `MAX_LONG_DOUBLE_CHARS` characters and every
 * exponent is bounded by the format's range before a power is computed, so no request makes a
 * bigint of more than a few tens of thousands of bits.
 */

/** Redis's bound on a long double's text (MAX_LONG_DOUBLE_CHARS), read or written. */
export const MAX_LONG_DOUBLE_CHARS = 5 * 1024;

/** A finite extended-precision value: (-1)^neg × m × 2^e, m < 2^64 (0n for zero). */
export interface LongDouble {
  readonly neg: boolean;
  readonly m: bigint;
  readonly e: number;
}

const MANTISSA_BITS = 64;
const TOP = 1n << 64n;
const HALF_TOP = 1n << 63n;
/** Unbiased exponents of the x87 extended format's normal range. */
const MAX_EXP = 16383;
const MIN_EXP = -16382;
/** Decimal exponents past which a value is out of range whatever its digits (with margin). */
const MAX_DECIMAL_EXP = 4933 + 16;
const MIN_DECIMAL_EXP = -4951 - 16 - MAX_LONG_DOUBLE_CHARS;

const ZERO: LongDouble = { neg: false, m: 0n, e: 0 };

const bitLength = (n: bigint): number => n.toString(2).length;

/**
 * num / den × 2^exp2 rounded to 64 bits of mantissa (nearest, ties to even), or undefined when
 * the result leaves the normal range (overflow: infinity; underflow: strtold's ERANGE).
 */
function round(neg: boolean, num: bigint, den: bigint, exp2: number): LongDouble | undefined {
  if (num === 0n) return ZERO;
  let shift = MANTISSA_BITS - (bitLength(num) - bitLength(den));
  for (;;) {
    const n = shift >= 0 ? num << BigInt(shift) : num;
    const d = shift >= 0 ? den : den << BigInt(-shift);
    let q = n / d;
    if (q >= TOP) {
      shift--;
      continue;
    }
    if (q < HALF_TOP) {
      shift++;
      continue;
    }
    const twice = (n % d) * 2n;
    if (twice > d || (twice === d && (q & 1n) === 1n)) q++;
    let e = exp2 - shift;
    if (q === TOP) {
      q = HALF_TOP;
      e++;
    }
    const top = e + MANTISSA_BITS - 1;
    if (top > MAX_EXP || top < MIN_EXP) return undefined;
    return { neg, m: q, e };
  }
}

/**
 * A decimal number as strtold reads one: groups sign, integer digits, fraction digits after them,
 * fraction digits with no integer part, exponent. Shaped so every input has one parse: the
 * fraction is captured only after a point. `(\d+)\.?(\d*)` (the same language) could split a
 * digit run anywhere, so on ~5,000 digits then a stray byte V8 tried ~n²/2 splits before
 * refusing; here each branch fails in one pass. Exported for the test of that shape.
 */
export const DECIMAL = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const INFINITY = /^[+-]?inf(inity)?$/i;

/**
 * The value of `text` as Redis's `string2ld` reads it, or undefined when Redis refuses it (empty,
 * longer than MAX_LONG_DOUBLE_CHARS, a leading space, trailing bytes, out of range, NaN).
 * `inf` / `infinity` read as Infinity with their sign, which `add` then refuses as Redis does.
 * Hexadecimal floats (`0x1p3`), which strtold also reads, are refused.
 */
export function parseLongDouble(text: string): LongDouble | 'inf' | '-inf' | undefined {
  if (text.length === 0 || text.length >= MAX_LONG_DOUBLE_CHARS) return undefined;
  if (INFINITY.test(text)) return text[0] === '-' ? '-inf' : 'inf';
  const match = DECIMAL.exec(text);
  if (match === null) return undefined;
  const [, sign, whole, fraction, onlyFraction, exponent] = match;
  const digits = (whole ?? '') + (fraction ?? onlyFraction ?? '');
  const significant = digits.replace(/^0+/, '');
  if (significant.length === 0) return { ...ZERO, neg: sign === '-' };
  // The exponent's text is bounded by the input's length, but its value is not: clamp it first.
  const written = exponent === undefined ? 0 : Number(exponent);
  const scale = written - (fraction ?? onlyFraction ?? '').length;
  const magnitude = scale + significant.length;
  if (magnitude > MAX_DECIMAL_EXP || magnitude < MIN_DECIMAL_EXP) return undefined;
  const m = BigInt(significant);
  return scale >= 0 ? round(sign === '-', m * 10n ** BigInt(scale), 1n, 0) : round(sign === '-', m, 10n ** BigInt(-scale), 0);
}

/** a + b rounded once, or undefined when the sum is infinite (Redis: "increment would produce NaN or Infinity"). */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | undefined {
  if (a.m === 0n) return b.m === 0n ? { ...ZERO, neg: a.neg && b.neg } : b;
  if (b.m === 0n) return a;
  const e = Math.min(a.e, b.e);
  const x = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const y = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const sum = x + y;
  if (sum === 0n) return ZERO;
  return round(sum < 0n, sum < 0n ? -sum : sum, 1n, e);
}

/** `%.17Lf` of `v` with trailing zeros (and a bare point) cut, `-0` written `0`: Redis's LD_STR_HUMAN. */
export function formatLongDouble(v: LongDouble): string {
  const scaled = v.m * 10n ** 17n;
  let q: bigint;
  if (v.e >= 0) q = scaled << BigInt(v.e);
  else {
    const den = 1n << BigInt(-v.e);
    q = scaled / den;
    const twice = (scaled % den) * 2n;
    if (twice > den || (twice === den && (q & 1n) === 1n)) q++;
  }
  const digits = q.toString().padStart(18, '0');
  let text = `${digits.slice(0, -17)}.${digits.slice(-17)}`.replace(/0+$/, '').replace(/\.$/, '');
  if (v.neg && text !== '0') text = `-${text}`;
  return text;
}
