import { ChunkQueue } from '../../proxy/front/resp/chunks';
import { splitInline } from '../../proxy/front/resp/inline';
import { parseLength, ProtocolErrors, RespParser, type ParseItem, type ParserLimits } from '../../proxy/front/resp/parser';

const LIMITS: ParserLimits = { maxBulkBytes: 1024, maxMultibulk: 16, maxQueryBytes: 4096, maxInlineBytes: 256 };

/** Feeds `input` in pieces of `step` bytes and collects every item until the parser needs more. */
function parseAll(input: string | Buffer, step = Infinity, limits = LIMITS): ParseItem[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const parser = new RespParser(limits);
  const items: ParseItem[] = [];
  for (let at = 0; at < bytes.length; at += step) {
    parser.push(Buffer.from(bytes.subarray(at, Math.min(bytes.length, at + step))));
    for (let item = parser.next(); item !== undefined; item = parser.next()) items.push(item);
  }
  return items;
}

const commands = (items: ParseItem[]): string[][] => items.map((i) => (i.kind === 'command' ? i.args.map((a) => a.toString('latin1')) : [`error: ${i.message}`]));

describe('RESP parser', () => {
  test('arrays of bulk strings, whole or cut at every byte, give the same commands', () => {
    const input = '*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n';
    const expected = [['GET', 'key'], ['SET', 'k', '']];
    for (const step of [Infinity, 1, 2, 3, 5, 7]) expect(commands(parseAll(input, step))).toEqual(expected);
  });

  test('bulk strings are binary safe (CR LF and NUL inside a value)', () => {
    const value = Buffer.from([0, 13, 10, 255, 42]);
    const input = Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n'), value, Buffer.from('\r\n')]);
    const [item] = parseAll(input, 2);
    expect(item.kind === 'command' && item.args[2]).toEqual(value);
  });

  test('a bulk inside one chunk is a view of it; one cut by chunk borders is copied once', () => {
    const parser = new RespParser(LIMITS);
    const chunk = Buffer.from('*1\r\n$4\r\nPING\r\n');
    parser.push(chunk);
    const item = parser.next();
    expect(item?.kind === 'command' && item.args[0].buffer).toBe(chunk.buffer);
    parser.push(Buffer.from('*1\r\n$4\r\nPI'));
    expect(parser.next()).toBeUndefined();
    parser.push(Buffer.from('NG\r\n'));
    expect(commands([parser.next()!])).toEqual([['PING']]);
  });

  test('inline commands: whitespace, quotes, escapes, LF or CR LF endings, empty lines skipped', () => {
    const input = 'PING\r\n\r\n  set  k  "a b\\x41\\n"  \nGET \'it\\\'s\'\r\n';
    expect(commands(parseAll(input))).toEqual([['PING'], ['set', 'k', 'a bA\n'], ['GET', "it's"]]);
    expect(commands(parseAll(input, 1))).toEqual([['PING'], ['set', 'k', 'a bA\n'], ['GET', "it's"]]);
  });

  test('*0 and *-1 are skipped as Redis skips them', () => {
    expect(commands(parseAll('*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n'))).toEqual([['PING']]);
  });

  test.each([
    ['a bulk length over the limit', '*1\r\n$1025\r\n', ProtocolErrors.bulkLength],
    ['a 1 GB bulk header', '*1\r\n$1000000000\r\n', ProtocolErrors.bulkLength],
    ['a negative bulk length', '*1\r\n$-1\r\n', ProtocolErrors.bulkLength],
    ['a bulk length with a leading zero', '*1\r\n$01\r\nx\r\n', ProtocolErrors.bulkLength],
    ['a bulk length that is not a number', '*1\r\n$x\r\n', ProtocolErrors.bulkLength],
    ['more elements than the limit', '*17\r\n', ProtocolErrors.multibulkLength],
    ['a million elements', '*1000000\r\n', ProtocolErrors.multibulkLength],
    ['a multibulk length with a sign', '*+1\r\n', ProtocolErrors.multibulkLength],
    ['something other than a bulk inside an array', '*1\r\n:1\r\n', "Protocol error: expected '$', got ':'"],
    ['an unbalanced quote', 'GET "k\r\n', ProtocolErrors.unbalancedQuotes],
    ['a closing quote followed by a character', "GET 'a'b\r\n", ProtocolErrors.unbalancedQuotes],
  ])('%s is a protocol error', (_what, input, message) => {
    expect(parseAll(input)).toEqual([{ kind: 'error', message }]);
    expect(parseAll(input, 1)).toEqual([{ kind: 'error', message }]);
  });

  test('lines without an end past the inline limit are refused, whatever the kind', () => {
    expect(parseAll('G'.repeat(300))).toEqual([{ kind: 'error', message: ProtocolErrors.bigInline }]);
    expect(parseAll(`*${'1'.repeat(300)}`, 7)).toEqual([{ kind: 'error', message: ProtocolErrors.bigMultibulkCount }]);
    expect(parseAll(`*1\r\n$${'1'.repeat(300)}`, 7)).toEqual([{ kind: 'error', message: ProtocolErrors.bigBulkCount }]);
  });

  test('one command whose bulks add up past the query limit is refused before its bytes arrive', () => {
    const input = `*4\r\n$3\r\nSET\r\n$1000\r\n${'a'.repeat(1000)}\r\n$1000\r\n${'b'.repeat(1000)}\r\n$1000\r\n`;
    expect(commands(parseAll(input, 100, { ...LIMITS, maxQueryBytes: 2500 }))).toEqual([[`error: ${ProtocolErrors.queryBuffer}`]]);
    expect(commands(parseAll(input.replace(/\$1000\r\n$/, ''), 100, { ...LIMITS, maxQueryBytes: 2500 }))).toEqual([]);
  });

  test('after an error the parser holds nothing and answers nothing', () => {
    const parser = new RespParser(LIMITS);
    parser.push(Buffer.from('*1\r\n$1025\r\nxxxxxxxx'));
    expect(parser.next()).toEqual({ kind: 'error', message: ProtocolErrors.bulkLength });
    parser.push(Buffer.from('*1\r\n$4\r\nPING\r\n'));
    expect(parser.next()).toBeUndefined();
    expect(parser.bufferedBytes).toBe(0);
  });

  test('commands before an error are returned first', () => {
    expect(commands(parseAll('PING\r\n*1\r\n$4\r\nECHO\r\n*99\r\n'))).toEqual([['PING'], ['ECHO'], [`error: ${ProtocolErrors.multibulkLength}`]]);
  });

  // 65,536 chunks: growing concatenations (up to 1 MB each) would not finish within the test's time.
  test('a 1 MB bulk sent 16 bytes per chunk is assembled without quadratic copying', () => {
    const parser = new RespParser({ ...LIMITS, maxBulkBytes: 2 ** 20, maxQueryBytes: 2 ** 21 });
    const body = Buffer.alloc(2 ** 20, 7);
    const input = Buffer.concat([Buffer.from(`*1\r\n$${body.length}\r\n`), body, Buffer.from('\r\n')]);
    let item: ParseItem | undefined;
    for (let i = 0; i < input.length; i += 16) {
      parser.push(input.subarray(i, i + 16));
      item ??= parser.next();
    }
    expect(item?.kind === 'command' && item.args[0].equals(body)).toBe(true);
  });
});

