import { reconnectDelay } from '../../proxy/upstream/backoff';
import { PendingQueue, type ReplyCallback } from '../../proxy/upstream/pending';

type Outcome = { id: number; err: string | null };

function recorder(): { cb: (id: number) => ReplyCallback; seen: Outcome[] } {
  const seen: Outcome[] = [];
  return { seen, cb: (id) => (err) => seen.push({ id, err: err ? err.message : null }) };
}

describe('pending queue: deadlines without a timer per request', () => {
  test('expire fails only entries whose deadline passed, oldest first, and stops at the first live one', () => {
    const q = new PendingQueue(4);
    const { cb, seen } = recorder();
    for (let id = 1; id <= 5; id++) q.push(id, id * 10, cb(id));
    const fail = (c: ReplyCallback): void => c(new Error('TIMEOUT'));
    expect(q.expire(5, fail)).toBe(0);
    expect(q.expire(30, fail)).toBe(3);
    expect(seen.map((o) => o.id)).toEqual([1, 2, 3]);
    expect([q.size, q.waiting, q.expired]).toEqual([5, 2, 3]);
    expect(q.expire(30, fail)).toBe(0); // idempotent
  });

  test('late replies of expired entries are handed back as null; later replies still match', () => {
    const q = new PendingQueue();
    const { cb, seen } = recorder();
    q.push(1, 10, cb(1));
    q.push(2, 20, cb(2));
    q.push(3, 30, cb(3));
    q.expire(20, (c) => c(new Error('TIMEOUT')));
    expect(q.headId).toBe(1);
    expect(q.shift()).toBeNull(); // reply 1, late: dropped
    expect(q.shift()).toBeNull(); // reply 2, late: dropped
    expect(q.headId).toBe(3);
    const live = q.shift();
    expect(live).not.toBeNull();
    live!(null, [3, 0]);
    expect(seen).toEqual([{ id: 1, err: 'TIMEOUT' }, { id: 2, err: 'TIMEOUT' }, { id: 3, err: null }]);
    expect([q.size, q.waiting, q.expired, q.headId]).toEqual([0, 0, 0, -1]);
  });

  test('a reply for a live head advances both pointers', () => {
    const q = new PendingQueue();
    const { cb } = recorder();
    q.push(1, 10, cb(1));
    q.push(2, 20, cb(2));
    expect(q.shift()).not.toBeNull();
    expect(q.expire(15, () => undefined)).toBe(0);
    expect(q.expire(25, () => undefined)).toBe(1);
    expect([q.size, q.waiting, q.expired]).toEqual([1, 0, 1]);
  });

  test('the ring grows while entries wrap around, keeping order and deadlines', () => {
    const q = new PendingQueue(2);
    const { cb, seen } = recorder();
    let next = 1;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < round % 7 + 1; i++) q.push(next, next, cb(next++));
      const c = q.shift();
      c?.(null, []);
    }
    const before = seen.length;
    const expired = q.expire(next, (c) => c(new Error('TIMEOUT')));
    expect(expired).toBe(q.size);
    const ids = seen.map((o) => o.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(seen.length - before).toBe(expired);
  });

  test('each entry keeps its opcode and write time through wrap-around, growth and clear', () => {
    const q = new PendingQueue(4);
    const { cb } = recorder();
    let next = 1;
    const push = (n: number): void => {
      for (let i = 0; i < n; i++, next++) q.push(next, next, cb(next), next % 7);
    };
    push(3);
    q.markWritten(100);
    q.shift();
    q.shift();
    push(2); // wraps around the ring of 4
    expect([q.headId, q.headOp, q.headWrittenAt]).toEqual([3, 3, 100]);
    q.markWritten(200);
    push(6); // grows to 16 while wrapped
    q.markWritten(300);
    const seen: Array<[number, number, number | undefined]> = [];
    while (q.size > 0) {
      seen.push([q.headId, q.headOp, q.headWrittenAt]);
      q.shift();
    }
    expect(seen).toEqual([[3, 3, 100], [4, 4, 200], [5, 5, 200], ...[6, 7, 8, 9, 10, 11].map((id) => [id, id % 7, 300])]);
    expect([q.headOp, q.headWrittenAt]).toEqual([-1, undefined]);
    push(2);
    q.clear();
    push(1);
    q.markWritten(400);
    expect([q.headId, q.headWrittenAt]).toEqual([14, 400]); // the cleared entries are not written again
  });

  test('clear returns only the callers still waiting', () => {
    const q = new PendingQueue();
    const { cb } = recorder();
    for (let id = 1; id <= 4; id++) q.push(id, id, cb(id));
    q.expire(2, () => undefined);
    expect(q.clear()).toHaveLength(2);
    expect([q.size, q.waiting]).toEqual([0, 0]);
  });

  test('a callback that pushes while expiry runs (re-entrancy) is safe', () => {
    const q = new PendingQueue(2);
    const { cb, seen } = recorder();
    q.push(1, 1, cb(1));
    q.push(2, 2, cb(2));
    q.expire(2, (c) => {
      c(new Error('TIMEOUT'));
      q.push(100 + q.size, 1000, cb(100 + q.size)); // forces a grow in the middle of the loop
    });
    expect(seen.map((o) => o.id)).toEqual([1, 2]);
    expect(q.waiting).toBe(2);
  });
});

describe('reconnect backoff', () => {
  const options = { baseMs: 50, maxMs: 2000 };

  test('doubles per attempt up to the cap, with jitter in [ceiling/2, ceiling]', () => {
    expect(reconnectDelay(0, options, () => 0)).toBe(25);
    expect(reconnectDelay(0, options, () => 1)).toBe(50);
    expect(reconnectDelay(3, options, () => 1)).toBe(400);
    expect(reconnectDelay(20, options, () => 0)).toBe(1000);
    expect(reconnectDelay(20, options, () => 1)).toBe(2000);
    expect(reconnectDelay(5000, options, () => 0.5)).toBe(1500);
  });
});
