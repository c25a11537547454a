import net from 'node:net';
import { encodeFrame, FrameDecoder } from '../../shared/frame';
import { NodeConnection } from '../../shared/node-connection';
import { MAX_SUBSCRIPTIONS, Op, PUSH_ID, Status } from '../../shared/protocol';
import { startProgram, type Started } from '../helpers/process';
import { waitFor } from '../helpers/shard-nodes';

let node: Started;
let conn: NodeConnection;

beforeAll(async () => {
  node = await startProgram('storage-node/main.js', ['--port', '0', '--admin-port', '0']);
  conn = await NodeConnection.connect(node.ready.port as number);
});

afterAll(async () => {
  await conn?.close();
  expect(await node?.stop()).toEqual({ code: 0, signal: null });
});

/** A subscription connection: frames it received, and a way to send requests. */
async function subscriber(): Promise<{ frames: unknown[][]; send(id: number, ...body: unknown[]): void; close(): Promise<void> }> {
  const socket = net.connect(node.ready.port as number, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const frames: unknown[][] = [];
  const decoder = new FrameDecoder((f) => void frames.push(f));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    frames,
    send: (id, ...body) => void socket.write(encodeFrame([id, ...body])),
    close: async () => {
      socket.end();
      await closed;
    },
  };
}

const set = (key: string, value = 'v') => conn.request(Op.SET, 0, 'ns', key, Buffer.from(value), 0, 0, 0, 0, null);

describe('invalidation pushes', () => {
  it('pushes every write of a subscribed key, a namespace invalidation, and nothing after unsubscribe', async () => {
    const sub = await subscriber();
    sub.send(1, Op.SUBSCRIBE_INVALIDATIONS, 'ns', ['a', 'b']);
    await waitFor('the subscribe reply', () => sub.frames.length === 1);
    expect(sub.frames[0]).toEqual([1, Status.OK, 2]);

    await set('a');
    await set('other');
    await conn.request(Op.INCR, 0, 'ns', 'b', 1, 0);
    await conn.request(Op.DELETE, 0, 'ns', 'a');
    await conn.request(Op.INVALIDATE, 0, 'ns', null);
    await waitFor('four pushes', () => sub.frames.length === 5);
    expect(sub.frames.slice(1)).toEqual([
      [PUSH_ID, Op.INVALIDATION, 'ns', 'a'],
      [PUSH_ID, Op.INVALIDATION, 'ns', 'b'],
      [PUSH_ID, Op.INVALIDATION, 'ns', 'a'],
      [PUSH_ID, Op.INVALIDATION, 'ns', null],
    ]);

    sub.send(2, Op.UNSUBSCRIBE_INVALIDATIONS, 'ns', null);
    await waitFor('the unsubscribe reply', () => sub.frames.length === 6);
    expect(sub.frames[5]).toEqual([2, Status.OK, 0]);
    await set('a');
    await conn.request(Op.PING);
    await new Promise((r) => setTimeout(r, 50));
    expect(sub.frames).toHaveLength(6);
    await sub.close();
    const stats = (await conn.request(Op.STATS))[2] as Record<string, number>;
    expect(stats.subscriptions).toBe(0);
  });

  it('answers bad subscriptions with BAD_REQUEST and keeps the connection', async () => {
    const sub = await subscriber();
    sub.send(1, Op.SUBSCRIBE_INVALIDATIONS, 'ns', 'not-a-list');
    sub.send(2, Op.SUBSCRIBE_INVALIDATIONS, 'bad ns!', ['a']);
    sub.send(3, Op.SUBSCRIBE_INVALIDATIONS, 'ns', Array.from({ length: MAX_SUBSCRIPTIONS + 1 }, (_, i) => `k${i}`));
    sub.send(4, Op.PING);
    await waitFor('four replies', () => sub.frames.length === 4);
    expect(sub.frames.map((f) => f[1])).toEqual([Status.BAD_REQUEST, Status.BAD_REQUEST, Status.BAD_REQUEST, Status.OK]);
    await sub.close();
  });

  it('forgets the subscriptions of a closed connection', async () => {
    const sub = await subscriber();
    sub.send(1, Op.SUBSCRIBE_INVALIDATIONS, 'ns', ['x']);
    await waitFor('the subscribe reply', () => sub.frames.length === 1);
    expect(((await conn.request(Op.STATS))[2] as Record<string, number>).subscriptions).toBe(1);
    await sub.close();
    await waitFor('the subscription to go', async () => ((await conn.request(Op.STATS))[2] as Record<string, number>).subscriptions === 0);
    expect((await set('x'))[1]).toBe(Status.OK);
  });
});
