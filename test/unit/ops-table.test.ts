import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { OpError } from '../../shared/errors';
import { FRAME_HEADER_BYTES } from '../../shared/frame';
import { packr, unpackPlain } from '../../shared/msgpack';
import { ExpireCond, KEYED_WRITE_OPS, Op, PUSH_ID, SetCond, Status } from '../../shared/protocol';
import {
  buildEntry, buildError, buildPush, buildReply, buildRequest, DELETE, ENTRY, ERROR_REPLY, ERRORS, EXISTS, EXPIRE, FILL, FILL_LEASE, FILL_RELEASE,
  FRAME, GET, INCR, INVALIDATE, INVALIDATION, MOVED_OWNER_AT, MOVED_SLOT_MAP_EPOCH_AT, NOT_PRIMARY_EPOCH_AT, NS_POLICY, OP_BY_CODE, OPS,
  PERSIST, PING, SET, SLOT_STATS, STATS, SUBSCRIBE_INVALIDATIONS, TTL, UNSUBSCRIBE_INVALIDATIONS, WRITE_TARGET, type AnyOpDef, type AnyShape,
} from '../../shared/ops';
import { handle, STANDALONE, type HandlerContext, type SlotGuard } from '../../storage-node/handlers';
import { InvalidationHub } from '../../storage-node/invalidations';
import { ReplyWriter } from '../../storage-node/reply-writer';
import {
  deleteMessage, entryResult, existsMessage, expireMessage, getMessage, incrMessage, invalidateMessage, mgetMessage, parseExists, parseFlag, parseGet,
  parseIncr, parseMget, parseOk, parsePersist, parseSet, parseTtl, persistMessage, pingMessage, setMessage, ttlMessage,
} from '../../proxy/routing/messages';
import { fillMessage, leaseMessage, parseFill, parseLease, parseRelease, releaseMessage } from '../../proxy/readthrough/fill-messages';
import {
  dbsizeMessage, memoryUsageMessage, objectMessage, parseDbsize, parseDbsizeCounts, parseMemoryUsage, parseObject, parseStats, statsMessage,
} from '../../proxy/routing/messages';
import { ENTRY_OVERHEAD } from '../../storage-node/store/keyspace';
import {
  appendMessage, copyMessage, expireAtMessage, incrByFloatMessage, msetnxMessage, parseIncrByFloat, parseLength, parseRename, parseSetGet, renameMessage,
  setGetMessage, setRangeMessage,
} from '../../proxy/routing/string-messages';
import { errorFromReply } from '../../proxy/routing/status';
import { ProxyError } from '../../proxy/errors';
import { makeStore } from './store-helpers';

const ROOT = path.resolve(__dirname, '../..');

/** Sample values by field name, distinct so a swapped position shows; `Op.field` overrides. */
const SAMPLE: Record<string, unknown> = {
  epoch: 7, ns: 'app', key: 'user:1', keys: ['a', 'b'], value: Buffer.from('bytes'), ttlMs: 60_000, flags: 42, cond: SetCond.XX, ifVersion: 11,
  tags: ['t1', 't2'], delta: -5, ttlMsOnCreate: 1500, tag: 'tag-a', policy: { maxItemBytes: 10, eviction: 'lfu' }, leaseTtlMs: 5000, seenVersion: 3,
  token: 99, pong: 'PONG', stats: { keys: 1 }, figures: [1, 2, 3], version: 17, expiresAt: 1_700_000_000_000, resync: true,
  entries: [[Buffer.from('x'), 1, 0, 0], null], deleted: 1, updated: 1, count: 2, entry: [Buffer.from('y'), 5, 6, 7], heldMs: 250, message: 'why',
  released: 1, subscribed: 3, currentVersion: 8, size: 2048, limit: 1024, offset: 777, slot: 1234, ownerShard: 2, slotMapEpoch: 9,
  primaryAddr: '10.0.0.1:7000', next: 5000,
  'INCR.value': 2n ** 60n,
  bytes: 4096,
  expires: 1, encoding: 'embstr', freq: 7, idleSeconds: 12,
  length: 12, old: Buffer.from('before'), stored: 1, at: 1_700_000_060_000, dst: 'user:2', nx: 1, renamed: 1, replace: 1, copied: 1,
  values: [Buffer.from('va'), Buffer.from('vb')], 'INCRBYFLOAT.delta': '-1.5e3', 'INCRBYFLOAT.value': '10.6', 'EXPIREAT.cond': 6,
  timeoutMs: 30_000, remaining: 4, deadLetters: 1, fromRegion: 'eu-west',
  type: 2, touch: 1, 'TYPE.type': 'hash', cmd: 4, args: [Buffer.from('f1'), Buffer.from('f2')], reply: [Buffer.from('v1'), null, 3],
};
const sample = (op: string, name: string): unknown => (`${op}.${name}` in SAMPLE ? SAMPLE[`${op}.${name}`] : SAMPLE[name]);

/** Through the wire: msgpack-encoded and decoded as a node or proxy does. */
const wire = (frame: readonly unknown[]): unknown[] => unpackPlain(packr.pack(frame)) as unknown[];

