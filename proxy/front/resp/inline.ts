/**
 * Inline commands (`PING`, `SET k "a b"` typed into telnet): one line split into arguments the way
 * Redis's `sdssplitargs` does it. Pure.
 *
 * - Arguments are separated by whitespace; double quotes allow `\n \r \t \b \a \\ \"` and `\xHH`,
 *   single quotes allow `\'`; a quote may open in the middle of an argument (`a"b c"` is `ab c`).
 * - A closing quote must be followed by whitespace or the end of the line; an unterminated quote
 *   or a quote followed by something else makes the whole line invalid (`null`).
 */
const SPACE = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x00]);
const DQ = 0x22;
const SQ = 0x27;
const BACKSLASH = 0x5c;
const ESCAPES: Readonly<Record<number, number>> = { 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09, 0x62: 0x08, 0x61: 0x07 };

const hexValue = (c: number | undefined): number => {
  if (c === undefined) return -1;
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
};

/** Where a quoted part ends: the index after the closing quote, or -1 when the line is invalid. */
type QuoteScan = (line: Buffer, from: number, out: number[]) => number;

/** Reads a double-quoted part starting after its opening quote into `out`. */
const doubleQuoted: QuoteScan = (line, from, out) => {
  let i = from;
  while (i < line.length) {
    const c = line[i];
    if (c === DQ) return SPACE.has(line[i + 1] ?? 0x20) ? i + 1 : -1;
    if (c !== BACKSLASH || i + 1 >= line.length) {
      out.push(c);
      i++;
      continue;
    }
    const hi = hexValue(line[i + 2]);
    const lo = hexValue(line[i + 3]);
    if (line[i + 1] === 0x78 && hi >= 0 && lo >= 0) {
      out.push(hi * 16 + lo);
      i += 4;
    } else {
      out.push(ESCAPES[line[i + 1]] ?? line[i + 1]);
      i += 2;
    }
  }
  return -1;
};

/** Reads a single-quoted part starting after its opening quote into `out`. */
const singleQuoted: QuoteScan = (line, from, out) => {
  let i = from;
  while (i < line.length) {
    const c = line[i];
    if (c === BACKSLASH && line[i + 1] === SQ) {
      out.push(SQ);
      i += 2;
    } else if (c === SQ) {
      return SPACE.has(line[i + 1] ?? 0x20) ? i + 1 : -1;
    } else {
      out.push(c);
      i++;
    }
  }
  return -1;
};

/** Splits one inline line (without its line end) into arguments; `null` for unbalanced quotes. */
export function splitInline(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  let i = 0;
  for (;;) {
    while (i < line.length && SPACE.has(line[i])) i++;
    if (i >= line.length) return args;
    const out: number[] = [];
    while (i < line.length && !SPACE.has(line[i])) {
      const c = line[i];
      if (c !== DQ && c !== SQ) {
        out.push(c);
        i++;
        continue;
      }
      i = (c === DQ ? doubleQuoted : singleQuoted)(line, i + 1, out);
      if (i < 0) return null;
      break; // a closing quote ends the argument
    }
    args.push(Buffer.from(out));
  }
}
