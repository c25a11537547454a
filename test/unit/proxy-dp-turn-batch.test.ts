import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { FailureShare, TurnBatch } from '../../proxy/upstream/breaker';
import { nodeUnavailable, timeoutError } from '../../proxy/upstream/failures';

/** A closed batch of `outcomes` (null = a reply) judged by `share`: 'resolved', or what it rejected with. */
async function run(outcomes: Array<Error | null>, share = new FailureShare()): Promise<unknown> {
  const batch = new TurnBatch(share, 0);
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

  test('the share of failed calls follows the share of failed requests, whatever the batch size', () => {
    // 60 % of requests failing must look like 60 % to the breaker (over its 50 % threshold),
    // and 30 % like 30 %, also in batches of 2, where a majority vote would say 36 % and 9 %.
    expect(failedShare(new FailureShare(), 2, 1, 1000)).toBeCloseTo(0.5, 2);
    expect(failedShare(new FailureShare(), 10, 6, 1000)).toBeCloseTo(0.6, 2);
    expect(failedShare(new FailureShare(), 10, 3, 1000)).toBeCloseTo(0.3, 2);
    // Mixed sizes: the share of failed calls is the mean of the batches' failure shares.
    const batches: Array<[failures: number, size: number]> = [[1, 2], [2, 3], [4, 7], [1, 1], [3, 5], [0, 4]];
    const expected = batches.reduce((sum, [f, n]) => sum + f / n, 0) / batches.length;
    const share = new FailureShare();
    let failed = 0;
    for (let i = 0; i < 6000; i++) if (share.failed(...batches[i % batches.length])) failed++;
    expect(failed / 6000).toBeCloseTo(expected, 2);
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
    const batch = new TurnBatch(new FailureShare(), 0);
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
