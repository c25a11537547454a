import net from 'node:net';
import { CollCmd, COLL_CMDS, EntryType } from '../../shared/collections';
import { COLL, COLL_WRITE, SCAN, TYPE } from '../../shared/ops';
import { Op, Status } from '../../shared/protocol';
import { slotOf } from '../../shared/slot';
import { ProxyError } from '../../proxy/errors';
import { accessLevelOf, FRONT_OPS, type Command } from '../../proxy/front/commands';
import { collReply, outcomeReply } from '../../proxy/front/http-replies';
import { toCommand, type HttpRequestParts } from '../../proxy/front/http-requests';
import { mediaTypeRefusal } from '../../proxy/front/http-guards';
import { httpStatusOf } from '../../proxy/front/http-status';
import { asList, asMap, asPairs, asSet, hashScanItems, setScanItems } from '../../proxy/front/resp/coll';
import { respErrorLine, RespCommandError } from '../../proxy/front/resp/errors';
import { resp3Nulls } from '../../proxy/front/resp/reply';
import { collScanArgs } from '../../proxy/front/resp/scan-args';
import { decodeMessage, resultOf } from '../../proxy/front/ws-protocol';
import { packr } from '../../shared/msgpack';
import { argCountText, checkColl, collMessage, collWriteMessage, parseColl, parseCollWrite, parseType, typeMessage } from '../../proxy/routing/coll-messages';
import { scanMessage } from '../../proxy/routing/messages';
import { errorFromReply } from '../../proxy/routing/status';
import { startFakeRespServer, type FakeRespServer } from '../helpers/fake-resp';
import type { RespLimits } from '../../proxy/front/resp/context';

/**
 * The proxy's side of hashes and sets, without a cluster: the messages and their parsers, the
 * common checks, the error mapping, each front's request and reply forms, and the RESP commands'
 * own checks (Redis's words, before anything is sent) over a fake data plane that records what
 * would go to the node. test/integration/resp-hashes and resp-sets run them on real nodes.
 */

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const bufs = (...s: string[]): Buffer[] => s.map(B);
const thrown = (fn: () => unknown): unknown => {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
};

describe('messages', () => {
  test('COLL and COLL_WRITE frames by the op table; keys only when given', () => {
    const read = collMessage('ns', 'h', CollCmd.HGET, bufs('f'));
    expect(read).toEqual([0, Op.COLL, 'ns', 'h', CollCmd.HGET, bufs('f')]);
    expect(read[COLL.at.cmd]).toBe(CollCmd.HGET);
    const multi = collMessage('ns', '{t}a', CollCmd.SINTER, [], ['{t}b']);
    expect(multi[COLL.at.keys]).toEqual(['{t}b']);
    const write = collWriteMessage(7, 'ns', 'h', CollCmd.HSET, bufs('f', 'v'), 5000);
    expect(write).toEqual([0, Op.COLL_WRITE, 7, 'ns', 'h', CollCmd.HSET, bufs('f', 'v'), 5000]);
    expect(write[COLL_WRITE.at.ttlMsOnCreate]).toBe(5000);
    expect(typeMessage('ns', 'k')).toEqual([0, Op.TYPE, 'ns', 'k']);
    expect(scanMessage('ns', 3, 10)).toEqual([0, Op.SCAN, 'ns', 3, 10]);
    expect(scanMessage('ns', 3, 10, EntryType.HASH)[SCAN.at.type]).toBe(EntryType.HASH);
  });

  test('replies: bytes become Buffers, shapes are checked, version read', () => {
    const u8 = new Uint8Array([104, 105]);
    const list = parseColl([1, Status.OK, [u8, null, 3]]) as unknown[];
    expect(Buffer.isBuffer(list[0])).toBe(true);
    expect(list).toEqual([B('hi'), null, 3]);
    expect(parseColl([1, Status.OK, 5n])).toBe(5n);
    expect(parseColl([1, Status.OK, null])).toBeNull();
    expect(parseCollWrite([1, Status.OK, 2, 9])).toEqual({ reply: 2, version: 9 });
    expect((thrown(() => parseColl([1, Status.OK, { a: 1 }])) as ProxyError).code).toBe('INTERNAL');
    expect((thrown(() => parseColl([1, Status.OK, [[1]]])) as ProxyError).code).toBe('INTERNAL');
    expect(parseType([1, Status.OK, 'hash'])).toBe('hash');
    expect((thrown(() => parseType([1, Status.OK, 'list'])) as ProxyError).code).toBe('INTERNAL');
    expect(TYPE.reply.type).toBe(2);
  });

  test('WRONG_TYPE from a node is the proxy code WRONG_TYPE: -WRONGTYPE on RESP, 409 on HTTP, the code on WebSocket', () => {
    const err = thrown(() => parseColl([1, Status.WRONG_TYPE, 'Operation against a key holding the wrong kind of value'], 'n1')) as ProxyError;
    expect([err.code, err.message]).toEqual(['WRONG_TYPE', 'Operation against a key holding the wrong kind of value']);
    expect(errorFromReply([1, Status.WRONG_TYPE, 'x']).code).toBe('WRONG_TYPE');
    expect(respErrorLine({ code: 'WRONG_TYPE', message: 'anything' })).toBe('WRONGTYPE Operation against a key holding the wrong kind of value');
    expect(httpStatusOf('WRONG_TYPE')).toBe(409);
    // A node's BAD_REQUEST (Redis's text) passes as -ERR <text>.
    expect(respErrorLine(errorFromReply([1, Status.BAD_REQUEST, 'hash value is not an integer']))).toBe('ERR hash value is not an integer');
  });
});

