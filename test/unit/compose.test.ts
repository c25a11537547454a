import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { parseNodeConfig } from '../../storage-node/config';
import { parseProxyConfig, PROXY_NODE_FLAGS } from '../../proxy/config';
import { parseServiceConfig } from '../../control-plane/service/config';
import { buildProgram } from '../../control-plane/cli/shardctl';
import { parseChaosOptions } from '../../scripts/chaos/options';
import { FAULT_KINDS, parseFaultsLog } from '../../scripts/chaos/history';
import { planSchedule } from '../../scripts/chaos/schedule';

/**
 * compose.yaml checked against the code (no Docker engine needed): every command runs a program of
 * the build with flags its own commander parser accepts, the environment it sets is read by the
 * program, published ports are the ones the flags open, health checks ask the admin port, and
 * scripts/chaos-compose.sh points the chaos harness at what compose publishes.
 */
const ROOT = path.resolve(__dirname, '../..');
const compose = parse(fs.readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const script = fs.readFileSync(path.join(ROOT, 'scripts/chaos-compose.sh'), 'utf8');

interface Service {
  build?: string;
  image?: string;
  command: string[];
  environment?: Record<string, string>;
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  profiles?: string[];
}

/** Runs `parse` with `env` as the whole SHARDCACHE_* environment; a parser's exit becomes an exception. */
function withEnv<T>(env: Record<string, string>, parseIt: () => T): T {
  const saved = { ...process.env };
  for (const key of Object.keys(process.env)) if (key.startsWith('SHARDCACHE_')) delete process.env[key];
  Object.assign(process.env, env);
  const exit = jest.spyOn(process, 'exit').mockImplementation((code) => {
    throw new Error(`the parser exited with ${code}`);
  });
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    return parseIt();
  } finally {
    exit.mockRestore();
    stderr.mockRestore();
    process.env = saved;
  }
}

/** shardctl: the real program with the named subcommand's action replaced by a no-op, so parsing runs whole (env, required options) and nothing else. */
function parseShardctl(argv: string[]): Record<string, unknown> {
  const program = buildProgram({ io: { out: () => undefined, err: () => undefined }, status: 0 });
  let command: Command = program;
  for (const word of argv) {
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    command = sub;
  }
  command.action(() => undefined);
  program.parse([...argv], { from: 'user' });
  return command.opts();
}

type Parsed = Record<string, unknown>;
const PARSERS: Record<string, (argv: string[]) => Parsed> = {
  'storage-node/main.js': (argv) => parseNodeConfig(argv) as unknown as Parsed,
  'proxy/main.js': (argv) => parseProxyConfig(argv) as unknown as Parsed,
  'control-plane/main.js': (argv) => parseServiceConfig(argv) as unknown as Parsed,
  'control-plane/cli/shardctl.js': parseShardctl,
};

/** A service's program: `node [node flags] dist/<script>.js args...`. */
const programOf = (s: Service): { script: string; args: string[]; nodeFlags: string[] } => {
  expect(s.command[0]).toBe('node');
  const at = s.command.findIndex((word, i) => i > 0 && !word.startsWith('-'));
  const match = /^dist\/(.+)\.js$/.exec(s.command[at]);
  expect(match).not.toBeNull();
  return { script: `${match![1]}.js`, args: s.command.slice(at + 1), nodeFlags: s.command.slice(1, at) };
};
const parsed = (s: Service): Parsed => {
  const { script: program, args } = programOf(s);
  return withEnv(s.environment ?? {}, () => PARSERS[program](args));
};
const built = Object.entries(services).filter(([, s]) => s.build !== undefined);
const containerPorts = (s: Service): number[] => (s.ports ?? []).map((p) => Number(p.split(':').at(-1)));
const healthUrl = (s: Service): string | undefined => s.healthcheck?.test.join(' ').match(/http:\/\/127\.0\.0\.1:\d+\/healthz/)?.[0];

test('the topology: etcd, 3 shards x 2 nodes, 2 proxies, the control plane and the one-shots', () => {
  expect(Object.keys(services).sort()).toEqual([
    'control-plane', 'etcd', 'init', 'node-s0-a', 'node-s0-b', 'node-s1-a', 'node-s1-b', 'node-s2-a', 'node-s2-b', 'node-s3-a', 'node-s3-b', 'ns-acked', 'ns-async', 'proxy-1', 'proxy-2',
  ]);
  // Only the spare shard sits in a profile: `docker compose up` starts the rest, `--profile spare` adds it.
  expect(Object.entries(services).filter(([, s]) => s.profiles !== undefined).map(([n, s]) => [n, s.profiles])).toEqual([['node-s3-a', ['spare']], ['node-s3-b', ['spare']]]);
});

