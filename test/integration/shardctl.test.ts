import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys } from '../../shared/topology/schema';
import { FakeShard } from '../helpers/fake-shard';
import { TestEtcd, freePort } from '../helpers/etcd';
import { runProgram } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';

const SHARDCTL = 'control-plane/cli/shardctl.js';
let etcd: TestEtcd;
let client: Etcd3;
const shards: FakeShard[] = [];

beforeAll(async () => {
  etcd = await TestEtcd.start();
  client = connectEtcd(etcd.endpoint);
});

afterAll(async () => {
  for (const shard of shards) await shard.close();
  client?.close();
  await etcd?.stop();
});

/** Runs the built shardctl program against the test etcd and `cluster`. */
const ctlProcess = (cluster: string, ...args: string[]) => runProgram(SHARDCTL, [...args, '--etcd', etcd.endpoint, '--cluster', cluster]);
/** The same, in this process (most cases: the program's start-up is the slow part). */
const ctl = (cluster: string, ...args: string[]) => shardctlInProcess([...args, '--etcd', etcd.endpoint, '--cluster', cluster]);
const json = <T = any>(text: string): T => JSON.parse(text) as T;

describe('shardctl without a cluster', () => {
  test('every command but init exits 3 with a message saying how to initialise', async () => {
    const results = await Promise.all([
      ctlProcess('none', 'status'), ctl('none', 'node', 'list'), ctl('none', 'failover', '0'),
      ctl('none', 'ns', 'list'), ctl('none', 'ns', 'set', 'app', '--default-ttl', '5'), ctl('none', 'hotkey', 'list'),
    ]);
    for (const r of results) {
      expect(r.code).toBe(3);
      expect(r.stderr.trim()).toBe('shardctl: cluster "none" is not initialised; run "shardctl init --cluster none --shards N --replicas R" first');
    }
    const doc = await ctlProcess('none', 'status', '--json');
    expect(doc.code).toBe(3);
    expect(json(doc.stdout)).toMatchObject({ cluster: 'none', initialised: false, shards: [], nodes: [] });
  });

  test('an unreachable etcd exits 2 with one clear line, within a few seconds', async () => {
    const port = await freePort();
    const started = Date.now();
    const results = await Promise.all([
      runProgram(SHARDCTL, ['status', '--etcd', `127.0.0.1:${port}`]),
      runProgram(SHARDCTL, ['init', '--shards', '1', '--replicas', '0', '--etcd', `127.0.0.1:${port}`]),
      runProgram(SHARDCTL, ['ns', 'get', 'app'], { SHARDCACHE_ETCD: `127.0.0.1:${port}` }),
    ]);
    expect(Date.now() - started).toBeLessThan(6000);
    for (const r of results) {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`shardctl: cannot reach etcd at 127.0.0.1:${port} (connection refused); is etcd running? Start a local cluster with "npm start" or pass --etcd host:port\n`);
    }
  });

  test('a hung etcd (accepts connections, never answers) also exits 2 within about 5 s', async () => {
    process.kill(etcd.pid!, 'SIGSTOP');
    try {
      const started = Date.now();
      const r = await runProgram(SHARDCTL, ['status', '--etcd', etcd.endpoint]);
      expect(Date.now() - started).toBeLessThan(7000);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`shardctl: cannot reach etcd at ${etcd.endpoint} (no answer within 4s); is etcd running? Start a local cluster with "npm start" or pass --etcd host:port\n`);
    } finally {
      process.kill(etcd.pid!, 'SIGCONT');
    }
  });

  test('help states the exit statuses', async () => {
    const help = await runProgram(SHARDCTL, ['--help']);
    expect(help.stdout).toContain('3  the cluster is not initialised');
    const sub = await runProgram(SHARDCTL, ['status', '--help']);
    expect(sub.stdout).toContain('3 cluster not initialised');
  });
});

