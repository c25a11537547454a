import fc from 'fast-check';
import { compileGlob, globMatch, globMatches } from '../../proxy/front/resp/glob';

/**
 * The reference: how CONFIG GET matched before the hand-written matcher, a pattern turned into a
 * RegExp. Kept here only as an oracle for short patterns from a small alphabet (where its
 * backtracking cannot blow up).
 */
function referenceRegExp(pattern: string): RegExp {
  const escape = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const close = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '\\' && i + 1 < pattern.length) source += escape(pattern[++i]);
    else if (close > 0) {
      const body = [...pattern.slice(i + 1, close)].map((b) => (b === '-' ? b : escape(b))).join('');
      source += body.startsWith('\\^') ? `[^${body.slice(2)}]` : `[${body}]`;
      i = close;
    } else source += escape(c);
  }
  try {
    return new RegExp(`^${source}$`, 'is');
  } catch {
    return /(?!)/;
  }
}

describe('glob patterns (Redis syntax)', () => {
  test.each([
    ['save', 'save', true], ['SAVE', 'save', true], ['*', 'appendonly', true], ['app*', 'appendonly', true], ['s?ve', 'save', true],
    ['[sp]ort', 'port', true], ['[^p]ort', 'port', false], ['sav', 'save', false], ['a.pendonly', 'appendonly', false], ['[z-a]', 'a', false],
    ['h?llo', 'hallo', true], ['h*llo', 'hllo', true], ['h*llo', 'heeeello', true], ['h[ae]llo', 'hillo', false], ['h[^e]llo', 'hallo', true],
    ['h[a-b]llo', 'hbllo', true], ['h[a-b]llo', 'hcllo', false], ['h\\*llo', 'h*llo', true], ['h\\*llo', 'hello', false], ['*', '', true],
    ['', '', true], ['', 'a', false], ['?', '', false], ['[', '[', true], ['[]', '[]', true], ['[]a]', ']', true], ['[^]', 'x', true],
    ['[a-]', '-', true], ['[-a]', '-', true], ['[a-c-e]', 'd', false], ['[a-c-e]', '-', true], ['a\\', 'a\\', true], ['**a**', 'ba', true],
    ['max*clients', 'maxclients', true], ['*-*-*', 'client-query-buffer-limit', true], ['*limit', 'client-query-buffer-limit', true],
  ])('%j matches %j without case: %p', (pattern, text, matches) => {
    expect(globMatch(pattern, text, true)).toBe(matches);
    expect(referenceRegExp(pattern).test(text)).toBe(matches);
  });

  test('case is kept unless asked to fold it (ASCII letters only)', () => {
    expect(globMatch('SAVE', 'save')).toBe(false);
    expect(globMatch('[A-Z]ave', 'save')).toBe(false);
    expect(globMatch('[A-Z]ave', 'save', true)).toBe(true);
    expect(globMatch('[^A-Z]ave', 'save', true)).toBe(false);
    expect(globMatch('\u00e9', '\u00c9', true)).toBe(false);
  });

  test('bytes are matched as bytes: binary patterns and texts', () => {
    const glob = compileGlob(Buffer.from([0x2a, 0x00, 0xff, 0x3f]));
    expect(globMatches(glob, Buffer.from([1, 2, 0x00, 0xff, 7]))).toBe(true);
    expect(globMatches(glob, Buffer.from([1, 2, 0x00, 0xfe, 7]))).toBe(false);
  });

  test('the same answers as the RegExp it replaced, on random patterns and names', () => {
    const patternChars = fc.constantFrom('a', 'b', 'A', 'z', '-', '*', '?', '[', ']', '^', '\\', '.');
    const textChars = fc.constantFrom('a', 'b', 'A', 'B', 'z', '-', '[', ']', '^', '\\', '.');
    fc.assert(
      fc.property(fc.array(patternChars, { maxLength: 10 }), fc.array(textChars, { maxLength: 10 }), fc.boolean(), (p, t, cut) => {
        const pattern = p.join('');
        const text = cut ? t.join('') : `${t.join('')}${pattern.replace(/[*?[\]\\]/g, '')}`;
        expect([pattern, text, globMatch(pattern, text, true)]).toEqual([pattern, text, referenceRegExp(pattern).test(text)]);
      }),
      { numRuns: 5000 },
    );
  });

  test('patterns built to backtrack finish in pattern × text steps', () => {
    // A backtracking matcher takes about text^stars steps for each of these; each is one call here.
    const stars = `${'*a'.repeat(30)}*b`;
    expect(globMatch(stars, 'a'.repeat(100_000))).toBe(false);
    expect(globMatch(stars, `${'a'.repeat(100_000)}b`)).toBe(true);
    expect(globMatch(`${'a*'.repeat(128)}b`, 'a'.repeat(20_000), true)).toBe(false);
    expect(globMatch(`${'?*'.repeat(100)}[^a]`, 'a'.repeat(20_000))).toBe(false);
    expect(globMatch('*'.repeat(10_000), 'x'.repeat(10_000))).toBe(true);
  });

  test('a text shorter than the tokens a match needs fails without scanning', () => {
    const glob = compileGlob(Buffer.from(`*${'?'.repeat(40)}*`));
    expect(glob.minLength).toBe(40);
    expect(globMatches(glob, Buffer.from('x'.repeat(39)))).toBe(false);
    expect(globMatches(glob, Buffer.from('x'.repeat(40)))).toBe(true);
  });
});