describe('checkColl', () => {
  const bad = (fn: () => unknown): string => {
    const err = thrown(fn) as ProxyError;
    expect(err.code).toBe('BAD_REQUEST');
    return err.message;
  };

  test('rows and counts', () => {
    expect(checkColl('ns', 'h', CollCmd.HSET, bufs('f', 'v', 'g', 'w'), undefined).name).toBe('HSET');
    expect(bad(() => checkColl('ns', 'h', CollCmd.HSET, bufs('f', 'v', 'g'), undefined))).toBe('HSET takes 2, 4, 6 ... arguments after the key (got 3)');
    expect(bad(() => checkColl('ns', 'h', CollCmd.HGET, [], undefined))).toBe('HGET takes 1 argument after the key (got 0)');
    expect(bad(() => checkColl('ns', 'h', CollCmd.HRANDFIELD, bufs('1', 'WITHVALUES', 'x'), undefined))).toBe('HRANDFIELD takes 0 to 2 arguments after the key (got 3)');
    expect(bad(() => checkColl('ns', 'h', 99, [], undefined))).toBe('unknown hash or set command');
    expect(bad(() => checkColl('ns', 'h', CollCmd.HGET, ['f'], undefined))).toContain('must be a list of strings or bytes');
    expect(argCountText(COLL_CMDS.get(CollCmd.SADD)!)).toBe('1 or more arguments');
  });

  test('keys: only SINTER / SUNION / SDIFF, every one in the first key\'s slot', () => {
    expect(checkColl('ns', '{u}a', CollCmd.SINTER, [], ['{u}b', '{u}c']).multiKey).toBe(true);
    expect(checkColl('ns', 'a', CollCmd.SUNION, [], undefined).name).toBe('SUNION');
    expect(bad(() => checkColl('ns', 'a', CollCmd.SMEMBERS, [], ['b']))).toBe('SMEMBERS takes no other keys');
    let other = 'b';
    for (let i = 0; slotOf('ns', other) === slotOf('ns', 'a'); i++) other = `b${i}`;
    const cross = thrown(() => checkColl('ns', 'a', CollCmd.SDIFF, [], [other])) as ProxyError;
    expect([cross.code, cross.message, cross.detail?.crossSlot]).toEqual(['BAD_REQUEST', "Keys in request don't hash to the same slot", true]);
    expect(bad(() => checkColl('ns', 'a', CollCmd.SDIFF, [], ['']))).toContain('key');
  });
});

