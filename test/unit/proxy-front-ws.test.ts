import { MgetResults } from '../../proxy/routing/mget';
import { Packr, Unpackr } from 'msgpackr';
import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { decodeMessage, encodeError, encodeOk, MAX_BATCH_REQUESTS, resultOf, WS_OPS } from '../../proxy/front/ws-protocol';
import { ValueFlag } from '../../proxy/front/values';
import { toWireError } from '../../proxy/front/wire-error';
import { flushReplies, MAX_BATCH_REPLY_BYTES, type WsConnection } from '../../proxy/front/ws';
import { MsgpackWriter } from '../../proxy/msgpack-writer';
import { batchOf, decodeReplies, encodeRequest, itemFrom, type Reply } from '../../client/protocol';

const packr = new Packr({ useRecords: false, useBigInt64: true } as ConstructorParameters<typeof Packr>[0]);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto' } as unknown as ConstructorParameters<typeof Unpackr>[0]);
/** The one outcome of a message that carries one request (or one bad value). */
function decodeRequest(bytes: Uint8Array) {
  const decoded = decodeMessage(bytes);
  expect(decoded).toHaveLength(1);
  return decoded[0];
}
const req = (...message: unknown[]) => decodeRequest(packr.pack(message));
/** The one reply of a message that carries one. */
function decodeReply(bytes: Uint8Array): Reply {
  const replies = decodeReplies(bytes);
  expect(replies).toHaveLength(1);
  return replies[0];
}
const errorOf = (err: Error) => toWireError(err);

describe('decodeMessage: one request', () => {
  test('the op table', () => {
    expect(WS_OPS).toEqual(['get', 'mget', 'set', 'delete', 'incr', 'expire', 'persist', 'invalidate', 'coll', 'ping']);
    expect(req(1, 'get', 'ns', 'k')).toEqual({ ok: true, id: 1, command: { op: 'get', ns: 'ns', key: 'k', pref: undefined } });
    expect(req(2, 'get', 'ns', 'k', 'replica')).toMatchObject({ command: { pref: 'replica' } });
    expect(req(3, 'mget', 'ns', ['a', 'b'])).toMatchObject({ ok: true, command: { op: 'mget', keys: ['a', 'b'] } });
    expect(req(4, 'delete', 'ns', 'k')).toMatchObject({ ok: true, command: { op: 'delete' } });
    expect(req(5, 'incr', 'ns', 'k', 2n ** 62n, 1000)).toMatchObject({ ok: true, command: { op: 'incr', delta: 2n ** 62n, ttlMs: 1000 } });
    expect(req(6, 'incr', 'ns', 'k')).toMatchObject({ command: { delta: 1 } });
    expect(req(7, 'expire', 'ns', 'k', 0)).toMatchObject({ ok: true, command: { op: 'expire', ttlMs: 0 } });
    expect(req(8, 'persist', 'ns', 'k')).toEqual({ ok: true, id: 8, command: { op: 'persist', ns: 'ns', key: 'k' } });
    expect(req(8, 'invalidate', 'ns')).toEqual({ ok: true, id: 8, command: { op: 'invalidate', ns: 'ns', tag: undefined } });
    expect(req(9, 'invalidate', 'ns', 't')).toMatchObject({ command: { tag: 't' } });
    expect(req(10, 'ping')).toEqual({ ok: true, id: 10, command: { op: 'ping' } });
  });

  test('set: bin is stored as bytes with its flags, anything else as JSON', () => {
    const bin = req(1, 'set', 'ns', 'k', Buffer.from([1, 2, 3]), { ttlMs: 500, flags: 8, tags: ['t'], ifVersion: 2 });
    expect(bin).toEqual({ ok: true, id: 1, command: { op: 'set', ns: 'ns', key: 'k', value: Buffer.from([1, 2, 3]), flags: 8, ttlMs: 500, ifVersion: 2, tags: ['t'] } });
    expect(req(2, 'set', 'ns', 'k', { a: 'b' })).toMatchObject({ command: { value: Buffer.from('{"a":"b"}'), flags: ValueFlag.JSON } });
    expect(req(3, 'set', 'ns', 'k', 'text')).toMatchObject({ command: { value: Buffer.from('"text"'), flags: ValueFlag.JSON } });
    expect(req(4, 'set', 'ns', 'k', 1, { ttl: 5 })).toMatchObject({ ok: false, id: 4, error: { code: 'BAD_REQUEST', message: expect.stringContaining('unknown set option "ttl"') } });
    expect(req(5, 'set', 'ns', 'k', { n: 2n ** 60n })).toMatchObject({ ok: false, error: { message: expect.stringContaining('64-bit') } });
    expect(req(6, 'set', 'ns', 'k')).toMatchObject({ ok: false, error: { message: expect.stringContaining('value is required') } });
    expect(req(7, 'set', 'ns', 'k', 1, { ttlMs: -5 })).toMatchObject({ ok: false, error: { message: expect.stringContaining('ttlMs') } });
  });

  test('garbage is answered with id 0, bad arguments with the request id', () => {
    expect(decodeRequest(Buffer.from([0xc1]))).toMatchObject({ ok: false, id: 0, error: { code: 'BAD_REQUEST' } });
    expect(decodeRequest(Buffer.from('hello'))).toMatchObject({ ok: false, id: 0 });
    expect(req({ not: 'an array' } as never)).toMatchObject({ ok: false, id: 0 });
    expect(decodeRequest(packr.pack('text'))).toMatchObject({ ok: false, id: 0 });
    expect(req(0, 'get', 'ns', 'k')).toMatchObject({ ok: false, id: 0, error: { message: expect.stringContaining('request id') } });
    expect(req(-1, 'get')).toMatchObject({ ok: false, id: 0 });
    expect(req(1.5, 'get')).toMatchObject({ ok: false, id: 0 });
    expect(req(2 ** 32, 'get')).toMatchObject({ ok: false, id: 0 });
    expect(req(5, 'frobnicate')).toMatchObject({ ok: false, id: 5, error: { message: expect.stringContaining('unknown op "frobnicate"') } });
    expect(req(5, 7)).toMatchObject({ ok: false, id: 5 });
    expect(req(5, '__proto__')).toMatchObject({ ok: false, id: 5 });
    expect(req(6, 'get', 'bad ns!', 'k')).toMatchObject({ ok: false, id: 6, error: { message: expect.stringContaining('namespace') } });
    expect(req(7, 'get', 'ns', 'k'.repeat(2000))).toMatchObject({ ok: false, id: 7, error: { message: expect.stringContaining('limit is 1024') } });
    expect(req(8, 'mget', 'ns', 'notalist')).toMatchObject({ ok: false, id: 8 });
    expect(req(9, 'expire', 'ns', 'k')).toMatchObject({ ok: false, id: 9, error: { message: expect.stringContaining('ttlMs') } });
  });
});

