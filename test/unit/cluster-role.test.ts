import { OpError } from '../../shared/errors';
import { Status } from '../../shared/protocol';
import { ClusterRole, LeaseProof, NOT_JOINED, retryDelayMs, type RoleChange } from '../../storage-node/cluster';

const SELF = '10.0.0.1:7000';
const OTHER = '10.0.0.2:7000';

/** A role on a fake monotonic clock, with the changes it reported. */
function setup(marginMs = 500) {
  const clock = { now: 0 };
  const changes: RoleChange[] = [];
  const role = new ClusterRole({ nodeId: 'a', addr: SELF, now: () => clock.now, stepDownMarginMs: marginMs, onChange: (c) => changes.push(c) });
  return { clock, changes, role };
}

/** The NOT_PRIMARY detail of a refused write, or 'accepted'. */
function outcome(role: ClusterRole, epoch: number): unknown {
  try {
    role.check(epoch);
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(OpError);
    expect((err as OpError).status).toBe(Status.NOT_PRIMARY);
    return (err as OpError).detail;
  }
}

describe('ClusterRole (write gate)', () => {
  test('remembers, per epoch held, the wall-clock time of the last accepted write (refusals do not count)', () => {
    const wall = { now: 1000 };
    const clock = { now: 0 };
    const role = new ClusterRole({ nodeId: 'a', addr: SELF, now: () => clock.now, stepDownMarginMs: 500, wallClock: () => wall.now });
    expect(role.lastWriteByEpoch()).toEqual([]);
    role.becomePrimary(5, { provenUntil: 3000 });
    role.check(5);
    wall.now = 1010;
    role.check(5);
    outcome(role, 4);
    expect(role.lastWriteByEpoch()).toEqual([[5, 1010]]);
    role.stepDown('test');
    wall.now = 1020;
    outcome(role, 5);
    role.becomePrimary(9, { provenUntil: 3000 });
    wall.now = 1030;
    role.check(9);
    expect(role.lastWriteByEpoch()).toEqual([[5, 1010], [9, 1030]]);
  });

  test('a replica refuses every write and names the primary it knows', () => {
    const { role } = setup();
    expect(role.role).toBe('replica');
    expect(outcome(role, 0)).toEqual([0, null]);
    role.observePrimary({ nodeId: 'b', addr: OTHER, epoch: 7 });
    expect(role.epoch).toBe(7);
    for (const epoch of [0, 6, 7, 8]) expect(outcome(role, epoch)).toEqual([7, OTHER]);
    role.observePrimary(null);
    expect(outcome(role, 7)).toEqual([0, null]);
  });

  test('a primary takes only its own epoch', () => {
    const { role, changes } = setup();
    expect(role.becomePrimary(12, { provenUntil: 3000 })).toBe(true);
    expect(changes).toEqual([{ role: 'primary', epoch: 12, gaveUp: 0, reason: 'won the election' }]);
    expect(outcome(role, 12)).toBe('accepted');
    for (const epoch of [0, 11, 13]) expect(outcome(role, epoch)).toEqual([12, SELF]);
    expect(role.view).toEqual({ nodeId: 'a', addr: SELF, epoch: 12 });
  });

  test('margin boundary: accepted while now < provenUntil - margin, then stepped down for good', () => {
    const { role, clock, changes } = setup(500);
    const proof = { provenUntil: 2000 };
    role.becomePrimary(5, proof);
    clock.now = 1499;
    expect(outcome(role, 5)).toBe('accepted');
    clock.now = 1500;
    expect(outcome(role, 5)).toEqual([0, null]);
    expect(role.role).toBe('replica');
    expect(changes.at(-1)).toEqual({ role: 'replica', epoch: 0, gaveUp: 5, reason: 'cannot prove the lease is alive' });
    proof.provenUntil = 10_000; // a late keep-alive answer does not bring the epoch back
    expect(outcome(role, 5)).toEqual([0, null]);
    expect(role.becomePrimary(5, proof)).toBe(false);
    expect(role.becomePrimary(9, proof)).toBe(true);
    expect(outcome(role, 9)).toBe('accepted');
  });

  test('a zero margin still refuses at the proven instant itself', () => {
    const { role, clock } = setup(0);
    role.becomePrimary(3, { provenUntil: 1000 });
    clock.now = 999.9;
    expect(outcome(role, 3)).toBe('accepted');
    clock.now = 1000;
    expect(outcome(role, 3)).toEqual([0, null]);
  });

  test('refresh() steps down without a write', () => {
    const { role, clock } = setup();
    role.becomePrimary(4, { provenUntil: 2000 });
    expect(role.refresh()).toBe(true);
    clock.now = 1600;
    expect(role.refresh()).toBe(false);
    expect(role.role).toBe('replica');
  });

  test('cannot become primary without a proof that holds now', () => {
    const { role, clock } = setup();
    clock.now = 5000;
    expect(role.becomePrimary(2, { provenUntil: 5400 })).toBe(false);
    expect(role.becomePrimary(2, { provenUntil: Number.NEGATIVE_INFINITY })).toBe(false);
    expect(role.role).toBe('replica');
  });

  test('a primary whose key is deleted or replaced steps down and follows the new one', () => {
    const { role, changes } = setup();
    role.becomePrimary(10, { provenUntil: 1e9 });
    role.observePrimary({ nodeId: 'a', addr: SELF, epoch: 10 }); // its own key: nothing changes
    expect(role.role).toBe('primary');
    role.observePrimary(null);
    expect(changes.at(-1)).toMatchObject({ role: 'replica', gaveUp: 10, reason: 'the primary key was deleted' });
    role.observePrimary({ nodeId: 'b', addr: OTHER, epoch: 14 });
    expect(outcome(role, 10)).toEqual([14, OTHER]);

    const second = setup().role;
    second.becomePrimary(10, { provenUntil: 1e9 });
    second.observePrimary({ nodeId: 'b', addr: OTHER, epoch: 14 });
    expect(second.role).toBe('replica');
    expect(outcome(second, 10)).toEqual([14, OTHER]);
  });

  test('its own key of an epoch it gave up is not shown as the primary', () => {
    const { role } = setup();
    role.becomePrimary(10, { provenUntil: 1e9 });
    expect(role.stepDown('resign requested')).toBe(10);
    expect(role.stepDown('again')).toBe(0);
    role.observePrimary({ nodeId: 'a', addr: SELF, epoch: 10 });
    expect(role.view).toBeNull();
    expect(outcome(role, 10)).toEqual([0, null]);
  });

  test('step-down after missed keep-alives, from a real LeaseProof', () => {
    const { role, clock } = setup(500);
    const proof = new LeaseProof();
    proof.granted(0, 2);
    role.becomePrimary(8, proof);
    for (const t of [10, 677, 1344]) {
      proof.fired(t);
      clock.now = t + 5;
      proof.answered(2, clock.now);
    }
    expect(proof.provenUntil).toBe(3344);
    for (const t of [2011, 2678]) proof.fired(t); // etcd stops answering
    clock.now = 2843;
    expect(outcome(role, 8)).toBe('accepted');
    clock.now = 2844;
    expect(outcome(role, 8)).toEqual([0, null]);
  });

  test('NOT_JOINED refuses everything with no primary', () => {
    expect(() => NOT_JOINED.check(0)).toThrow(OpError);
    try {
      NOT_JOINED.check(4);
    } catch (err) {
      expect((err as OpError).detail).toEqual([0, null]);
    }
  });
});

