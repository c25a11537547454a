import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  assertPortsFree, hasExited, initCluster, killChild, launchProgram, programSpecs, shardctl, startEtcd, stopChild, waitForPrimaries, waitHealthy,
  type Child, type ClusterLayout, type ProgramSpec, type Say,
} from '../cluster/processes';
import { etcdAccessOf } from '../cluster/tls';
import type { EtcdAccess } from '../../shared/topology/etcd';

/**
 * The chaos topology as child processes (scripts/cluster/processes.ts does the starting): etcd,
 * shards × (replicas + 1) storage nodes, the control plane and the proxies, all on 127.0.0.1.
 * Faults act on it by program name: kill, stop/continue, restart (a storage node always restarts
 * empty: its data lives in memory). With `layout.tls` and `layout.clusterSecretFile` every link is
 * TLS and every node link proves the secret; a restarted program gets the same flags (its spec),
 * etcd the same TLS. Owns: every child; `close()` stops them all, etcd last.
 */
export class ChaosCluster {
  readonly etcd: string;
  /** How this process reaches etcd (over TLS with the client certificate when the layout has certificates). */
  readonly etcdAccess: EtcdAccess;
  readonly specs: ProgramSpec[];
  readonly #children = new Map<string, Child>();
  /** Every process ever started (restarts included), to prove none is left behind. */
  readonly pids: number[] = [];
  #etcdChild: Child | undefined;
  #closing: Promise<void> | undefined;

  constructor(readonly layout: ClusterLayout, readonly dataDir: string, readonly say: Say) {
    this.etcd = `127.0.0.1:${layout.etcdPort}`;
    this.etcdAccess = etcdAccessOf(layout.tls);
    this.specs = programSpecs(layout, this.etcd);
  }

  get logDir(): string {
    return path.join(this.dataDir, 'logs');
  }

  /** Storage nodes: name, shard and admin URL. */
  get nodes(): Array<{ nodeId: string; shard: number; adminUrl: string }> {
    return this.specs.filter((s) => s.shardId !== undefined).map((s) => ({ nodeId: s.name, shard: s.shardId!, adminUrl: s.adminUrl! }));
  }

  get proxyNames(): string[] {
    return this.specs.filter((s) => s.script === 'proxy/main.js').map((s) => s.name);
  }

  /** Starts everything, sets the namespace policies, waits for primaries and health. */
  async start(namespaces: Array<[string, string[]]>, timeoutSeconds: number): Promise<void> {
    fs.mkdirSync(this.logDir, { recursive: true });
    await assertPortsFree(this.layout, this.specs);
    this.#etcdChild = this.#track(await startEtcd(this.layout, this.dataDir, this.logDir, this.say));
    await initCluster(this.layout, this.etcd, true, this.say);
    for (const [ns, flags] of namespaces) {
      const res = shardctl(['ns', 'set', ns, ...flags], this.etcd, this.layout);
      if (res.status !== 0) throw new Error(`shardctl ns set ${ns} failed: ${res.stderr.trim()}`);
    }
    for (const spec of this.specs) this.#children.set(spec.name, this.#track(launchProgram(spec, this.logDir, this.say)));
    await waitForPrimaries(this.etcd, this.layout.cluster, timeoutSeconds, this.layout.tls);
    await waitHealthy([...this.#children.values()], timeoutSeconds);
  }

  child(name: string): Child {
    const child = this.#children.get(name);
    if (!child) throw new Error(`no program named ${name}`);
    return child;
  }

  /** kill -9. */
  kill(name: string): Promise<void> {
    return killChild(this.child(name));
  }

  signal(name: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.child(name);
    if (!hasExited(child)) child.process.kill(signal);
  }

  /** Stops a program if it still runs (SIGTERM), then starts it again with the same flags. */
  async restart(name: string): Promise<void> {
    const old = this.child(name);
    await stopChild(old, this.say);
    const fresh = this.#track(launchProgram(old.spec, this.logDir, this.say));
    this.#children.set(name, fresh);
    if (old.spec.healthUrl) await waitHealthy([fresh], 30);
  }

  /** Stops etcd (SIGTERM), waits `downMs`, starts it again on the same data. */
  async restartEtcd(downMs: number): Promise<void> {
    if (this.#etcdChild) await stopChild(this.#etcdChild, this.say);
    await sleep(downMs);
    this.#etcdChild = this.#track(await startEtcd(this.layout, this.dataDir, this.logDir, this.say));
  }

  #track(child: Child): Child {
    if (child.process.pid !== undefined) this.pids.push(child.process.pid);
    return child;
  }

  /** Names of programs that are not running (they died without the harness asking). */
  dead(): string[] {
    const dead = [...this.#children.values()].filter((c) => hasExited(c)).map((c) => c.spec.name);
    return this.#etcdChild && hasExited(this.#etcdChild) ? ['etcd', ...dead] : dead;
  }

  /** Stops every program, etcd last (so nodes can revoke their leases); idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#children.values()].map((c) => stopChild(c, this.say)));
      if (this.#etcdChild) await stopChild(this.#etcdChild, this.say);
    })();
    return this.#closing;
  }

  /** Last resort on exit: SIGKILL to every child still alive (synchronous). */
  killAll(): void {
    for (const c of [...this.#children.values(), ...(this.#etcdChild ? [this.#etcdChild] : [])]) {
      if (!hasExited(c)) {
        c.process.kill('SIGCONT');
        c.process.kill('SIGKILL');
      }
    }
  }
}
