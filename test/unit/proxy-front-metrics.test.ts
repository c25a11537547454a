import { Registry } from 'prom-client';
import { FrontMetrics } from '../../proxy/front/metrics';

/** The value of `name{labels}` in the registry's text, or undefined when the series is absent. */
async function valueOf(registry: Registry, name: string, labels: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('FrontMetrics', () => {
  test('counts by front, op, namespace and code whatever the order of requests; caps namespaces', async () => {
    const registry = new Registry();
    const m = new FrontMetrics(registry, 2);
    const sequence: Array<[string, string, string]> = [
      ['get', 'a', 'ok'], ['get', 'a', 'ok'], ['get', 'b', 'ok'], ['get', 'a', 'ok'], ['get', 'a', 'TIMEOUT'],
      ['get', 'a', 'ok'], ['set', 'a', 'ok'], ['get', 'c', 'ok'], ['get', 'd', 'ok'], ['get', 'b', 'ok'],
    ];
    for (const [op, ns, code] of sequence) {
      m.started('resp');
      m.finished('resp', op, ns, code, 0.001);
    }
    m.started('http');
    const total = 'shardcache_proxy_requests_total';
    expect(await valueOf(registry, total, 'front="resp",op="get",namespace="a",code="ok"')).toBe(4);
    expect(await valueOf(registry, total, 'front="resp",op="get",namespace="a",code="TIMEOUT"')).toBe(1);
    expect(await valueOf(registry, total, 'front="resp",op="get",namespace="b",code="ok"')).toBe(2);
    expect(await valueOf(registry, total, 'front="resp",op="set",namespace="a",code="ok"')).toBe(1);
    expect(await valueOf(registry, total, 'front="resp",op="get",namespace="other",code="ok"')).toBe(2); // c and d past the cap of 2
    expect(await valueOf(registry, 'shardcache_proxy_requests_in_flight', 'front="resp"')).toBe(0);
    expect(await valueOf(registry, 'shardcache_proxy_requests_in_flight', 'front="http"')).toBe(1);
    // Counts keep growing between scrapes.
    m.finished('resp', 'get', 'a', 'ok', 0.001);
    expect(await valueOf(registry, total, 'front="resp",op="get",namespace="a",code="ok"')).toBe(5);
  });

  test('hits and misses by namespace, alternating namespaces', async () => {
    const registry = new Registry();
    const m = new FrontMetrics(registry);
    m.reads('a', 1, 0);
    m.reads('a', 2, 1);
    m.reads('b', 0, 3);
    m.reads('a', 1, 1);
    expect(await valueOf(registry, 'shardcache_proxy_hits_total', 'namespace="a"')).toBe(4);
    expect(await valueOf(registry, 'shardcache_proxy_misses_total', 'namespace="a"')).toBe(2);
    expect(await valueOf(registry, 'shardcache_proxy_misses_total', 'namespace="b"')).toBe(3);
  });
});