describe('LeaseProof', () => {
  test('the grant proves TTL from the moment the request left', () => {
    const proof = new LeaseProof();
    expect(proof.provenUntil).toBe(Number.NEGATIVE_INFINITY);
    proof.granted(100, 3);
    expect(proof.provenUntil).toBe(3100);
  });

  test('answers pair with the oldest unanswered keep-alive', () => {
    const proof = new LeaseProof();
    proof.granted(0, 2);
    proof.fired(500);
    proof.fired(1000);
    proof.answered(2, 1200); // the answer to the keep-alive fired at 500
    expect(proof.provenUntil).toBe(2500);
    proof.answered(2, 1210);
    expect(proof.provenUntil).toBe(3000);
    proof.answered(2, 1220); // nothing waiting: proves nothing
    expect(proof.provenUntil).toBe(3000);
    expect(proof.waiting).toBe(0);
  });

  test('the bound never moves backwards', () => {
    const proof = new LeaseProof();
    proof.granted(1000, 2);
    proof.fired(900);
    proof.answered(2, 950);
    expect(proof.provenUntil).toBe(3000);
  });

  test('TTL 0 or revoke() voids the proof', () => {
    const proof = new LeaseProof();
    proof.granted(0, 2);
    proof.fired(100);
    proof.answered(0, 150);
    expect(proof.provenUntil).toBe(Number.NEGATIVE_INFINITY);
    proof.fired(200);
    proof.answered(2, 250);
    expect(proof.provenUntil).toBe(Number.NEGATIVE_INFINITY);
    const other = new LeaseProof();
    other.granted(0, 2);
    other.revoke();
    expect(other.provenUntil).toBe(Number.NEGATIVE_INFINITY);
  });

  test('keep-alives left by a failed stream hold the bound back until they are two TTLs old', () => {
    const proof = new LeaseProof();
    proof.granted(0, 2);
    proof.fired(600);
    proof.streamFailed(); // the keep-alive of 600 may never be answered
    proof.fired(800);
    proof.answered(2, 850); // might be the late answer of 600: counted as such
    expect(proof.provenUntil).toBe(2600);
    proof.fired(1500);
    proof.answered(2, 1510);
    expect(proof.provenUntil).toBe(2800); // one behind, still cautious
    proof.fired(2000);
    proof.streamFailed();
    proof.fired(6000);
    proof.answered(2, 6010); // orphans of 1500 and 2000 are older than 2 TTLs: dropped
    expect(proof.provenUntil).toBe(8000);
  });
});

