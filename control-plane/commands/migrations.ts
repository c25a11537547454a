import { Op, Status, type SlotRange } from '../../shared/protocol';
import { SLOT_COUNT } from '../../shared/slot';
import { countSlots, normaliseRanges } from '../../shared/slot-ranges';
import { ClusterConfigSchema, type ClusterConfig, type MigrationRecord, type MigrationState } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { InputError } from '../errors';
import { peerAccessFromEnv } from '../../shared/peer-flags';
import { NodeClients } from '../rebalance/node-client';
import { planRebalance, type Plan } from '../rebalance/planner';
import { casMigration, createMigration, isFinal, migrationId, newMigration, readMigration, readMigrations, type StoredMigration } from '../rebalance/records';
import { readConfig, readTopology, type CommandContext } from './context';

/** The shards that take slots: init's `0 .. shards-1` and the added ones, less the retired ones. Pure. */
export function activeShards(config: ClusterConfig): number[] {
  const retired = new Set(config.retiredShards ?? []);
  const all = new Set<number>([...Array.from({ length: config.shards }, (_, i) => i), ...(config.addedShards ?? [])]);
  return [...all].filter((s) => !retired.has(s)).sort((a, b) => a - b);
}

/** Writes `config` if it is still at `modRevision`. */
async function casConfig(ctx: CommandContext, next: ClusterConfig): Promise<void> {
  const res = await ctx.client.get(ctx.keys.config).exec();
  const kv = res.kvs[0];
  const value = ClusterConfigSchema.parse(next);
  const txn = await ctx.client.if(ctx.keys.config, 'Mod', '==', kv?.mod_revision ?? 0).then(ctx.client.put(ctx.keys.config).value(JSON.stringify(value))).commit();
  if (!txn.succeeded) throw new InputError('config', 'the cluster config changed meanwhile; run the command again');
}

/** `shard add <id>`: a shard whose nodes run with `--shard <id>` and own no slots joins the shards that take slots. */
export async function addShard(ctx: CommandContext, shardId: number): Promise<{ shardId: number; primary: string; shards: number[] }> {
  const config = await readConfig(ctx);
  const { snapshot } = await readTopology(ctx);
  if (activeShards(config).includes(shardId)) throw new InputError('shard', `shard ${shardId} is already part of the cluster`);
  const primary = snapshot.shards.get(shardId)?.primary;
  if (primary === undefined) {
    throw new InputError('shard', `shard ${shardId} has no primary: start its nodes with --shard ${shardId} (npm start -- --spare-shards 1 does it locally), then run this again`);
  }
  if (ownedSlots(snapshot, shardId) > 0) throw new InputError('shard', `shard ${shardId} already owns slots`);
  const added = [...new Set([...(config.addedShards ?? []), shardId])].sort((a, b) => a - b);
  const retired = (config.retiredShards ?? []).filter((s) => s !== shardId);
  await casConfig(ctx, { ...config, addedShards: added, retiredShards: retired });
  return { shardId, primary: primary.addr, shards: activeShards({ ...config, addedShards: added, retiredShards: retired }) };
}

/** Marks a drained shard retired (`shard remove`, after its slots moved). */
export async function retireShard(ctx: CommandContext, shardId: number): Promise<void> {
  const config = await readConfig(ctx);
  const { snapshot } = await readTopology(ctx);
  if (ownedSlots(snapshot, shardId) > 0) throw new InputError('shard', `shard ${shardId} still owns slots; it cannot be retired yet`);
  await casConfig(ctx, { ...config, retiredShards: [...new Set([...(config.retiredShards ?? []), shardId])].sort((a, b) => a - b) });
}

function ownedSlots(snapshot: TopologySnapshot, shardId: number): number {
  let n = 0;
  for (let s = 0; s < SLOT_COUNT; s++) if (snapshot.slotShard[s] === shardId) n++;
  return n;
}

/** Per-slot keys and bytes from every primary (SLOT_STATS); undefined when some primary did not answer. */
export async function slotFigures(snapshot: TopologySnapshot): Promise<{ keys: Float64Array; bytes: Float64Array } | undefined> {
  const nodes = new NodeClients(peerAccessFromEnv()); // shardctl: $SHARDCACHE_CLUSTER_SECRET(_FILE), $SHARDCACHE_NODE_TLS_*
  const keys = new Float64Array(SLOT_COUNT);
  const bytes = new Float64Array(SLOT_COUNT);
  try {
    for (const view of snapshot.shards.values()) {
      if (view.primary === undefined) continue;
      const reply = await nodes.request(view.primary.addr, Op.SLOT_STATS);
      if (reply[1] !== Status.OK || !Array.isArray(reply[2])) return undefined;
      const flat = reply[2] as number[];
      for (let i = 0; i + 2 < flat.length; i += 3) {
        if (snapshot.slotShard[flat[i]] !== view.shardId) continue; // left-overs of a slot that moved away
        keys[flat[i]] += flat[i + 1];
        bytes[flat[i]] += flat[i + 2];
      }
    }
    return { keys, bytes };
  } catch {
    return undefined;
  } finally {
    await nodes.close();
  }
}

/** The plan that evens out the active shards (`rebalance`), or drains `removing`. */
export async function planFor(ctx: CommandContext, removing?: number): Promise<Plan> {
  const config = await readConfig(ctx);
  const { snapshot } = await readTopology(ctx);
  if (snapshot.slotMap === undefined) throw new InputError('rebalance', 'the cluster has no slot map');
  const shards = activeShards(config).filter((s) => s !== removing);
  if (shards.length === 0) throw new InputError('shard', 'the last shard cannot be removed');
  for (const s of shards) {
    if (snapshot.shards.get(s)?.primary === undefined) throw new InputError('rebalance', `shard ${s} has no primary; wait for its election (shardctl status)`);
  }
  const figures = await slotFigures(snapshot);
  return planRebalance({ slotMap: snapshot.slotMap.ranges, shards, slotBytes: figures?.bytes, slotKeys: figures?.keys });
}

