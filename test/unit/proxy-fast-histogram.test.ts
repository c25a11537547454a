import client from 'prom-client';
import { FastHistogram } from '../../proxy/fast-histogram';

describe('FastHistogram', () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const values = [0.0005, 0.001, 0.002, 0.05, 0.05, 0.5, 2, 7];

  it('exposes the same text as prom-client Histogram for the same observations', async () => {
    const theirs = new client.Registry();
    const ours = new client.Registry();
    const reference = new client.Histogram({ name: 'h_seconds', help: 'h', labelNames: ['front', 'op'], buckets, registers: [theirs] });
    const fast = new FastHistogram({ name: 'h_seconds', help: 'h', labelNames: ['front', 'op'], buckets, registers: [ours] });
    const a = fast.bind({ front: 'resp', op: 'get' });
    const b = fast.bind({ op: 'set', front: 'ws' });
    for (const v of values) {
      reference.observe({ front: 'resp', op: 'get' }, v);
      a.observe(v);
    }
    reference.observe({ front: 'ws', op: 'set' }, 0.003);
    b.observe(0.003);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('binds one series per label set, removes and resets', async () => {
    const registry = new client.Registry();
    const fast = new FastHistogram({ name: 'x_seconds', help: 'x', labelNames: ['node'], buckets, registers: [registry] });
    expect(fast.bind({ node: 'a' })).toBe(fast.bind({ node: 'a' }));
    fast.bind({ node: 'a' }).observe(0.5);
    fast.bind({ node: 'b' }).observe(0.5);
    fast.remove({ node: 'b' });
    let text = await registry.metrics();
    expect(text).toContain('x_seconds_count{node="a"} 1');
    expect(text).not.toContain('node="b"');
    registry.resetMetrics();
    text = await registry.metrics();
    expect(text).toContain('x_seconds_count{node="a"} 0');
  });
});
