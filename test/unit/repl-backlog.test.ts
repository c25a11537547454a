import { Backlog, decideSync } from '../../storage-node/replication/backlog';
import { campaignDelayMs, MAX_CAMPAIGN_DELAY_MS, rankOf } from '../../storage-node/cluster/offsets';
import type { ReplOffsetRecord } from '../../shared/topology/schema';

const bytes = (from: number, n: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (from + i) & 0xff));

describe('backlog ring', () => {
  test('offsets start where asked and grow by what is appended', () => {
    const b = new Backlog(64, 1000);
    expect([b.start, b.end]).toEqual([1000, 1000]);
    expect(b.append(bytes(0, 10))).toBe(1010);
    expect(b.read(1000)).toEqual(bytes(0, 10));
    expect(b.read(1004, 3)).toEqual(bytes(4, 3));
    expect(b.read(1010)).toEqual(Buffer.alloc(0));
  });

  test('wraps around: the oldest bytes go, the rest read back in order', () => {
    const b = new Backlog(64);
    let offset = 0;
    for (let i = 0; i < 20; i++) offset = b.append(bytes(offset, 7));
    expect(b.end).toBe(140);
    expect(b.start).toBe(140 - 64);
    expect(b.read(b.start)).toEqual(bytes(b.start, 64));
    expect(b.read(100, 20)).toEqual(bytes(100, 20));
  });

  test('"still holds offset X": only [start, end]', () => {
    const b = new Backlog(32);
    b.append(bytes(0, 25));
    b.append(bytes(25, 25));
    expect(b.holds(50)).toBe(true);
    expect(b.holds(18)).toBe(true);
    expect(b.holds(17)).toBe(false);
    expect(b.holds(51)).toBe(false);
    expect(() => b.read(10)).toThrow(RangeError);
  });

  test('a frame longer than the ring leaves nothing held', () => {
    const b = new Backlog(16);
    b.append(bytes(0, 5));
    b.append(bytes(5, 40));
    expect([b.start, b.end]).toEqual([45, 45]);
    expect(b.holds(5)).toBe(false);
    b.append(bytes(45, 3));
    expect(b.read(45)).toEqual(bytes(45, 3));
  });

  test('reset restarts the stream at an offset', () => {
    const b = new Backlog(16);
    b.append(bytes(0, 10));
    b.reset(500);
    expect([b.start, b.end, b.holds(5)]).toEqual([500, 500, false]);
  });

  test('the read copy does not change when the ring is overwritten', () => {
    const b = new Backlog(16);
    b.append(bytes(0, 10));
    const copy = b.read(0);
    b.append(Buffer.alloc(16, 0xee));
    expect(copy).toEqual(bytes(0, 10));
  });
});

describe('PSYNC decision', () => {
  const backlog = new Backlog(100);
  for (let i = 0; i < 15; i++) backlog.append(Buffer.alloc(10)); // holds [50, 150]
  const me = { replId: 'B', replId2: 'A', offset2: 120 };

  test('same id and held offset: continue', () => {
    expect(decideSync({ replId: 'B', offset: 140 }, me, backlog)).toEqual({ kind: 'continue', offset: 140 });
  });

  test('the previous primary\'s id up to the promotion point: continue (PSYNC2)', () => {
    expect(decideSync({ replId: 'A', offset: 120 }, me, backlog)).toEqual({ kind: 'continue', offset: 120 });
  });

  test('the previous id past the promotion point (divergent writes): full', () => {
    expect(decideSync({ replId: 'A', offset: 121 }, me, backlog).kind).toBe('full');
  });

  test('an offset the backlog lost, an unknown id or no history: full', () => {
    expect(decideSync({ replId: 'B', offset: 40 }, me, backlog).kind).toBe('full');
    expect(decideSync({ replId: 'C', offset: 140 }, me, backlog).kind).toBe('full');
    expect(decideSync({ replId: '', offset: 0 }, me, backlog).kind).toBe('full');
    expect(decideSync({ replId: 'B', offset: -1 }, me, backlog).kind).toBe('full');
  });

  test('no secondary id: only the own id continues', () => {
    expect(decideSync({ replId: '', offset: 100 }, { replId: 'B', replId2: '', offset2: 0 }, backlog).kind).toBe('full');
  });
});

describe('election preference', () => {
  const rec = (offset: number): ReplOffsetRecord => ({ role: 'replica', replId: 'x', offset, at: 0 });
  const records = new Map([['a', rec(100)], ['b', rec(200)], ['c', rec(300)], ['old', rec(900)]]);

  test('rank counts the candidates strictly ahead, leaving out the old primary and itself', () => {
    const exclude = new Set(['old']);
    expect(rankOf(300, records, new Set([...exclude, 'c']))).toBe(0);
    expect(rankOf(200, records, new Set([...exclude, 'b']))).toBe(1);
    expect(rankOf(100, records, new Set([...exclude, 'a']))).toBe(2);
    expect(rankOf(100, records, new Set(['a']))).toBe(3);
  });

  test('the delay grows with the rank and stays bounded', () => {
    expect(campaignDelayMs(0)).toBe(0);
    expect(campaignDelayMs(1)).toBeGreaterThan(0);
    expect(campaignDelayMs(2)).toBeGreaterThan(campaignDelayMs(1));
    expect(campaignDelayMs(50)).toBe(MAX_CAMPAIGN_DELAY_MS);
  });
});
