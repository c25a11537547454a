import { markdownTable } from '../../bench/markdown';
import { formatMemory, formatTable, type CollectionFigures, type MemoryFigures, type SystemFigures } from '../../bench/report';
import type { LoadResult } from '../../bench/load-task';

const run = (opsPerSec: number, p50Us = 100, p99Us = 400): LoadResult => ({
  ok: true, ops: opsPerSec, seconds: 1, opsPerSec, misses: 0, errors: 0, serverCpuSeconds: 0.5,
  samples: opsPerSec, meanUs: p50Us, p50Us, p99Us, p999Us: p99Us * 2, maxUs: p99Us * 4,
});

const memory = (perItem: number): MemoryFigures => ({ items: 1000, itemsStored: 1000, rssEmpty: 10_000_000, rssLoaded: 10_000_000 + perItem * 1000, loadOpsPerSec: 50_000 });

const collections = (hash: number, set: number): CollectionFigures => ({
  hashMemory: memory(hash),
  setMemory: memory(set),
  throughput: { hset: run(100_000), hget: run(200_000), sadd: run(120_000), sismember: run(220_000, 80, 300) },
});

const system = (name: string, c?: CollectionFigures): SystemFigures => ({
  name, throughput: { set: run(300_000), get: run(400_000) }, memory: memory(200), collections: c,
});

const rowOf = (lines: string[], metric: string): string[] | undefined => {
  const line = lines.find((l) => l.startsWith(`| ${metric} `));
  return line?.split('|').slice(1, -1).map((c) => c.trim());
};

describe('formatTable', () => {
  it('prints hash and set memory rows with the 1.5x target, and the collection throughput rows', () => {
    const lines = formatTable(system('shardcache', collections(600, 450)), system('redis', collections(400, 1000)));
    expect(rowOf(lines, 'hash RSS/item delta (B)')).toEqual(['hash RSS/item delta (B)', '600.0', '400.0', '1.50x', '<= 1.5x redis: met (1.500x)']);
    expect(rowOf(lines, 'set RSS/item delta (B)')).toEqual(['set RSS/item delta (B)', '450.0', '1000.0', '0.45x', '<= 1.5x redis: met (0.450x)']);
    expect(rowOf(lines, 'HSET ops/s')?.slice(1, 4)).toEqual(['100,000', '100,000', '1.00x']);
    expect(rowOf(lines, 'SISMEMBER p50 (µs)')?.slice(1, 3)).toEqual(['80.0', '80.0']);
    expect(rowOf(lines, 'SISMEMBER p99 (µs)')?.slice(1, 3)).toEqual(['300.0', '300.0']);
    expect(rowOf(lines, 'HGET ops/s')).toBeDefined();
    expect(rowOf(lines, 'SADD p99 (µs)')).toBeDefined();
  });

  it('says NOT met when a collection takes more than 1.5x redis-server, and no redis when there is none', () => {
    const over = formatTable(system('shardcache', collections(700, 450)), system('redis', collections(400, 1000)));
    expect(rowOf(over, 'hash RSS/item delta (B)')?.[4]).toBe('<= 1.5x redis: NOT met (1.750x)');
    const alone = formatTable(system('shardcache', collections(700, 450)), undefined);
    expect(rowOf(alone, 'set RSS/item delta (B)')?.slice(2)).toEqual(['-', '-', '<= 1.5x redis: no redis to compare']);
  });

  it('leaves the collection rows out when the collection part was skipped, and keeps the string rows', () => {
    const lines = formatTable(system('shardcache'), system('redis'));
    expect(lines.some((l) => l.includes('hash RSS') || l.includes('HSET'))).toBe(false);
    expect(rowOf(lines, 'RSS/item delta (B)')?.slice(1, 4)).toEqual(['200.0', '200.0', '1.00x']);
    expect(lines).toHaveLength(2 + 12);
  });
});

describe('formatMemory', () => {
  it('names the command that loaded the items', () => {
    expect(formatMemory('redis', memory(400), 'HSET')[0]).toBe('  redis: loaded 1,000 items at 50,000 HSET/s; items stored: 1,000');
    expect(formatMemory('redis', memory(400))[0]).toContain('SET/s');
  });
});

describe('markdownTable', () => {
  it('pads every column to its widest cell, right-aligning the columns asked for', () => {
    expect(markdownTable(['name', 'n'], [['a', '1,000'], ['long name', '7']], (col) => col === 1)).toEqual([
      '| name      |     n |',
      '|-----------|-------|',
      '| a         | 1,000 |',
      '| long name |     7 |',
    ]);
    expect(markdownTable(['x'], [])).toEqual(['| x |', '|---|']);
  });
});
