import { Registry } from 'prom-client';
import { Op, Status } from '../../shared/protocol';
import { UpstreamMetrics } from '../../proxy/upstream/metrics';

describe('upstream metrics: opcodes above 31', () => {
  test('FILL_LEASE, FILL and FILL_RELEASE are counted under their own names, apart from GET and friends', async () => {
    const registry = new Registry();
    const metrics = new UpstreamMetrics(registry, () => []);
    const node = metrics.forNode('n1');
    node.reply(Op.GET, Status.OK, 0.001);
    node.reply(Op.FILL_RELEASE, Status.OK, 0.001);
    node.reply(Op.FILL_LEASE, Status.LEASE_HELD, 0.001);
    node.reply(Op.FILL, Status.LEASE_LOST, 0.001);
    const text = await registry.metrics();
    expect(text).toContain('shardcache_proxy_upstream_requests_total{node="n1",op="get",status="OK"} 1');
    expect(text).toContain('shardcache_proxy_upstream_requests_total{node="n1",op="fill_release",status="OK"} 1');
    expect(text).toContain('shardcache_proxy_upstream_requests_total{node="n1",op="fill_lease",status="LEASE_HELD"} 1');
    expect(text).toContain('shardcache_proxy_upstream_requests_total{node="n1",op="fill",status="LEASE_LOST"} 1');
  });
});
