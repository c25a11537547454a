import { Registry } from 'prom-client';
import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { FailureShare, NodeClient, TurnBatch } from '../../proxy/upstream/breaker';
import { nodeUnavailable, timeoutError } from '../../proxy/upstream/failures';
import { UpstreamMetrics } from '../../proxy/upstream/metrics';
import type { NodePool } from '../../proxy/upstream/pool';
import { createLogger } from '../../shared/log';
import { Op, Status } from '../../shared/protocol';

/** A closed batch of `outcomes` (null = a reply) judged by `share`: 'resolved', or what it rejected with. */
async function run(outcomes: Array<Error | null>, share = new FailureShare()): Promise<unknown> {
  const batch = new TurnBatch(share);
  let settled: unknown = 'pending';
  batch.settled.then(() => (settled = 'resolved'), (err: unknown) => (settled = err));
  for (let i = 0; i < outcomes.length; i++) batch.add();
  batch.close();
  for (const outcome of outcomes) batch.settle(outcome);
  await Promise.resolve();
  return settled;
}

/** The share of failed calls `share` makes of batches of `size` requests, `failures` of them failed, repeated `times`. */
function failedShare(share: FailureShare, size: number, failures: number, times: number): number {
  let failed = 0;
  for (let i = 0; i < times; i++) if (share.failed(failures, size)) failed++;
  return failed / times;
}

describe('FailureShare: which batches count as failed calls', () => {
  test('a batch of one is its request; a batch all failed always fails, one with no failure never does', () => {
    const share = new FailureShare();
    const verdicts = [1, 0, 1, 1, 0, 0, 1].map((f) => share.failed(f, 1));
    expect(verdicts).toEqual([true, false, true, true, false, false, true]);
    share.failed(1, 2); // leave a remainder behind
    expect(share.failed(3, 3)).toBe(true);
    expect(share.failed(0, 3)).toBe(false);
  });

  test('the share of failed calls is the mean of the batches\' failure shares', () => {
    expect(failedShare(new FailureShare(), 2, 1, 1000)).toBeCloseTo(0.5, 2);
    expect(failedShare(new FailureShare(), 10, 6, 1000)).toBeCloseTo(0.6, 2);
    expect(failedShare(new FailureShare(), 10, 3, 1000)).toBeCloseTo(0.3, 2);
    const batches: Array<[failures: number, size: number]> = [[1, 2], [2, 3], [4, 7], [1, 1], [3, 5], [0, 4]];
    const expected = batches.reduce((sum, [f, n]) => sum + f / n, 0) / batches.length;
    const share = new FailureShare();
    let failed = 0;
    for (let i = 0; i < 6000; i++) if (share.failed(...batches[i % batches.length])) failed++;
    expect(failed / 6000).toBeCloseTo(expected, 2);
  });

  test('requests failing at random look to the breaker as they are: 60 % in batches of two is ~60 %, not a majority vote\'s 36 %', () => {
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const rate of [0.6, 0.3]) {
      const share = new FailureShare();
      let failedCalls = 0;
      let failedRequests = 0;
      for (let i = 0; i < 4000; i++) {
        const failures = (random() < rate ? 1 : 0) + (random() < rate ? 1 : 0);
        failedRequests += failures;
        if (share.failed(failures, 2)) failedCalls++;
      }
      expect(Math.abs(failedCalls / 4000 - failedRequests / 8000)).toBeLessThan(0.01);
      expect(failedCalls / 4000).toBeGreaterThan(rate - 0.03);
      expect(failedCalls / 4000).toBeLessThan(rate + 0.03);
    }
  });
});

describe('TurnBatch: a node\'s requests of one turn as one breaker call', () => {
  const timeout = timeoutError('n1', 50);
  const refused = nodeUnavailable('n1', 'connection lost');

  test('a batch of one is its request: a reply resolves, a transport failure rejects with it', async () => {
    expect(await run([null])).toBe('resolved');
    expect(await run([timeout])).toBe(timeout);
  });

  test('a failed batch rejects with its first transport failure', async () => {
    expect(await run([null, refused, timeout, timeout])).toBe(refused);
    expect(await run([null, timeout, null, null, null, null, null, null, null, null])).toBe('resolved'); // 1 in 10, first batch
  });

  test('errors that are not transport failures count as replies', async () => {
    const other = new ProxyError(ProxyErrorCode.BAD_REQUEST, 'bad');
    expect(await run([other, other, other])).toBe('resolved');
  });

  test('it waits for the close of its turn and for every outcome', async () => {
    const batch = new TurnBatch(new FailureShare());
    let settled = false;
    batch.settled.then(() => (settled = true), () => (settled = true));
    batch.add();
    batch.settle(null);
    await Promise.resolve();
    expect(settled).toBe(false); // the turn is not over: more requests may join
    batch.add();
    batch.close();
    await Promise.resolve();
    expect(settled).toBe(false); // one still in flight
    batch.settle(timeout);
    await Promise.resolve();
    expect(settled).toBe(true);
  });
});

describe('NodeClient with a pool double', () => {
  /** A pool whose `send` answers as `answer` says: a reply or error on a microtask, or a throw. */
  function clientOver(answer: (message: unknown[]) => Error | 'throw' | null): NodeClient {
    const pool = {
      nodeId: 'n1', addr: '127.0.0.1:1', unreachable: false, saturated: false, inFlight: 0,
      send(message: unknown[], cb: (err: Error | null, reply?: unknown[], elapsedMs?: number) => void): void {
        const outcome = answer(message);
        if (outcome === 'throw') throw new RangeError('cannot encode this frame');
        queueMicrotask(() => (outcome === null ? cb(null, [message[0], Status.OK], 0) : cb(outcome)));
      },
      close: () => Promise.resolve(),
    };
    const metrics = new UpstreamMetrics(new Registry(), () => []).forNode('n1');
    const c = new NodeClient(pool as unknown as NodePool, { volumeThreshold: 1, errorThresholdPercentage: 50, resetTimeoutMs: 60_000 }, metrics, createLogger('test', 'silent'));
    clients.push(c);
    return c;
  }
  const clients: NodeClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  test('a send that throws still lets its turn reach the breaker', async () => {
    const c = clientOver((m) => (m[3] === 'bad' ? 'throw' : nodeUnavailable('n1', 'connection lost')));
    const outcomes: unknown[] = [];
    c.send([0, Op.GET, 'ns', 'a'], (err) => outcomes.push(err));
    expect(() => c.send([0, Op.GET, 'ns', 'bad'], () => undefined)).toThrow('cannot encode');
    await turn();
    await turn();
    expect(outcomes).toHaveLength(1);
    expect(c.state).toBe('open'); // the turn: 1 transport failure of 2 requests, a failed call
  });

  test('a turn of replies keeps it closed', async () => {
    const c = clientOver(() => null);
    for (let i = 0; i < 5; i++) c.send([0, Op.GET, 'ns', `k${i}`], () => undefined);
    await turn();
    await turn();
    expect(c.state).toBe('closed');
  });
});
