import { httpCall, startTestCluster, type StartedProxy, type TestCluster } from '../helpers/cluster';
import { setPolicy, TestOrigin } from '../helpers/origin';

/**
 * The thundering herd: many clients on two proxies miss the same key of a read-through namespace
 * at once; the fill lease at the owning node admits one origin load for all of them.
 */
describe('read-through herd (2 proxies, fill leases)', () => {
  let c: TestCluster;
  let second: StartedProxy;
  let origin: TestOrigin;

  beforeAll(async () => {
    origin = await TestOrigin.start(200);
    c = await startTestCluster({ shards: 2, perShard: 1, cluster: 'herd' });
    second = await c.startProxy();
    const admins = [c.adminUrl, second.adminUrl];
    await setPolicy(c.etcd.endpoint, c.cluster, 'herd', ['--origin', origin.template, '--default-ttl', '60'], admins, (p) => p.origin !== undefined);
    await setPolicy(c.etcd.endpoint, c.cluster, 'expiring', ['--origin', origin.template, '--default-ttl', '1', '--fill-wait-ms', '5000'], admins, (p) => p.defaultTtlSeconds === 1);
  }, 60_000);

  afterAll(async () => {
    await c?.stop();
    await origin?.close();
  });

  test('1,000 concurrent clients on 2 proxies miss one key: the origin sees exactly 1 request, every client gets the value', async () => {
    const urls = [c.httpUrl, second.httpUrl];
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => httpCall(urls[i % 2], 'GET', '/v1/cache/herd/item-1')));
    const elapsed = Date.now() - started;
    const ok = answers.filter((a) => a.status === 200 && a.json?.hit === true && a.json.value?.key === 'item-1' && a.json.value.load === 1);
    console.log(`herd: 1000 clients over 2 proxies, origin requests ${origin.count('item-1')}, clients with the value ${ok.length}, ${elapsed} ms`);
    expect(answers.filter((a) => a.status !== 200).map((a) => a.text)).toEqual([]);
    expect(ok).toHaveLength(1000);
    expect(origin.count('item-1')).toBe(1);
  }, 60_000);

  test('under continuous load the key expires 10 times: the origin sees 10 loads, one per expiry', async () => {
    const key = 'item-exp';
    const urls = [c.httpUrl, second.httpUrl];
    // Prime: the first load, then count the reloads after each expiry.
    const first = await httpCall(c.httpUrl, 'GET', `/v1/cache/expiring/${key}`);
    expect(first.json.value.load).toBe(1);
    const primedAt = origin.count(key);
    let stop = false;
    let requests = 0;
    const failures: string[] = [];
    const seen = new Set<number>();
    const client = async (url: string): Promise<void> => {
      while (!stop) {
        const a = await httpCall(url, 'GET', `/v1/cache/expiring/${key}`);
        requests++;
        if (a.status !== 200 || a.json?.hit !== true) failures.push(`${a.status} ${a.text}`);
        else seen.add(a.json.value.load as number);
        if (seen.has(primedAt + 10)) stop = true;
      }
    };
    const deadline = setTimeout(() => (stop = true), 45_000);
    await Promise.all(Array.from({ length: 40 }, (_, i) => client(urls[i % 2])));
    clearTimeout(deadline);
    const times = origin.requests.get(key)!;
    const gaps = times.slice(1).map((t, i) => t - times[i]);
    console.log(`herd with expiry: ${requests} requests by 40 clients over 2 proxies, origin loads after priming ${origin.count(key) - primedAt}, gaps between loads ${gaps.join(', ')} ms`);
    expect(failures).toEqual([]);
    expect(origin.count(key) - primedAt).toBe(10);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    // Each load came after the previous value expired (TTL 1 s), never two for one expiry.
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(900);
  }, 60_000);
});
