import fc from 'fast-check';
import { RespParser, type ParseItem, type ParserLimits } from '../../proxy/front/resp/parser';

const LIMITS: ParserLimits = { maxBulkBytes: 512, maxMultibulk: 8, maxQueryBytes: 2048, maxInlineBytes: 256 };

interface Fed {
  items: ParseItem[];
  /** Most bytes the parser held after any push. */
  maxBuffered: number;
  /** Largest argument it returned. */
  maxArg: number;
  maxArgs: number;
}

/** Feeds `bytes` cut at `cuts`, pulling every item after each push, as a connection does. */
function feed(bytes: Uint8Array, cuts: number[]): Fed {
  const parser = new RespParser(LIMITS);
  const fed: Fed = { items: [], maxBuffered: 0, maxArg: 0, maxArgs: 0 };
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const end of [...points, bytes.length]) {
    const chunk = Buffer.from(bytes.subarray(start, end));
    parser.push(chunk);
    // Held bytes never exceed the query limit by more than the chunk just pushed.
    fed.maxBuffered = Math.max(fed.maxBuffered, parser.bufferedBytes - chunk.length);
    for (let item = parser.next(); item !== undefined; item = parser.next()) {
      fed.items.push(item);
      if (item.kind === 'command') {
        fed.maxArgs = Math.max(fed.maxArgs, item.args.length);
        for (const a of item.args) fed.maxArg = Math.max(fed.maxArg, a.length);
      }
    }
    start = end;
  }
  return fed;
}

const within = (f: Fed): void => {
  expect(f.maxBuffered).toBeLessThanOrEqual(LIMITS.maxQueryBytes);
  expect(f.maxArgs).toBeLessThanOrEqual(LIMITS.maxMultibulk);
  expect(f.maxArg).toBeLessThanOrEqual(Math.max(LIMITS.maxBulkBytes, LIMITS.maxInlineBytes!));
  const errors = f.items.filter((i) => i.kind === 'error');
  expect(errors.length).toBeLessThanOrEqual(1);
  if (errors.length === 1) expect(f.items[f.items.length - 1].kind).toBe('error');
};

/** RESP-looking input: headers with arbitrary (often huge or negative) lengths and arbitrary bodies. */
const token = fc.oneof(
  fc.integer({ min: -3, max: 20 }).map((n) => `*${n}\r\n`),
  fc.oneof(fc.integer({ min: -2, max: 600 }), fc.constantFrom(1e9, 2 ** 53, -1e12)).map((n) => `$${n}\r\n`),
  fc.string({ maxLength: 40 }).map((s) => `${s}\r\n`),
  fc.constantFrom('*1000000\r\n', '$1000000000\r\n', '\r\n', '"', "'", '*', '$', '\n'),
  fc.stringMatching(/^[A-Za-z0-9 "'\\x]{0,30}$/).map((s) => `${s}\r\n`),
);

describe('RESP parser fuzzing', () => {
  test('arbitrary bytes in arbitrary chunks never crash it nor make it hold or return more than its limits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4 * LIMITS.maxQueryBytes }), fc.array(fc.nat(), { maxLength: 30 }), (bytes, cuts) => {
        within(feed(bytes, cuts));
      }),
      { numRuns: 3000 },
    );
  });

  test('RESP-shaped input with hostile lengths is parsed or refused within the limits', () => {
    fc.assert(
      fc.property(fc.array(token, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 30 }), (tokens, cuts) => {
        within(feed(Buffer.from(tokens.join(''), 'latin1'), cuts));
      }),
      { numRuns: 3000 },
    );
  });

  test('valid commands cut anywhere come back exactly as sent', () => {
    const arg = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
    const command = fc.array(arg, { minLength: 1, maxLength: LIMITS.maxMultibulk });
    fc.assert(
      fc.property(fc.array(command, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 30 }), (commands, cuts) => {
        const wire = Buffer.concat(commands.flatMap((args) => [
          Buffer.from(`*${args.length}\r\n`), ...args.flatMap((a) => [Buffer.from(`$${a.length}\r\n`), a, Buffer.from('\r\n')]),
        ]));
        const { items } = feed(wire, cuts);
        expect(items.map((i) => (i.kind === 'command' ? i.args.map((a) => a.toString('hex')) : i.message)))
          .toEqual(commands.map((args) => args.map((a) => a.toString('hex'))));
      }),
      { numRuns: 2000 },
    );
  });
});
