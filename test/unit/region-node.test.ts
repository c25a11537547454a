import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RegionSpool } from '../../storage-node/region/spool';
import { VersionTimeline } from '../../storage-node/region/timeline';

describe('the version timeline (when was version v written?)', () => {
  test('an entry written after a time is not taken for one written before it; one written before is', () => {
    const t = new VersionTimeline();
    t.sample(10, 1000);
    t.sample(10, 1500); // quiet: the clock was still 10 at 1500
    t.sample(11, 1510); // version 11 written between 1500 and 1510
    t.sample(30, 2000);
    expect(t.writtenAfter(11)).toBe(1500);
    expect(t.writtenBefore(11, 1400)).toBe(false); // written after 1500: an invalidation from 1400 keeps it
    expect(t.writtenBefore(11, 1505)).toBe(true); // may be before 1505: removed (a miss, never a stale hit)
    expect(t.writtenBefore(31, 1990)).toBe(false);
    expect(t.writtenBefore(5, 0)).toBe(true); // older than every sample: before anything recent
  });

  test('versions that came in one jump (a promotion, a migration) count as written before anything', () => {
    const t = new VersionTimeline();
    t.sample(10, 1000);
    t.sample(500, 2000);
    expect(t.writtenBefore(400, 900)).toBe(false); // the samples say: after 1000
    t.floor = 500;
    expect(t.writtenBefore(400, 900)).toBe(true);
    expect(t.writtenBefore(501, 1500)).toBe(false);
  });

  test('the ring keeps the newest samples', () => {
    const t = new VersionTimeline();
    for (let i = 1; i <= 70_000; i++) t.sample(i, i * 10);
    expect(t.writtenAfter(69_999)).toBe(69_998 * 10);
    expect(t.writtenAfter(2)).toBe(Number.NEGATIVE_INFINITY); // fell out of the ring
  });
});

describe('the region spool', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spool-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('invalidations survive a restart until acknowledged', () => {
    const a = new RegionSpool('eu', 100, dir);
    a.add('ns', 'k1', null, 1);
    a.add('ns', null, 'tag', 2);
    a.add('ns', 'k3', null, 3);
    a.flush();
    a.ack(0);
    a.flush();
    const b = new RegionSpool('eu', 100, dir); // a restart
    expect(b.peek(10).map((i) => [i.seq, i.key, i.tag])).toEqual([[1, null, 'tag'], [2, 'k3', null]]);
    b.add('ns', 'k4', null, 4);
    expect(b.peek(10).at(-1)?.seq).toBe(3); // seqs go on
    expect(b.depth).toBe(3);
    expect(b.oldestAt).toBe(2);
  });

  test('a full spool spills into one wholesale invalidation per namespace, and says so', () => {
    const s = new RegionSpool('eu', 100, dir);
    for (let i = 0; i < 100; i++) s.add(i % 2 === 0 ? 'a' : 'b', `k${i}`, null, i);
    s.add('c', 'k', null, 500);
    expect(s.overflows).toBe(1);
    expect(s.peek(10).map((i) => [i.ns, i.key, i.tag])).toEqual([['a', null, null], ['b', null, null], ['c', 'k', null]]);
    s.flush();
    expect(new RegionSpool('eu', 100, dir).depth).toBe(3);
  });

  test('without a data dir it keeps invalidations in memory only', () => {
    const s = new RegionSpool('eu', 10, undefined);
    s.add('ns', 'k', null, 1);
    s.flush();
    s.ack(0);
    expect([s.depth, s.sent]).toEqual([0, 1]);
  });

  test('a disk that refuses keeps the invalidations in memory and says why', () => {
    const notADir = path.join(dir, 'file');
    fs.writeFileSync(notADir, 'x');
    const s = new RegionSpool('eu', 10, notADir);
    expect(s.diskError).toMatch(/cannot be made/);
    s.add('ns', 'k', null, 1);
    s.flush();
    expect(s.diskError).toMatch(/cannot be written/);
    expect(s.peek(5).map((i) => i.key)).toEqual(['k']);
    s.ack(0);
    expect(s.depth).toBe(0);
  });

  test('a line cut by a crash is skipped', () => {
    const s = new RegionSpool('eu', 10, dir);
    s.add('ns', 'k', null, 1);
    s.flush();
    fs.appendFileSync(path.join(dir, 'regions', 'eu.spool'), '{"seq":1,"ns":"n');
    expect(new RegionSpool('eu', 10, dir).depth).toBe(1);
  });
});
