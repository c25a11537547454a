import { FrameDecoder } from '../../shared/frame';
import { Op, Status } from '../../shared/protocol';
import { handle, STANDALONE, type HandlerContext } from '../../storage-node/handlers';
import { ReplyWriter } from '../../storage-node/reply-writer';
import { b, makeStore } from './store-helpers';

function decodeAll(bytes: Buffer): unknown[][] {
  const replies: unknown[][] = [];
  new FrameDecoder((m) => void replies.push(m), 4 * 1024 * 1024).push(bytes);
  return replies;
}

describe('node replies', () => {
  test('a slab grown for large replies to a length that is not a multiple of 8 can be filled to its end and flushed', () => {
    const out = new ReplyWriter();
    // Two frames of 300,013 bytes: the slab grows to exactly twice that, and the second one fills it.
    const big = Buffer.alloc(300_001, 1);
    out.message([1, Status.OK, big]);
    out.message([2, Status.OK, big]);
    const first = out.flush()!;
    out.status(3, Status.MISS);
    const second = out.flush()!;
    expect(decodeAll(first).map((r) => r[0])).toEqual([1, 2]);
    expect(decodeAll(second)).toEqual([[3, Status.MISS]]);
  });

  test('a store marked stale answers GET and MGET with a trailing true', () => {
    const { store } = makeStore();
    store.set('ns', 'k', b('v'));
    const ctx: HandlerContext = { store, gate: STANDALONE, stats: () => ({}) };
    const run = (message: unknown[]): unknown[] => {
      const out = new ReplyWriter();
      handle(message, ctx, out, (err) => {
        throw err;
      });
      return decodeAll(out.flush()!)[0];
    };
    expect(run([1, Op.GET, 'ns', 'k'])).toHaveLength(6);
    expect(run([2, Op.GET, 'ns', 'nope'])).toEqual([2, Status.MISS]);
    store.stale = true;
    const hit = run([3, Op.GET, 'ns', 'k']);
    expect([hit[0], hit[1], Buffer.from(hit[2] as Uint8Array).toString(), hit[6]]).toEqual([3, Status.OK, 'v', true]);
    expect(run([4, Op.GET, 'ns', 'nope'])).toEqual([4, Status.MISS, true]);
    const mget = run([5, Op.MGET, 'ns', ['k', 'nope']]);
    expect([mget[1], (mget[2] as unknown[])[1], mget[3]]).toEqual([Status.OK, null, true]);
  });
});
