import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../shared/topology/etcd';
import { clusterKeys } from '../../shared/topology/schema';
import { TestEtcd } from '../helpers/etcd';
import { runProgram } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';

const SHARDCTL = 'control-plane/cli/shardctl.js';
const CLUSTER = 'policies';
const keys = clusterKeys(CLUSTER);
let etcd: TestEtcd;
let client: Etcd3;

beforeAll(async () => {
  etcd = await TestEtcd.start();
  client = connectEtcd(etcd.endpoint);
  const init = await ctlProcess('init', '--shards', '3', '--replicas', '1');
  expect(init.code).toBe(0);
});

afterAll(async () => {
  client?.close();
  await etcd?.stop();
});

/** The built program (start-up included), for the cases that check the binary itself. */
const ctlProcess = (...args: string[]) => runProgram(SHARDCTL, args, { SHARDCACHE_ETCD: etcd.endpoint, SHARDCACHE_CLUSTER: CLUSTER });
/** shardctl in this process, for everything else. */
const ctl = (...args: string[]) => shardctlInProcess([...args, '--etcd', etcd.endpoint, '--cluster', CLUSTER]);
const json = <T = any>(text: string): T => JSON.parse(text) as T;

/** Runs every case in parallel and expects exit 1 with the text in stderr. */
async function expectRefused(cases: Array<[string[], string]>): Promise<void> {
  const results = await Promise.all(cases.map(([args]) => ctl(...args)));
  results.push(await ctlProcess(...cases[0][0]));
  cases.push(cases[0]);
  results.forEach((r, i) => {
    expect({ args: cases[i][0], code: r.code }).toEqual({ args: cases[i][0], code: 1 });
    expect(r.stderr).toContain(cases[i][1]);
  });
}

describe('shardctl ns', () => {
  test('set, merge, get, list, rm round trip', async () => {
    const created = await ctlProcess('ns', 'set', 'app', '--default-ttl', '300', '--max-item-bytes', '512kb', '--quota-bytes', '512mb', '--eviction', 'lfu');
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^created namespace app: /);
    const updated = await ctl('ns', 'set', 'app', '--write-ack', 'replica', '--read-preference', 'replica', '--ttl-jitter', '12.5', '--origin', 'http://origin.internal:8080/items');
    expect(updated.stdout).toMatch(/^updated namespace app: /);
    expect(await client.get(keys.namespace('app')).json()).toEqual({
      defaultTtlSeconds: 300, maxItemBytes: 512 * 1024, quotaBytes: 512 * 1024 ** 2, eviction: 'lfu',
      writeAck: 'replica', readPreference: 'replica', ttlJitterPct: 12.5, origin: 'http://origin.internal:8080/items',
    });
    expect((await ctl('ns', 'set', 'other', '--eviction', 'lru')).code).toBe(0);

    const [get, list, text] = await Promise.all([ctl('ns', 'get', 'app'), ctl('ns', 'list', '--json'), ctl('ns', 'list')]);
    expect(json(get.stdout)).toMatchObject({ eviction: 'lfu', writeAck: 'replica', quotaBytes: 536870912 });
    expect(json(list.stdout).map((e: any) => e.namespace)).toEqual(['app', 'other']);
    expect(text.stdout).toMatch(/^NAMESPACE +TTL +MAX_ITEM +QUOTA +EVICTION +WRITE_ACK +READ_PREF +JITTER% +ORIGIN +HOT_AUTO +WRITE_POLICY$/m);
    expect(text.stdout).toMatch(/^app +300 +524288 +536870912 +lfu +replica +replica +12\.5 +http:\/\/origin\.internal:8080\/items +- +-$/m);
    const auto = await ctl('ns', 'set', 'other', '--hot-key-auto-qps', '5000', '--hot-key-auto-mode', 'copies', '--hot-key-auto-copies', '4');
    expect(auto.code).toBe(0);
    expect(await client.get(keys.namespace('other')).json()).toEqual({ eviction: 'lru', hotKeyAutoQps: 5000, hotKeyAutoMode: 'copies', hotKeyAutoCopies: 4 });
    expect((await ctl('ns', 'list')).stdout).toMatch(/^other +- +- +- +lru +(- +){4}5000\/s copies×4 +-$/m);

    const rm = await ctl('ns', 'rm', 'app');
    expect(rm).toMatchObject({ code: 0, stdout: 'removed the policy of namespace app\n' });
    const [rmAgain, getGone, connectors] = await Promise.all([ctl('ns', 'rm', 'app'), ctl('ns', 'get', 'app'), ctl('ns', 'get', 'connectors')]);
    expect(connectors).toMatchObject({ code: 1, stderr: 'shardctl: <namespace>: no policy for namespace "connectors" in cluster "policies"\n' });
    expect(rmAgain).toMatchObject({ code: 1, stderr: 'shardctl: <namespace>: no policy for namespace "app" in cluster "policies"\n' });
    expect(getGone.code).toBe(1);
    expect(json((await ctl('ns', 'list', '--json')).stdout).map((e: any) => e.namespace)).toEqual(['other']);
  });

  test('bad input exits 1 naming the flag or argument, and writes nothing', async () => {
    await expectRefused([
      [['ns', 'set', 'bad', '--eviction', 'fifo'], "option '--eviction <policy>' argument 'fifo' is invalid. expected one of lru, lfu"],
      [['ns', 'set', 'bad', '--hot-key-auto-qps', '0'], "option '--hot-key-auto-qps <n>' argument '0' is invalid"],
      [['ns', 'set', 'bad', '--hot-key-auto-mode', 'mirror'], "option '--hot-key-auto-mode <mode>' argument 'mirror' is invalid"],
      [['ns', 'set', 'bad', '--max-item-bytes', '12q'], "option '--max-item-bytes <bytes>' argument '12q' is invalid"],
      [['ns', 'set', 'bad', '--max-item-bytes', '1gb'], 'shardctl: --max-item-bytes: '],
      [['ns', 'set', 'bad', '--quota-bytes', '-5'], "option '--quota-bytes <bytes>' argument '-5' is invalid"],
      [['ns', 'set', 'bad', '--ttl-jitter', '150'], "option '--ttl-jitter <pct>' argument '150' is invalid. expected a number from 0 to 100"],
      [['ns', 'set', 'bad', '--origin', 'not a url'], "option '--origin <url>' argument 'not a url' is invalid"],
      [['ns', 'set', 'bad', '--write-ack', 'all'], "option '--write-ack <who>' argument 'all' is invalid"],
      [['ns', 'set', 'bad', '--default-ttl', '1.5'], "option '--default-ttl <seconds>' argument '1.5' is invalid"],
      [['ns', 'set', 'no/slash', '--eviction', 'lru'], 'shardctl: <namespace>: "no/slash": namespace must be'],
      [['ns', 'get'], "missing required argument 'namespace'"],
    ]);
    expect(await client.get(keys.namespace('bad')).exists()).toBe(false);
  });
});

