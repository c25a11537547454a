import { backoffDelay, DEFAULT_BACKOFF, formatDelay, RestartTracker, restartLine } from '../../scripts/local-cluster-restart';

/**
 * `npm start`'s restart bookkeeping (scripts/local-cluster-restart.ts) on a fake clock: the delay
 * doubles per consecutive crash of a program up to the cap, a program that stayed up long enough
 * starts over, and programs are counted apart.
 */
describe('backoffDelay', () => {
  test('0.5 s, doubling per attempt, capped at 30 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100, 10_000].map((n) => backoffDelay(n))).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  });

  test('other options', () => {
    const options = { initialMs: 100, maxMs: 1000, stableMs: 5000 };
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, options))).toEqual([100, 100, 200, 400, 800, 1000]);
  });
});

describe('RestartTracker', () => {
  test('consecutive crashes double the delay; each restart is a new start', () => {
    const tracker = new RestartTracker();
    let now = 1_000_000;
    tracker.started('shard0-a', now);
    const plans = [];
    for (let i = 0; i < 9; i++) {
      now += 2000; // up 2 s, then dies
      const plan = tracker.crashed('shard0-a', now);
      plans.push([plan.attempt, plan.delayMs, plan.upMs]);
      now += plan.delayMs;
      tracker.started('shard0-a', now);
    }
    expect(plans).toEqual([
      [1, 500, 2000], [2, 1000, 2000], [3, 2000, 2000], [4, 4000, 2000], [5, 8000, 2000], [6, 16_000, 2000], [7, 30_000, 2000], [8, 30_000, 2000], [9, 30_000, 2000],
    ]);
    expect(tracker.crashes('shard0-a')).toBe(9);
  });

  test('a program up for the stable time starts over at attempt 1; just under it does not', () => {
    const tracker = new RestartTracker();
    tracker.started('proxy', 0);
    expect(tracker.crashed('proxy', 100)).toMatchObject({ attempt: 1, delayMs: 500 });
    tracker.started('proxy', 600);
    expect(tracker.crashed('proxy', 600 + DEFAULT_BACKOFF.stableMs - 1)).toMatchObject({ attempt: 2, delayMs: 1000 });
    tracker.started('proxy', 40_000);
    expect(tracker.crashed('proxy', 40_000 + DEFAULT_BACKOFF.stableMs)).toMatchObject({ attempt: 1, delayMs: 500, upMs: DEFAULT_BACKOFF.stableMs });
  });

  test('programs are counted apart; an unknown program is a first crash', () => {
    const tracker = new RestartTracker({ initialMs: 10, maxMs: 1000, stableMs: 100 });
    tracker.started('etcd', 0);
    tracker.started('control-plane', 0);
    expect(tracker.crashed('etcd', 1)).toMatchObject({ attempt: 1, delayMs: 10 });
    tracker.started('etcd', 11);
    expect(tracker.crashed('etcd', 12)).toMatchObject({ attempt: 2, delayMs: 20 });
    expect(tracker.crashed('control-plane', 50)).toMatchObject({ attempt: 1, delayMs: 10 });
    expect(tracker.crashed('never-started', 5)).toMatchObject({ attempt: 1, delayMs: 10, upMs: 0 });
    expect(tracker.crashes('etcd')).toBe(2);
    expect(tracker.crashes('nobody')).toBe(0);
  });
});

test('the line printed per restart: program, how it ended, delay, attempt', () => {
  expect(restartLine('shard1-b', null, 'SIGKILL', { attempt: 1, delayMs: 500, upMs: 0 })).toBe('restarting shard1-b (exited with SIGKILL) in 500 ms, attempt 1');
  expect(restartLine('proxy', 1, null, { attempt: 7, delayMs: 30_000, upMs: 0 })).toBe('restarting proxy (exited with code 1) in 30 s, attempt 7');
  expect([999, 1000, 1500, 16_000].map(formatDelay)).toEqual(['999 ms', '1 s', '1.5 s', '16 s']);
});