// Untyped views of the builders, for the loops over every entry (typed calls are below).
const anyRequest = buildRequest as unknown as (op: AnyOpDef, ...fields: unknown[]) => unknown[];
const anyReply = buildReply as unknown as (shape: AnyShape, id: unknown, ...fields: unknown[]) => unknown[];

/** Indexes of a frame's fields: distinct, contiguous from `from`, in the order of `names`. */
function expectContiguous(at: Record<string, number>, names: readonly string[], from: number): void {
  expect(names.map((n) => at[n])).toEqual(names.map((_, i) => from + i));
  expect(Object.keys(at).sort()).toEqual([...names].sort());
}

describe('op table: requests and replies round-trip through msgpack by the table\'s indexes', () => {
  const entries = Object.values(OPS) as AnyOpDef[];

  test.each(entries.map((d) => [d.name, d] as const))('%s request', (name, d) => {
    expect(d.code).toBe(Op[name as keyof typeof Op]);
    expectContiguous(d.at, d.fields, FRAME.firstField);
    const values = d.fields.map((f) => sample(name, f));
    for (const v of values) expect(v).not.toBeUndefined(); // every field has a sample
    const m = wire(anyRequest(d, ...values));
    expect(m).toHaveLength(d.length);
    expect(m[FRAME.id]).toBe(0);
    expect(m[FRAME.op]).toBe(d.code);
    d.fields.forEach((f, i) => expect(m[(d.at as Record<string, number>)[f]]).toEqual(values[i]));
  });

  test.each(entries.flatMap((d) => [['OK', d.ok], ...Object.entries(d.replies)].map(([status, shape]) => [`${d.name} ${status}`, d.name, shape as AnyShape] as const)))(
    '%s reply',
    (_label, name, shape) => {
      expectContiguous(shape.at, shape.fields, FRAME.firstField);
      expect(shape.status).toBe(Status[shape.statusName]);
      const values = shape.fields.map((f) => sample(name, f));
      const r = wire(anyReply(shape, 31, ...values));
      expect(r).toHaveLength(FRAME.firstField + shape.fields.length);
      expect([r[FRAME.id], r[FRAME.status]]).toEqual([31, shape.status]);
      shape.fields.forEach((f, i) => expect(r[(shape.at as Record<string, number>)[f]]).toEqual(values[i]));
    },
  );

  test.each(Object.entries(ERRORS))('%s error reply', (name, shape) => {
    expectContiguous(shape.at, shape.fields, FRAME.firstField);
    expect(shape.status).toBe(Status[name as keyof typeof Status]);
    expect(shape.at.message).toBe(ERROR_REPLY.message);
    const values = shape.fields.map((f) => sample(name, f));
    const r = wire(buildError(5, shape.status, values[0] as string, values.slice(1)));
    expect(r).toEqual(wire(anyReply(shape, 5, ...values)));
    shape.fields.forEach((f, i) => expect(r[(shape.at as Record<string, number>)[f]]).toEqual(values[i]));
    // What the proxy makes of it: message and detail read by the table's indexes.
    const err = errorFromReply(r, 'n1');
    expect(err.detail).toMatchObject({ nodeStatus: name, nodeId: 'n1' });
    expect(err.message).toContain('why');
  });

  test('the push frame and the entry tuple', () => {
    const push = wire(buildPush('app', 'k'));
    expect([push[FRAME.id], push[FRAME.op], push[INVALIDATION.at.ns], push[INVALIDATION.at.key]]).toEqual([PUSH_ID, Op.INVALIDATION, 'app', 'k']);
    expect(wire(buildPush('app', null))[INVALIDATION.at.key]).toBeNull();
    expectContiguous(ENTRY.at, ENTRY.fields, 0);
    const e = wire(buildEntry(Buffer.from('v'), 4, 5, 6));
    expect([e[ENTRY.at.value], e[ENTRY.at.version], e[ENTRY.at.expiresAt], e[ENTRY.at.flags]]).toEqual([Buffer.from('v'), 4, 5, 6]);
    expect(entryResult(e)).toEqual({ hit: true, value: Buffer.from('v'), version: 4, expiresAt: 5, flags: 6 });
  });

  test('positions the code relies on, as plain numbers', () => {
    expect([SET.at.epoch, SET.at.ns, SET.at.key, SET.at.value, SET.at.tags, SET.length]).toEqual([2, 3, 4, 5, 10, 11]);
    expect([GET.at.ns, GET.at.key, GET.reply.value, GET.reply.version, GET.reply.flags, GET.reply.resync, GET.replies.MISS.at.resync]).toEqual([2, 3, 2, 3, 5, 6, 2]);
    expect([MOVED_SLOT_MAP_EPOCH_AT, MOVED_OWNER_AT, NOT_PRIMARY_EPOCH_AT, ERRORS.MOVED.at.slot]).toEqual([5, 4, 3, 3]);
    expect([WRITE_TARGET.epoch, WRITE_TARGET.ns, WRITE_TARGET.key]).toEqual([2, 3, 4]); // where the router stamps a write's epoch
    for (const d of Object.values(OPS) as AnyOpDef[]) for (const at of [d.at, d.reply]) for (const v of Object.values(at)) expect(typeof v).toBe('number');
    expect(OP_BY_CODE.get(Op.SET)).toBe(SET);
  });

  test('KEYED_WRITE_OPS (shared/protocol.ts) is derived from the table: fenced, keyed ops, laid out [id, op, epoch, ns, key]', () => {
    expect([...KEYED_WRITE_OPS].sort((a, b) => a - b)).toEqual(
      [
        Op.SET, Op.DELETE, Op.INCR, Op.EXPIRE, Op.PERSIST, Op.FILL_LEASE, Op.FILL, Op.FILL_RELEASE, Op.APPEND, Op.SETRANGE, Op.SETGET, Op.INCRBYFLOAT,
        Op.EXPIREAT, Op.RENAME, Op.COPY, Op.MSETNX, Op.COLL_WRITE, Op.REGION_INVALIDATE,
      ].sort((a, b) => a - b),
    );
    for (const code of KEYED_WRITE_OPS) {
      const d = OP_BY_CODE.get(code)!;
      expect([d.at.epoch, d.at.ns, d.at.key]).toEqual([WRITE_TARGET.epoch, WRITE_TARGET.ns, WRITE_TARGET.key]);
    }
    expect(INVALIDATE.fenced && !INVALIDATE.keyed).toBe(true);
    expect(GET.fronts).toEqual(['http', 'ws', 'resp']);
    expect(FILL.fronts).toEqual([]);
  });

  test('the layouts summarised in shared/protocol.ts agree with the table', () => {
    const doc = readFileSync(path.join(ROOT, 'shared/protocol.ts'), 'utf8');
    let checked = 0;
    for (const d of Object.values(OPS) as AnyOpDef[]) {
      const line = new RegExp(`^ \\*\\s+${d.name}\\s+\\[id, (?:${d.name}|${d.code})((?:, .*?)?)\\](?=\\s*(?:->|$))`, 'm').exec(doc);
      if (line === null || d.name === 'NS_POLICY') continue;
      const names = line[1].split(', ').slice(1).map((f) => f.replace('[]', '').replace('?', '').split(' ')[0]);
      expect([d.name, names]).toEqual([d.name, d.fields]);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });
});

describe('op table: the node\'s real handler, the proxy\'s real builders and parsers', () => {
  const setup = (options = {}) => {
    const { store, clock } = makeStore(options);
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({ keys: 1 }) };
    return { store, clock, ctx };
  };
  let nextId = 1;

  /** Sends `message` (a proxy builder's, id 0) to the node's `handle()` over msgpack; returns the decoded reply. */
  function call(ctx: HandlerContext, message: unknown[]): unknown[] {
    const id = nextId++;
    message[FRAME.id] = id; // as the proxy's link does
    const out = new ReplyWriter();
    handle(wire(message), ctx, out, (err) => {
      throw err;
    });
    const bytes = out.flush()!;
    const length = bytes.readUInt32BE(0);
    expect(bytes.length).toBe(FRAME_HEADER_BYTES + length);
    const reply = unpackPlain(bytes, FRAME_HEADER_BYTES, bytes.length) as unknown[];
    expect(reply[FRAME.id]).toBe(id);
    return reply;
  }

  test('SET, GET, MGET, INCR, EXPIRE, TTL, PERSIST, EXISTS, DELETE, INVALIDATE, PING', () => {
    const { clock, ctx } = setup();
    const fields = { value: Buffer.from('hello'), ttlMs: 60_000, flags: 5, cond: SetCond.ALWAYS, ifVersion: 0, tags: ['t'] };
    const written = parseSet(call(ctx, setMessage(0, 'app', 'k', fields)))!;
    expect(written).toEqual({ version: expect.any(Number), expiresAt: clock.t + 60_000 });
    expect(parseSet(call(ctx, setMessage(0, 'app', 'k', { ...fields, cond: SetCond.NX })))).toBeUndefined(); // NOT_STORED

    const reply = call(ctx, getMessage('app', 'k'));
    expect(reply).toHaveLength(GET.reply.flags + 1);
    expect(parseGet(reply)).toEqual({ hit: true, value: Buffer.from('hello'), version: written.version, expiresAt: written.expiresAt, flags: 5 });
    expect(parseGet(call(ctx, getMessage('app', 'nope')))).toEqual({ hit: false });

    const entries = parseMget(call(ctx, mgetMessage('app', ['nope', 'k'])), 2) as unknown[] & { stale?: true }; // decoded by msgpackr: an array
    expect(entries.map((e) => entryResult(e))).toEqual([{ hit: false }, { hit: true, value: Buffer.from('hello'), version: written.version, expiresAt: written.expiresAt, flags: 5 }]);
    expect(entries.stale).toBeUndefined();

    expect(parseIncr(call(ctx, incrMessage(0, 'app', 'n', 41, 0)))).toEqual({ value: 41, version: expect.any(Number) });
    expect(parseIncr(call(ctx, incrMessage(0, 'app', 'n', 2n ** 60n, 0))).value).toBe(2n ** 60n + 41n);

    expect(parseFlag(call(ctx, expireMessage(0, 'app', 'k', 30_000)))).toBe(true);
    expect(parseTtl(call(ctx, ttlMessage('app', 'k')))).toBe(30_000);
    expect(parsePersist(call(ctx, persistMessage(0, 'app', 'k')))).toBe(true);
    expect(parsePersist(call(ctx, persistMessage(0, 'app', 'k')))).toBe(false);
    expect(parseTtl(call(ctx, ttlMessage('app', 'k')))).toBe(-1);
    expect(parseTtl(call(ctx, ttlMessage('app', 'nope')))).toBe(-2);
    expect(parseExists(call(ctx, existsMessage('app', ['k', 'k', 'nope'])))).toBe(2);
    expect(parseFlag(call(ctx, deleteMessage(0, 'app', 'k')))).toBe(true);
    expect(parseFlag(call(ctx, deleteMessage(0, 'app', 'k')))).toBe(false);
    expect(parseFlag(call(ctx, expireMessage(0, 'app', 'k', 1000)))).toBe(false);

    parseSet(call(ctx, setMessage(0, 'app', 'tagged', fields)));
    expect(() => parseOk(call(ctx, invalidateMessage(0, 'app', 't')))).not.toThrow();
    expect(parseGet(call(ctx, getMessage('app', 'tagged')))).toEqual({ hit: false });
    expect(() => parseOk(call(ctx, invalidateMessage(0, 'app', undefined)))).not.toThrow();

    const pong = call(ctx, pingMessage());
    expect(() => parseOk(pong)).not.toThrow();
    expect(pong[PING.reply.pong]).toBe('PONG');
  });

  test('APPEND, SETRANGE, SETGET, INCRBYFLOAT, EXPIREAT, RENAME, COPY, MSETNX (the string read-modify-writes)', () => {
    const { clock, ctx } = setup();
    const read = (key: string) => parseGet(call(ctx, getMessage('app', key)));
    expect(parseLength(call(ctx, appendMessage(0, 'app', '{t}a', Buffer.from('Hello'), 0)))).toBe(5);
    expect(parseLength(call(ctx, appendMessage(0, 'app', '{t}a', Buffer.from(' World'), 0)))).toBe(11);
    expect(parseLength(call(ctx, setRangeMessage(0, 'app', '{t}a', 6, Buffer.from('Redis'), 0)))).toBe(11);
    expect(read('{t}a')).toMatchObject({ value: Buffer.from('Hello Redis') });
    expect(parseSetGet(call(ctx, setGetMessage(0, 'app', '{t}a', Buffer.from('new'), 0, SetCond.ALWAYS)))).toEqual({ old: Buffer.from('Hello Redis'), stored: true });
    expect(parseSetGet(call(ctx, setGetMessage(0, 'app', '{t}none', Buffer.from('x'), 0, SetCond.XX)))).toEqual({ old: null, stored: false });
    expect(parseIncrByFloat(call(ctx, incrByFloatMessage(0, 'app', '{t}f', '0.1', 0)))).toBe('0.1');
    expect(parseIncrByFloat(call(ctx, incrByFloatMessage(0, 'app', '{t}f', '0.2', 0)))).toBe('0.3');
    const notFloat = call(ctx, incrByFloatMessage(0, 'app', '{t}a', '1', 0));
    expect([notFloat[FRAME.status], notFloat[ERROR_REPLY.message]]).toEqual([Status.BAD_REQUEST, 'value is not a valid float']);
    expect(parseFlag(call(ctx, expireAtMessage(0, 'app', '{t}a', clock.t + 5000, ExpireCond.NX)))).toBe(true);
    expect(parseFlag(call(ctx, expireAtMessage(0, 'app', '{t}a', clock.t + 1000, ExpireCond.GT)))).toBe(false);
    expect(parseTtl(call(ctx, ttlMessage('app', '{t}a')))).toBe(5000);
    expect(parseRename(call(ctx, renameMessage(0, 'app', '{t}a', '{t}b', false)))).toBe(1);
    expect(parseRename(call(ctx, renameMessage(0, 'app', '{t}a', '{t}b', false)))).toBe(-1); // MISS
    expect(parseTtl(call(ctx, ttlMessage('app', '{t}b')))).toBe(5000);
    expect(parseFlag(call(ctx, copyMessage(0, 'app', '{t}b', '{t}c', false)))).toBe(true);
    expect(parseFlag(call(ctx, copyMessage(0, 'app', '{t}b', '{t}c', false)))).toBe(false);
    expect(parseFlag(call(ctx, msetnxMessage(0, 'app', ['{t}x', '{t}y'], [Buffer.from('1'), Buffer.from('2')], 0)))).toBe(true);
    expect(parseFlag(call(ctx, msetnxMessage(0, 'app', ['{t}z', '{t}y'], [Buffer.from('1'), Buffer.from('2')], 0)))).toBe(false);
    expect(read('{t}c')).toMatchObject({ value: Buffer.from('new') });
    // Two keys of different slots are refused by the node too (the proxy refuses them first).
    const cross = call(ctx, renameMessage(0, 'app', '{t}b', '{u}b', false));
    expect([cross[FRAME.status], cross[ERROR_REPLY.message]]).toEqual([Status.BAD_REQUEST, "keys in request don't hash to the same slot"]);
    expect(call(ctx, msetnxMessage(0, 'app', ['{t}q', '{u}q'], [Buffer.from('1'), Buffer.from('2')], 0))[FRAME.status]).toBe(Status.BAD_REQUEST);
    const fenced = call(ctx, appendMessage(4, 'app', '{t}a', Buffer.from('x'), 0));
    expect(fenced[FRAME.status]).toBe(Status.NOT_PRIMARY);
  });

  test('MEMORY_USAGE: the entry\'s accounted bytes, MISS for a missing or expired key, no hit counted; STATS through the proxy\'s parser', () => {
    const { clock, ctx, store } = setup();
    parseSet(call(ctx, setMessage(0, 'app', 'mem', { value: Buffer.alloc(1000), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: ['tag'] })));
    parseSet(call(ctx, setMessage(0, 'app', 'short', { value: Buffer.from('v'), ttlMs: 50, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })));
    const hits = store.stats().hits;
    expect(parseMemoryUsage(call(ctx, memoryUsageMessage('app', 'mem')))).toBe(ENTRY_OVERHEAD + 'mem'.length + 1000 + 'tag'.length);
    expect(parseMemoryUsage(call(ctx, memoryUsageMessage('app', 'short')))).toBe(ENTRY_OVERHEAD + 'short'.length + 1);
    const miss = call(ctx, memoryUsageMessage('app', 'nope'));
    expect(miss).toEqual([expect.any(Number), Status.MISS]);
    expect(parseMemoryUsage(miss)).toBeNull();
    expect(parseMemoryUsage(call(ctx, memoryUsageMessage('other-ns', 'mem')))).toBeNull();
    clock.t += 51;
    expect(parseMemoryUsage(call(ctx, memoryUsageMessage('app', 'short')))).toBeNull();
    expect(store.stats().hits).toBe(hits);
    const moved = call({ ...ctx, slots: { check: () => { throw new OpError(Status.MOVED, 'moved', [1, 2, 3]); }, checkWrite: () => undefined } as unknown as SlotGuard },
      memoryUsageMessage('app', 'mem'));
    expect(moved[FRAME.status]).toBe(Status.MOVED);
    expect(parseStats(call(ctx, statsMessage()))).toEqual({ keys: 1 });
  });

  test('OBJECT: encoding, LFU counter or idle seconds (-1: not tracked), MISS for a missing key, no hit counted', () => {
    const { clock, ctx, store } = setup();
    const put = (ns: string, key: string, value: Buffer) => parseSet(call(ctx, setMessage(0, ns, key, { value, ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })));
    put('app', 'n', Buffer.from('12345'));
    put('app', 's', Buffer.from('short'));
    put('app', 'r', Buffer.alloc(100, 'x'));
    const hits = store.stats().hits;
    clock.t += 2000;
    const reply = call(ctx, objectMessage('app', 'n'));
    expect(reply).toEqual([expect.any(Number), Status.OK, 'int', -1, 2]);
    expect(parseObject(reply)).toEqual({ encoding: 'int', freq: -1, idleSeconds: 2 });
    expect(parseObject(call(ctx, objectMessage('app', 's')))?.encoding).toBe('embstr');
    expect(parseObject(call(ctx, objectMessage('app', 'r')))?.encoding).toBe('raw');
    const miss = call(ctx, objectMessage('app', 'nope'));
    expect(miss).toEqual([expect.any(Number), Status.MISS]);
    expect(parseObject(miss)).toBeNull();
    expect(store.stats().hits).toBe(hits);
    expect(parseObject(call(ctx, objectMessage('app', 'n')))?.idleSeconds).toBe(2); // OBJECT did not refresh it
    expect(call(ctx, buildRequest(NS_POLICY, 'f', { eviction: 'lfu' }))[FRAME.status]).toBe(Status.OK);
    put('f', 'k', Buffer.from('v'));
    expect(parseObject(call(ctx, objectMessage('f', 'k')))).toEqual({ encoding: 'embstr', freq: 5, idleSeconds: -1 });
    const moved = call({ ...ctx, slots: { check: () => { throw new OpError(Status.MOVED, 'moved', [1, 2, 3]); }, checkWrite: () => undefined } as unknown as SlotGuard },
      objectMessage('app', 'n'));
    expect(moved[FRAME.status]).toBe(Status.MOVED);
  });

  test('DBSIZE: the live keys and, appended, those with an expiry; a reply without the field (an older node) still reads', () => {
    const { ctx } = setup();
    for (const [key, ttlMs] of [['a', 0], ['b', 60_000], ['c', 0]] as const) {
      parseSet(call(ctx, setMessage(0, 'app', key, { value: Buffer.from('v'), ttlMs, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })));
    }
    const reply = call(ctx, dbsizeMessage('app'));
    expect(reply).toEqual([expect.any(Number), Status.OK, 3, 1]);
    expect(parseDbsize(reply)).toBe(3);
    expect(parseDbsizeCounts(reply)).toEqual({ count: 3, expires: 1 });
    expect(parseDbsizeCounts(wire([5, Status.OK, 3]))).toEqual({ count: 3, expires: undefined });
    expect(parseDbsizeCounts(call(ctx, dbsizeMessage('none')))).toEqual({ count: 0, expires: 0 });
  });

  test('STATS, SLOT_STATS and NS_POLICY replies', () => {
    const { ctx } = setup();
    parseSet(call(ctx, setMessage(0, 'app', 'k', { value: Buffer.from('v'), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })));
    expect(call(ctx, buildRequest(STATS))[STATS.reply.stats]).toEqual({ keys: 1 });
    const figures = call(ctx, buildRequest(SLOT_STATS))[SLOT_STATS.reply.figures] as number[];
    expect(figures).toHaveLength(3);
    expect(figures[1]).toBe(1); // [slot, keys, bytes]
    expect(call(ctx, buildRequest(NS_POLICY, 'small', { maxItemBytes: 64 }))).toEqual([expect.any(Number), Status.OK]);
    const tooLarge = call(ctx, setMessage(0, 'small', 'k', { value: Buffer.alloc(100), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null }));
    expect(tooLarge[FRAME.status]).toBe(Status.TOO_LARGE);
    expect(() => parseSet(tooLarge)).toThrow(ProxyError);
    expect(errorFromReply(tooLarge).detail).toMatchObject({ size: expect.any(Number), limit: 64 });
    expect(tooLarge[ERRORS.TOO_LARGE.at.limit]).toBe(64);
  });

  test('a replica in a full sync: the trailing resync flag of GET hit, GET miss and MGET', () => {
    const { store, ctx } = setup();
    parseSet(call(ctx, setMessage(0, 'app', 'k', { value: Buffer.from('v'), ttlMs: 0, flags: 1, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })));
    store.stale = true;
    const hit = call(ctx, getMessage('app', 'k'));
    expect(hit[GET.reply.resync]).toBe(true);
    expect(parseGet(hit)).toMatchObject({ hit: true, value: Buffer.from('v'), flags: 1, stale: 'resync' });
    const miss = call(ctx, getMessage('app', 'nope'));
    expect(miss[GET.replies.MISS.at.resync]).toBe(true);
    expect(parseGet(miss)).toEqual({ hit: false, stale: 'resync' });
    expect(parseMget(call(ctx, mgetMessage('app', ['k'])), 1).stale).toBe(true);
  });

  test('VERSION_CONFLICT, NOT_PRIMARY, MOVED and UNKNOWN_OP error replies', () => {
    const { ctx } = setup();
    const { version } = parseSet(call(ctx, setMessage(0, 'app', 'k', { value: Buffer.from('v'), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: 0, tags: null })))!;
    const conflict = call(ctx, setMessage(0, 'app', 'k', { value: Buffer.from('w'), ttlMs: 0, flags: 0, cond: SetCond.ALWAYS, ifVersion: version + 1, tags: null }));
    expect(conflict[FRAME.status]).toBe(Status.VERSION_CONFLICT);
    expect(conflict[ERRORS.VERSION_CONFLICT.at.currentVersion]).toBe(version);
    expect(errorFromReply(conflict).detail).toMatchObject({ currentVersion: version });

    const notPrimary = call(ctx, deleteMessage(3, 'app', 'k'));
    expect(notPrimary[FRAME.status]).toBe(Status.NOT_PRIMARY);
    expect([notPrimary[NOT_PRIMARY_EPOCH_AT], notPrimary[ERRORS.NOT_PRIMARY.at.primaryAddr]]).toEqual([0, null]);
    expect(notPrimary[ERROR_REPLY.message]).toContain('epoch 3');

    const slots: SlotGuard = {
      check: () => undefined,
      checkWrite: () => {
        throw new OpError(Status.MOVED, 'slot 77 is owned by shard 4', [77, 4, 12]);
      },
      checkAscii: (_ns, _bytes, _start, _end, write) => {
        if (write) throw new OpError(Status.MOVED, 'slot 77 is owned by shard 4', [77, 4, 12]);
      },
      owns: (slot) => slot !== 77,
      moved: (slot) => new OpError(Status.MOVED, `slot ${slot} is owned by shard 4`, [slot, 4, 12]),
      checkWalk: () => undefined,
    };
    const moved = call({ ...ctx, slots }, incrMessage(0, 'app', 'n', 1, 0));
    expect([moved[FRAME.status], moved[ERRORS.MOVED.at.slot], moved[MOVED_OWNER_AT], moved[MOVED_SLOT_MAP_EPOCH_AT]]).toEqual([Status.MOVED, 77, 4, 12]);

    const unknown = call(ctx, [0, 200]);
    expect([unknown[FRAME.status], unknown[ERROR_REPLY.message]]).toEqual([Status.UNKNOWN_OP, 'unknown operation 200']);
    const bad = call(ctx, getMessage('bad ns!', 'k'));
    expect(bad[FRAME.status]).toBe(Status.BAD_REQUEST);
    expect(typeof bad[ERROR_REPLY.message]).toBe('string');
  });

  test('FILL_LEASE, FILL, FILL_RELEASE', () => {
    const { ctx } = setup();
    const granted = parseLease(call(ctx, leaseMessage(0, 'rt', 'k', 5000, 0)));
    expect(granted).toEqual({ kind: 'granted', token: expect.any(Number) });
    const token = (granted as { token: number }).token;
    const heldReply = call(ctx, leaseMessage(0, 'rt', 'k', 5000, 0));
    expect(heldReply[FRAME.status]).toBe(Status.LEASE_HELD);
    expect(parseLease(heldReply)).toEqual({ kind: 'held', heldMs: heldReply[FILL_LEASE.replies.LEASE_HELD.at.heldMs] });
    expect((heldReply[FILL_LEASE.replies.LEASE_HELD.at.heldMs] as number) > 0).toBe(true);

    const filled = parseFill(call(ctx, fillMessage(0, 'rt', 'k', token, Buffer.from('loaded'), 0, 9)))!;
    expect(filled).toEqual({ version: expect.any(Number), expiresAt: 0 });
    expect(parseFill(call(ctx, fillMessage(0, 'rt', 'k', token, Buffer.from('again'), 0, 9)))).toBeUndefined(); // LEASE_LOST

    const changed = parseLease(call(ctx, leaseMessage(0, 'rt', 'k', 5000, 0)));
    expect(changed).toEqual({ kind: 'changed', entry: { hit: true, value: Buffer.from('loaded'), version: filled.version, expiresAt: 0, flags: 9 } });

    const again = parseLease(call(ctx, leaseMessage(0, 'rt', 'other', 5000, 0))) as { token: number };
    expect(parseRelease(call(ctx, releaseMessage(0, 'rt', 'other', again.token)))).toBe(true);
    expect(parseRelease(call(ctx, releaseMessage(0, 'rt', 'other', again.token)))).toBe(false);
  });

  test('SUBSCRIBE_INVALIDATIONS / UNSUBSCRIBE_INVALIDATIONS and the INVALIDATION push', () => {
    const written: Buffer[] = [];
    const socket = Object.assign(new EventEmitter(), { destroyed: false, writableLength: 0, write: (b: Buffer) => written.push(b) }) as unknown as net.Socket;
    const hub = new InvalidationHub({ warn: () => undefined } as never);
    const subscribe = (message: unknown[]): unknown[] => {
      message[FRAME.id] = 4;
      const out = new ReplyWriter();
      hub.handle(socket, wire(message), out);
      const bytes = out.flush()!;
      return unpackPlain(bytes, FRAME_HEADER_BYTES, bytes.length) as unknown[];
    };
    expect(subscribe(buildRequest(SUBSCRIBE_INVALIDATIONS, 'app', ['a', 'b']))[SUBSCRIBE_INVALIDATIONS.reply.subscribed]).toBe(2);
    expect(subscribe(buildRequest(UNSUBSCRIBE_INVALIDATIONS, 'app', ['a']))[UNSUBSCRIBE_INVALIDATIONS.reply.subscribed]).toBe(1);
    hub.written('app', 'b');
    hub.invalidated('app');
    const pushes = written.map((b) => unpackPlain(b, FRAME_HEADER_BYTES, b.length) as unknown[]);
    expect(pushes.map((p) => [p[FRAME.id], p[FRAME.op], p[INVALIDATION.at.ns], p[INVALIDATION.at.key]])).toEqual([
      [PUSH_ID, Op.INVALIDATION, 'app', 'b'],
      [PUSH_ID, Op.INVALIDATION, 'app', null],
    ]);
    expect(subscribe(buildRequest(UNSUBSCRIBE_INVALIDATIONS, 'app', null))[UNSUBSCRIBE_INVALIDATIONS.reply.subscribed]).toBe(0);
  });
});