/** Writes one migration record per move of `plan`, in state planned; returns their ids. */
export async function submitPlan(ctx: CommandContext, plan: Plan, maxBytesPerSec: number, now = Date.now()): Promise<string[]> {
  const planId = `p-${now.toString(36)}`;
  const ids: string[] = [];
  for (const move of plan.moves) {
    const record = newMigration(migrationId(now), move.from, move.to, move.ranges, maxBytesPerSec, now, planId);
    if (!(await createMigration(ctx.client, ctx.keys, record))) throw new InputError('migrate', `migration ${record.id} exists already`);
    ids.push(record.id);
  }
  return ids;
}

/** `migrate <from>-<to> --to <shard>`: one migration of a slot range to a shard (from its current owners). */
export async function migrateRange(ctx: CommandContext, range: SlotRange, to: number, maxBytesPerSec: number, now = Date.now()): Promise<string[]> {
  const config = await readConfig(ctx);
  if (!activeShards(config).includes(to)) throw new InputError('--to', `shard ${to} does not take slots (add it first: shardctl shard add ${to})`);
  const { snapshot } = await readTopology(ctx);
  if (snapshot.shards.get(to)?.primary === undefined) throw new InputError('--to', `shard ${to} has no primary`);
  const byOwner = new Map<number, SlotRange[]>();
  for (let s = range[0]; s <= range[1]; s++) {
    const owner = snapshot.slotShard[s];
    if (owner === to || owner < 0) continue;
    const list = byOwner.get(owner) ?? [];
    list.push([s, s]);
    byOwner.set(owner, list);
  }
  const ids: string[] = [];
  for (const [from, ranges] of byOwner) {
    const record = newMigration(migrationId(now), from, to, normaliseRanges(ranges), maxBytesPerSec, now);
    if (!(await createMigration(ctx.client, ctx.keys, record))) throw new InputError('migrate', `migration ${record.id} exists already`);
    ids.push(record.id);
  }
  return ids;
}

/** Changes a migration's state by compare-and-set: pause, resume or cancel. */
export async function setMigrationState(ctx: CommandContext, id: string, action: 'pause' | 'resume' | 'cancel'): Promise<MigrationRecord> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const stored = await readMigration(ctx.client, ctx.keys, id);
    if (stored === undefined) throw new InputError('migration', `no migration "${id}" (shardctl migrations lists them)`);
    const m = stored.record;
    if (isFinal(m.state)) throw new InputError('migration', `migration ${id} is ${m.state} already`);
    const next = transition(m, action);
    if (next === m) return m;
    if ((await casMigration(ctx.client, ctx.keys, stored, next)) !== undefined) return next;
  }
  throw new InputError('migration', `migration ${id} keeps changing; try again`);
}

/** The record after `action`. Pure. */
export function transition(m: MigrationRecord, action: 'pause' | 'resume' | 'cancel'): MigrationRecord {
  if (action === 'cancel') return { ...m, state: 'aborted', reason: 'cancelled by an operator' };
  if (action === 'pause') return m.state === 'paused' ? m : { ...m, state: 'paused', resumeTo: m.state === 'planned' ? 'planned' : 'copying', reason: 'paused by an operator' };
  if (m.state !== 'paused') return m;
  const { resumeTo: _resumeTo, ...rest } = m;
  // A paused copy starts over (its import ended): back to planned, which re-reads both epochs.
  return { ...rest, state: 'planned', reason: 'resumed by an operator' };
}

/** A migration as `migrations` lists it. */
export interface MigrationRow {
  id: string;
  state: MigrationState;
  from: number;
  to: number;
  slots: number;
  slotsDone: number;
  keys: number;
  bytes: number;
  coldSlots: number;
  freezeMsMax: number;
  rateBytesPerSec: number;
  etaSeconds: number | null;
  reason?: string;
}

/** Every migration with its figures, oldest first. */
export async function listMigrations(ctx: CommandContext, now = Date.now()): Promise<MigrationRow[]> {
  return (await readMigrations(ctx.client, ctx.keys)).map((s) => migrationRow(s, now));
}

function migrationRow({ record: m }: StoredMigration, now: number): MigrationRow {
  const p = m.progress;
  const elapsed = ((p.finishedAt ?? now) - (p.startedAt ?? now)) / 1000;
  const rate = elapsed > 0 ? p.bytes / elapsed : 0;
  const done = p.slotsTotal === 0 ? 1 : p.slotsDone / p.slotsTotal;
  const eta = isFinal(m.state) ? 0 : done > 0 && elapsed > 0 ? Math.round((elapsed / done) * (1 - done)) : null;
  const row: MigrationRow = {
    id: m.id, state: m.state, from: m.from, to: m.to, slots: countSlots(m.ranges), slotsDone: p.slotsDone, keys: p.keys, bytes: p.bytes, coldSlots: p.coldSlots,
    freezeMsMax: Math.round(p.freezeMsMax), rateBytesPerSec: Math.round(rate), etaSeconds: eta,
  };
  if (m.reason !== undefined) row.reason = m.reason;
  return row;
}

/** Whether a control-plane service holds the driver lease (migrations move only then). */
export async function driverPresent(ctx: CommandContext): Promise<boolean> {
  return ctx.client.get(ctx.keys.driver).exists();
}