describe('decodeMessage (one request, or a batch back to back)', () => {
  const pack = (...messages: unknown[][]) => Buffer.concat(messages.map((m) => packr.pack(m)));

  test('one request, or several in order, each with its own outcome', () => {
    expect(decodeMessage(packr.pack([1, 'ping']))).toEqual([{ ok: true, id: 1, command: { op: 'ping' } }]);
    const batch = decodeMessage(pack([1, 'get', 'ns', 'a'], [2, 'nope'], [3, 'set', 'ns', 'b', Buffer.from([9])], [4, 'get', 'bad ns', 'k']));
    expect(batch).toMatchObject([
      { ok: true, id: 1, command: { op: 'get', key: 'a' } },
      { ok: false, id: 2, error: { code: 'BAD_REQUEST', message: expect.stringContaining('unknown op') } },
      { ok: true, id: 3, command: { op: 'set', key: 'b', value: Buffer.from([9]) } },
      { ok: false, id: 4, error: { message: expect.stringContaining('namespace') } },
    ]);
  });

  test('garbage after valid requests: those run, then one id-0 error for the rest', () => {
    const cut = decodeMessage(Buffer.concat([pack([1, 'ping'], [2, 'ping']), Buffer.from([0xda, 0xff, 0xff, 0x61])]));
    expect(cut).toMatchObject([{ ok: true, id: 1 }, { ok: true, id: 2 }, { ok: false, id: 0, error: { message: expect.stringContaining('after its first 2 request(s)') } }]);
    const truncated = pack([1, 'ping'], [2, 'get', 'ns', 'key']);
    expect(decodeMessage(truncated.subarray(0, truncated.length - 2))).toMatchObject([{ ok: true, id: 1 }, { ok: false, id: 0 }]);
    // A value that is not a request ends the message: 'hello' is five msgpack integers, one error.
    expect(decodeMessage(Buffer.from('hello'))).toEqual([{ ok: false, id: 0, error: expect.objectContaining({ code: 'BAD_REQUEST' }) }]);
    expect(decodeMessage(pack([1, 'ping'], [0, 'ping'], [3, 'ping']))).toMatchObject([{ ok: true, id: 1 }, { ok: false, id: 0 }]);
    expect(decodeMessage(Buffer.alloc(0))).toMatchObject([{ ok: false, id: 0 }]);
  });

  test(`at most ${MAX_BATCH_REQUESTS} requests per message run; each one past it is refused with its own id`, () => {
    const many = decodeMessage(pack(...Array.from({ length: MAX_BATCH_REQUESTS + 5 }, (_, i) => [i + 1, 'ping'])));
    expect(many).toHaveLength(MAX_BATCH_REQUESTS + 5);
    expect(many.slice(0, MAX_BATCH_REQUESTS).every((d) => d.ok)).toBe(true);
    many.slice(MAX_BATCH_REQUESTS).forEach((d, i) => expect(d).toMatchObject({ ok: false, id: MAX_BATCH_REQUESTS + i + 1, error: { code: 'BAD_REQUEST', message: expect.stringContaining(`at most ${MAX_BATCH_REQUESTS}`) } }));
  });

  test('an op that is not a string is refused with the request id, and the batch goes on', () => {
    const odd = decodeMessage(pack([1, { toString: 1 }], [2, 'ping']));
    expect(odd).toMatchObject([{ ok: false, id: 1, error: { message: expect.stringContaining('of type object') } }, { ok: true, id: 2 }]);
  });

  test('the client codec: batchOf and decodeReplies', () => {
    const requests = [encodeRequest(1, 'ping', []), encodeRequest(2, 'get', ['ns', 'k'])];
    expect(decodeMessage(batchOf(requests))).toMatchObject([{ ok: true, id: 1 }, { ok: true, id: 2, command: { op: 'get' } }]);
    expect(batchOf([requests[0]])).toBe(requests[0]);
    const replies = Buffer.concat([encodeOk(1, ['pong']), encodeError(2, { code: 'TIMEOUT', message: 'late' })]);
    expect(decodeReplies(replies)).toMatchObject([{ id: 1, ok: true, result: ['pong'] }, { id: 2, ok: false, error: { code: 'TIMEOUT' } }]);
    expect(() => decodeReplies(Buffer.concat([encodeOk(1, []), packr.pack('x')]))).toThrow('not a reply');
  });
});