describe('op table: builders are type-checked against the tuples (npx tsc)', () => {
  test('literal index types and checked arities', () => {
    const value: 5 = SET.at.value;
    const version: 3 = GET.reply.version;
    const resync: 2 = GET.replies.MISS.at.resync;
    const slotMapEpoch: 5 = ERRORS.MOVED.at.slotMapEpoch;
    const heldMs: 3 = FILL_LEASE.replies.LEASE_HELD.at.heldMs;
    expect([value, version, resync, slotMapEpoch, heldMs]).toEqual([5, 3, 2, 5, 3]);
    expect(buildRequest(SET, 0, 'ns', 'k', Buffer.from('v'), 0, 0, SetCond.ALWAYS, 0, null)).toHaveLength(SET.length);
    // @ts-expect-error a string is not a value (Uint8Array)
    buildRequest(SET, 0, 'ns', 'k', 'v', 0, 0, SetCond.ALWAYS, 0, null);
    // @ts-expect-error tags missing
    buildRequest(SET, 0, 'ns', 'k', Buffer.from('v'), 0, 0, SetCond.ALWAYS, 0);
    // @ts-expect-error an epoch is a number
    buildRequest(DELETE, '0', 'ns', 'k');
    expect(buildReply(GET.ok, 1, Buffer.from('v'), 1, 0, 0)).toHaveLength(6);
    expect(buildReply(GET.ok, 1, Buffer.from('v'), 1, 0, 0, true)).toHaveLength(7);
    // @ts-expect-error INCR's OK reply has two fields
    buildReply(INCR.ok, 1, 5n, 2, 3);
    expect(buildRequest(EXPIRE, 0, 'ns', 'k', 10)[EXPIRE.at.ttlMs]).toBe(10);
    expect(buildRequest(FILL_RELEASE, 0, 'ns', 'k', 3)[FILL_RELEASE.at.token]).toBe(3);
    expect(buildRequest(EXISTS, 'ns', ['k'])[EXISTS.at.keys]).toEqual(['k']);
    expect(buildRequest(TTL, 'ns', 'k')[TTL.at.key]).toBe('k');
    expect(buildRequest(PERSIST, 1, 'ns', 'k')[PERSIST.at.epoch]).toBe(1);
    expect(buildRequest(FILL, 0, 'ns', 'k', 1, Buffer.from('v'), 0, 0)[FILL.at.flags]).toBe(0);
    expect(buildRequest(INVALIDATE, 0, 'ns', null)[INVALIDATE.at.tag]).toBeNull();
  });
});

