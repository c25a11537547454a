import { decodePayload } from '../../shared/frame';
import { Status } from '../../shared/protocol';
import { AckWaiters } from '../../storage-node/replication/ack-wait';

function setup(maxHeldBytes = Number.POSITIVE_INFINITY) {
  const written: Array<[string, Buffer]> = [];
  const waiters = new AckWaiters<string>((conn, bytes) => written.push([conn, bytes]), maxHeldBytes);
  return { waiters, written };
}

/** The frame at byte `at` of a write: its decoded payload and where it ends. */
function frameAt(bytes: Buffer, at: number): { reply: unknown[]; end: number } {
  const n = bytes.readUInt32BE(at);
  return { reply: decodePayload(bytes.subarray(at + 4, at + 4 + n)), end: at + 4 + n };
}

describe('write acknowledgement holds', () => {
  test('a connection whose held replies pass the cap gets its waiting writes answered WRITE_ACK_TIMEOUT at once, in order', () => {
    const { waiters, written } = setup(10);
    waiters.release(50, 0); // offset 50 is acknowledged
    waiters.wait('c', 1, 40, 1000, Buffer.from('A')); // acknowledged already, not yet released
    waiters.wait('c', 2, 100, 1000, Buffer.from('B'));
    waiters.append('c', Buffer.from('1234'));
    expect(written).toEqual([]);
    waiters.append('c', Buffer.from('56789')); // 11 bytes held > 10
    expect(waiters.holds('c')).toBe(false);
    expect(written).toHaveLength(1);
    const bytes = written[0][1];
    expect(bytes.subarray(0, 1).toString()).toBe('A');
    const { reply: timeout, end } = frameAt(bytes, 1);
    expect(timeout.slice(0, 2)).toEqual([2, Status.WRITE_ACK_TIMEOUT]);
    expect(timeout[2]).toContain('passed 10 bytes');
    expect(bytes.subarray(end).toString()).toBe('123456789');
    expect(waiters.timeouts).toBe(1);
    // The queue's size is counted from what stays: a partial release keeps the cap exact.
    waiters.wait('d', 3, 60, 1000, Buffer.from('12345'));
    waiters.append('d', Buffer.from('x'));
    waiters.wait('d', 4, 90, 1000, Buffer.from('678'));
    waiters.release(60, 0); // releases '12345' and 'x'; '678' (3 bytes) stays
    waiters.append('d', Buffer.from('abcdefg')); // 10 bytes held: at the cap, not over it
    expect(waiters.holds('d')).toBe(true);
    waiters.append('d', Buffer.from('h')); // 11 > 10
    expect(waiters.holds('d')).toBe(false);
    expect(waiters.timeouts).toBe(2);
  });

  test('a held reply and the replies behind it leave in order once the offset is acknowledged', () => {
    const { waiters, written } = setup();
    waiters.wait('c1', 1, 100, 1000, Buffer.from('A'));
    expect(waiters.holds('c1')).toBe(true);
    expect(waiters.holds('c2')).toBe(false);
    waiters.append('c1', Buffer.from('B'));
    waiters.wait('c1', 3, 200, 1000, Buffer.from('C'));
    waiters.append('c1', Buffer.from('D'));
    waiters.release(99, 0);
    expect(written).toEqual([]);
    waiters.release(150, 0);
    expect(written.map(([c, b]) => [c, b.toString()])).toEqual([['c1', 'AB']]);
    waiters.release(200, 0);
    expect(written.map(([c, b]) => [c, b.toString()])).toEqual([['c1', 'AB'], ['c1', 'CD']]);
    expect(waiters.holds('c1')).toBe(false);
    expect(waiters.size).toBe(0);
  });

  test('past its deadline a held write is answered WRITE_ACK_TIMEOUT with its id and offset', () => {
    const { waiters, written } = setup();
    waiters.wait('c', 7, 500, 1000, Buffer.from('never sent'));
    waiters.append('c', Buffer.from('after'));
    waiters.release(0, 999);
    expect(written).toEqual([]);
    waiters.release(0, 1000);
    expect(written).toHaveLength(1);
    const bytes = written[0][1];
    const { reply, end } = frameAt(bytes, 0);
    expect(reply.slice(0, 2)).toEqual([7, Status.WRITE_ACK_TIMEOUT]);
    expect(reply[3]).toBe(500);
    expect(bytes.subarray(end).toString()).toBe('after');
    expect(waiters.timeouts).toBe(1);
  });

  test('connections are independent; a dropped one is forgotten', () => {
    const { waiters, written } = setup();
    waiters.wait('a', 1, 10, 1000, Buffer.from('a'));
    waiters.wait('b', 1, 20, 1000, Buffer.from('b'));
    waiters.drop('b');
    waiters.release(30, 0);
    expect(written.map(([c]) => c)).toEqual(['a']);
  });
});

describe('shutdown of a primary', () => {
  test('failAll answers every waiting write with the status given and writes out the replies behind it, in order', () => {
    const { waiters, written } = setup();
    waiters.release(50, 0);
    waiters.wait('c', 1, 40, 1000, Buffer.from('A')); // acknowledged already
    waiters.wait('c', 2, 100, 1000, Buffer.from('B'));
    waiters.append('c', Buffer.from('xyz'));
    waiters.wait('d', 3, 120, 1000, Buffer.from('C'));
    waiters.failAll(Status.BUSY, 'node shutting down');
    expect(waiters.size).toBe(0);
    expect(written.map(([conn]) => conn)).toEqual(['c', 'd']);
    const c = written[0][1];
    expect(c.subarray(0, 1).toString()).toBe('A');
    const { reply, end } = frameAt(c, 1);
    expect(reply).toEqual([2, Status.BUSY, 'node shutting down', 100]);
    expect(c.subarray(end).toString()).toBe('xyz');
    expect(frameAt(written[1][1], 0).reply).toEqual([3, Status.BUSY, 'node shutting down', 120]);
    expect(waiters.timeouts).toBe(0);
  });
});