describe('replies', () => {
  test('results of each op, read by the client codec', () => {
    const now = 10_000;
    const hit = { hit: true as const, value: Buffer.from('[1,2]'), version: 3, expiresAt: 12_000, flags: ValueFlag.JSON };
    const decodeOk = (bytes: Buffer) => {
      const reply = decodeReply(bytes);
      if (!reply.ok) throw reply.error;
      return reply.result;
    };
    expect(itemFrom(decodeOk(encodeOk(1, resultOf({ op: 'get', result: hit }, now, errorOf)))[0])).toEqual({ hit: true, value: [1, 2], version: 3, ttlMs: 2000, flags: 1 });
    expect(itemFrom(decodeOk(encodeOk(1, resultOf({ op: 'get', result: { hit: false } }, now, errorOf)))[0])).toEqual({ hit: false });
    const mget = decodeOk(encodeOk(2, resultOf({ op: 'mget', results: MgetResults.of([{ ...hit, flags: 0, expiresAt: 0 }, new ProxyError(ProxyErrorCode.TIMEOUT, 'late')]) }, now, errorOf)))[0] as unknown[];
    expect(itemFrom(mget[0])).toEqual({ hit: true, value: Buffer.from('[1,2]'), version: 3, ttlMs: null, flags: 0 });
    expect(() => itemFrom(mget[1])).toThrow('late');
    expect(decodeOk(encodeOk(3, resultOf({ op: 'incr', value: 2n ** 63n - 1n, version: 4 }, now, errorOf)))).toEqual([2n ** 63n - 1n, 4]);
    expect(decodeOk(encodeOk(4, resultOf({ op: 'set', result: { version: 5, expiresAt: 0 } }, now, errorOf)))).toEqual([5, null]);
    expect(decodeOk(encodeOk(5, resultOf({ op: 'invalidate' }, now, errorOf)))).toEqual([]);
    expect(unpackr.unpack(encodeOk(6, resultOf({ op: 'ping' }, now, errorOf)))).toEqual([6, 'ok', 'pong']);
  });

  test('errors carry code, message and detail', () => {
    expect(unpackr.unpack(encodeError(7, { code: 'VERSION_CONFLICT', message: 'm', detail: { currentVersion: 2 } }))).toEqual([7, 'error', 'VERSION_CONFLICT', 'm', { currentVersion: 2 }]);
    const reply = decodeReply(encodeError(0, { code: 'BAD_REQUEST', message: 'garbage' }));
    expect(reply).toMatchObject({ id: 0, ok: false, error: { code: 'BAD_REQUEST', message: 'garbage' } });
  });

  test('client requests decode on the proxy side', () => {
    expect(decodeRequest(encodeRequest(42, 'set', ['ns', 'k', { x: 1 }, { ttlMs: 5 }]))).toMatchObject({ ok: true, id: 42, command: { op: 'set', ttlMs: 5, flags: 1 } });
  });
});

