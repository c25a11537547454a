import { Op, Status } from '../../shared/protocol';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { ProxyError } from '../../proxy/errors';
import { nodeUnavailable } from '../../proxy/upstream/failures';
import { pickNode } from '../../proxy/routing/picker';
import { Router, type NodePicker } from '../../proxy/routing/router';
import { fakeSnapshot } from '../helpers/fake-topology';

/** A NodePicker double: breaker health per node, and a scripted reply per (node, message). */
class FakeNodes implements NodePicker {
  readonly open = new Set<string>();
  /** Nodes that refuse connections. */
  readonly gone = new Set<string>();
  readonly sent: Array<{ nodeId: string; message: unknown[] }> = [];
  /** A node's reply to `message`; a throw is a transport failure. */
  reply: (nodeId: string, message: unknown[]) => unknown[] = (_n, m) => [m[0], Status.OK];

  isHealthy(nodeId: string): boolean {
    return !this.open.has(nodeId);
  }

  isUnreachable(nodeId: string): boolean {
    return this.gone.has(nodeId);
  }

  channel(nodeId: string) {
    return {
      send: (message: unknown[], cb: (err: Error | null, reply?: unknown[]) => void): void => {
        this.sent.push({ nodeId, message: [...message] });
        let reply: unknown[];
        try {
          reply = this.reply(nodeId, message);
        } catch (err) {
          cb(err as Error); // refusals come back at once, as NodeClient's do (breaker open, not connected)
          return;
        }
        queueMicrotask(() => cb(null, reply));
      },
    };
  }
}

const twoShards = (epoch0 = 10): TopologySnapshot =>
  fakeSnapshot({ shards: [{ primary: { nodeId: 'a0', epoch: epoch0 }, replicas: ['b0'] }, { primary: { nodeId: 'a1', epoch: 20 }, replicas: ['b1', 'c1'] }] });

describe('pickNode (pure routing decisions)', () => {
  const nodes = new FakeNodes();
  const snapshot = twoShards();
  afterEach(() => nodes.open.clear());

  test('writes and primary reads go to the primary, carrying its epoch', () => {
    expect(pickNode(snapshot, 0, 'write', nodes, () => 0)).toMatchObject({ ok: true, nodeId: 'a0', epoch: 10 });
    expect(pickNode(snapshot, 1, 'primary', nodes, () => 0)).toMatchObject({ ok: true, nodeId: 'a1', epoch: 20 });
  });

  test('replica reads pick among healthy replicas and fall back to the primary', () => {
    expect(pickNode(snapshot, 1, 'replica', nodes, () => 0)).toMatchObject({ nodeId: 'b1' });
    expect(pickNode(snapshot, 1, 'replica', nodes, () => 0.9)).toMatchObject({ nodeId: 'c1' });
    nodes.open.add('c1');
    expect(pickNode(snapshot, 1, 'replica', nodes, () => 0.9)).toMatchObject({ nodeId: 'b1' });
    nodes.open.add('b1');
    expect(pickNode(snapshot, 1, 'replica', nodes, () => 0.9)).toMatchObject({ nodeId: 'a1' });
  });

  test('an open primary breaker: primary reads and writes fail fast, replica reads fall over', () => {
    nodes.open.add('a0');
    expect(pickNode(snapshot, 0, 'write', nodes, () => 0)).toEqual({ ok: false, reason: 'unhealthy', nodeId: 'a0' });
    expect(pickNode(snapshot, 0, 'primary', nodes, () => 0)).toEqual({ ok: false, reason: 'unhealthy', nodeId: 'a0' });
    expect(pickNode(snapshot, 0, 'replica', nodes, () => 0)).toMatchObject({ ok: true, nodeId: 'b0' });
    nodes.open.add('b0');
    expect(pickNode(snapshot, 0, 'replica', nodes, () => 0)).toMatchObject({ ok: false, reason: 'unhealthy' });
  });

  test('a shard without primary: writes wait, replica reads are served; unknown shard', () => {
    const noPrimary = fakeSnapshot({ shards: [{ replicas: ['b0'] }] });
    expect(pickNode(noPrimary, 0, 'write', nodes, () => 0)).toEqual({ ok: false, reason: 'no-primary' });
    expect(pickNode(noPrimary, 0, 'replica', nodes, () => 0)).toMatchObject({ ok: true, nodeId: 'b0', epoch: 0 });
    expect(pickNode(noPrimary, 5, 'write', nodes, () => 0)).toEqual({ ok: false, reason: 'no-shard' });
  });
});

