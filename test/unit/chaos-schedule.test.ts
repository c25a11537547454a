import { FAULT_KINDS } from '../../scripts/chaos/history';
import { parseChaosOptions } from '../../scripts/chaos/options';
import { planSchedule, scheduleLines } from '../../scripts/chaos/schedule';

/** Runs the harness's flag parser; an exit (bad flag) becomes an exception with what it printed. */
function parse(argv: string[]) {
  const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
    throw new Error(`exit ${code}`);
  });
  const err: string[] = [];
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((text) => err.push(String(text)) > 0);
  try {
    return parseChaosOptions(argv);
  } catch (e) {
    throw new Error(`${(e as Error).message}: ${err.join('')}`);
  } finally {
    exit.mockRestore();
    stderr.mockRestore();
  }
}

describe('chaos schedule', () => {
  test('ci: every fault kind once, in order; the same seed gives the same plan', () => {
    const plan = planSchedule('ci', 0, 7, 3, 2);
    expect(plan.map((f) => f.kind)).toEqual(FAULT_KINDS);
    expect(planSchedule('ci', 0, 7, 3, 2)).toEqual(plan);
    for (const f of plan) expect(f.target).toBeLessThan(f.kind === 'restart-proxy' ? 2 : 3);
    expect(plan.find((f) => f.kind === 'restart-node-empty')?.role).toBe('primary');
  });

  test('long: shuffled rounds of every kind filling the duration', () => {
    const plan = planSchedule('long', 600_000, 3, 3, 2);
    expect(plan.length).toBe(12 * FAULT_KINDS.length);
    for (let r = 0; r < 12; r++) expect([...plan.slice(r * 6, r * 6 + 6).map((f) => f.kind)].sort()).toEqual([...FAULT_KINDS].sort());
    expect(plan.map((f) => f.kind)).not.toEqual(planSchedule('long', 600_000, 4, 3, 2).map((f) => f.kind));
    expect(scheduleLines(plan.slice(0, 1))).toMatch(/^[a-z-]+ \d+ (primary|replica) 5000$/);
  });
});

describe('chaos flags', () => {
  test('defaults: the CI profile on 127.0.0.1 ports from 21000', () => {
    expect(parse([])).toMatchObject({ profile: 'ci', seed: 1, leaseTtl: 2, portBase: 21000, shards: 3, replicas: 2, proxies: 2, external: false });
  });

  test('--tls: off by default; a cluster the harness starts, never an external one', () => {
    expect(parse([]).tls).toBe(false);
    expect(parse(['--tls', '--rebalance'])).toMatchObject({ tls: true, rebalance: true });
    const external = ['--external', '--proxy-urls', 'http://127.0.0.1:8080', '--etcd', '127.0.0.1:2379', '--node-admins', 'n@0=http://127.0.0.1:9200'];
    expect(() => parse([...external, '--tls'])).toThrow(/--tls starts a cluster over TLS; it does not go with --external/);
  });

  test('external mode needs its endpoints, and only on 127.0.0.1', () => {
    expect(() => parse(['--external'])).toThrow(/--external needs --proxy-urls, --etcd and --node-admins/);
    expect(() => parse(['--proxy-urls', 'http://10.0.0.1:8080'])).toThrow(/127\.0\.0\.1 only/);
    expect(() => parse(['--etcd', 'etcd:2379'])).toThrow(/127\.0\.0\.1:PORT/);
    expect(() => parse(['--node-admins', 'a=http://127.0.0.1:1'])).toThrow(/NODE_ID@SHARD/);
    expect(parse(['--external', '--proxy-urls', 'http://127.0.0.1:8080', '--etcd', '127.0.0.1:2379', '--node-admins', 'n@0=http://localhost:9200'])).toMatchObject({
      proxyUrls: ['http://127.0.0.1:8080'], etcd: '127.0.0.1:2379', nodeAdmins: [{ nodeId: 'n', shard: 0, adminUrl: 'http://localhost:9200' }],
    });
  });
});
