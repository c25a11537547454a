import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosCluster } from './cluster';
import type { Fault } from './history';
import { nodeHealth, type EpochWatch, type NodeWritesLog } from './observe';
import type { PlannedFault } from './schedule';

/** What a fault acts on and observes. */
export interface FaultContext {
  cluster: ChaosCluster;
  epochs: EpochWatch;
  writes: NodeWritesLog;
  leaseTtlMs: number;
  say(text: string): void;
}

/** How long to look for a replica in full sync before killing it anyway. */
const FULL_SYNC_WAIT_MS = 5000;

type Injected = Omit<Fault, 'id' | 'kind'>;

async function primaryName(ctx: FaultContext, shard: number): Promise<string> {
  const p = await ctx.epochs.primaryOf(shard);
  if (!p) throw new Error(`shard ${shard} has no primary to hit`);
  return p.nodeId;
}

async function replicaName(ctx: FaultContext, shard: number): Promise<string> {
  const primary = await primaryName(ctx, shard);
  const replica = ctx.cluster.nodes.find((n) => n.shard === shard && n.nodeId !== primary);
  if (!replica) throw new Error(`shard ${shard} has no replica to hit`);
  return replica.nodeId;
}

/** Reads the victim's last-write report first: after a kill -9 it is gone. */
async function noteWrites(ctx: FaultContext, name: string): Promise<void> {
  const node = ctx.cluster.nodes.find((n) => n.nodeId === name);
  if (node) await ctx.writes.collectOne(node);
}

/** Waits (bounded) until etcd names a primary of `shard` with an epoch above `above`. */
async function newEpoch(ctx: FaultContext, shard: number, above: number, timeoutMs: number): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const p = await ctx.epochs.primaryOf(shard).catch(() => undefined);
    if (p && p.epoch > above) return true;
  }
  return false;
}

async function killPrimary(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const victim = await primaryName(ctx, f.target);
  const before = (await ctx.epochs.primaryOf(f.target))?.epoch ?? 0;
  await noteWrites(ctx, victim);
  const at = Date.now();
  await ctx.cluster.kill(victim);
  const elected = await newEpoch(ctx, f.target, before, ctx.leaseTtlMs * 4);
  await ctx.cluster.restart(victim);
  return { target: victim, shards: [f.target], hitsPrimary: true, at, doneAt: Date.now(), note: elected ? 'restarted empty after a new primary was elected' : 'no new primary within 4 lease TTLs' };
}

async function stopPrimary(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const victim = await primaryName(ctx, f.target);
  await noteWrites(ctx, victim);
  const at = Date.now();
  ctx.cluster.signal(victim, 'SIGSTOP');
  await sleep(ctx.leaseTtlMs + 1000);
  ctx.cluster.signal(victim, 'SIGCONT');
  const doneAt = Date.now();
  await sleep(500);
  await noteWrites(ctx, victim); // what it accepted after it resumed, if anything
  return { target: victim, shards: [f.target], hitsPrimary: true, at, doneAt, note: `SIGSTOP for ${ctx.leaseTtlMs + 1000} ms, then SIGCONT` };
}

/** Restarts a replica empty, waits (bounded) for its replication state `full-sync`, then kills it -9 and starts it again. */
async function killReplicaInSync(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const victim = await replicaName(ctx, f.target);
  const node = ctx.cluster.nodes.find((n) => n.nodeId === victim)!;
  await ctx.cluster.kill(victim);
  await ctx.cluster.restart(victim);
  let inSync = false;
  let reported = false;
  for (const end = Date.now() + FULL_SYNC_WAIT_MS; Date.now() < end && !inSync; await sleep(10)) {
    const state = (await nodeHealth(node.adminUrl, 200))?.replication?.state;
    reported ||= state !== undefined;
    inSync = state === 'full-sync';
  }
  const at = Date.now();
  await ctx.cluster.kill(victim);
  await ctx.cluster.restart(victim);
  const note = inSync ? 'killed -9 during its full sync' : `no full sync seen within ${FULL_SYNC_WAIT_MS / 1000} s of its empty restart (${reported ? 'it was over before a poll saw it' : 'no replication state reported'}); killed -9 then`;
  return { target: victim, shards: [f.target], hitsPrimary: false, at, doneAt: Date.now(), note };
}

async function restartProxy(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const name = ctx.cluster.proxyNames[f.target];
  const at = Date.now();
  await ctx.cluster.restart(name);
  return { target: name, shards: shardsAll(ctx), hitsPrimary: false, proxy: f.target, at, doneAt: Date.now(), note: 'SIGTERM, then started again' };
}

const shardsAll = (ctx: FaultContext): number[] => Array.from({ length: ctx.cluster.layout.shards }, (_, s) => s);

async function restartEtcd(ctx: FaultContext): Promise<Injected> {
  const at = Date.now();
  await ctx.cluster.restartEtcd(1000);
  return { target: 'etcd', shards: shardsAll(ctx), hitsPrimary: false, at, doneAt: Date.now(), note: 'SIGTERM, down 1 s, started again on its data' };
}

async function restartNodeEmpty(ctx: FaultContext, f: PlannedFault): Promise<Injected> {
  const victim = f.role === 'primary' ? await primaryName(ctx, f.target) : await replicaName(ctx, f.target);
  await noteWrites(ctx, victim);
  const at = Date.now();
  await ctx.cluster.restart(victim);
  return { target: victim, shards: [f.target], hitsPrimary: f.role === 'primary', at, doneAt: Date.now(), note: `the ${f.role}: SIGTERM (hand-over), started again empty` };
}

/** Applies one planned fault and says what it did. */
export async function inject(ctx: FaultContext, f: PlannedFault, id: number): Promise<Fault> {
  const run = {
    'kill-primary': () => killPrimary(ctx, f),
    'stop-primary': () => stopPrimary(ctx, f),
    'kill-replica-in-sync': () => killReplicaInSync(ctx, f),
    'restart-proxy': () => restartProxy(ctx, f),
    'restart-etcd': () => restartEtcd(ctx),
    'restart-node-empty': () => restartNodeEmpty(ctx, f),
  }[f.kind];
  const injected = await run();
  const fault: Fault = { id, kind: f.kind, ...injected };
  ctx.say(`fault ${id} ${f.kind} ${fault.target}: ${fault.note ?? ''} (${fault.doneAt - fault.at} ms)`);
  return fault;
}

/** Waits (bounded) until every shard has a primary, every program runs and every node answers. */
export async function waitWhole(ctx: FaultContext, timeoutMs: number): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(200)) {
    if (ctx.cluster.dead().length > 0) continue;
    const health = await Promise.all(ctx.cluster.nodes.map((n) => nodeHealth(n.adminUrl, 500)));
    const primaries = new Set(health.filter((h) => h?.role === 'primary').map((h) => h!.shardId));
    const shards = new Set(ctx.cluster.nodes.map((n) => n.shard)); // spare shards too
    if (health.every((h) => h !== undefined) && primaries.size === shards.size) return true;
  }
  return false;
}
