import { ConfigError } from '../../shared/errors';
import { FrameDecoder } from '../../shared/frame';
import { Op, SetCond, Status } from '../../shared/protocol';
import { handle, NS_POLICY_REFUSED, STANDALONE, type HandlerContext, type MutationLog } from '../../storage-node/handlers';
import { ReplyWriter } from '../../storage-node/reply-writer';
import { Store } from '../../storage-node/store';
import { thrownBy } from '../helpers/thrown';
import { b, makeStore, opError } from './store-helpers';

const namespaces = (store: Store): string[] => Object.keys(store.stats().namespaces);
const TOO_MANY = 'too many namespaces (3); set a namespace policy or reuse one';

describe('store: a write that stores nothing creates no namespace', () => {
  test('SET XX, a compare-and-set miss, an oversized value, DELETE, EXPIRE, PERSIST and INVALIDATE of fresh names', () => {
    const { store } = makeStore({ defaultMaxItemBytes: 100 });
    for (let i = 0; i < 10_000; i++) expect(store.set(`xx${i}`, 'k', b('v'), { cond: SetCond.XX })).toBeUndefined();
    expect(opError(() => store.set('cas', 'k', b('v'), { ifVersion: 7 })).status).toBe(Status.VERSION_CONFLICT);
    expect(opError(() => store.set('big', 'k', Buffer.alloc(200))).status).toBe(Status.TOO_LARGE);
    expect(opError(() => store.incr('big', 'k'.repeat(200), 1)).status).toBe(Status.TOO_LARGE);
    expect(store.delete('d', 'k')).toBe(false);
    expect(store.expire('e', 'k', 1000)).toBe(false);
    expect(store.persist('p', 'k')).toBe(false);
    expect(store.invalidate('i')).toBe(false);
    expect(store.invalidate('i', 'tag')).toBe(false);
    expect(store.get('g', 'k')).toBeUndefined();
    expect(namespaces(store)).toEqual([]);
  });

  test('a write that lands creates its namespace: SET, SET NX, INCR', () => {
    const { store } = makeStore();
    expect(store.set('a', 'k', b('v'))).toBeDefined();
    expect(store.set('b', 'k', b('v'), { cond: SetCond.NX })).toBeDefined();
    expect(store.incr('c', 'n', 5).value).toBe(5);
    expect(store.invalidate('a')).toBe(true);
    expect(namespaces(store)).toEqual(['a', 'b', 'c']);
  });
});

describe('store: maxNamespaces', () => {
  test('past the limit a client write to a new namespace is refused; existing ones still take writes', () => {
    const { store } = makeStore({ maxNamespaces: 3 });
    for (const ns of ['a', 'b', 'c']) store.set(ns, 'k', b('v'));
    const refused = opError(() => store.set('d', 'k', b('v')));
    expect(refused.status).toBe(Status.OVER_QUOTA);
    expect(refused.message).toBe(TOO_MANY);
    expect(opError(() => store.incr('d', 'n', 1)).status).toBe(Status.OVER_QUOTA);
    expect(store.set('d', 'k', b('v'), { cond: SetCond.XX })).toBeUndefined(); // stores nothing: no refusal
    expect(store.set('a', 'k2', b('v'))).toBeDefined();
    expect(store.incr('b', 'n', 1).value).toBe(1);
    expect(namespaces(store)).toEqual(['a', 'b', 'c']);
  });

  test('namespaces with a policy are always admitted and do not count', () => {
    const { store } = makeStore({ maxNamespaces: 3 });
    for (const ns of ['a', 'b', 'c']) store.set(ns, 'k', b('v'));
    store.setNamespacePolicy('managed', { quotaBytes: 1_000_000 });
    expect(store.set('managed', 'k', b('v'))).toBeDefined();
    expect(opError(() => store.set('d', 'k', b('v'))).status).toBe(Status.OVER_QUOTA);
    store.setNamespacePolicy('a', {}); // a policy on a counted namespace frees a place
    expect(store.set('d', 'k', b('v'))).toBeDefined();
    expect(opError(() => store.set('e', 'k', b('v'))).status).toBe(Status.OVER_QUOTA);
  });

  test('replication and slot imports apply what the primary or source accepted, past the limit', () => {
    const { store } = makeStore({ maxNamespaces: 1 });
    store.set('a', 'k', b('v'));
    for (let i = 0; i < 5; i++) store.replication.applySet(`r${i}`, 'k', b('v'), 100 + i, 0, 0, null);
    expect(store.importEntry('imported', 'k', b('v'), 0, 0, null)).toBeGreaterThan(0);
    expect(namespaces(store)).toHaveLength(7);
    expect(store.get('r4', 'k')?.version).toBe(104);
    expect(opError(() => store.set('client', 'k', b('v'))).status).toBe(Status.OVER_QUOTA);
  });

  test('the limit is checked at construction', () => {
    for (const maxNamespaces of [0, 65_536, 1.5]) {
      expect(thrownBy(() => new Store({ maxMemoryBytes: 1 << 20, maxNamespaces }), ConfigError).message).toMatch(/maxNamespaces/);
    }
  });
});

/** Runs one request through the node's handler table; returns the reply. */
function request(ctx: HandlerContext, message: unknown[]): unknown[] {
  const out = new ReplyWriter();
  handle(message, ctx, out, (err) => {
    throw err;
  });
  const replies: unknown[][] = [];
  new FrameDecoder((m) => void replies.push(m)).push(out.flush()!);
  return replies[0];
}

describe('node handlers', () => {
  test('NS_POLICY is refused in cluster mode and taken on a standalone node', () => {
    const { store } = makeStore();
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}) };
    expect(request(ctx, [1, Op.NS_POLICY, 'ns', { maxItemBytes: 10 }])).toEqual([1, Status.OK]);
    ctx.policiesFromEtcd = true;
    expect(request(ctx, [2, Op.NS_POLICY, 'ns', { maxItemBytes: 99 }])).toEqual([2, Status.BAD_REQUEST, NS_POLICY_REFUSED]);
    expect(NS_POLICY_REFUSED).toBe('namespace policy is set through etcd (shardctl ns set)');
    expect(opError(() => store.set('ns', 'k', Buffer.alloc(50))).status).toBe(Status.TOO_LARGE); // the first policy stands
  });

  test('an unknown operation is named only when it is an opcode number: no peer bytes are echoed', () => {
    const ctx: HandlerContext = { store: makeStore().store, gate: STANDALONE, stats: () => ({}) };
    expect(request(ctx, [1, 250])).toEqual([1, Status.UNKNOWN_OP, 'unknown operation 250']);
    expect(request(ctx, [2, 'x'.repeat(10_000)])).toEqual([2, Status.UNKNOWN_OP, 'unknown operation']);
  });

  test('INVALIDATE of a namespace the node does not hold is not replicated', () => {
    const { store } = makeStore();
    const logged: string[] = [];
    const repl: MutationLog = { set: () => undefined, changed: () => undefined, collChanged: () => undefined, deleted: () => undefined, invalidated: (ns) => void logged.push(ns) };
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}), repl };
    expect(request(ctx, [1, Op.INVALIDATE, 0, 'fresh', null])).toEqual([1, Status.OK]);
    store.set('held', 'k', b('v'));
    expect(request(ctx, [2, Op.INVALIDATE, 0, 'held', 'tag'])).toEqual([2, Status.OK]);
    expect(logged).toEqual(['held']);
    expect(namespaces(store)).toEqual(['held']);
  });
});
