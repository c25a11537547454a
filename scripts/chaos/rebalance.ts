import { setTimeout as sleep } from 'node:timers/promises';
import { connectEtcd } from '../../shared/topology/etcd';
import { shardctlAsync } from '../cluster/processes';
import { clusterKeys, MigrationRecordSchema, SlotMapSchema, type MigrationRecord } from '../../shared/topology/schema';
import type { Fault } from './history';
import { nodeHealth } from './observe';
import type { FaultContext } from './faults';

/** What the rebalance scenario did and found (the report's `rebalance` part). */
export interface RebalanceSummary {
  ok: boolean;
  /** Every step, with what it printed or found. */
  steps: string[];
  migrations: Array<Pick<MigrationRecord, 'id' | 'from' | 'to' | 'state'> & { slots: number; keys: number; coldSlots: number; attempts: number; freezeMsMax: number }>;
  /** The slot map's epoch at the end, and the nodes that did not serve by it. */
  slotMapEpoch: number;
  nodesBehind: string[];
  problems: string[];
}

/** Copy throttle of the scenario's moves, so that the faults land in the middle of a copy. */
const SCENARIO_BYTES_PER_SEC = '2mb';
/** Slots per cut-over in the scenario's cluster: small, so a move spends long enough cutting for a fault to land there. */
export const SCENARIO_CUT_SLOTS = 32;
const SETTLE_MS = 60_000;

/**
 * shardctl of the build as a child process, with the cluster's etcd flags and, over TLS, the node-link
 * environment (`rebalance` and `shard remove` read every primary's slot figures); resolves with its
 * status and what it printed. A child, not in-process: the node-link settings live in its environment.
 */
async function shardctl(ctx: FaultContext, args: string[]): Promise<{ code: number; out: string }> {
  const res = await shardctlAsync(args, ctx.cluster.etcd, ctx.cluster.layout);
  return { code: res.status ?? 1, out: `${res.stdout}${res.stderr}`.trim() };
}

async function readRecords(ctx: FaultContext): Promise<{ migrations: MigrationRecord[]; epoch: number }> {
  const client = connectEtcd(ctx.cluster.etcd, { access: ctx.cluster.etcdAccess });
  try {
    const keys = clusterKeys(ctx.cluster.layout.cluster);
    const all = await client.getAll().prefix(keys.migrationsPrefix).strings();
    const map = SlotMapSchema.parse(JSON.parse((await client.get(keys.slotmap).string())!));
    return { migrations: Object.values(all).map((t) => MigrationRecordSchema.parse(JSON.parse(t))), epoch: map.epoch };
  } finally {
    client.close();
  }
}

/** Waits (bounded) until every migration is committed or aborted. */
async function settled(ctx: FaultContext): Promise<boolean> {
  for (const end = Date.now() + SETTLE_MS; Date.now() < end; await sleep(250)) {
    const { migrations } = await readRecords(ctx).catch(() => ({ migrations: [{ state: 'copying' }] as MigrationRecord[] }));
    if (migrations.length > 0 && migrations.every((m) => m.state === 'committed' || m.state === 'aborted')) return true;
  }
  return false;
}

/** Waits (bounded) for a migration in `phase`, so the next fault lands in it: copying, or cutting with cut-overs behind it and ahead of it. */
async function inPhase(ctx: FaultContext, phase: 'copying' | 'cutting'): Promise<MigrationRecord | undefined> {
  const inIt = (m: MigrationRecord): boolean => m.state === phase &&
    (phase === 'copying' || (m.progress.slotsDone >= SCENARIO_CUT_SLOTS && m.progress.slotsDone <= m.progress.slotsTotal - 2 * SCENARIO_CUT_SLOTS));
  for (const end = Date.now() + 15_000; Date.now() < end; await sleep(20)) {
    const found = (await readRecords(ctx).catch(() => ({ migrations: [] as MigrationRecord[] }))).migrations.find(inIt);
    if (found) return found;
  }
  return undefined;
}

/**
 * The chaos harness's rebalance scenario, after the fault phase and under the same checked load:
 *
 *   shard add <spare> ─► rebalance (throttled) ─► kill -9 of a source primary mid-copy
 *                                              ─► kill -9 of the target primary between cut-overs ─► committed
 *   shard remove <spare> ─► kill -9 of the control-plane service mid-copy (restarted)
 *                        ─► etcd restart between cut-overs ─► committed
 *
 * then every migration must be committed and every node must serve by the final slot map (one
 * owner per slot). The faults on primaries and etcd join the run's faults, so the checker holds
 * them to the same invariants (recovery, no stale-epoch write, no lost acknowledged write).
 */
