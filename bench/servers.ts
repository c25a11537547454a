import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeConnection } from '../shared/node-connection';
import { Op, Status } from '../shared/protocol';
import type { ChildRegistry } from './children';

/**
 * Starting the servers under test as real processes on 127.0.0.1, and the few probes the
 * benchmark sends them outside the measured load (readiness, item counts).
 */

/** A running server process and the port it serves on. */
export interface ServerUnderTest {
  child: ChildProcess;
  pid: number;
  port: number;
}

const NODE_MAIN = path.join(__dirname, '..', 'storage-node', 'main.js');
const READY_TIMEOUT_MS = 20_000;

/** Starts a storage node on a port of its choosing and waits for its `ready` log line. */
export function startStorageNode(children: ChildRegistry, nodeFlags: readonly string[], maxMemory: string): Promise<ServerUnderTest> {
  const args = [...nodeFlags, NODE_MAIN, '--port', '0', '--admin-port', '0', '--max-memory', maxMemory, '--log-level', 'info'];
  const child = children.track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => {
      child.kill('SIGKILL');
      reject(new Error(`storage node ${why}; stderr: ${stderr.trim() || '(empty)'}`));
    };
    const timer = setTimeout(() => fail(`was not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      clearTimeout(timer);
      fail(`exited (${code ?? signal})`);
    };
    child.once('exit', onEarlyExit);
    // Keep reading stdout for the node's whole life: a full pipe would stall its logger.
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const ready = parseReadyLine(line);
      if (ready === undefined) return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      resolve({ child, pid: child.pid!, port: ready });
    });
  });
}

/** The frame port of a `"event":"ready"` JSON log line, or undefined for any other line. */
function parseReadyLine(line: string): number | undefined {
  if (!line.includes('"ready"')) return undefined;
  try {
    const record = JSON.parse(line) as { event?: unknown; port?: unknown };
    return record.event === 'ready' && typeof record.port === 'number' ? record.port : undefined;
  } catch {
    return undefined;
  }
}

/** A port free on 127.0.0.1 right now (bound on port 0, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts `redis-server` with persistence off on a free port and waits until it answers PING. */
export async function startRedis(children: ChildRegistry, redisServer: string): Promise<ServerUnderTest> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
  const child = children.track(spawn(redisServer, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  const keep = (d: Buffer): void => void (output = (output + d.toString()).slice(-4000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline && child.exitCode === null) {
    if ((await redisCommand(port, 'PING').catch(() => '')) === '+PONG') return { child, pid: child.pid!, port };
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server did not answer PING on port ${port}; output: ${output.trim() || '(empty)'}`);
}

/** Sends one inline RESP command and resolves with the first reply line (without CRLF). */
export function redisCommand(port: number, command: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no reply to ${command}`)));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end < 0) return;
      socket.destroy();
      resolve(reply.slice(0, end));
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`connection closed before the reply to ${command}`)));
  });
}

/** Keys held by redis (DBSIZE), or undefined if it cannot tell. */
export async function redisItemCount(port: number): Promise<number | undefined> {
  const reply = await redisCommand(port, 'DBSIZE').catch(() => '');
  return reply.startsWith(':') ? Number(reply.slice(1)) : undefined;
}

/** Items held by a storage node, from its STATS reply, or undefined if it cannot tell. */
export async function nodeItemCount(port: number): Promise<number | undefined> {
  const connection = await NodeConnection.connect(port);
  try {
    const reply = await connection.request(Op.STATS);
    if (reply[1] !== Status.OK || typeof reply[2] !== 'object' || reply[2] === null) return undefined;
    const stats = reply[2] as Record<string, unknown>;
    const count = ['items', 'keys', 'size', 'entries'].map((name) => stats[name]).find((v) => typeof v === 'number');
    return count as number | undefined;
  } finally {
    await connection.close();
  }
}

/** redis's OBJECT ENCODING of `key` (e.g. `listpack`, `hashtable`), or undefined if it cannot tell. */
export function redisObjectEncoding(port: number, key: string, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let reply = '';
    const done = (value: string | undefined): void => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => socket.write(`OBJECT ENCODING ${key}\r\n`));
    socket.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      const bulk = /^\$(-?\d+)\r\n/.exec(reply);
      if (bulk === null) {
        if (reply.includes('\r\n')) done(undefined); // an error or nil
        return;
      }
      const length = Number(bulk[1]);
      if (length < 0) return done(undefined);
      if (reply.length >= bulk[0].length + length + 2) done(reply.slice(bulk[0].length, bulk[0].length + length));
    });
    socket.once('error', () => done(undefined));
  });
}

/** The bytes a storage node accounts for its entries (STATS `bytes`), or undefined if it cannot tell. */
export async function nodeAccountedBytes(port: number): Promise<number | undefined> {
  const connection = await NodeConnection.connect(port);
  try {
    const reply = await connection.request(Op.STATS);
    if (reply[1] !== Status.OK || typeof reply[2] !== 'object' || reply[2] === null) return undefined;
    const bytes = (reply[2] as Record<string, unknown>).bytes;
    return typeof bytes === 'number' ? bytes : undefined;
  } finally {
    await connection.close();
  }
}