describe('op table: no position is written outside it', () => {
  const FILES = [
    'storage-node/handlers.ts', 'storage-node/fill-handlers.ts', 'storage-node/invalidations.ts', 'proxy/routing/messages.ts', 'proxy/routing/status.ts',
    'proxy/readthrough/fill-messages.ts', 'proxy/hotkeys/invalidation-feed.ts', 'storage-node/string-handlers.ts', 'proxy/routing/string-messages.ts',
    'proxy/upstream/mget-reply.ts',
  ];
  test.each(FILES)('%s reads and builds frames only through shared/ops.ts', (file) => {
    const source = readFileSync(path.join(ROOT, file), 'utf8');
    expect(source.match(/\b(m|reply|msg|message|frame|entry)!?\[\d+\]/g)).toBeNull();
    // No frame literal `[0, Op.X, ...]` / `[id, Status.X, ...]`: opcodes and frames come from the table.
    expect(source.match(/\bOp\.[A-Z_]+/g)).toBeNull();
    expect(source.match(/\[\s*(0|m\[ID\]|id|PUSH_ID)\s*,\s*(Op|Status)\./g)).toBeNull();
  });
});

/** The fronts' command an op serves: its name, but COLL_WRITE serves the `coll` command as COLL does (its `cmd` says which). */
const frontCommand = (name: string): string => (name === 'COLL_WRITE' ? 'coll' : name.toLowerCase());

describe('op table: the fronts expose what the table says', () => {
  test('the WebSocket API offers exactly the data ops the table lists for it (and PING)', async () => {
    const { OPS } = await import('../../shared/ops');
    const { WS_OPS } = await import('../../proxy/front/ws-protocol');
    const listed = Object.values(OPS).filter((d) => (d.fronts as readonly string[]).includes('ws')).map((d) => frontCommand(d.name));
    expect([...WS_OPS].filter((op) => op !== 'ping').sort()).toEqual([...new Set(listed)].sort());
  });

  test('every data op a front exposes is a command of the dispatcher (FRONT_OPS)', async () => {
    const { OPS } = await import('../../shared/ops');
    const { FRONT_OPS } = await import('../../proxy/front/commands');
    const exposed = Object.values(OPS).filter((d) => d.fronts.length > 0).map((d) => frontCommand(d.name));
    expect(exposed.filter((name) => !(name in FRONT_OPS))).toEqual([]);
  });

  test('the key-space ops are RESP\'s alone, each behind its RESP command; FLUSHDB reuses INVALIDATE', async () => {
    const { OPS } = await import('../../shared/ops');
    const { RESP_COMMANDS } = await import('../../proxy/front/resp/commands');
    for (const [op, command] of [['SCAN', 'scan'], ['DBSIZE', 'dbsize'], ['RANDOMKEY', 'randomkey']] as const) {
      expect([op, OPS[op].fronts]).toEqual([op, ['resp']]);
      expect(RESP_COMMANDS.has(command)).toBe(true);
    }
    expect(RESP_COMMANDS.has('keys')).toBe(true); // SCAN's walk inside the proxy
    expect(OPS.INVALIDATE.fronts).toContain('resp');
    expect(RESP_COMMANDS.has('flushdb') && RESP_COMMANDS.has('flushall')).toBe(true);
  });

  test('MEMORY_USAGE is RESP\'s alone (MEMORY USAGE), a read of one key at its owner', async () => {
    const { OPS } = await import('../../shared/ops');
    const { RESP_COMMANDS } = await import('../../proxy/front/resp/commands');
    const { FRONT_OPS } = await import('../../proxy/front/commands');
    expect(OPS.MEMORY_USAGE.code).toBe(25);
    expect([OPS.MEMORY_USAGE.fronts, OPS.MEMORY_USAGE.keyed, OPS.MEMORY_USAGE.fenced]).toEqual([['resp'], true, false]);
    expect(FRONT_OPS.memory_usage.level({ op: 'memory_usage', ns: 'a', key: 'k' })).toBe('read');
    expect(RESP_COMMANDS.has('memory')).toBe(true);
  });

  test('OBJECT is RESP\'s alone (OBJECT ENCODING / FREQ / IDLETIME / REFCOUNT), a read of one key at its owner', async () => {
    const { OPS } = await import('../../shared/ops');
    const { RESP_COMMANDS } = await import('../../proxy/front/resp/commands');
    const { FRONT_OPS } = await import('../../proxy/front/commands');
    expect(OPS.OBJECT.code).toBe(26);
    expect([OPS.OBJECT.fronts, OPS.OBJECT.keyed, OPS.OBJECT.fenced]).toEqual([['resp'], true, false]);
    expect(FRONT_OPS.object.level({ op: 'object', ns: 'a', key: 'k' })).toBe('read');
    expect(RESP_COMMANDS.has('object')).toBe(true);
    expect(OPS.DBSIZE.ok.fields).toEqual(['count', 'expires']);
  });
});