describe('Router', () => {
  let current: TopologySnapshot | undefined;
  let nodes: FakeNodes;
  let router: Router;
  const make = (o: { redirectWaitMs?: number; maxRedirects?: number } = {}): Router =>
    new Router({ nodes, current: () => current, redirectWaitMs: o.redirectWaitMs ?? 1000, maxRedirects: o.maxRedirects ?? 3, random: () => 0 });
  const write = (r: Router, shardId = 0): Promise<unknown[]> => r.send(shardId, 'write', (epoch) => [0, Op.DELETE, epoch, 'ns', 'k'], (reply) => reply);
  const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'resolved', (err: ProxyError) => err.code);

  beforeEach(() => {
    current = twoShards();
    nodes = new FakeNodes();
    router = make();
  });
  afterEach(() => router.close());

  test('locate: slot and shard of a key; no topology → UNAVAILABLE', () => {
    const { shardId, slot } = router.locate('ns', 'k');
    expect(shardId).toBe(slot < 8192 ? 0 : 1);
    current = undefined;
    expect(() => router.locate('ns', 'k')).toThrow(expect.objectContaining({ code: 'UNAVAILABLE' }));
  });

  test('NOT_PRIMARY naming a newer epoch: waits for that snapshot, then retries with the new epoch', async () => {
    nodes.reply = (nodeId, m) => (nodeId === 'a0' ? [m[0], Status.NOT_PRIMARY, 'not primary', 11, '127.0.0.1:9'] : [m[0], Status.OK]);
    const pending = write(router);
    await new Promise((r) => setTimeout(r, 20));
    expect(router.waiting).toBe(1);
    current = fakeSnapshot({ shards: [{ primary: { nodeId: 'b0', epoch: 11 }, replicas: ['a0'] }, { primary: { nodeId: 'a1', epoch: 20 } }] });
    router.publish(current);
    expect((await pending)[1]).toBe(Status.OK);
    expect(nodes.sent.map((s) => [s.nodeId, s.message[2]])).toEqual([['a0', 10], ['b0', 11]]);
  });

  test('a shard without primary: the write waits for an election', async () => {
    current = fakeSnapshot({ shards: [{ replicas: ['a0', 'b0'] }] });
    const pending = write(router);
    await new Promise((r) => setTimeout(r, 20));
    expect(nodes.sent).toHaveLength(0);
    current = fakeSnapshot({ shards: [{ primary: { nodeId: 'b0', epoch: 30 }, replicas: ['a0'] }] });
    router.publish(current);
    expect((await pending)[1]).toBe(Status.OK);
    expect(nodes.sent.map((s) => [s.nodeId, s.message[2]])).toEqual([['b0', 30]]);
  });

  test('no newer topology within redirectWaitMs → UNAVAILABLE', async () => {
    router = make({ redirectWaitMs: 50 });
    nodes.reply = (_n, m) => [m[0], Status.NOT_PRIMARY, 'not primary', 99, null];
    const started = performance.now();
    expect(await code(write(router))).toBe('UNAVAILABLE');
    expect(performance.now() - started).toBeLessThan(500);
    expect(router.waiting).toBe(0);
  });

  test('a node catching up with its own election (epoch behind ours) is retried after a short pause', async () => {
    let refusals = 2;
    nodes.reply = (_n, m) => (refusals-- > 0 ? [m[0], Status.NOT_PRIMARY, 'not yet', 0, null] : [m[0], Status.OK]);
    expect((await write(router))[1]).toBe(Status.OK);
    expect(nodes.sent).toHaveLength(3);
  });

  test('at most maxRedirects retries, then UNAVAILABLE', async () => {
    router = make({ maxRedirects: 2 });
    nodes.reply = (_n, m) => [m[0], Status.NOT_PRIMARY, 'no', 0, null];
    expect(await code(write(router))).toBe('UNAVAILABLE');
    expect(nodes.sent).toHaveLength(3);
  });

  test('an open breaker fails fast with NODE_UNAVAILABLE, no waiting', async () => {
    nodes.open.add('a0');
    expect(await code(write(router))).toBe('NODE_UNAVAILABLE');
    expect(await code(router.send(0, 'primary', () => [0, Op.GET, 'ns', 'k'], (r) => r))).toBe('NODE_UNAVAILABLE');
    expect((await router.send(0, 'replica', () => [0, Op.GET, 'ns', 'k'], (r) => r))[1]).toBe(Status.OK);
    expect(nodes.sent.map((s) => s.nodeId)).toEqual(['b0']);
    expect(router.waiting).toBe(0);
  });

  test('a primary that refuses connections (breaker open): writes wait for the failover instead of failing', async () => {
    nodes.open.add('a0');
    nodes.gone.add('a0');
    const pending = write(router);
    const read = router.send(0, 'replica', () => [0, Op.GET, 'ns', 'k'], (r) => r);
    expect((await read)[1]).toBe(Status.OK); // replica reads never wait
    await new Promise((r) => setTimeout(r, 20));
    expect(router.waiting).toBe(1);
    current = fakeSnapshot({ shards: [{ primary: { nodeId: 'b0', epoch: 12 } }, { primary: { nodeId: 'a1', epoch: 20 } }] });
    router.publish(current);
    expect((await pending)[1]).toBe(Status.OK);
    expect(nodes.sent.map((s) => [s.nodeId, s.message[2]])).toEqual([['b0', 'ns'], ['b0', 12]]);
  });

  test('a request the channel could not send to an unreachable primary waits; one lost in flight fails', async () => {
    nodes.reply = (nodeId) => {
      if (nodeId === 'a0') throw nodeUnavailable('a0', 'cannot connect', true);
      return [0, Status.OK];
    };
    const pending = write(router);
    await new Promise((r) => setTimeout(r, 20));
    current = fakeSnapshot({ shards: [{ primary: { nodeId: 'b0', epoch: 12 } }, { primary: { nodeId: 'a1', epoch: 20 } }] });
    router.publish(current);
    expect((await pending)[1]).toBe(Status.OK);
    current = twoShards();
    nodes.reply = () => {
      throw nodeUnavailable('a0', 'connection lost');
    };
    expect(await code(write(router))).toBe('NODE_UNAVAILABLE');
  });

  test('a primary gone and never replaced: UNAVAILABLE after redirectWaitMs', async () => {
    router = make({ redirectWaitMs: 60 });
    nodes.open.add('a0');
    nodes.gone.add('a0');
    const started = performance.now();
    expect(await code(write(router))).toBe('UNAVAILABLE');
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });

  test('a parse that throws on the first attempt rejects the request with its error', async () => {
    const bad = new ProxyError('INTERNAL', 'unreadable reply');
    await expect(router.send(0, 'write', () => [0, Op.SET, 'ns', 'k'], () => {
      throw bad;
    })).rejects.toBe(bad);
  });

  test('replies other than redirects are handed to parse with the node id', async () => {
    nodes.reply = (_n, m) => [m[0], Status.MISS];
    const parsed = await router.send(1, 'primary', () => [0, Op.GET, 'ns', 'k'], (reply, nodeId) => ({ status: reply[1], nodeId }));
    expect(parsed).toEqual({ status: Status.MISS, nodeId: 'a1' });
  });

  test('close ends every wait', async () => {
    current = fakeSnapshot({ shards: [{ replicas: ['a0'] }] });
    const pending = write(router);
    await new Promise((r) => setTimeout(r, 10));
    router.close();
    expect(await code(pending)).toBe('UNAVAILABLE');
  });
});
