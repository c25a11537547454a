import fc from 'fast-check';
import { EntryType } from '../../shared/collections';
import { SLOT_COUNT } from '../../shared/slot';
import { RespCommandError } from '../../proxy/front/resp/errors';
import { globMatches } from '../../proxy/front/resp/glob';
import { cursorArg, matchArg, scanArgs, SCAN_DEFAULT_COUNT } from '../../proxy/front/resp/scan-args';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const scan = (...args: string[]): ReturnType<typeof scanArgs> => scanArgs([B('SCAN'), ...args.map(B)]);
const lineOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof RespCommandError) return err.line;
    throw err;
  }
  return 'no error';
};

/** The only ways SCAN's arguments may fail: Redis's lines (and the pattern bound). */
const ALLOWED = /^(ERR invalid cursor|ERR syntax error|ERR value is not an integer or out of range|ERR unknown type name '.*'|ERR pattern longer than 256 bytes)$/s;

describe('SCAN arguments (client bytes)', () => {
  test('Redis\'s errors, exactly', () => {
    expect(lineOf(() => scan('abc'))).toBe('ERR invalid cursor');
    expect(lineOf(() => scan('-1'))).toBe('ERR invalid cursor');
    expect(lineOf(() => scan(' 1'))).toBe('ERR invalid cursor');
    expect(lineOf(() => scan('18446744073709551616'))).toBe('ERR invalid cursor');
    expect(lineOf(() => scan('0', 'COUNT', '0'))).toBe('ERR syntax error');
    expect(lineOf(() => scan('0', 'COUNT', '-5'))).toBe('ERR syntax error');
    expect(lineOf(() => scan('0', 'COUNT', 'ten'))).toBe('ERR value is not an integer or out of range');
    expect(lineOf(() => scan('0', 'COUNT'))).toBe('ERR syntax error');
    expect(lineOf(() => scan('0', 'LIMIT', '5'))).toBe('ERR syntax error');
    expect(lineOf(() => scan('0', 'TYPE', 'blob'))).toBe("ERR unknown type name 'blob'");
    expect(lineOf(() => scan('0', 'MATCH', 'a'.repeat(257)))).toBe('ERR pattern longer than 256 bytes');
    expect(lineOf(() => scan('abc', 'COUNT', '0'))).toBe('ERR invalid cursor'); // the cursor is read first
  });

  test('values: cursor as a slot, defaults, options in any case and order, TYPE string matches all', () => {
    expect(scan('0')).toEqual({ slot: 0, count: SCAN_DEFAULT_COUNT, match: undefined, noType: false });
    expect(scan('16383').slot).toBe(16383);
    expect(scan('16384').slot).toBe(SLOT_COUNT);
    expect(scan('18446744073709551615').slot).toBe(SLOT_COUNT);
    const a = scan('7', 'type', 'STRING', 'count', '99999999999999999', 'Match', 'user:*');
    expect([a.slot, a.count, a.type, a.noType]).toEqual([7, Number.MAX_SAFE_INTEGER, EntryType.STRING, false]);
    expect(globMatches(a.match!, B('user:1'))).toBe(true);
    expect(globMatches(a.match!, B('User:1'))).toBe(false); // case-sensitive, as Redis's MATCH
    // Types the nodes hold go to the node's SCAN; the others (and `none`) match no key.
    expect([scan('0', 'TYPE', 'hash').type, scan('0', 'TYPE', 'hash').noType]).toEqual([EntryType.HASH, false]);
    expect([scan('0', 'TYPE', 'Set').type, scan('0', 'TYPE', 'Set').noType]).toEqual([EntryType.SET, false]);
    for (const none of ['list', 'zset', 'stream', 'none']) expect([none, scan('0', 'TYPE', none).type, scan('0', 'TYPE', none).noType]).toEqual([none, undefined, true]);
    expect(matchArg(B('*'))).toBeUndefined();
  });

  test('any argument list parses or fails with one of Redis\'s lines, in time linear in its size', () => {
    const word = fc.oneof(
      fc.constantFrom('MATCH', 'match', 'COUNT', 'TYPE', 'type', 'string', 'hash', '0', '10', '-1', '*', '*a*a*a*a*b', '18446744073709551615', ''),
      fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u).toString('latin1')),
      fc.stringMatching(/^[0-9]{0,25}$/),
    );
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 12 }), (words) => {
        const line = lineOf(() => scanArgs([B('SCAN'), ...words.map(B)]));
        if (line !== 'no error') expect(line).toMatch(ALLOWED);
        else {
          const a = scanArgs([B('SCAN'), ...words.map(B)]);
          expect(a.slot >= 0 && a.slot <= SLOT_COUNT && Number.isInteger(a.slot)).toBe(true);
          expect(a.count >= 1 && Number.isSafeInteger(a.count)).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  test('cursors: digits only, at most u64, never a regular expression', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        expect(cursorArg(B(n.toString()))).toBe(n >= BigInt(SLOT_COUNT) ? SLOT_COUNT : Number(n));
      }),
    );
  });

  test('a MATCH pattern built to backtrack costs pattern x key steps, not exponential', () => {
    const glob = matchArg(B(`${'*a'.repeat(120)}*b`))!;
    const key = B('a'.repeat(1024));
    const start = process.hrtime.bigint();
    for (let i = 0; i < 100; i++) expect(globMatches(glob, key)).toBe(false);
    expect(Number(process.hrtime.bigint() - start) / 1e6).toBeLessThan(2000);
  });
});