describe('shardctl init', () => {
  test('writes config and an even slot map once; refuses again without --force', async () => {
    const first = await ctlProcess('init1', 'init', '--shards', '3', '--replicas', '1', '--lease-ttl', '5');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('initialised cluster init1: 3 shards, 1 replicas per shard, lease ttl 5s');
    const keys = clusterKeys('init1');
    expect(await client.get(keys.slotmap).json()).toEqual({ epoch: 1, ranges: [[0, 5460, 0], [5461, 10921, 1], [10922, 16383, 2]] });
    expect(await client.get(keys.config).json()).toMatchObject({ slots: 16384, shards: 3, replicas: 1, leaseTtlSeconds: 5 });

    const again = await ctlProcess('init1', 'init', '--shards', '2', '--replicas', '1');
    expect(again.code).toBe(1);
    expect(again.stderr).toBe('shardctl: init: cluster "init1" is already initialised; pass --force to overwrite its config and slot map\n');
    expect(await client.get(keys.config).json()).toMatchObject({ shards: 3 });

    const forced = await ctl('init1', 'init', '--shards', '2', '--replicas', '0', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('re-initialised cluster init1: 2 shards');
    expect(await client.get(keys.slotmap).json()).toMatchObject({ epoch: 2, ranges: [[0, 8191, 0], [8192, 16383, 1]] });
  });

  test('bad input exits 1 and names the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['--shards', '0', '--replicas', '1'], "option '--shards <n>' argument '0' is invalid"],
      [['--shards', 'x', '--replicas', '1'], "option '--shards <n>' argument 'x' is invalid"],
      [['--shards', '2'], "required option '--replicas <r>' not specified"],
      [['--shards', '2', '--replicas', '1', '--lease-ttl', '0'], "option '--lease-ttl <seconds>' argument '0' is invalid"],
      [['--shards', '2', '--replicas', '1', '--cluster', 'a/b'], "option '--cluster <name>' argument 'a/b' is invalid"],
      [['--shards', '2', '--replicas', '1', '--etcd', 'localhost'], "option '--etcd <endpoints>' argument 'localhost' is invalid"],
    ];
    const results = [await runProgram(SHARDCTL, ['init', ...cases[0][0]])];
    for (const [args] of cases.slice(1)) results.push(await shardctlInProcess(['init', ...args]));
    results.forEach((r, i) => {
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(cases[i][1]);
    });
  });
});

describe('shardctl status, node list and failover', () => {
  const cluster = 'live';
  let shard0: FakeShard;
  let shard1: FakeShard;

  beforeAll(async () => {
    expect((await ctl(cluster, 'init', '--shards', '3', '--replicas', '1')).code).toBe(0);
    shard0 = await new FakeShard(client, cluster, 0, ['n0a', 'n0b']).start();
    shard1 = await new FakeShard(client, cluster, 1, ['n1a']).start();
    shards.push(shard0, shard1, await new FakeShard(client, cluster, 2, ['n2a', 'n2b']).start({ elect: false }));
    await client.put(clusterKeys(cluster).node('static')).value(JSON.stringify({ addr: '127.0.0.1:1', shardId: 2 }));
  });

  test('status --json: slots, primaries with epochs, live replicas, health', async () => {
    const r = await ctlProcess(cluster, 'status', '--json');
    expect(r.code).toBe(0);
    const doc = json(r.stdout);
    expect(doc).toMatchObject({ cluster, initialised: true, config: { shards: 3, replicas: 1, slotMapEpoch: 1 } });
    const epoch = Number((await client.get(clusterKeys(cluster).primary(0)).exec()).kvs[0].create_revision);
    expect(doc.shards[0]).toEqual({
      shardId: 0, slots: [[0, 5460]], primary: { nodeId: 'n0a', addr: shard0.addrOf('n0a'), epoch },
      replicas: [{ nodeId: 'n0b', addr: shard0.addrOf('n0b') }], healthy: true, problems: [], resignEpoch: null,
    });
    expect(doc.shards[1]).toMatchObject({ healthy: false, problems: ['0 of 1 replicas live'] });
    expect(doc.shards[2]).toMatchObject({ primary: null, healthy: false, problems: ['no primary'] });
    expect(doc.nodes.find((n: any) => n.nodeId === 'static')).toMatchObject({ live: false, role: 'replica' });
    expect(doc.shards[2].replicas.map((x: any) => x.nodeId)).toEqual(['n2a', 'n2b']);
  });

  test('status and node list as text', async () => {
    const [status, nodes] = await Promise.all([ctl(cluster, 'status'), ctl(cluster, 'node', 'list')]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^0 +0-5460 +n0a +127\.0\.0\.1:17000 +\d+ +n0b@127\.0\.0\.1:17001 +ok$/m);
    expect(status.stdout).toContain('shard 2 unhealthy: no primary');
    expect(status.stdout).toContain('shard 1 unhealthy: 0 of 1 replicas live');
    expect(nodes.code).toBe(0);
    expect(nodes.stdout).toMatch(/^NODE +ADDR +ADMIN +SHARD +ZONE +ROLE +LIVE +REPL LAG$/m);
    expect(nodes.stdout).toMatch(/^n0a +127\.0\.0\.1:17000 +- +0 +zone-a +primary +yes +-$/m);
    expect(nodes.stdout).toMatch(/^static +127\.0\.0\.1:1 +- +2 +- +replica +no +-$/m);
  });

  test('failover refuses a shard without a live replica, without a primary, or unknown', async () => {
    const [noReplica, noPrimary, unknown, notANumber] = await Promise.all([
      ctl(cluster, 'failover', '1'), ctl(cluster, 'failover', '2'), ctl(cluster, 'failover', '9'), ctl(cluster, 'failover', 'x'),
    ]);
    expect([noReplica.code, noPrimary.code, unknown.code, notANumber.code]).toEqual([1, 1, 1, 1]);
    expect(noReplica.stderr).toBe('shardctl: failover: shard 1 has no live replica to take over from n1a; refusing\n');
    expect(noPrimary.stderr).toMatch(/shard 2 has no primary/);
    expect(unknown.stderr).toBe('shardctl: <shard>: no shard 9 in cluster "live" (shards: 0-2)\n');
    expect(notANumber.stderr).toMatch(/value 'x' is invalid for argument 'shard'/);
    expect(await client.get(clusterKeys(cluster).resign(1)).exists()).toBe(false);
  });

  test('failover that nobody honours times out with exit 4 and withdraws the request', async () => {
    const r = await ctl(cluster, 'failover', '0', '--timeout', '1');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^shardctl: shard 0: no new primary after 1s; n0a \(epoch \d+\) is still primary\. The request was withdrawn\n$/);
    expect(await client.get(clusterKeys(cluster).resign(0)).exists()).toBe(false);
  });

  test('failover: the primary steps down, the replica takes over with a higher epoch', async () => {
    await shard0.honourResign();
    const before = json((await ctl(cluster, 'status', '--json')).stdout).shards[0].primary;
    const r = await ctlProcess(cluster, 'failover', '0', '--timeout', '10');
    expect(r.code).toBe(0);
    const after = json((await ctl(cluster, 'status', '--json')).stdout).shards[0].primary;
    expect(after.nodeId).toBe('n0b');
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect(r.stdout).toMatch(new RegExp(`^shard 0: n0a \\(127\\.0\\.0\\.1:17000, epoch ${before.epoch}\\) -> n0b \\(127\\.0\\.0\\.1:17001, epoch ${after.epoch}\\) in \\d+\\.\\ds\\n$`));
    expect(await client.get(clusterKeys(cluster).resign(0)).exists()).toBe(false);
  });
});

