import { slotOf } from '../../shared/slot';
import { ProxyError } from '../../proxy/errors';
import { assemble, splitByShard } from '../../proxy/routing/mget';

const shardOf = (slot: number): number => (slot < 8192 ? 0 : 1);

describe('MGET split and reassembly', () => {
  const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);

  test('keys are grouped by shard, each group keeping the request positions', () => {
    const groups = splitByShard('ns', keys, shardOf);
    expect(groups.map((g) => g.shardId).sort()).toEqual([0, 1]);
    for (const g of groups) {
      expect(g.keys.length).toBe(g.positions.length);
      g.keys.forEach((k, i) => {
        expect(keys[g.positions[i]]).toBe(k);
        expect(shardOf(slotOf('ns', k))).toBe(g.shardId);
      });
    }
    expect(groups.reduce((n, g) => n + g.keys.length, 0)).toBe(keys.length);
  });

  test('keys sharing a {tag} land in one group', () => {
    const groups = splitByShard('ns', ['{user1}.a', '{user1}.b', '{user1}.c'], shardOf);
    expect(groups).toHaveLength(1);
    expect(groups[0].positions).toEqual([0, 1, 2]);
  });

  test('reassembly restores the request order; hits, misses and a failed group per key', () => {
    const groups = splitByShard('ns', keys, shardOf);
    const failed = new ProxyError('NODE_UNAVAILABLE', 'node b is unavailable: breaker open', { nodeId: 'b' });
    const outcomes = groups.map((g) =>
      g.shardId === 1 ? failed : g.keys.map((k, i) => (i % 2 === 0 ? [Buffer.from(`v:${k}`), 7, 0, 3] : null)),
    );
    const results = assemble(keys.length, groups, outcomes);
    expect(results).toHaveLength(keys.length);
    const g0 = groups.find((g) => g.shardId === 0)!;
    keys.forEach((key, position) => {
      const r = results.resultAt(position);
      // The positional readers the RESP reply is written from agree with the result objects.
      expect(results.errorAt(position)).toBe(r instanceof Error ? r : undefined);
      expect(results.valueLength(position)).toBe(r instanceof Error || !r.hit ? -1 : r.value.length);
      if (shardOf(slotOf('ns', key)) === 1) {
        expect(r).toBe(failed);
        return;
      }
      const index = g0.positions.indexOf(position);
      if (index % 2 === 0) expect(r).toEqual({ hit: true, value: Buffer.from(`v:${key}`), version: 7, expiresAt: 0, flags: 3 });
      else expect(r).toEqual({ hit: false });
    });
  });
});
