import { spawn, spawnSync } from 'node:child_process';
import { startTestCluster, type TestCluster } from '../helpers/cluster';

/**
 * Redis's own tools against the proxy's RESP port: redis-cli (exact output) and redis-benchmark
 * (completes without errors, also pipelined). Both come with Debian's `redis-tools` package.
 */
jest.setTimeout(55_000);

const missing = ['redis-cli', 'redis-benchmark'].filter((tool) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status !== 0);

let c: TestCluster;

beforeAll(async () => {
  if (missing.length > 0) throw new Error(`${missing.join(' and ')} not on the PATH: install Debian's redis-tools`);
  c = await startTestCluster({ shards: 2, perShard: 1 });
}, 40_000);

afterAll(async () => {
  await c?.stop();
});

/** Runs a tool to completion (killed after `timeoutMs`); resolves its exit code and output. */
function run(tool: string, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const cli = (...args: string[]) => run('redis-cli', ['-h', '127.0.0.1', '-p', String(c.respPort), ...args]);

test('redis-cli: commands print exactly what they print against Redis', async () => {
  const cases: Array<[string[], string]> = [
    [['PING'], 'PONG\n'],
    [['SET', 'cli:foo', 'bar'], 'OK\n'],
    [['GET', 'cli:foo'], 'bar\n'],
    [['GET', 'cli:nope'], '\n'],
    [['INCR', 'cli:n'], '1\n'],
    [['INCRBY', 'cli:n', '41'], '42\n'],
    [['MGET', 'cli:foo', 'cli:nope', 'cli:n'], 'bar\n\n42\n'],
    [['TTL', 'cli:foo'], '-1\n'],
    [['EXPIRE', 'cli:foo', '100'], '1\n'],
    [['TTL', 'cli:foo'], '100\n'],
    [['EXISTS', 'cli:foo', 'cli:nope'], '1\n'],
    [['DEL', 'cli:foo', 'cli:nope'], '1\n'],
    [['TYPE', 'cli:foo'], 'none\n'],
    [['DBSIZE'], '1\n'], // cli:n
    [['FOO', 'a'], "ERR unknown command 'FOO', with args beginning with: 'a' \n\n"],
    [['GET'], "ERR wrong number of arguments for 'get' command\n\n"],
  ];
  for (const [args, expected] of cases) {
    const out = await cli(...args);
    expect({ args, stdout: out.stdout, code: out.code }).toEqual({ args, stdout: expected, code: 0 });
  }
});

test('redis-cli: INFO and CONFIG GET', async () => {
  const info = await cli('INFO', 'server');
  expect(info.stdout).toMatch(/^# Server\r?\nredis_version:7\.0\.0\r?\n/);
  expect((await cli('CONFIG', 'GET', 'save')).stdout).toBe('save\n\n');
});

/** The summary lines of a redis-benchmark -q run (it redraws progress with CR). */
const summary = (out: string): string[] => out.split(/[\r\n]+/).map((l) => l.trim()).filter((l) => /requests per second/.test(l));

test.each([[['-q']], [['-q', '-P', '16']]])('redis-benchmark %j: GET, SET, INCR, MSET, PING, SADD, HSET, SPOP and MGET complete without errors', async (flags) => {
  const base = ['-h', '127.0.0.1', '-p', String(c.respPort), '-n', '2000', ...flags];
  // Lists are out of scope (docs/resp.md), so LPUSH / LRANGE are not run.
  const standard = await run('redis-benchmark', [...base, '-t', 'get,set,incr,mset,ping,sadd,hset,spop']);
  const mget = await run('redis-benchmark', [...base, 'MGET', 'bench:a', 'bench:b', 'bench:c', 'bench:d']);
  for (const r of [standard, mget]) {
    expect(r.code).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/error|ERR|WARNING/i);
  }
  // redis-benchmark has no MGET test of its own (-t mget runs nothing): MGET runs as a given command.
  expect(summary(standard.stdout).map((l) => l.split(':')[0])).toEqual(['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'SADD', 'HSET', 'SPOP', 'MSET (10 keys)']);
  expect(summary(mget.stdout)).toEqual([expect.stringMatching(/^MGET bench:a bench:b bench:c bench:d: [\d.]+ requests per second/)]);
  const metrics = await (await fetch(`${c.adminUrl}/metrics`)).text();
  expect(metrics).toMatch(/shardcache_proxy_requests_total\{front="resp",op="mget",namespace="default",code="ok"\} \d+/);
  expect(metrics).not.toMatch(/shardcache_proxy_requests_total\{front="resp",[^}]*code="(?!ok)/);
});