describe('shardctl CLI habits: global flags anywhere, --output, colour', () => {
  const cluster = 'habits';
  const at = (): string[] => ['--etcd', etcd.endpoint];
  /** Without ANSI escapes: what a test compares when colour may be on. */
  const ESC = '\x1b[';

  beforeAll(async () => {
    // Global flags before the command.
    const init = await shardctlInProcess([...at(), '--cluster', cluster, 'init', '--shards', '2', '--replicas', '0']);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('initialised cluster habits: 2 shards');
  });

  test('--etcd and --cluster work before the command, after it, and around a nested one', async () => {
    const before = await shardctlInProcess([...at(), '--cluster', cluster, 'status']);
    const after = await shardctlInProcess(['status', ...at(), '--cluster', cluster]);
    const mixed = await shardctlInProcess(['--cluster', cluster, 'status', ...at()]);
    for (const r of [before, after, mixed]) {
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout).toContain('cluster habits  revision');
    }
    expect(after.stdout).toBe(before.stdout);

    const set = await shardctlInProcess([...at(), '--cluster', cluster, 'ns', 'set', 'foo', '--default-ttl', '5']);
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toContain('created namespace foo: {"defaultTtlSeconds":5}');
    const setAfter = await shardctlInProcess(['ns', 'set', 'foo', '--eviction', 'lfu', '--cluster', cluster, ...at()]);
    expect(setAfter.stdout).toContain('updated namespace foo: {"defaultTtlSeconds":5,"eviction":"lfu"}');
    // Between the group and its command, too.
    const get = await shardctlInProcess(['ns', ...at(), 'get', '--cluster', cluster, 'foo']);
    expect(get).toMatchObject({ code: 0, stderr: '' });
    expect(json(get.stdout)).toEqual({ defaultTtlSeconds: 5, eviction: 'lfu' });
  });

  test('a flag given before and after the command: the one after wins', async () => {
    const right = await shardctlInProcess([...at(), '--cluster', 'nowhere', 'status', '--cluster', cluster]);
    expect(right.code).toBe(0);
    const wrong = await shardctlInProcess([...at(), '--cluster', cluster, 'status', '--cluster', 'nowhere']);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('cluster "nowhere" is not initialised');
    const port = await freePort();
    const unreachable = await shardctlInProcess(['--etcd', etcd.endpoint, '--cluster', cluster, 'node', 'list', '--etcd', `127.0.0.1:${port}`]);
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toContain(`cannot reach etcd at 127.0.0.1:${port}`);
    const help = await shardctlInProcess(['status', '--help']);
    expect(help.stdout).toContain('given in both places, the one after the command wins');
    expect(help.stdout).toMatch(/Global Options:[^]*--etcd <endpoints>[^]*--etcd-password-file <file>[^]*--output <format>/);
  });

  test('the etcd access flags are global too, before or after the command', async () => {
    for (const args of [['--etcd-password-file', '/nonexistent', 'status'], ['status', '--etcd-password-file', '/nonexistent'], ['--etcd-user', 'u', 'ns', 'list', '--etcd-password-file', '/nonexistent']]) {
      const r = await shardctlInProcess([...args, ...at(), '--cluster', cluster]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^shardctl: --etcd-password-file/);
    }
  });

  test('--output json|table on listings; --json is --output json; the last given wins', async () => {
    expect((await ctl(cluster, 'hotkey', 'add', 'foo', 'k1', '--mode', 'replica-spread')).code).toBe(0);
    for (const listing of [['ns', 'list'], ['hotkey', 'list'], ['node', 'list'], ['user', 'list'], ['migrations']]) {
      const [asJson, alias, short, before, table, plain] = await Promise.all([
        ctl(cluster, ...listing, '--output', 'json'), ctl(cluster, ...listing, '--json'), ctl(cluster, ...listing, '-o', 'json'),
        shardctlInProcess(['--output', 'json', ...listing, ...at(), '--cluster', cluster]),
        ctl(cluster, ...listing, '--output', 'table'), ctl(cluster, ...listing),
      ]);
      for (const r of [asJson, alias, short, before, table, plain]) expect({ listing, code: r.code, stderr: r.stderr }).toEqual({ listing, code: 0, stderr: '' });
      expect(Array.isArray(json(asJson.stdout))).toBe(true);
      expect([alias.stdout, short.stdout, before.stdout]).toEqual([asJson.stdout, asJson.stdout, asJson.stdout]);
      expect(table.stdout).toBe(plain.stdout);
      expect(() => JSON.parse(plain.stdout)).toThrow();
    }
    expect(json((await ctl(cluster, 'ns', 'list', '--output', 'json')).stdout)).toEqual([{ namespace: 'foo', policy: { defaultTtlSeconds: 5, eviction: 'lfu' } }]);
    expect(json((await ctl(cluster, 'hotkey', 'list', '-o', 'json')).stdout)).toMatchObject([{ namespace: 'foo', key: 'k1', rule: { mode: 'replica-spread' } }]);
    expect((await ctl(cluster, 'ns', 'list', '--json', '--output', 'table')).stdout).toMatch(/^NAMESPACE +TTL/);
    expect(json((await ctl(cluster, 'ns', 'list', '--output', 'table', '--json')).stdout)).toHaveLength(1);
    const doc = await ctl(cluster, 'status', '--output', 'json');
    expect(json(doc.stdout)).toMatchObject({ cluster, initialised: true });
    const bad = await ctl(cluster, 'ns', 'list', '--output', 'yaml');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("option '-o, --output <format>' argument 'yaml' is invalid. Allowed choices are table, json.");
  });

  test('colour only when asked or on a terminal: piped output and NO_COLOR have no escapes', async () => {
    const args = ['status', ...at(), '--cluster', cluster];
    const plainEnv = { NO_COLOR: undefined, FORCE_COLOR: undefined };
    const [piped, forced, refused, inProcess] = await Promise.all([
      runProgram(SHARDCTL, args, plainEnv),
      runProgram(SHARDCTL, args, { NO_COLOR: undefined, FORCE_COLOR: '1' }),
      runProgram(SHARDCTL, args, { NO_COLOR: '1', FORCE_COLOR: '1' }),
      shardctlInProcess(args),
    ]);
    for (const r of [piped, forced, refused, inProcess]) expect(r.code).toBe(0);
    // Both shards have no primary: the status is all UNHEALTHY words, coloured only when forced.
    expect(forced.stdout).toContain(`${ESC}31mUNHEALTHY${ESC}39m`);
    expect(forced.stdout.replace(/\x1b\[\d+m/g, '')).toBe(piped.stdout);
    for (const r of [piped, refused, inProcess]) {
      expect(r.stdout).toContain('UNHEALTHY');
      expect(r.stdout).not.toContain('\x1b');
      expect(r.stderr).not.toContain('\x1b');
    }
    // Help and errors, piped, have none either.
    const help = await runProgram(SHARDCTL, ['ns', '--help'], plainEnv);
    expect(help.stdout + help.stderr).not.toContain('\x1b');
  });
});
