import { hashKey, KeyOrder } from '../../proxy/front/resp/key-order';
import { ReplyQueue, type ReplySlot } from '../../proxy/front/resp/reply-queue';
import type { CommandSpec, RespContext } from '../../proxy/front/resp/context';

const spec = (keys: readonly [number, number, number]): CommandSpec => ({ name: 'x', arity: -1, flags: [], keys, run: () => undefined });
const ONE = spec([1, 1, 1]);
const ALL = spec([1, -1, 1]);
const NONE = spec([0, 0, 0]);
const KEYSPACE: CommandSpec = { ...NONE, keyspace: true };
const args = (...words: string[]): Buffer[] => ['cmd', ...words].map((w) => Buffer.from(w));

function setup() {
  const order = new KeyOrder();
  const queue = new ReplyQueue((slot) => order.release(slot));
  const ran: string[] = [];
  const ctx = { session: { ns: 'app' } } as unknown as RespContext;
  /** Runs a command named `name` that fills its slot only when `finish(name)` is called. */
  const slots = new Map<string, ReplySlot>();
  const start = (name: string, s: CommandSpec, a: Buffer[]): void => {
    const slot = queue.reserve();
    slots.set(name, slot);
    order.run(s, a, ctx, (c, n: string) => ran.push(`${n}@${c.session.ns}`), name, slot);
  };
  const finish = (name: string): void => slots.get(name)!.fill(Buffer.from(name));
  return { order, queue, ran, ctx, start, finish };
}

test('a command on a key waits for the earlier one on that key; other keys and keyless commands run at once', () => {
  const { order, ran, start, finish } = setup();
  start('set-a', ONE, args('a', 'v'));
  start('get-b', ONE, args('b'));
  start('get-a', ONE, args('a'));
  start('ping', NONE, args());
  expect(ran).toEqual(['set-a@app', 'get-b@app', 'ping@app']);
  expect(order.held).toBe(2); // a (now held by get-a's slot) and b
  finish('set-a');
  expect(ran).toEqual(['set-a@app', 'get-b@app', 'ping@app', 'get-a@app']);
  finish('get-b');
  finish('get-a');
  finish('ping');
  expect(order.held).toBe(0);
});

test('a multi-key command waits for every earlier command on any of its keys, once each', () => {
  const { order, ran, start, finish } = setup();
  start('set-a', ONE, args('a', '1'));
  start('set-b', ONE, args('b', '2'));
  start('mget', ALL, args('a', 'b', 'a', 'c'));
  expect(ran).toEqual(['set-a@app', 'set-b@app']);
  finish('set-b');
  expect(ran).toEqual(['set-a@app', 'set-b@app']);
  finish('set-a');
  expect(ran).toEqual(['set-a@app', 'set-b@app', 'mget@app']);
  start('get-c', ONE, args('c'));
  expect(ran).toHaveLength(3); // c is held by the unfinished mget
  finish('mget');
  expect(ran).toEqual(['set-a@app', 'set-b@app', 'mget@app', 'get-c@app']);
  finish('get-c');
  expect(order.held).toBe(0);
});

test('a key-space command (FLUSHDB) runs after every earlier keyed command, and every later command after it', () => {
  const { order, ran, start, finish } = setup();
  start('set-a', ONE, args('a', '1'));
  start('mset-bc', ALL, args('b', 'c'));
  start('ping', NONE, args());
  start('flushdb', KEYSPACE, args());
  start('set-d', ONE, args('d', '4'));
  start('ping2', NONE, args()); // keyless, not a key-space command: runs at once, on the live session
  expect(ran).toEqual(['set-a@app', 'mset-bc@app', 'ping@app', 'ping2@app']);
  finish('set-a');
  expect(ran).toEqual(['set-a@app', 'mset-bc@app', 'ping@app', 'ping2@app']);
  finish('mset-bc');
  expect(ran).toEqual(['set-a@app', 'mset-bc@app', 'ping@app', 'ping2@app', 'flushdb@app']);
  start('dbsize', KEYSPACE, args()); // after FLUSHDB and after set-d, which waits for FLUSHDB
  finish('flushdb');
  expect(ran).toEqual(['set-a@app', 'mset-bc@app', 'ping@app', 'ping2@app', 'flushdb@app', 'set-d@app']);
  finish('set-d');
  expect(ran.at(-1)).toBe('dbsize@app');
  finish('dbsize');
  finish('ping');
  finish('ping2');
  expect(order.held).toBe(0);
  start('flushdb2', KEYSPACE, args()); // nothing in flight: runs at once
  expect(ran.at(-1)).toBe('flushdb2@app');
});

test('a delayed command sees the session as it was when it arrived', () => {
  const { ran, ctx, start, finish } = setup();
  start('set-a', ONE, args('a', '1'));
  start('get-a', ONE, args('a'));
  ctx.session.ns = 'other';
  finish('set-a');
  expect(ran).toEqual(['set-a@app', 'get-a@app']);
});

test('a command that fills its slot at once holds nothing', () => {
  const order = new KeyOrder();
  const queue = new ReplyQueue((slot) => order.release(slot));
  const slot = queue.reserve();
  order.run(ONE, args('a'), { session: {} } as unknown as RespContext, (_c, _a: null, s) => s.fill(Buffer.from('ok')), null, slot);
  expect(order.held).toBe(0);
});

test('hashKey reads bytes: equal keys hash alike, and it spreads distinct keys', () => {
  expect(hashKey(Buffer.from('key:1'))).toBe(hashKey(Buffer.from('key:1')));
  const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => hashKey(Buffer.from(`key:${i}`))));
  expect(hashes.size).toBeGreaterThan(9_990);
  for (const h of hashes) expect(h >= 0 && h < 2 ** 31).toBe(true);
});

test('hundreds of keys in flight: the table grows, finds each, and frees them in any order', () => {
  const { order, ran, start, finish } = setup();
  for (let i = 0; i < 300; i++) start(`set-${i}`, ONE, args(`key:${i}`, 'v'));
  expect(order.held).toBe(300);
  start('get-150', ONE, args('key:150'));
  start('get-new', ONE, args('key:new'));
  expect(ran).toContain('get-new@app');
  expect(ran).not.toContain('get-150@app');
  const names = Array.from({ length: 300 }, (_, i) => `set-${i}`).sort((a, b) => (a.length * 7 + a.charCodeAt(a.length - 1)) % 13 - (b.length * 7 + b.charCodeAt(b.length - 1)) % 13);
  for (const name of names) {
    finish(name);
    expect(ran.includes('get-150@app')).toBe(name === 'set-150' || ran.indexOf('get-150@app') >= 0);
  }
  expect(ran).toContain('get-150@app');
  finish('get-150');
  finish('get-new');
  expect(order.held).toBe(0);
});
