import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { LocalTls } from '../../scripts/tls-certs';
import { etcdAccessOf, etcdClientArgs, etcdHealthy, etcdScheme, etcdServerTlsArgs } from '../../scripts/cluster/tls';
import type { EtcdAccess } from '../../shared/topology/etcd';

/** A free TCP port on 127.0.0.1 (bound then released). */
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

/** Whether `port` on 127.0.0.1 can be bound right now. */
export const bindable = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/**
 * A base port whose next `count - 1` ports are free too (for programs that take a base port),
 * picked at random below the kernel's ephemeral range, so that no outgoing connection can take one
 * of them between this check and the programs binding them.
 */
export async function freeRange(count: number): Promise<number> {
  const low = 20_000;
  const high = ephemeralLow() - count;
  for (;;) {
    const base = low + Math.floor(Math.random() * (high - low));
    const ok = await Promise.all(Array.from({ length: count }, (_, i) => bindable(base + i)));
    if (ok.every(Boolean)) return base;
  }
}

/** First port of the kernel's ephemeral range (Linux), 32768 when it cannot be read. */
function ephemeralLow(): number {
  try {
    return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

export const hasEtcd = (): boolean => spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;

/**
 * A private etcd server for one test file: its own data dir and free ports on loopback.
 * `restart()` stops and starts it on the same ports and data, as an outage would. With `tls`
 * (certificates of scripts/tls-certs.ts) its client URL is https and takes only clients with a
 * certificate of that CA (`--client-cert-auth`); `access` and `clientArgs` are what clients use.
 */
export class TestEtcd {
  readonly dataDir: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** Certificates etcd serves and checks clients against (absent: plain TCP). */
  readonly tls?: LocalTls;
  #child: ChildProcess | null = null;

  private constructor(dataDir: string, clientPort: number, peerPort: number, tls?: LocalTls) {
    this.dataDir = dataDir;
    this.clientPort = clientPort;
    this.peerPort = peerPort;
    this.tls = tls;
  }

  /** `http(s)://127.0.0.1:<client port>`. */
  get url(): string {
    return `${etcdScheme(this.tls)}://127.0.0.1:${this.clientPort}`;
  }

  /** What `connectEtcd` needs to reach this server (the client certificate with `tls`). */
  get access(): EtcdAccess {
    return etcdAccessOf(this.tls);
  }

  /** The `--etcd-*` flags a program or shardctl needs to reach this server (none without `tls`). */
  get clientArgs(): string[] {
    return etcdClientArgs(this.tls);
  }

  get endpoint(): string {
    return `127.0.0.1:${this.clientPort}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  static async start(options: { tls?: LocalTls } = {}): Promise<TestEtcd> {
    if (!hasEtcd()) throw new Error('etcd is not on the PATH: apt-get install -y etcd-server');
    // A free port can be taken by another test's process between the probe and etcd's bind: try other ports then.
    for (let attempt = 1; ; attempt++) {
      const etcd = new TestEtcd(fs.mkdtempSync(path.join(os.tmpdir(), 'shardcache-etcd-')), await freePort(), await freePort(), options.tls);
      try {
        await etcd.#launch();
        return etcd;
      } catch (err) {
        await etcd.halt();
        fs.rmSync(etcd.dataDir, { recursive: true, force: true });
        if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  async #launch(): Promise<void> {
    const url = this.url;
    const child = spawn('etcd', [
      '--name', 'test', '--data-dir', this.dataDir,
      '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-cluster', `test=http://127.0.0.1:${this.peerPort}`,
      '--log-level', 'error', '--logger', 'zap', ...etcdServerTlsArgs(this.tls),
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    this.#child = child;
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
      if (await etcdHealthy(url, this.tls)) return; // false while it is not up yet
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`etcd did not become healthy: ${stderr}`);
  }

  /** Stops the server (SIGTERM, then SIGKILL); keeps the data dir. */
  async halt(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  async restart(downMs = 0): Promise<void> {
    await this.halt();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.#launch();
  }

  /** Stops the server and removes its data. */
  async stop(): Promise<void> {
    await this.halt();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