test('every built service runs a program of the build, whose source exists and the Dockerfile copies', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  for (const [, s] of built) {
    const { script: program, nodeFlags } = programOf(s);
    // The proxy runs with the node flags every other launcher gives it; the rest with none.
    expect(nodeFlags).toEqual(program === 'proxy/main.js' ? PROXY_NODE_FLAGS : []);
    expect(fs.existsSync(path.join(ROOT, program.replace(/\.js$/, '.ts')))).toBe(true);
    expect(dockerfile).toContain(`COPY ${program.split('/')[0]} ${program.split('/')[0]}`);
    expect(PARSERS[program]).toBeDefined();
  }
  expect(dockerfile).toMatch(/^FROM node:20-slim/m);
  expect(dockerfile).toContain('RUN npm run build');
});

test('every command passes flags its program accepts (parsed by the program\'s own parser)', () => {
  for (const [name, s] of built) {
    try {
      parsed(s);
    } catch (err) {
      throw new Error(`${name}: ${(err as Error).message}`);
    }
  }
  // the check itself refuses a flag a program does not know
  expect(() => parsed({ ...services['proxy-1'], command: [...services['proxy-1'].command, '--no-such-flag'] })).toThrow();
  expect(() => parseShardctl(['ns', 'set', 'x', '--write-ack', 'all'])).toThrow();
});

test('every environment variable set is one the program reads', () => {
  for (const [name, s] of built) {
    for (const [key, value] of Object.entries(s.environment ?? {})) {
      const without = withEnv({}, () => PARSERS[programOf(s).script](programOf(s).args));
      const withIt = withEnv({ [key]: value }, () => PARSERS[programOf(s).script](programOf(s).args));
      expect([name, key, withIt]).not.toEqual([name, key, without]);
    }
  }
});

test('storage nodes: id and advertised host are the service name, shards match init, ports match the flags', () => {
  const init = parsed(services.init);
  const nodes = built.filter(([, s]) => programOf(s).script === 'storage-node/main.js');
  // init covers the regular shards; the spare one (profile "spare") is beyond them and owns no slots until `shard add`.
  const regular = nodes.filter(([, s]) => s.profiles === undefined);
  expect(regular).toHaveLength((init.shards as number) * ((init.replicas as number) + 1));
  for (const [, s] of nodes.filter(([, s]) => s.profiles !== undefined)) expect((parsed(s) as any).cluster.shardId).toBeGreaterThanOrEqual(init.shards as number);
  const perShard = new Map<number, number>();
  for (const [name, s] of nodes) {
    const c = parsed(s) as any;
    expect(c.cluster).toMatchObject({ nodeId: name, advertiseHost: name, etcd: 'etcd:2379', cluster: 'chaos' });
    perShard.set(c.cluster.shardId, (perShard.get(c.cluster.shardId) ?? 0) + 1);
    expect(s.expose).toEqual([String(c.port)]);
    expect(containerPorts(s)).toEqual([c.adminPort]);
    expect([c.host, c.adminHost]).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(healthUrl(s)).toBe(`http://127.0.0.1:${c.adminPort}/healthz`);
  }
  expect([...perShard.entries()].sort()).toEqual([[0, 2], [1, 2], [2, 2], [3, 2]]);
});

test('proxies and the control plane: published ports are the ones their flags open, health on the admin port', () => {
  for (const name of ['proxy-1', 'proxy-2']) {
    const c = parsed(services[name]) as any;
    expect(containerPorts(services[name]).sort()).toEqual([c.httpPort, c.respPort, c.adminPort].sort());
    expect([c.host, c.adminHost, c.etcd, c.cluster]).toEqual(['0.0.0.0', '0.0.0.0', 'etcd:2379', 'chaos']);
    expect(healthUrl(services[name])).toBe(`http://127.0.0.1:${c.adminPort}/healthz`);
  }
  const control = parsed(services['control-plane']) as any;
  expect(containerPorts(services['control-plane'])).toEqual([control.adminPort]);
  expect(healthUrl(services['control-plane'])).toBe(`http://127.0.0.1:${control.adminPort}/healthz`);
});

test('etcd listens where the programs look for it; every published port is on 127.0.0.1 and unique', () => {
  const etcd = services.etcd;
  const flag = (f: string) => etcd.command[etcd.command.indexOf(f) + 1];
  expect(flag('--listen-client-urls')).toBe('http://0.0.0.0:2379');
  expect(flag('--advertise-client-urls')).toBe('http://etcd:2379');
  expect(containerPorts(etcd)).toEqual([2379]);
  expect(etcd.healthcheck?.test).toContain('etcdctl');
  const hostPorts = Object.values(services).flatMap((s) => s.ports ?? []);
  for (const p of hostPorts) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  const host = hostPorts.map((p) => p.split(':')[1]);
  expect(new Set(host).size).toBe(host.length);
});