describe('shardctl hotkey', () => {
  test('add, list, rm round trip; keys with any characters survive', async () => {
    const odd = 'user:{42}/a b?';
    const results = await Promise.all([
      ctl('hotkey', 'add', 'app', 'home', '--mode', 'near-cache', '--ttl-ms', '250', '--expires-in', '600'),
      ctl('hotkey', 'add', 'app', odd, '--mode', 'copies', '--copies', '3'),
      ctl('hotkey', 'add', 'web', 'feed', '--mode', 'replica-spread'),
    ]);
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(await client.get(keys.hotkey('app', odd)).json()).toEqual({ mode: 'copies', copies: 3, source: 'operator' });

    const [all, app, text] = await Promise.all([ctl('hotkey', 'list', '--json'), ctl('hotkey', 'list', 'app', '--json'), ctl('hotkey', 'list')]);
    expect(json(all.stdout).map((e: any) => `${e.namespace}/${e.key}`)).toEqual(['app/home', `app/${odd}`, 'web/feed']);
    const home = json(app.stdout)[0];
    expect(home).toMatchObject({ namespace: 'app', key: 'home', rule: { mode: 'near-cache', ttlMs: 250, source: 'operator' } });
    expect(home.rule.expiresAt).toBeGreaterThan(Date.now() + 590_000);
    expect(json(app.stdout)).toHaveLength(2);
    expect(text.stdout).toMatch(/^app +home +near-cache +- +250 +in \d+s +operator$/m);

    expect((await ctl('hotkey', 'rm', 'app', odd)).code).toBe(0);
    const again = await ctl('hotkey', 'rm', 'app', odd);
    expect(again).toMatchObject({ code: 1, stderr: `shardctl: <key>: no hot-key rule for "${odd}" in namespace "app"\n` });
    expect(json((await ctl('hotkey', 'list', 'app', '--json')).stdout).map((e: any) => e.key)).toEqual(['home']);
  });

  test('validation errors exit 1 naming the flag', async () => {
    await expectRefused([
      [['hotkey', 'add', 'app', 'k'], "required option '--mode <mode>' not specified"],
      [['hotkey', 'add', 'app', 'k', '--mode', 'mirror'], "option '--mode <mode>' argument 'mirror' is invalid"],
      [['hotkey', 'add', 'app', 'k', '--mode', 'copies'], 'shardctl: --copies: --mode copies needs --copies K (2-16)'],
      [['hotkey', 'add', 'app', 'k', '--mode', 'copies', '--copies', '1'], "option '--copies <k>' argument '1' is invalid"],
      [['hotkey', 'add', 'app', 'k', '--mode', 'copies', '--copies', '5'], 'shardctl: --copies: 5 copies need as many shards, and cluster "policies" has 3'],
      [['hotkey', 'add', 'app', 'k', '--mode', 'replica-spread', '--ttl-ms', '5'], 'shardctl: --ttl-ms: only applies to --mode near-cache'],
      [['hotkey', 'add', 'app', 'k', '--mode', 'near-cache', '--ttl-ms', '999999'], "option '--ttl-ms <ms>' argument '999999' is invalid"],
      [['hotkey', 'add', 'bad ns', 'k', '--mode', 'near-cache'], 'shardctl: <namespace>: "bad ns": namespace must be'],
      [['hotkey', 'add', 'app', 'x'.repeat(1100), '--mode', 'near-cache'], 'shardctl: <key>: '],
      [['hotkey', 'list', 'a/b'], 'shardctl: <namespace>: "a/b"'],
    ]);
    expect(await client.get(keys.hotkey('app', 'k')).exists()).toBe(false);
  });
});