describe('flushReplies (a turn of replies onto one connection)', () => {
  /** A connection holding `sizes` replies (each an ok reply carrying that many bytes), and a fake socket that records messages. */
  function turn(sizes: number[], batched: boolean) {
    const conn: WsConnection = { open: true, principal: undefined, batched, inFlight: 0, out: new MsgpackWriter(512), ends: [] };
    sizes.forEach((n, i) => {
      expect(conn.out.append([i + 1, 'ok', Buffer.alloc(n, i)])).toBe(true);
      conn.ends.push(conn.out.size);
    });
    const messages: unknown[][][] = [];
    const ws = {
      cork: (cb: () => void) => cb(),
      send: (bytes: Uint8Array) => messages.push(unpackr.unpackMultiple(Buffer.from(bytes)) as unknown[][]),
    };
    return { conn, messages, ws: ws as unknown as Parameters<typeof flushReplies>[0] };
  }
  const ids = (messages: unknown[][][]) => messages.map((m) => m.map((r) => r[0]));

  test('one message per reply unless batched; batched messages stop at MAX_BATCH_REPLY_BYTES, a bigger reply goes alone', () => {
    const single = turn([10, 20, 30], false);
    flushReplies(single.ws, single.conn);
    expect(ids(single.messages)).toEqual([[1], [2], [3]]);
    const k = 1024;
    const batched = turn([100 * k, 100 * k, 100 * k, 10, MAX_BATCH_REPLY_BYTES + 1, 10], true);
    flushReplies(batched.ws, batched.conn);
    expect(ids(batched.messages)).toEqual([[1, 2], [3, 4], [5], [6]]);
    expect((batched.messages[2][0][2] as Buffer).length).toBe(MAX_BATCH_REPLY_BYTES + 1);
  });

  test('after a flush the buffer is emptied, and let go when an idle connection grew it', () => {
    const small = turn([10], true);
    const kept = small.conn.out;
    flushReplies(small.ws, small.conn);
    expect(small.conn.ends).toEqual([]);
    expect(small.conn.out).toBe(kept);
    expect(kept.size).toBe(0);
    const big = turn([64 * 1024], true);
    flushReplies(big.ws, big.conn);
    expect(big.conn.out.capacity).toBe(512);
    const busy = turn([64 * 1024], true);
    busy.conn.inFlight = 5;
    const grown = busy.conn.out;
    flushReplies(busy.ws, busy.conn);
    expect(busy.conn.out).toBe(grown);
  });

  test('a connection that closes during the flush gets nothing more', () => {
    const t = turn([10, 10, 10], false);
    const send = (t.ws as unknown as { send: (b: Uint8Array) => void }).send;
    (t.ws as unknown as { send: (b: Uint8Array) => void }).send = (b) => {
      send(b);
      t.conn.open = false; // what uWS's close handler does when a send passes the backpressure limit
    };
    flushReplies(t.ws, t.conn);
    expect(ids(t.messages)).toEqual([[1]]);
  });
});
