import { ProxyError, ProxyErrorCode } from '../../proxy/errors';
import { TurnBatch } from '../../proxy/upstream/breaker';
import { nodeUnavailable, timeoutError } from '../../proxy/upstream/failures';

/** A closed batch of `outcomes` (null = a reply): 'resolved', or what it rejected with. */
async function run(outcomes: Array<Error | null>): Promise<unknown> {
  const batch = new TurnBatch(50, 0);
  let settled: unknown = 'pending';
  batch.settled.then(() => (settled = 'resolved'), (err: unknown) => (settled = err));
  for (const _ of outcomes) batch.add();
  batch.close();
  for (const outcome of outcomes) batch.settle(outcome);
  await Promise.resolve();
  return settled;
}

describe('TurnBatch: a node\'s requests of one turn as one breaker call', () => {
  const timeout = timeoutError('n1', 50);
  const refused = nodeUnavailable('n1', 'connection lost');

  test('a batch of one is its request: a reply resolves, a transport failure rejects with it', async () => {
    expect(await run([null])).toBe('resolved');
    expect(await run([timeout])).toBe(timeout);
  });

  test('it fails only when more than the threshold (50 %) of its requests failed on transport, with the first failure', async () => {
    expect(await run([timeout, ...Array(9).fill(null)])).toBe('resolved');
    expect(await run([null, timeout, null, refused])).toBe('resolved'); // 2 of 4: not over 50 %
    expect(await run([null, refused, timeout, timeout, null])).toBe(refused); // 3 of 5
  });

  test('errors that are not transport failures count as replies', async () => {
    const other = new ProxyError(ProxyErrorCode.BAD_REQUEST, 'bad');
    expect(await run([other, other, other])).toBe('resolved');
  });

  test('it waits for the close of its turn and for every outcome', async () => {
    const batch = new TurnBatch(50, 0);
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
