import { Status } from '../../shared/protocol';
import { assemble } from '../../proxy/routing/mget';
import { parseGet, parseMget } from '../../proxy/routing/messages';
import { itemOf } from '../../proxy/front/ws-protocol';
import { outcomeReply } from '../../proxy/front/http-replies';

describe('replica reads during a full resync (a trailing true on the reply)', () => {
  test('GET hits and misses are marked stale: resync; plain replies are not', () => {
    const value = Buffer.from('"v"');
    expect(parseGet([1, Status.OK, value, 7, 0, 1])).toEqual({ hit: true, value, version: 7, expiresAt: 0, flags: 1 });
    expect(parseGet([1, Status.OK, value, 7, 0, 1, true])).toEqual({ hit: true, value, version: 7, expiresAt: 0, flags: 1, stale: 'resync' });
    expect(parseGet([1, Status.MISS])).toEqual({ hit: false });
    expect(parseGet([1, Status.MISS, true])).toEqual({ hit: false, stale: 'resync' });
  });

  test('an MGET reply marks every key of its group, hits and misses', () => {
    const entries = parseMget([1, Status.OK, [[Buffer.from('a'), 1, 0, 0], null], true], 2);
    const fresh = parseMget([2, Status.OK, [null]], 1);
    const results = assemble(3, [{ shardId: 0, keys: ['x', 'y'], positions: [0, 2] }, { shardId: 1, keys: ['z'], positions: [1] }], [entries, fresh]);
    expect(results.toArray().map((r) => (r as { stale?: string }).stale)).toEqual(['resync', undefined, 'resync']);
  });

  test('the fronts pass it on: x-shardcache-stale on HTTP, stale on the WebSocket item', () => {
    expect(itemOf({ hit: false, stale: 'resync' }, 0)).toEqual({ hit: false, stale: 'resync' });
    expect(itemOf({ hit: true, value: Buffer.from('v'), version: 1, expiresAt: 0, flags: 0, stale: 'resync' }, 0)).toMatchObject({ hit: true, stale: 'resync' });
    const errorOf = (err: Error) => ({ code: 'INTERNAL' as const, message: err.message });
    const miss = outcomeReply({ op: 'get', result: { hit: false, stale: 'resync' } }, { acceptsBinary: false, now: 0, errorOf });
    expect(miss.headers).toContainEqual(['x-shardcache-stale', 'resync']);
    const hit = outcomeReply({ op: 'get', result: { hit: true, value: Buffer.from('1'), version: 1, expiresAt: 0, flags: 1, stale: 'resync' } }, { acceptsBinary: false, now: 0, errorOf });
    expect(hit.headers).toContainEqual(['x-shardcache-stale', 'resync']);
  });
});