export async function rebalanceScenario(ctx: FaultContext, spare: number, nextId: () => number, faults: Fault[]): Promise<RebalanceSummary> {
  const steps: string[] = [];
  const problems: string[] = [];
  const step = async (args: string[]): Promise<void> => {
    const r = await shardctl(ctx, args);
    const first = r.out.split('\n')[0];
    steps.push(`shardctl ${args.join(' ')}: exit ${r.code}${first ? `: ${first.length > 160 ? `${first.slice(0, 160)}…` : first}` : ''}`);
    if (r.code !== 0) problems.push(`shardctl ${args[0]} exited ${r.code}: ${r.out}`);
  };
  const missed = (what: string, phase: string) => problems.push(`no migration was seen ${phase}: ${what} was not applied`);
  await step(['shard', 'add', String(spare)]);
  await step(['rebalance', '--no-wait', '--max-bytes-per-sec', SCENARIO_BYTES_PER_SEC]);
  const copyingIn = await inPhase(ctx, 'copying');
  if (copyingIn) faults.push(await killPrimaryOf(ctx, copyingIn.from, nextId(), 'the source primary of a migration, killed -9 mid-copy'));
  else missed('the kill of its source primary', 'copying');
  const cuttingIn = await inPhase(ctx, 'cutting');
  if (cuttingIn) {
    faults.push(await killPrimaryOf(ctx, cuttingIn.to, nextId(), `the target primary of a migration, killed -9 after ${cuttingIn.progress.slotsDone} of ${cuttingIn.progress.slotsTotal} slots were cut over`));
  } else missed('the kill of its target primary', 'cutting');
  if (!(await settled(ctx))) problems.push(`the rebalance did not settle within ${SETTLE_MS / 1000} s`);

  await step(['shard', 'remove', String(spare), '--no-wait', '--max-bytes-per-sec', SCENARIO_BYTES_PER_SEC]);
  if (await inPhase(ctx, 'copying')) {
    await ctx.cluster.kill('control-plane');
    steps.push('control-plane killed -9 mid-copy; restarting it');
    await ctx.cluster.restart('control-plane');
  } else missed('the control-plane kill', 'copying');
  const drained = await inPhase(ctx, 'cutting');
  if (drained) {
    const at = Date.now();
    await ctx.cluster.restartEtcd(1000);
    const note = `between the cut-overs of the spare shard's drain (${drained.progress.slotsDone} of ${drained.progress.slotsTotal} slots cut over)`;
    steps.push(`etcd restarted ${note}`);
    faults.push({ id: nextId(), kind: 'restart-etcd', target: 'etcd', shards: Array.from({ length: ctx.cluster.layout.shards }, (_, s) => s), hitsPrimary: false, at, doneAt: Date.now(), note });
  } else missed('the etcd restart', 'cutting');
  if (!(await settled(ctx))) problems.push(`the drain did not settle within ${SETTLE_MS / 1000} s`);
  await step(['shard', 'remove', String(spare), '--max-bytes-per-sec', '0', '--timeout', '60']); // retires it once it owns nothing

  const { migrations, epoch } = await readRecords(ctx);
  for (const m of migrations) if (m.state !== 'committed') problems.push(`migration ${m.id} ended ${m.state}: ${m.reason ?? ''}`);
  const nodesBehind: string[] = [];
  for (const end = Date.now() + 15_000; Date.now() < end; await sleep(200)) {
    nodesBehind.length = 0;
    for (const n of ctx.cluster.nodes) if ((await nodeHealth(n.adminUrl, 500))?.slotMapEpoch !== epoch) nodesBehind.push(n.nodeId);
    if (nodesBehind.length === 0) break;
  }
  if (nodesBehind.length > 0) problems.push(`nodes not serving by slot map epoch ${epoch}: ${nodesBehind.join(', ')}`);
  return {
    ok: problems.length === 0, steps, slotMapEpoch: epoch, nodesBehind, problems,
    migrations: migrations.map((m) => ({
      id: m.id, from: m.from, to: m.to, state: m.state, slots: m.progress.slotsTotal, keys: m.progress.keys, coldSlots: m.progress.coldSlots, attempts: m.progress.attempts, freezeMsMax: Math.round(m.progress.freezeMsMax),
    })),
  };
}

/** kill -9 of a shard's primary, restarted empty once a new primary is elected (as the fault phase's kill-primary). */
async function killPrimaryOf(ctx: FaultContext, shard: number, id: number, note: string): Promise<Fault> {
  const p = await ctx.epochs.primaryOf(shard);
  if (!p) throw new Error(`shard ${shard} has no primary to hit`);
  const node = ctx.cluster.nodes.find((n) => n.nodeId === p.nodeId);
  if (node) await ctx.writes.collectOne(node);
  const at = Date.now();
  await ctx.cluster.kill(p.nodeId);
  for (const end = Date.now() + ctx.leaseTtlMs * 4; Date.now() < end; await sleep(50)) {
    const next = await ctx.epochs.primaryOf(shard).catch(() => undefined);
    if (next && next.epoch > p.epoch) break;
  }
  await ctx.cluster.restart(p.nodeId);
  ctx.say(`fault ${id} kill-primary ${p.nodeId}: ${note}`);
  return { id, kind: 'kill-primary', target: p.nodeId, shards: [shard], hitsPrimary: true, at, doneAt: Date.now(), note };
}
