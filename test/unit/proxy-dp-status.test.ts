import { Op, Status } from '../../shared/protocol';
import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { errorFromReply, isRedirect, STATUS_TO_CODE } from '../../proxy/routing/status';
import { httpStatusOf } from '../../proxy/front/http-status';
import { parseFlag, parseGet, parseIncr, parseMget, parseSet, setMessage } from '../../proxy/routing/messages';
import { thrownBy } from '../helpers/thrown';

describe('node status → proxy error (one table)', () => {
  test.each([
    [Status.VERSION_CONFLICT, 'VERSION_CONFLICT'],
    [Status.TOO_LARGE, 'TOO_LARGE'],
    [Status.OVER_QUOTA, 'OVER_QUOTA'],
    [Status.NOT_INTEGER, 'NOT_INTEGER'],
    [Status.OVERFLOW, 'OVERFLOW'],
    [Status.OUT_OF_MEMORY, 'OUT_OF_MEMORY'],
    [Status.BAD_REQUEST, 'BAD_REQUEST'],
    [Status.BUSY, 'NODE_UNAVAILABLE'],
    [Status.NOT_PRIMARY, 'UNAVAILABLE'],
    [Status.PROTOCOL_ERROR, 'INTERNAL'],
    [Status.UNKNOWN_OP, 'INTERNAL'],
    [Status.INTERNAL, 'INTERNAL'],
    [Status.WRITE_ACK_TIMEOUT, 'WRITE_ACK_TIMEOUT'],
    [99, 'INTERNAL'],
  ])('status %i → %s', (status, code) => {
    const err = errorFromReply([1, status, 'why'], 'n1');
    expect(err).toBeInstanceOf(ProxyError);
    expect(err.code).toBe(code);
    expect(err.detail).toMatchObject({ nodeId: 'n1' });
  });

  test('WRITE_ACK_TIMEOUT keeps the offset the write waited for; HTTP 504', () => {
    const err = errorFromReply([1, Status.WRITE_ACK_TIMEOUT, 'no replica', 1234], 'n1');
    expect(err.detail).toMatchObject({ offset: 1234 });
    expect(httpStatusOf('WRITE_ACK_TIMEOUT')).toBe(504);
  });

  test('every code in the table is a ProxyErrorCode', () => {
    for (const code of Object.values(STATUS_TO_CODE)) expect(Object.values(ProxyErrorCode)).toContain(code);
  });

  test('structured detail: VERSION_CONFLICT carries currentVersion, TOO_LARGE size and limit', () => {
    expect(errorFromReply([1, Status.VERSION_CONFLICT, 'version is 9, expected 3', 9]).detail).toMatchObject({ currentVersion: 9, nodeStatus: 'VERSION_CONFLICT' });
    expect(errorFromReply([1, Status.TOO_LARGE, 'too big', 2000, 1024]).detail).toMatchObject({ size: 2000, limit: 1024 });
  });

  test('redirect statuses', () => {
    expect([Status.NOT_PRIMARY, Status.MOVED, Status.ASK].every(isRedirect)).toBe(true);
    expect([Status.OK, Status.MISS, Status.BUSY].some(isRedirect)).toBe(false);
  });
});

describe('reply parsers', () => {
  test('GET: hit, miss, error', () => {
    expect(parseGet([1, Status.OK, Buffer.from('v'), 3, 0, 1])).toEqual({ hit: true, value: Buffer.from('v'), version: 3, expiresAt: 0, flags: 1 });
    expect(parseGet([1, Status.MISS])).toEqual({ hit: false });
    expect(thrownBy(() => parseGet([1, Status.INTERNAL, 'x']), ProxyError).code).toBe('INTERNAL');
  });

  test('SET: written, not stored (NX/XX), conflict', () => {
    expect(parseSet([1, Status.OK, 4, 123])).toEqual({ version: 4, expiresAt: 123 });
    expect(parseSet([1, Status.NOT_STORED])).toBeUndefined();
    const err = thrownBy(() => parseSet([1, Status.VERSION_CONFLICT, 'version is 5, expected 4', 5]), ProxyError);
    expect([err.code, err.detail?.currentVersion]).toEqual(['VERSION_CONFLICT', 5]);
  });

  test('DELETE / EXPIRE flags, INCR values, MGET entry count', () => {
    expect(parseFlag([1, Status.OK, 1])).toBe(true);
    expect(parseFlag([1, Status.OK, 0])).toBe(false);
    expect(parseIncr([1, Status.OK, 2n ** 60n, 8])).toEqual({ value: 2n ** 60n, version: 8 });
    expect(thrownBy(() => parseIncr([1, Status.NOT_INTEGER, 'not an integer']), ProxyError).code).toBe('NOT_INTEGER');
    expect(parseMget([1, Status.OK, [null, null]], 2)).toEqual([null, null]);
    expect(thrownBy(() => parseMget([1, Status.OK, [null]], 2), ProxyError).code).toBe('INTERNAL');
  });

  test('SET message layout matches the protocol', () => {
    const m = setMessage(7, 'ns', 'k', { value: Buffer.from('v'), ttlMs: 100, flags: 2, cond: 1, ifVersion: 3, tags: ['t'] });
    expect(m).toEqual([0, Op.SET, 7, 'ns', 'k', Buffer.from('v'), 100, 2, 1, 3, ['t']]);
  });
});