test('depends_on: targets exist; service_healthy targets have a health check; completed targets are one-shots', () => {
  const oneShots = ['init', 'ns-acked', 'ns-async'];
  for (const [name, s] of Object.entries(services)) {
    for (const [target, { condition }] of Object.entries(s.depends_on ?? {})) {
      expect([name, target, services[target] !== undefined]).toEqual([name, target, true]);
      if (condition === 'service_healthy') expect([name, target, services[target].healthcheck !== undefined]).toEqual([name, target, true]);
      else expect([name, target, condition, oneShots.includes(target)]).toEqual([name, target, 'service_completed_successfully', true]);
    }
    if (!oneShots.includes(name)) expect([name, s.healthcheck !== undefined]).toEqual([name, true]);
  }
  for (const name of oneShots) expect(services[name].restart).toBe('no');
  expect(parsed(services['ns-acked'])).toMatchObject({ writeAck: 'replica' });
});

test('chaos-compose.sh: valid bash, and the harness flags it passes match what compose publishes', () => {
  expect(spawnSync('bash', ['-n', path.join(ROOT, 'scripts/chaos-compose.sh')]).status).toBe(0);
  expect(script).toMatch(/^set -euo pipefail$/m);
  const value = (name: string) => new RegExp(`^${name}=(.+)$`, 'm').exec(script)![1];
  const options = parseChaosOptions(['--external', '--proxy-urls', value('PROXY_URLS'), '--etcd', value('ETCD'), '--node-admins', value('NODE_ADMINS'), '--cluster', value('CLUSTER')]);
  const published = (name: string, containerPort: number) => `http://127.0.0.1:${services[name].ports!.find((p) => p.endsWith(`:${containerPort}`))!.split(':')[1]}`;
  expect(options.proxyUrls).toEqual(['proxy-1', 'proxy-2'].map((n) => published(n, (parsed(services[n]) as any).httpPort)));
  // The chaos script drives the default topology (the spare shard's profile is not up).
  expect(options.nodeAdmins).toEqual(built.filter(([, s]) => programOf(s).script === 'storage-node/main.js' && s.profiles === undefined).map(([n, s]) => {
    const c = parsed(s) as any;
    return { nodeId: n, shard: c.cluster.shardId, adminUrl: published(n, c.adminPort) };
  }));
  expect(options.etcd).toBe(`127.0.0.1:${services.etcd.ports![0].split(':')[1]}`);
  expect(options.cluster).toBe(services['proxy-1'].environment?.SHARDCACHE_CLUSTER);
  for (const verb of ['kill -s SIGKILL', 'pause', 'unpause', 'restart']) expect(script).toContain(`compose ${verb}`);
  for (const service of /^SERVICES=\((.+)\)$/m.exec(script)![1].replace('"${PROXIES[@]}"', 'proxy-1 proxy-2').split(' ')) expect(services[service]).toBeDefined();
});

test('chaos-compose.sh writes faults the harness reads, and knows every kind of the schedule', () => {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-compose-')), 'faults.jsonl');
  const run = spawnSync('bash', ['-c', [
    `source ${JSON.stringify(path.join(ROOT, 'scripts/chaos-compose.sh'))}`,
    `FAULTS_LOG=${JSON.stringify(log)}`,
    'log_fault kill-primary node-s1-a "[1]" true 1000 2500 "docker compose kill -s SIGKILL"',
    'log_fault restart-proxy proxy-2 "[0,1,2]" false 3000 3400 "docker compose restart" 1',
    'echo \'{"event":"end"}\' >> "$FAULTS_LOG"',
    'admin_url node-s2-b',
  ].join('\n')], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  expect(run.stdout.trim().split('\n').at(-1)).toBe('http://127.0.0.1:9205');
  const { faults, ended } = parseFaultsLog(fs.readFileSync(log, 'utf8'));
  fs.rmSync(path.dirname(log), { recursive: true, force: true });
  expect(ended).toBe(true);
  expect(faults).toEqual([
    { id: 1, kind: 'kill-primary', target: 'node-s1-a', shards: [1], hitsPrimary: true, at: 1000, doneAt: 2500, note: 'docker compose kill -s SIGKILL' },
    { id: 2, kind: 'restart-proxy', target: 'proxy-2', shards: [0, 1, 2], hitsPrimary: false, at: 3000, doneAt: 3400, note: 'docker compose restart', proxy: 1 },
  ]);
  for (const kind of FAULT_KINDS) expect(script).toContain(`    ${kind})`);
  expect(planSchedule('long', 600_000, 1, 3, 2).map((f) => f.kind).sort()).toEqual(expect.arrayContaining([...FAULT_KINDS]));
});