test('FRONT_OPS: a hash or set command needs read or write by its row, one token per key', () => {
  const cmd = (c: number, keys?: string[]): Command => ({ op: 'coll', ns: 'ns', key: 'k', cmd: c as never, args: [], keys });
  expect(accessLevelOf(cmd(CollCmd.HSET))).toBe('write');
  expect(accessLevelOf(cmd(CollCmd.SPOP))).toBe('write');
  expect(accessLevelOf(cmd(CollCmd.HGETALL))).toBe('read');
  expect(accessLevelOf(cmd(CollCmd.SRANDMEMBER))).toBe('read');
  expect(FRONT_OPS.coll.tokens(cmd(CollCmd.SINTER, ['a', 'b']) as Extract<Command, { op: 'coll' }>)).toBe(3);
  expect(FRONT_OPS.exists.tokens({ op: 'exists', ns: 'ns', keys: ['a', 'b'] })).toBe(2);
});

describe('RESP encoders', () => {
  const flat = bufs('f1', 'v1', 'f2', 'v2');
  test('HGETALL: a flat array in RESP2, a map in RESP3', () => {
    expect(asMap(flat, 2).toString()).toBe('*4\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n');
    expect(asMap(flat, 3).toString()).toBe('%2\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n');
    expect(asMap([], 3).toString()).toBe('%0\r\n');
    expect(() => asMap(bufs('f1'), 3)).toThrow();
  });
  test('sets are ~ in RESP3; lists mix bulks, integers and nulls; pairs nest in RESP3', () => {
    expect(asSet(bufs('a', 'b'), 3).toString()).toBe('~2\r\n$1\r\na\r\n$1\r\nb\r\n');
    expect(asSet(bufs('a'), 2).toString()).toBe('*1\r\n$1\r\na\r\n');
    expect(asSet([], 3).toString()).toBe('~0\r\n');
    expect(asList([1, 0, 1], 2).toString()).toBe('*3\r\n:1\r\n:0\r\n:1\r\n');
    expect(asList([B('x'), null], 2).toString()).toBe('*2\r\n$1\r\nx\r\n$-1\r\n');
    expect(resp3Nulls(asList([B('x'), null], 3)).toString()).toBe('*2\r\n$1\r\nx\r\n_\r\n');
    expect(asPairs(flat, 3).toString()).toBe('*2\r\n*2\r\n$2\r\nf1\r\n$2\r\nv1\r\n*2\r\n$2\r\nf2\r\n$2\r\nv2\r\n');
    expect(asPairs(flat, 2)).toEqual(asMap(flat, 2));
    expect(() => asList(B('x'), 2)).toThrow();
  });
  test('HSCAN / SSCAN items: MATCH on fields or members, NOVALUES', () => {
    const a = collScanArgs(bufs('HSCAN', 'h', '0', 'MATCH', 'f1*', 'COUNT', '5'), true);
    expect(hashScanItems(flat, a.match, false)).toEqual(bufs('f1', 'v1'));
    expect(hashScanItems(flat, undefined, true)).toEqual(bufs('f1', 'f2'));
    const s = collScanArgs(bufs('SSCAN', 's', '7', 'match', '?b'), false);
    expect(setScanItems(bufs('ab', 'b', 'cb'), s.match)).toEqual(bufs('ab', 'cb'));
  });
  test('HSCAN / SSCAN options, as Redis reads them', () => {
    const line = (...a: string[]): string => (thrown(() => collScanArgs(bufs(...a), a[0] === 'HSCAN')) as RespCommandError).line;
    expect(line('HSCAN', 'h', 'abc')).toBe('ERR invalid cursor');
    expect(line('HSCAN', 'h', '0', 'COUNT', '0')).toBe('ERR syntax error');
    expect(line('HSCAN', 'h', '0', 'COUNT', 'x')).toBe('ERR value is not an integer or out of range');
    expect(line('HSCAN', 'h', '0', 'MATCH')).toBe('ERR syntax error');
    expect(line('HSCAN', 'h', '0', 'TYPE', 'string')).toBe('ERR syntax error');
    expect(line('SSCAN', 's', '0', 'NOVALUES')).toBe('ERR syntax error');
    expect(collScanArgs(bufs('HSCAN', 'h', '0', 'novalues'), true)).toEqual({ match: undefined, noValues: true });
    expect(collScanArgs(bufs('HSCAN', 'h', '0', 'MATCH', '*'), true).match).toBeUndefined();
  });
});

