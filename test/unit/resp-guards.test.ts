import { isCrossProtocol, isHttpVersion } from '../../proxy/front/resp/cross-protocol';
import { GUARD_DEFAULTS, InputBudget, resolveGuards, sweepPeriodMs, sweepVerdict } from '../../proxy/front/resp/guards';
import { RespParser } from '../../proxy/front/resp/parser';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const words = (...w: string[]): Buffer[] => w.map(B);

describe('cross-protocol detection', () => {
  test.each(['POST', 'post', 'Put', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH', 'CONNECT', 'TRACE', 'Host:', 'HOST:', 'host:'])('%s as a command name, inline or not', (name) => {
    expect(isCrossProtocol(words(name, '/'), false)).toBe(true);
    expect(isCrossProtocol(words(name), true)).toBe(true);
  });

  test('an inline request line (three words, the last an HTTP version), whatever its method', () => {
    expect(isCrossProtocol(words('GET', '/', 'HTTP/1.1'), true)).toBe(true);
    expect(isCrossProtocol(words('GET', '/index.html', 'HTTP/1.0'), true)).toBe(true);
    expect(isCrossProtocol(words('PRI', '*', 'HTTP/2.0'), true)).toBe(true);
    expect(isCrossProtocol(words('get', '/', 'http/2'), true)).toBe(true);
  });

  test('Redis commands are left alone: GET key, a value that looks like a version in an array, DEL, PING', () => {
    expect(isCrossProtocol(words('GET', 'key'), true)).toBe(false);
    expect(isCrossProtocol(words('GET', '/'), true)).toBe(false);
    expect(isCrossProtocol(words('SET', 'k', 'HTTP/1.1'), false)).toBe(false);
    expect(isCrossProtocol(words('HTTP/1.1'), true)).toBe(false);
    expect(isCrossProtocol(words('GET', 'HTTP/1.1'), true)).toBe(false);
    expect(isCrossProtocol(words('MSET', 'a', 'b', 'c', 'HTTP/1.1'), true)).toBe(false);
    for (const name of ['GET', 'SET', 'DEL', 'PING', 'HELLO', 'HOST', 'POSTS', 'host', 'EXPIRE', 'PUTX']) expect(isCrossProtocol(words(name, 'k'), true)).toBe(false);
  });

  test('HTTP versions: HTTP/<digit> or HTTP/<digit>.<digit>', () => {
    for (const v of ['HTTP/1.1', 'HTTP/1.0', 'HTTP/2', 'HTTP/3', 'http/1.1']) expect(isHttpVersion(B(v))).toBe(true);
    for (const v of ['HTTP/', 'HTTP/x', 'HTTP/1.', 'HTTP/1.1.1', 'HTTP/11', 'HTTPS/1', 'HTTP\\1.1', 'HTXP/1.1']) expect(isHttpVersion(B(v))).toBe(false);
  });

  test('the parser says whether a command came inline', () => {
    const parser = new RespParser({ maxBulkBytes: 1024, maxMultibulk: 8, maxQueryBytes: 4096 });
    parser.push(B('GET / HTTP/1.1\r\n*2\r\n$3\r\nGET\r\n$8\r\nHTTP/1.1\r\n'));
    parser.next();
    expect(parser.lastInline).toBe(true);
    parser.next();
    expect(parser.lastInline).toBe(false);
  });
});

describe('input budget', () => {
  test('growth past the limit is refused and changes nothing; shrinking always works', () => {
    const budget = new InputBudget(100);
    expect(budget.move(0, 60)).toBe(true);
    expect(budget.move(0, 50)).toBe(false);
    expect(budget.used).toBe(60);
    expect(budget.move(0, 40)).toBe(true);
    expect(budget.used).toBe(100);
    expect(budget.move(60, 61)).toBe(false);
    expect(budget.move(60, 10)).toBe(true);
    expect(budget.move(40, 0)).toBe(true);
    expect(budget.move(10, 0)).toBe(true);
    expect(budget.used).toBe(0);
  });
});

describe('sweep', () => {
  const limits = { ...GUARD_DEFAULTS, idleTimeoutMs: 1000, requestTimeoutMs: 300 };

  test('an incomplete request held past its bound, then idleness without work in flight', () => {
    expect(sweepVerdict(10_000, { lastActive: 9_900, partialSince: 9_700, busy: false }, limits)).toBe('request_timeout');
    expect(sweepVerdict(10_000, { lastActive: 9_900, partialSince: 9_701, busy: true }, limits)).toBe('keep');
    expect(sweepVerdict(10_000, { lastActive: 9_000, partialSince: 0, busy: false }, limits)).toBe('idle');
    expect(sweepVerdict(10_000, { lastActive: 9_000, partialSince: 0, busy: true }, limits)).toBe('keep');
    expect(sweepVerdict(10_000, { lastActive: 9_001, partialSince: 0, busy: false }, limits)).toBe('keep');
  });

  test('a bound of 0 is off', () => {
    const off = { ...limits, idleTimeoutMs: 0, requestTimeoutMs: 0 };
    expect(sweepVerdict(1e12, { lastActive: 1, partialSince: 1, busy: false }, off)).toBe('keep');
    expect(sweepPeriodMs(off)).toBe(0);
  });

  test('one period: a quarter of the shorter timeout, within 10 ms - 1 s', () => {
    expect(sweepPeriodMs(limits)).toBe(75);
    expect(sweepPeriodMs(GUARD_DEFAULTS)).toBe(1000);
    expect(sweepPeriodMs({ ...limits, requestTimeoutMs: 0 })).toBe(250);
    expect(sweepPeriodMs({ ...limits, requestTimeoutMs: 1 })).toBe(10);
  });

  test('defaults fill the guards left out, and keep the ones given (0 included)', () => {
    const base = { maxBulkBytes: 1, maxMultibulk: 1, maxQueryBytes: 1, maxInFlight: 1, maxBufferedBytes: 1 };
    expect(resolveGuards(base)).toMatchObject({ maxClients: 10_000, idleTimeoutMs: 300_000, requestTimeoutMs: 10_000, inputBudgetBytes: 256 * 1024 ** 2 });
    expect(resolveGuards({ ...base, idleTimeoutMs: 0, maxClients: 2 })).toMatchObject({ idleTimeoutMs: 0, maxClients: 2 });
  });
});