describe('LeaseProof after a lost connection', () => {
  test('keep-alives owed by a connection that is gone are forgotten, so the next stream proves the lease again', () => {
    const proof = new LeaseProof();
    proof.granted(0, 2);
    // etcd goes away: each keep-alive fired while the client reconnects fails with UNAVAILABLE
    for (let t = 700; t < 3000; t += 100) {
      proof.fired(t);
      proof.streamFailed(true);
    }
    expect(proof.waiting).toBe(0);
    // etcd is back: a new stream, answered in order
    proof.fired(3100);
    proof.fired(3700);
    proof.answered(2, 3800);
    expect(proof.provenUntil).toBe(5100);
    proof.answered(2, 3810);
    expect(proof.provenUntil).toBe(5700);
  });

  test('the client\'s reconnect loop after an etcd restart (recorded): the proof holds again within a TTL, where orphans kept it behind for good', () => {
    // fired/failed every ~100 ms while etcd is down, then one keep-alive per TTL/3 on the new stream, answered at once
    const replay = (connectionLost: boolean): number[] => {
      const proof = new LeaseProof();
      proof.granted(0, 2);
      for (let t = 200; t <= 1400; t += 667) {
        proof.fired(t);
        proof.answered(2, t + 1);
      }
      proof.fired(2067); // owed by the stream that drops
      for (let t = 2100; t < 4000; t += 100) {
        proof.streamFailed(connectionLost);
        proof.fired(t);
      }
      proof.streamFailed(connectionLost);
      const margins: number[] = [];
      for (let t = 4100; t < 12_000; t += 667) {
        proof.fired(t);
        proof.answered(2, t + 2);
        margins.push(proof.provenUntil - (t + 2));
      }
      return margins;
    };
    expect(replay(true).slice(1).every((m) => m > 1000)).toBe(true);
    expect(replay(false).slice(-3).every((m) => m < 500)).toBe(true); // the old rule: below the step-down margin forever
  });

  test('without forgetting them (a stream failed for another reason) the orphans only hold the bound back until two TTLs old', () => {
    const proof = new LeaseProof();
    proof.granted(0, 2);
    proof.fired(700);
    proof.streamFailed(false);
    proof.fired(3100);
    proof.answered(2, 3200); // counted as the late answer of 700
    expect(proof.provenUntil).toBe(2700);
  });
});

describe('retryDelayMs', () => {
  test('doubles from 200 ms to 5 s with +-25% jitter', () => {
    expect(retryDelayMs(0, () => 0.5)).toBe(200);
    expect(retryDelayMs(3, () => 0.5)).toBe(1600);
    expect(retryDelayMs(30, () => 0.5)).toBe(5000);
    expect(retryDelayMs(0, () => 0)).toBe(150);
    expect(retryDelayMs(30, () => 0.999999)).toBeLessThanOrEqual(6250);
  });
});