describe('HTTP: POST /v1/cache/command', () => {
  const parts = (body: unknown): HttpRequestParts => ({ route: 'command', query: '', contentType: 'application/json', body: Buffer.from(JSON.stringify(body)) });
  test('the body becomes a coll command; names any case; numbers as their text; base64 args', () => {
    expect(toCommand(parts({ namespace: 'ns', key: 'h', command: 'hset', args: ['f', 5, 'v'] }))).toEqual({
      op: 'coll', ns: 'ns', key: 'h', cmd: CollCmd.HSET, args: bufs('f', '5', 'v'), keys: undefined, pref: undefined,
    });
    expect(toCommand(parts({ namespace: 'ns', key: 'a', command: 'SINTER', keys: ['b'], readPreference: 'replica' }))).toMatchObject({ args: [], keys: ['b'], pref: 'replica' });
    expect(toCommand(parts({ namespace: 'ns', key: 'h', command: 'HGET', args: ['/w=='], encoding: 'base64' }))).toMatchObject({ args: [Buffer.from([0xff])] });
  });
  test('bad bodies are BAD_REQUEST naming the field', () => {
    const message = (body: unknown): string => (thrown(() => toCommand(parts(body))) as ProxyError).message;
    expect(message({ namespace: 'ns', key: 'h', command: 'LPUSH' })).toContain('command must be one of HSET');
    expect(message({ namespace: 'ns', key: 'h', command: 'HGET', args: [{}] })).toContain('args[0]');
    expect(message({ namespace: 'ns', key: 'h', command: 'HGET', args: ['!'], encoding: 'base64' })).toContain('args[0] is not base64');
    expect(message({ namespace: 'ns', key: 'h', command: 'HGET', encoding: 'hex' })).toContain('encoding must be "base64"');
    expect(message({ namespace: 'ns', key: 'h', command: 'HGET', field: 'f' })).toContain('unknown field "field"');
    expect(mediaTypeRefusal('command', 'text/plain')?.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });
  test('replies: integers, null, lists; bytes as text, or all base64 when any is not UTF-8', () => {
    expect(JSON.parse(collReply(3).body as string)).toEqual({ reply: 3 });
    expect(JSON.parse(collReply(2n ** 60n).body as string)).toEqual({ reply: '1152921504606846976' });
    expect(JSON.parse(collReply(null).body as string)).toEqual({ reply: null });
    expect(JSON.parse(collReply([B('a'), null, 1]).body as string)).toEqual({ reply: ['a', null, 1] });
    expect(JSON.parse(collReply([Buffer.from('é'), Buffer.from([0xff])]).body as string)).toEqual({ reply: ['w6k=', '/w=='], encoding: 'base64' });
    const reply = outcomeReply({ op: 'coll', reply: B('v'), version: 3 }, { acceptsBinary: false, now: 0, errorOf: () => ({ code: 'INTERNAL', message: '' }) });
    expect([reply.status, JSON.parse(reply.body as string)]).toEqual([200, { reply: 'v' }]);
  });
});

describe('WebSocket: op coll', () => {
  const req = (...r: unknown[]) => decodeMessage(packr.pack(r))[0];
  test('[id, coll, ns, key, command, args?, keys?, readPreference?]', () => {
    expect(req(1, 'coll', 'ns', 'h', 'HSET', ['f', new Uint8Array([1, 2])])).toEqual({
      ok: true, id: 1, command: { op: 'coll', ns: 'ns', key: 'h', cmd: CollCmd.HSET, args: [B('f'), Buffer.from([1, 2])], keys: undefined, pref: undefined },
    });
    expect(req(2, 'coll', 'ns', 'a', 'sunion', undefined, ['b'], 'replica')).toMatchObject({ ok: true, command: { cmd: CollCmd.SUNION, args: [], keys: ['b'], pref: 'replica' } });
    expect(req(3, 'coll', 'ns', 'h', 'NOPE')).toMatchObject({ ok: false, id: 3, error: { code: 'BAD_REQUEST' } });
    expect(req(4, 'coll', 'ns', 'h', 'HGET', 'f')).toMatchObject({ ok: false, id: 4, error: { code: 'BAD_REQUEST' } });
  });
  test('the reply is the node\'s, as is', () => {
    expect(resultOf({ op: 'coll', reply: [B('a'), 1, null], version: 0 }, 0, () => ({ code: 'INTERNAL', message: '' }))).toEqual([[B('a'), 1, null]]);
  });
});

describe('RESP commands over a fake data plane', () => {
  const LIMITS: RespLimits = { maxBulkBytes: 1024 * 1024, maxMultibulk: 1024, maxQueryBytes: 4 * 1024 * 1024, maxInFlight: 100, maxBufferedBytes: 256 * 1024 };
  let fake: FakeRespServer;
  let socket: net.Socket;
  let received = '';
  const cmd = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  /** Sends one command and resolves with the reply once it has `bytes` of it. */
  async function send(args: string[], expected: string): Promise<string> {
    received = '';
    socket.write(cmd(...args));
    const deadline = Date.now() + 3000;
    while (received.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    return received;
  }
  const expectReply = async (args: string[], expected: string): Promise<void> => expect([args.join(' '), await send(args, expected)]).toEqual([args.join(' '), expected]);

  beforeAll(async () => {
    fake = await startFakeRespServer(LIMITS);
    socket = net.connect(fake.server.port, '127.0.0.1');
    socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
    await new Promise((r) => socket.once('connect', r));
  });
  afterAll(async () => {
    socket.destroy();
    await fake.server.close();
  });

  test("Redis's arity and argument errors, before anything reaches the data plane", async () => {
    fake.backend.collAnswer = () => 1;
    const before = fake.backend.colls.length;
    const errors: Array<[string[], string]> = [
      [['HSET', 'h', 'f'], "-ERR wrong number of arguments for 'hset' command\r\n"],
      [['HSET', 'h', 'f', 'v', 'g'], "-ERR wrong number of arguments for 'hset' command\r\n"],
      [['HMSET', 'h', 'f'], "-ERR wrong number of arguments for 'hmset' command\r\n"],
      [['HGET', 'h'], "-ERR wrong number of arguments for 'hget' command\r\n"],
      [['HGETALL'], "-ERR wrong number of arguments for 'hgetall' command\r\n"],
      [['SINTER'], "-ERR wrong number of arguments for 'sinter' command\r\n"],
      [['SADD', 's'], "-ERR wrong number of arguments for 'sadd' command\r\n"],
      [['HINCRBY', 'h', 'f', 'x'], '-ERR value is not an integer or out of range\r\n'],
      [['HINCRBYFLOAT', 'h', 'f', 'x'], '-ERR value is not a valid float\r\n'],
      [['HINCRBYFLOAT', 'h', 'f', 'nan'], '-ERR value is not a valid float\r\n'],
      [['HINCRBYFLOAT', 'h', 'f', '-inf'], '-ERR value is NaN or Infinity\r\n'],
      [['HRANDFIELD', 'h', 'x'], '-ERR value is not an integer or out of range\r\n'],
      [['HRANDFIELD', 'h', '-9223372036854775808'], '-ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807\r\n'],
      [['HRANDFIELD', 'h', '1', 'x'], '-ERR syntax error\r\n'],
      [['HRANDFIELD', 'h', '1', 'WITHVALUES', 'x'], '-ERR syntax error\r\n'],
      [['HRANDFIELD', 'h', '4611686018427387904', 'WITHVALUES'], '-ERR value is out of range\r\n'],
      [['HRANDFIELD', 'h', '-4611686018427387904', 'withvalues'], '-ERR value is out of range\r\n'],
      [['SPOP', 's', 'abc'], '-ERR value is out of range, must be positive\r\n'],
      [['SPOP', 's', '-1'], '-ERR value is out of range, must be positive\r\n'],
      [['SPOP', 's', '1', '2'], '-ERR syntax error\r\n'],
      [['SRANDMEMBER', 's', 'abc'], '-ERR value is not an integer or out of range\r\n'],
      [['SRANDMEMBER', 's', '1', '2'], '-ERR syntax error\r\n'],
      [['HSCAN', 'h', 'x'], '-ERR invalid cursor\r\n'],
      [['SSCAN', 's', '0', 'NOVALUES'], '-ERR syntax error\r\n'],
    ];
    for (const [args, line] of errors) await expectReply(args, line);
    let other = 'b';
    for (let i = 0; slotOf('default', other) === slotOf('default', 'a'); i++) other = `b${i}`;
    await expectReply(['SUNION', 'a', other], "-CROSSSLOT Keys in request don't hash to the same slot\r\n");
    expect(fake.backend.colls.length).toBe(before);
  });

  test('what goes to the data plane: the args after the key, WITHVALUES spelt out, the other keys of SINTER', async () => {
    fake.backend.collAnswer = () => [];
    const sent = (): Extract<Command, { op: 'coll' }> => fake.backend.colls[fake.backend.colls.length - 1];
    await expectReply(['HRANDFIELD', 'h', '-2', 'withvalues'], '*0\r\n');
    expect([sent().cmd, sent().args]).toEqual([CollCmd.HRANDFIELD, bufs('-2', 'WITHVALUES')]);
    await expectReply(['SINTER', '{t}a', '{t}b', '{t}c'], '*0\r\n');
    expect([sent().key, sent().cmd, sent().args, sent().keys]).toEqual(['{t}a', CollCmd.SINTER, [], ['{t}b', '{t}c']]);
    fake.backend.collAnswer = () => 2;
    await expectReply(['HMSET', 'h', 'f', 'v', 'g', 'w'], '+OK\r\n');
    expect([sent().cmd, sent().args]).toEqual([CollCmd.HSET, bufs('f', 'v', 'g', 'w')]);
    fake.backend.collAnswer = () => bufs('f1', 'v1', 'x', 'y');
    await expectReply(['HSCAN', 'h', '0', 'MATCH', 'f*'], '*2\r\n$1\r\n0\r\n*2\r\n$2\r\nf1\r\n$2\r\nv1\r\n');
    expect(sent().cmd).toBe(CollCmd.HGETALL);
    await expectReply(['HSCAN', 'h', '0', 'NOVALUES'], '*2\r\n$1\r\n0\r\n*2\r\n$2\r\nf1\r\n$1\r\nx\r\n');
    // A node error passes through the error table.
    await expectReply(['HGET', 'fail:WRONG_TYPE', 'f'], '-WRONGTYPE Operation against a key holding the wrong kind of value\r\n');
  });

  test('RESP3 after HELLO 3: HGETALL a map, SMEMBERS a set, HRANDFIELD WITHVALUES pairs, nil as _', async () => {
    await send(['HELLO', '3'], '%');
    await new Promise((r) => setTimeout(r, 50));
    fake.backend.collAnswer = () => bufs('f', 'v');
    await expectReply(['HGETALL', 'h'], '%1\r\n$1\r\nf\r\n$1\r\nv\r\n');
    await expectReply(['SMEMBERS', 's'], '~2\r\n$1\r\nf\r\n$1\r\nv\r\n');
    await expectReply(['HRANDFIELD', 'h', '1', 'WITHVALUES'], '*1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n');
    await expectReply(['HKEYS', 'h'], '*2\r\n$1\r\nf\r\n$1\r\nv\r\n');
    fake.backend.collAnswer = () => null;
    await expectReply(['HGET', 'h', 'f'], '_\r\n');
    await send(['HELLO', '2'], '*');
    await new Promise((r) => setTimeout(r, 50));
  });
});
