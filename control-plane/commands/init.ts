import { SLOT_COUNT } from '../../shared/slot';
import { ClusterConfigSchema, SlotMapSchema, evenSlotMap, parseRecord, type ClusterConfig, type SlotMap } from '../../shared/topology/schema';
import { InputError } from '../errors';
import type { CommandContext } from './context';

/** Shape of a new cluster (validated against ClusterConfigSchema). */
export interface InitOptions {
  shards: number;
  replicas: number;
  leaseTtlSeconds: number;
  /** Overwrite an existing `config` and slot map. */
  force: boolean;
  /** Clients must authenticate (`config.auth`). */
  auth?: boolean;
  now?: () => number;
}

/** What `init` wrote, at which revision. */
export interface InitResult {
  config: ClusterConfig;
  slotMap: SlotMap;
  /** True when an existing config was overwritten (`--force`). */
  replaced: boolean;
  revision: number;
}

/** The config and even slot map `init` writes; validated, pure. */
export function initialRecords(options: InitOptions, slotMapEpoch = 1): { config: ClusterConfig; slotMap: SlotMap } {
  const parsed = ClusterConfigSchema.safeParse({
    slots: SLOT_COUNT,
    shards: options.shards,
    replicas: options.replicas,
    leaseTtlSeconds: options.leaseTtlSeconds,
    createdAt: (options.now ?? Date.now)(),
    ...(options.auth ? { auth: true } : {}),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = { shards: '--shards', replicas: '--replicas', leaseTtlSeconds: '--lease-ttl' }[String(issue.path[0])] ?? 'config';
    throw new InputError(flag, issue.message);
  }
  return { config: parsed.data, slotMap: evenSlotMap(options.shards, slotMapEpoch) };
}

/**
 * Writes `config` and an even slot map (epoch 1) in one transaction. Without `force` the
 * transaction only succeeds while `config` does not exist, so two concurrent inits cannot both win.
 * With `force` over an existing map the new map's epoch is one above the old one, so a watcher
 * never sees the slot-map epoch go backwards.
 */
export async function initCluster(ctx: CommandContext, options: InitOptions): Promise<InitResult> {
  initialRecords(options); // validate before touching etcd
  const existed = await ctx.client.get(ctx.keys.config).exists();
  if (existed && !options.force) {
    throw new InputError('init', `cluster "${ctx.cluster}" is already initialised; pass --force to overwrite its config and slot map`);
  }
  const oldMap = options.force ? await ctx.client.get(ctx.keys.slotmap).exec() : undefined;
  const { config, slotMap } = initialRecords(options, nextEpoch(oldMap?.kvs[0]?.value.toString()));
  const puts = [ctx.client.put(ctx.keys.config).value(JSON.stringify(config)), ctx.client.put(ctx.keys.slotmap).value(JSON.stringify(slotMap))];
  const guard = options.force
    ? ctx.client.if(ctx.keys.slotmap, 'Mod', '==', oldMap?.kvs[0]?.mod_revision ?? 0)
    : ctx.client.if(ctx.keys.config, 'Create', '==', 0);
  const res = await guard.then(...puts).commit();
  if (!res.succeeded) throw new InputError('init', `cluster "${ctx.cluster}" changed while it was being initialised; run the command again`);
  return { config, slotMap, replaced: existed, revision: Number(res.header.revision) };
}

/** Epoch for a new slot map replacing `oldJson` (1 when there is none or it is unreadable). */
function nextEpoch(oldJson: string | undefined): number {
  if (oldJson === undefined) return 1;
  const parsed = parseRecord(SlotMapSchema, oldJson);
  return parsed.ok ? parsed.value.epoch + 1 : 1;
}