describe('length lines', () => {
  test.each([
    ['0', 0], ['12', 12], ['-1', -1], ['', NaN], ['-', NaN], ['-0', NaN], ['007', NaN], ['1x', NaN], [' 1', NaN], ['1'.repeat(30), Infinity],
  ])('%j → %p', (text, value) => {
    expect(parseLength(Buffer.from(`*${text}`), 1)).toBe(value);
  });
});

describe('inline splitting (sdssplitargs)', () => {
  const split = (s: string): string[] | null => splitInline(Buffer.from(s, 'latin1'))?.map((b) => b.toString('latin1')) ?? null;
  test.each([
    ['a b  c', ['a', 'b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['a"b c"', ['ab c']],
    ['"\\x41\\x4a\\xzz"', ['AJxzz']],
    ['"\\t\\r\\n\\b\\a\\"\\\\"', ['\t\r\n\b\x07"\\']],
    ["'a\\'b' 'c\\d'", ["a'b", 'c\\d']],
    ['"" \'\'', ['', '']],
    ['   ', []],
    ['"a', null],
    ['"a"b', null],
    ["'a", null],
  ])('%j', (line, expected) => {
    expect(split(line)).toEqual(expected);
  });
});

describe('chunk queue', () => {
  test('finds a line end across chunks and resumes scanning where it stopped', () => {
    const q = new ChunkQueue();
    q.push(Buffer.from('abc'));
    expect(q.indexOfNewline(100)).toBe(-1);
    q.push(Buffer.from('de\r'));
    expect(q.indexOfNewline(100)).toBe(-1);
    q.push(Buffer.from('\nfg'));
    expect(q.indexOfNewline(100)).toBe(6);
    expect(q.take(7).toString()).toBe('abcde\r\n');
    expect(q.length).toBe(2);
    expect(q.indexOfNewline(100)).toBe(-1);
    expect(q.indexOfNewline(1)).toBe(-2);
  });

  test('take within one chunk is a view; across chunks a copy of exactly n bytes', () => {
    const q = new ChunkQueue();
    const a = Buffer.from('hello');
    q.push(a);
    q.push(Buffer.from('world'));
    const view = q.take(2);
    expect(view.buffer).toBe(a.buffer);
    const copy = q.take(6);
    expect(copy.toString()).toBe('llowor');
    expect(copy.length).toBe(6);
    q.skip(2);
    expect(q.length).toBe(0);
  });
});
