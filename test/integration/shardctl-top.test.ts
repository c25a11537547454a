import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestCluster, type TestCluster } from '../helpers/cluster';
import { freePort } from '../helpers/etcd';
import { ROOT, runProgram } from '../helpers/process';
import { shardctlInProcess } from '../helpers/shardctl';
import { waitFor } from '../helpers/shard-nodes';
import { httpCall } from '../helpers/cluster';
import type { ClusterFrame } from '../../control-plane/sample/sampler';

const SHARDCTL = 'control-plane/cli/shardctl.js';
let c: TestCluster;

beforeAll(async () => {
  c = await startTestCluster({ shards: 2, perShard: 2, cluster: 'top' });
  // Writes and reads (hits and misses) through the proxy, spread over both shards.
  for (let i = 0; i < 40; i++) expect((await c.call('PUT', `/v1/cache/app/k${i}`, { value: `v${i}` })).status).toBe(201);
  for (let i = 0; i < 60; i++) await c.call('GET', `/v1/cache/app/k${i}`);
}, 60_000);

afterAll(async () => {
  await c?.stop();
});

const args = (...more: string[]): string[] => ['--etcd', c.etcd.endpoint, '--cluster', c.cluster, ...more];

describe('shardctl top', () => {
  test('--once prints one snapshot: every shard with its primary, items and ops, the proxy and its rates', async () => {
    // Load while top reads, so the rates over its interval are not zero.
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) await c.call('GET', `/v1/cache/app/k${i % 60}`);
    })();
    const r = await shardctlInProcess(args('top', '--once', '--interval', '500', '--proxy', c.adminUrl.replace('http://', '')));
    loading = false;
    await load;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b[');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^shardctl top {2}cluster top {2}revision \d+ {2}shards 2 {2}nodes 4 .*rates over 0\.\d+s$/);
    const header = lines.findIndex((l) => l.startsWith('SHARD'));
    const rows = lines.slice(header + 1, header + 5).map((l) => l.split(/ {2,}/));
    for (const [shard, group] of c.nodes.entries()) {
      const shardRows = rows.filter((row) => row[0] === String(shard));
      expect(shardRows.map((row) => row[1]).sort()).toEqual(group.map((n) => n.nodeId).sort());
      // The primary comes first and holds items (the replicas have them too once replicated).
      expect(shardRows[0][2]).toBe('primary');
      expect(Number(shardRows[0][7])).toBeGreaterThan(0);
      expect(shardRows[1][2]).toBe('replica');
    }
    expect(r.stdout).toMatch(new RegExp(`${c.adminUrl.replace(/[./]/g, '\\$&')} +\\d+`));
    expect(r.stdout).toMatch(/no hot keys reported|HOT KEY NAMESPACE/);
  }, 30_000);

  test('--output json: the frame with rates; ops/s non-zero on the primaries under load; the proxy counted the requests', async () => {
    let loading = true;
    const load = (async () => {
      for (let i = 0; loading; i++) await c.call('GET', `/v1/cache/app/k${i % 60}`);
    })();
    const r = await shardctlInProcess(args('top', '--once', '--interval', '500', '--json', '--proxy', c.adminUrl));
    loading = false;
    await load;
    expect(r.code).toBe(0);
    const frame = JSON.parse(r.stdout) as ClusterFrame;
    expect(frame.elapsedMs).toBeGreaterThanOrEqual(450);
    expect(frame.shards.map((s) => s.shardId)).toEqual([0, 1]);
    for (const shard of frame.shards) {
      expect(shard.primary).not.toBeNull();
      const primary = frame.nodes.find((n) => n.nodeId === shard.primary)!;
      expect(primary).toMatchObject({ role: 'primary', live: true, error: null });
      expect(primary.items).toBeGreaterThan(0);
      expect(primary.opsTotal).toBeGreaterThan(0);
      expect(primary.opsPerSec).toBeGreaterThan(0);
      expect(primary.hitRatio).toBeGreaterThan(0);
      expect(primary.memoryBytes).toBeGreaterThan(0);
      expect(primary.memoryLimitBytes).toBeGreaterThan(primary.memoryBytes!);
      expect(primary.evictionsPerSec).toBe(0);
    }
    expect(frame.nodes.filter((n) => n.role === 'replica')).toHaveLength(2);
    expect(frame.proxies).toHaveLength(1);
    expect(frame.proxies[0].error).toBeNull();
    expect(frame.proxies[0].requestsTotal).toBeGreaterThanOrEqual(100);
    expect(frame.proxies[0].requestsPerSec).toBeGreaterThan(0);
    expect(frame.proxies[0].errorRate).toBe(0);
  }, 30_000);

  test('the program with stdout piped prints one snapshot without --once and exits 0; a dead proxy is shown, not fatal', async () => {
    const port = await freePort();
    const r = await runProgram(SHARDCTL, args('top', '--interval', '200', '--proxy', `127.0.0.1:${port}`));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('SHARD  NODE');
    expect(r.stdout).toMatch(new RegExp(`http://127\\.0\\.0\\.1:${port} +- +- +unreachable: .*ECONNREFUSED`));
  });

  test('a cluster that is not initialised: exit 3, as status', async () => {
    const r = await shardctlInProcess(['top', '--once', '--interval', '100', '--etcd', c.etcd.endpoint, '--cluster', 'nothing-here']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('cluster "nothing-here" is not initialised');
  });

  // A real terminal: util-linux `script` gives the program a pty; its stdin is a pipe feeding `q`.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  (hasScript ? test : test.skip)('interactive on a terminal: alternate screen, refreshes, q quits and restores the terminal', async () => {
    const command = [process.execPath, path.join(ROOT, 'dist', SHARDCTL), 'top', ...args('--interval', '200')].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm', COLUMNS: '200', LINES: '50' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 10_000;
    while (!/rates over/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('\x1b[?1049h');
    expect(out).toMatch(/rates over/);
    child.stdin.write('q'); // only q: stdin stays open until the program has exited
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => (timer = setTimeout(() => r('timeout'), 5000)))]);
    clearTimeout(timer);
    if (code === 'timeout') child.kill('SIGKILL');
    child.stdin.end();
    child.stdout.destroy();
    child.stderr.destroy();
    expect(code).toBe(0);
    expect(out).toContain('q to quit');
    expect(out.lastIndexOf('\x1b[?25h\x1b[?1049l')).toBeGreaterThan(out.lastIndexOf('SHARD'));
  }, 20_000);

  // Last: it turns auth on for the cluster.
  test('with auth on, the proxies\' admin ports want an admin: --admin-user/--admin-password-file or $SHARDCACHE_ADMIN_PASSWORD', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'top-auth-'));
    try {
      const file = path.join(dir, 'pw');
      fs.writeFileSync(file, 'top-admin-password-0123\n');
      expect((await shardctlInProcess(args('user', 'add', 'ops', '--grant', '*=admin', '--password-file', file))).code).toBe(0);
      expect((await shardctlInProcess(args('auth', 'on'))).code).toBe(0);
      await waitFor('the proxy admin port to require auth', async () => (await httpCall(c.adminUrl, 'GET', '/metrics')).status === 401, 10_000, 50);
      const top = (more: string[], env: NodeJS.ProcessEnv = {}) => runProgram(SHARDCTL, args('top', '--once', '--json', '--interval', '200', '--proxy', c.adminUrl, ...more), env);
      const without = JSON.parse((await top([])).stdout) as ClusterFrame;
      expect(without.proxies[0].error).toMatch(/HTTP 401 .*--admin-user and --admin-password-file/);
      for (const [flags, env] of [[['--admin-user', 'ops', '--admin-password-file', file], {}], [[], { SHARDCACHE_ADMIN_USER: 'ops', SHARDCACHE_ADMIN_PASSWORD: 'top-admin-password-0123' }]] as const) {
        const r = await top([...flags], env);
        expect([r.code, r.stderr]).toEqual([0, '']);
        const frame = JSON.parse(r.stdout) as ClusterFrame;
        expect(frame.proxies[0]).toMatchObject({ url: c.adminUrl, error: null });
        expect(frame.proxies[0].requestsTotal).toBeGreaterThan(0);
      }
      const wrong = JSON.parse((await top([], { SHARDCACHE_ADMIN_USER: 'ops', SHARDCACHE_ADMIN_PASSWORD: 'nope' })).stdout) as ClusterFrame;
      expect(wrong.proxies[0].error).toMatch(/HTTP 401 \(the admin credential was refused/);
      const noPassword = await top(['--admin-user', 'ops']);
      expect(noPassword).toMatchObject({ code: 1, stderr: 'shardctl: --admin-user ops: needs a password: set SHARDCACHE_ADMIN_PASSWORD or pass --admin-password-file <file>\n' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
