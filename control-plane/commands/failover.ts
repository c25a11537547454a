import { setTimeout as sleep } from 'node:timers/promises';
import { PrimaryRecordSchema, parseRecord, type ResignRequest } from '../../shared/topology/schema';
import type { StatusDocument } from '../status/document';
import { InputError, NotInitialisedError, TimedOutError } from '../errors';
import type { CommandContext } from './context';
import { clusterStatus } from './status';

/**
 * `shardctl failover <shard>`: ask the shard's primary to step down so a replica takes over.
 *
 *   plan (pure: primary? live replica?) → put shards/<n>/resign {epoch} if the primary is unchanged
 *   → poll shards/<n>/primary until its epoch (create revision) is higher → withdraw the request
 *
 * The request names the epoch it was made against, so a primary elected later never obeys it.
 */

/** A shard's primary as read from its key. */
export interface PrimaryInfo {
  nodeId: string;
  addr: string;
  epoch: number;
}

/** What a failover will do: the primary asked to step down and the replicas that may take over. */
export interface FailoverPlan {
  shardId: number;
  primary: PrimaryInfo;
  candidates: string[];
}

/** The primary before and after, and how long the switch took. */
export interface FailoverResult {
  shardId: number;
  from: PrimaryInfo;
  to: PrimaryInfo;
  elapsedMs: number;
}

/** Bounds of the wait for the new primary. */
export interface FailoverOptions {
  timeoutMs: number;
  pollMs?: number;
  /** Called after every poll with the time spent so far. */
  onProgress?: (elapsedMs: number, timeoutMs: number) => void;
  now?: () => number;
}

/** Checks that `shardId` can fail over: it exists, has a primary and at least one live replica. Pure. */
export function planFailover(doc: StatusDocument, shardId: number): FailoverPlan {
  const shard = doc.shards.find((s) => s.shardId === shardId);
  if (!shard) {
    const ids = doc.shards.map((s) => s.shardId);
    throw new InputError('<shard>', `no shard ${shardId} in cluster "${doc.cluster}" (shards: ${ids.length ? `${Math.min(...ids)}-${Math.max(...ids)}` : 'none'})`);
  }
  if (!shard.primary) throw new InputError('failover', `shard ${shardId} has no primary, so there is nothing to fail over; wait for its election or start a node`);
  if (shard.replicas.length === 0) {
    throw new InputError('failover', `shard ${shardId} has no live replica to take over from ${shard.primary.nodeId}; refusing`);
  }
  return { shardId, primary: shard.primary, candidates: shard.replicas.map((r) => r.nodeId) };
}

/** Runs a whole failover of `shardId` and waits (bounded) for the new primary. */
export async function failover(ctx: CommandContext, shardId: number, options: FailoverOptions): Promise<FailoverResult> {
  const doc = await clusterStatus(ctx);
  if (!doc.initialised) throw new NotInitialisedError(ctx.cluster);
  const plan = planFailover(doc, shardId);
  const now = options.now ?? Date.now;
  const started = now();
  const requestRevision = await requestResign(ctx, plan, started);
  try {
    const to = await awaitNewPrimary(ctx, plan, options, started);
    return { shardId, from: plan.primary, to, elapsedMs: now() - started };
  } finally {
    await withdrawResign(ctx, shardId, requestRevision);
  }
}

/** Writes the resign request while the primary key is still the one planned; returns its revision. */
async function requestResign(ctx: CommandContext, plan: FailoverPlan, now: number): Promise<number> {
  const request: ResignRequest = { epoch: plan.primary.epoch, requestedAt: now };
  const res = await ctx.client
    .if(ctx.keys.primary(plan.shardId), 'Create', '==', plan.primary.epoch)
    .then(ctx.client.put(ctx.keys.resign(plan.shardId)).value(JSON.stringify(request)))
    .commit();
  if (!res.succeeded) throw new InputError('failover', `the primary of shard ${plan.shardId} changed while the request was made; check "shardctl status"`);
  return Number(res.header.revision);
}

async function awaitNewPrimary(ctx: CommandContext, plan: FailoverPlan, options: FailoverOptions, started: number): Promise<PrimaryInfo> {
  const now = options.now ?? Date.now;
  const deadline = started + options.timeoutMs;
  for (;;) {
    const current = await readPrimary(ctx, plan.shardId);
    options.onProgress?.(now() - started, options.timeoutMs);
    if (current && current.epoch > plan.primary.epoch) return current;
    if (now() >= deadline) {
      const state = current ? `${current.nodeId} (epoch ${current.epoch}) is still primary` : 'it has no primary yet';
      throw new TimedOutError(`shard ${plan.shardId}: no new primary after ${Math.round(options.timeoutMs / 1000)}s; ${state}. The request was withdrawn`);
    }
    await sleep(options.pollMs ?? 100);
  }
}

/** The shard's current primary, or undefined when none is elected or its record is unreadable. */
export async function readPrimary(ctx: CommandContext, shardId: number): Promise<PrimaryInfo | undefined> {
  const res = await ctx.client.get(ctx.keys.primary(shardId)).exec();
  const kv = res.kvs[0];
  if (!kv) return undefined;
  const parsed = parseRecord(PrimaryRecordSchema, kv.value.toString());
  return parsed.ok ? { ...parsed.value, epoch: Number(kv.create_revision) } : undefined;
}

/** Deletes the resign request if it is still the one this failover wrote. */
async function withdrawResign(ctx: CommandContext, shardId: number, revision: number): Promise<void> {
  const key = ctx.keys.resign(shardId);
  await ctx.client.if(key, 'Mod', '==', revision).then(ctx.client.delete().key(key)).commit();
}
