import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildRegistry } from './children';
import { readCpuSeconds } from './procfs';
import { freePort, redisCommand, startRedis, type ServerUnderTest } from './servers';

/**
 * The peers of the peer benchmark, as processes on 127.0.0.1: two redis-servers behind nutcracker
 * (twemproxy; ketama over fnv1a_64, the usual production set-up) and one redis-server alone.
 * Every process is tracked by the benchmark's ChildRegistry; the config dir is removed on exit.
 */

/** nutcracker in front of its redis-servers. */
export interface Twemproxy {
  proxy: ServerUnderTest;
  backends: ServerUnderTest[];
}

const READY_TIMEOUT_MS = 20_000;

/** The nutcracker pool config: ketama over the given redis ports, redis protocol. */
export function nutcrackerConfig(listenPort: number, backendPorts: readonly number[]): string {
  return [
    'bench:',
    `  listen: 127.0.0.1:${listenPort}`,
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  redis: true',
    '  auto_eject_hosts: false',
    '  timeout: 1000',
    '  servers:',
    ...backendPorts.map((port, i) => `   - 127.0.0.1:${port}:1 redis${i}`),
    '',
  ].join('\n');
}

/** Starts `backends` redis-servers and nutcracker over them; resolves once nutcracker answers PING. */
export async function startTwemproxy(children: ChildRegistry, redisServer: string, nutcracker: string, backends = 2): Promise<Twemproxy> {
  const servers: ServerUnderTest[] = [];
  for (let i = 0; i < backends; i++) servers.push(await startRedis(children, redisServer));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-bench-nutcracker-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const [port, statsPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'nutcracker.yml');
  fs.writeFileSync(conf, nutcrackerConfig(port, servers.map((s) => s.port)));
  const args = ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-o', path.join(dir, 'nutcracker.log'), '-v', '4'];
  const child = children.track(spawn(nutcracker, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    // As a RESP array: nutcracker does not take inline commands.
    const reply = await redisCommand(port, '*1\r\n$4\r\nPING').catch(() => '');
    if (reply === '+PONG') return { proxy: { child, pid: child.pid!, port }, backends: servers };
    await sleep(50);
  }
  child.kill('SIGKILL');
  const log = fs.existsSync(path.join(dir, 'nutcracker.log')) ? fs.readFileSync(path.join(dir, 'nutcracker.log'), 'utf8').slice(-2000) : '';
  throw new Error(`nutcracker did not answer on port ${port}; output: ${output.trim() || '(empty)'} ${log}`);
}

/** `pid` and its descendants (the proxy's workers), from /proc/<pid>/task/<tid>/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      } catch {
        // the task ended
      }
    }
  }
  return out;
}

/** CPU seconds of `pids` together (processes gone count 0). */
export function cpuOfAll(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += readCpuSeconds(pid);
    } catch {
      // gone
    }
  }
  return total;
}
