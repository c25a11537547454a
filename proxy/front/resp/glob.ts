/**
 * Redis glob patterns (as CONFIG GET takes them) matched by hand: no regular expression, no
 * recursion, so no pattern a client sends can make a match slow. Pure.
 *
 * - `*` any run of bytes, `?` one byte, `\x` the byte x itself;
 * - `[abc]` one of, `[a-z]` a range, `[^...]` none of; a `-` first or last in a class is itself;
 * - a `[` with no `]` after its first member is a literal `[` (so `[]a]` is the class of `]` and `a`);
 * - a class with a reversed range (`[z-a]`) makes the whole pattern match nothing;
 * - `nocase` folds the ASCII letters only.
 *
 * What stays true: `compileGlob` is O(pattern); `globMatches` runs in O(pattern × text) time at
 * worst and O(1) memory. Every token but `*` matches exactly one byte, so a failed match only
 * needs to resume after the last `*` with one more byte given to it (one resume point, never a
 * stack of them): `*a*a*a…b` against a long run of `a` costs pattern × text steps, not 2^stars.
 */

/** Token codes: 0-255 a byte (lower-cased when `nocase`), else one of these. */
const STAR = -1;
const ANY = -2;
/** `CLASS + i` is `classes[i]`. */
const CLASS = 256;

const B_STAR = 0x2a;
const B_QUESTION = 0x3f;
const B_BACKSLASH = 0x5c;
const B_OPEN = 0x5b;
const B_CLOSE = 0x5d;
const B_CARET = 0x5e;
const B_DASH = 0x2d;

/** A compiled pattern; build it with `compileGlob`. */
export interface Glob {
  readonly tokens: readonly number[];
  /** One 256-entry table per class: 1 where the byte matches (case folding and negation applied). */
  readonly classes: readonly Uint8Array[];
  readonly nocase: boolean;
  /** Bytes any match needs (the tokens other than `*`): a shorter text fails at once. */
  readonly minLength: number;
  /** A reversed range: the pattern matches nothing. */
  readonly never: boolean;
}

const lower = (c: number): number => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

/** The table of a class whose members lie in `pattern[from, to)`; null for a reversed range. */
function compileClass(pattern: Uint8Array, from: number, to: number, nocase: boolean): Uint8Array | null {
  const table = new Uint8Array(256);
  const negate = pattern[from] === B_CARET;
  let j = negate ? from + 1 : from;
  while (j < to) {
    const lo = pattern[j];
    if (j + 2 < to && pattern[j + 1] === B_DASH) {
      const hi = pattern[j + 2];
      if (lo > hi) return null;
      table.fill(1, lo, hi + 1);
      j += 3;
    } else {
      table[lo] = 1;
      j++;
    }
  }
  if (nocase) {
    for (let c = 0x41; c <= 0x5a; c++) {
      if (table[c] === 1 || table[c | 0x20] === 1) table[c] = table[c | 0x20] = 1;
    }
  }
  if (negate) for (let c = 0; c < 256; c++) table[c] ^= 1;
  return table;
}

/** Compiles `pattern` (its bytes) once, to match it against any number of texts. */
export function compileGlob(pattern: Uint8Array, nocase = false): Glob {
  const tokens: number[] = [];
  const classes: Uint8Array[] = [];
  let never = false;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    const close = c === B_OPEN ? pattern.indexOf(B_CLOSE, i + 2) : -1;
    if (c === B_STAR) {
      if (tokens[tokens.length - 1] !== STAR) tokens.push(STAR); // `**` is `*`
      i++;
    } else if (c === B_QUESTION) {
      tokens.push(ANY);
      i++;
    } else if (c === B_BACKSLASH && i + 1 < pattern.length) {
      tokens.push(nocase ? lower(pattern[i + 1]) : pattern[i + 1]);
      i += 2;
    } else if (close > 0) {
      const table = compileClass(pattern, i + 1, close, nocase);
      if (table === null) never = true;
      else tokens.push(CLASS + classes.push(table) - 1);
      i = close + 1;
    } else {
      tokens.push(nocase ? lower(c) : c);
      i++;
    }
  }
  const minLength = tokens.reduce((n, t) => (t === STAR ? n : n + 1), 0);
  return { tokens, classes, nocase, minLength, never };
}

/** Whether token `t` (not `*`) matches byte `c`. */
function matchesOne(glob: Glob, t: number, c: number): boolean {
  if (t === ANY) return true;
  if (t >= CLASS) return glob.classes[t - CLASS][c] === 1;
  return t === (glob.nocase ? lower(c) : c);
}

/** Whether `text` matches the whole of `glob`: O(pattern × text) steps at worst, no allocation. */
export function globMatches(glob: Glob, text: Uint8Array): boolean {
  if (glob.never || text.length < glob.minLength) return false;
  const { tokens } = glob;
  let p = 0;
  let t = 0;
  /** Token after the last `*` seen (-1: none yet), and the text offset it was resumed at. */
  let resumeP = -1;
  let resumeT = 0;
  while (t < text.length) {
    const token = p < tokens.length ? tokens[p] : undefined;
    if (token === STAR) {
      if (p === tokens.length - 1) return true; // a trailing `*` takes the rest
      resumeP = ++p;
      resumeT = t;
    } else if (token !== undefined && matchesOne(glob, token, text[t])) {
      p++;
      t++;
    } else if (resumeP < 0) {
      return false;
    } else {
      p = resumeP; // give the last `*` one more byte and retry what follows it
      t = ++resumeT;
    }
  }
  while (p < tokens.length && tokens[p] === STAR) p++;
  return p === tokens.length;
}

/** One-off match of `pattern` against `text` (both bytes or text, compared as UTF-8 bytes). */
export function globMatch(pattern: Uint8Array | string, text: Uint8Array | string, nocase = false): boolean {
  const bytes = (v: Uint8Array | string): Uint8Array => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);
  return globMatches(compileGlob(bytes(pattern), nocase), bytes(text));
}
