import { budgetExhausted, ConnGuard, frameTooSlow, sweepPeriodMs, tooManyConnections, Verdict, type GuardedConn, type GuardLimits } from '../../storage-node/conn-guard';

const LIMITS: GuardLimits = { maxConnections: 10, idleTimeoutMs: 1000, requestTimeoutMs: 200, inputBudget: 100 };

function conn(at = 0): GuardedConn {
  return { lastData: at, partialSince: at, buffered: 0, quiet: false, parked: false };
}

describe('connection guard (pure part)', () => {
  test('the sweep runs every tenth of the shorter timeout, from 10 ms to 1 s', () => {
    expect(sweepPeriodMs({ idleTimeoutMs: 300_000, requestTimeoutMs: 10_000 })).toBe(1000);
    expect(sweepPeriodMs({ idleTimeoutMs: 0, requestTimeoutMs: 300 })).toBe(30);
    expect(sweepPeriodMs({ idleTimeoutMs: 50, requestTimeoutMs: 0 })).toBe(10);
    expect(sweepPeriodMs({ idleTimeoutMs: 0, requestTimeoutMs: 0 })).toBe(1000);
  });

  test('an incomplete frame is stamped when it begins, and only then', () => {
    const guard = new ConnGuard(LIMITS, 0);
    const c = conn();
    guard.tick(10);
    expect(guard.account(c, 3, 3)).toBe(true); // a header's first 3 bytes
    expect(c.partialSince).toBe(10);
    guard.tick(50);
    guard.account(c, 8, 5); // the same frame goes on
    expect(c.partialSince).toBe(10);
    guard.tick(90);
    guard.account(c, 4, 20); // it completed, and a new one began in the same chunk
    expect(c.partialSince).toBe(90);
    guard.account(c, 0, 4); // complete, nothing held
    expect(c.buffered).toBe(0);
    expect(guard.buffered).toBe(0);
  });

  test('the budget is the sum over connections; crossing it is reported, releasing gives it back', () => {
    const guard = new ConnGuard(LIMITS, 0);
    const a = conn();
    const b = conn();
    expect(guard.account(a, 60, 60)).toBe(true);
    expect(guard.account(b, 41, 41)).toBe(false);
    expect(guard.buffered).toBe(101);
    guard.release(b);
    guard.release(b); // idempotent
    expect(guard.buffered).toBe(60);
    expect(guard.account(b, 40, 40)).toBe(true);
    guard.release(a);
    guard.release(b);
    expect(guard.buffered).toBe(0);
  });

  test('a frame held past the request timeout (plus one sweep period) is overdue, never before', () => {
    const guard = new ConnGuard(LIMITS, 0);
    const period = guard.periodMs;
    const c = conn();
    guard.account(c, 5, 5);
    guard.tick(200 + period - 1);
    expect(guard.overdue(c)).toBe(Verdict.KEEP);
    guard.tick(200 + period);
    expect(guard.overdue(c)).toBe(Verdict.INCOMPLETE);
    c.quiet = true; // quiet connections are exempt from idle only
    expect(guard.overdue(c)).toBe(Verdict.INCOMPLETE);
  });

  test('idle past the idle timeout is overdue unless quiet; a parked connection is never late', () => {
    const guard = new ConnGuard(LIMITS, 0);
    const c = conn();
    guard.tick(1000 + guard.periodMs);
    expect(guard.overdue(c)).toBe(Verdict.IDLE);
    c.quiet = true;
    expect(guard.overdue(c)).toBe(Verdict.KEEP);
    const parked = conn();
    parked.parked = true;
    guard.account(parked, 5, 5);
    guard.tick(10_000);
    expect(guard.overdue(parked)).toBe(Verdict.KEEP);
    parked.parked = false;
    expect(guard.overdue(parked)).toBe(Verdict.KEEP); // its clocks restarted when it was let go
    expect(parked.lastData).toBe(10_000);
  });

  test('timeouts of 0 never fire', () => {
    const guard = new ConnGuard({ ...LIMITS, idleTimeoutMs: 0, requestTimeoutMs: 0 }, 0);
    const c = conn();
    guard.account(c, 5, 5);
    guard.tick(1e9);
    expect(guard.overdue(c)).toBe(Verdict.KEEP);
  });

  test('refusal messages name the limit and nothing the peer sent', () => {
    expect(tooManyConnections(3)).toBe('max number of connections reached (3)');
    expect(frameTooSlow(300)).toBe('frame not completed within 300 ms');
    expect(budgetExhausted(1024)).toMatch(/^input buffer budget exhausted \(1024 bytes/);
  });
});
