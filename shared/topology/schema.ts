import { z } from 'zod';
import { NAMESPACE_PATTERN, Limits } from '../protocol';
import { SLOT_COUNT } from '../slot';

/**
 * The etcd layout (contract), under `/shardcache/<cluster>/`:
 *
 *   config                     ClusterConfig      shardctl init
 *   slotmap                    SlotMap            control plane (one key: a watcher sees one whole map)
 *   nodes/<nodeId>             NodeRecord         the node itself, under its lease
 *   shards/<shardId>/primary   PrimaryRecord      election; its create revision is the shard's epoch
 *   shards/<shardId>/resign    ResignRequest      shardctl failover (the primary steps down)
 *   shards/<shardId>/offsets/<nodeId>  ReplOffsetRecord  the node itself, under its lease: its
 *                              replication position (election preference) and, on the primary,
 *                              each replica's lag (shardctl status)
 *   namespaces/<ns>            NamespacePolicy    shardctl ns set
 *   hotkeys/<ns>/<key>         HotKeyRule         shardctl hotkey add (key URI-encoded)
 *   migrations/<id>            MigrationRecord    shardctl migrate / rebalance / shard remove (planned);
 *                              then the driving control-plane service, by compare-and-set only
 *   driver                     DriverRecord       the control-plane service driving migrations, under its lease
 *   users/<name>               UserRecord         shardctl user add|grant|revoke|passwd (secrets as scrypt hashes)
 *   region                     RegionSelf         shardctl region self <name> (this cluster's region)
 *   regions/<name>             RegionPeer         shardctl region add <name> <endpoint> (a peer region)
 *
 * Records are JSON; every reader validates them with the schemas below, so a hand-edited or
 * corrupt value is reported and skipped, never trusted.
 */
export const ROOT_PREFIX = '/shardcache/';

export const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Key builders for one cluster. */
export function clusterKeys(cluster: string) {
  if (!CLUSTER_NAME.test(cluster)) throw new Error(`cluster name "${cluster}" must be 1-64 letters, digits, "_", "-" or "."`);
  const prefix = `${ROOT_PREFIX}${cluster}/`;
  return {
    prefix,
    config: `${prefix}config`,
    slotmap: `${prefix}slotmap`,
    nodesPrefix: `${prefix}nodes/`,
    node: (nodeId: string) => `${prefix}nodes/${nodeId}`,
    shardsPrefix: `${prefix}shards/`,
    primary: (shardId: number) => `${prefix}shards/${shardId}/primary`,
    resign: (shardId: number) => `${prefix}shards/${shardId}/resign`,
    offsetsPrefix: (shardId: number) => `${prefix}shards/${shardId}/offsets/`,
    offsets: (shardId: number, nodeId: string) => `${prefix}shards/${shardId}/offsets/${nodeId}`,
    namespacesPrefix: `${prefix}namespaces/`,
    namespace: (ns: string) => `${prefix}namespaces/${ns}`,
    hotkeysPrefix: `${prefix}hotkeys/`,
    hotkey: (ns: string, key: string) => `${prefix}hotkeys/${ns}/${encodeURIComponent(key)}`,
    migrationsPrefix: `${prefix}migrations/`,
    migration: (id: string) => `${prefix}migrations/${id}`,
    driver: `${prefix}driver`,
    usersPrefix: `${prefix}users/`,
    user: (name: string) => `${prefix}users/${name}`,
    region: `${prefix}region`,
    regionsPrefix: `${prefix}regions/`,
    regionPeer: (name: string) => `${prefix}regions/${name}`,
  };
}
export type ClusterKeys = ReturnType<typeof clusterKeys>;

const hostPort = z.string().regex(/^[A-Za-z0-9_.-]+:\d{1,5}$/, 'expected host:port');
const shardId = z.number().int().min(0).max(1023);

export const ClusterConfigSchema = z.object({
  slots: z.literal(SLOT_COUNT),
  shards: z.number().int().min(1).max(1024),
  replicas: z.number().int().min(0).max(8),
  leaseTtlSeconds: z.number().int().min(1).max(60),
  createdAt: z.number(),
  /** Shards added after init (`shardctl shard add`), beyond `0 .. shards-1`. */
  addedShards: z.array(shardId).max(1024).optional(),
  /** Shards drained and retired (`shardctl shard remove`): they own no slots and take none. */
  retiredShards: z.array(shardId).max(1024).optional(),
  /** Clients must authenticate (`shardctl init --auth`, `shardctl auth on`); absent = off. */
  auth: z.boolean().optional(),
});
export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;

export const SlotMapSchema = z
  .object({
    epoch: z.number().int().min(1),
    ranges: z.array(z.tuple([z.number().int().min(0), z.number().int().max(SLOT_COUNT - 1), shardId])).min(1),
  })
  .superRefine((map, ctx) => {
    const sorted = [...map.ranges].sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [from, to] of sorted) {
      if (from !== next || to < from) {
        ctx.addIssue({ code: 'custom', message: `slot ranges must cover 0-${SLOT_COUNT - 1} without gaps or overlaps (problem at slot ${next})` });
        return;
      }
      next = to + 1;
    }
    if (next !== SLOT_COUNT) ctx.addIssue({ code: 'custom', message: `slot ranges end at ${next - 1}, not ${SLOT_COUNT - 1}` });
  });
export type SlotMap = z.infer<typeof SlotMapSchema>;

export const NodeRecordSchema = z.object({
  addr: hostPort,
  adminAddr: hostPort.optional(),
  shardId,
  zone: z.string().max(64).default(''),
  startedAt: z.number().optional(),
});
export type NodeRecord = z.infer<typeof NodeRecordSchema>;

export const PrimaryRecordSchema = z.object({ nodeId: z.string().min(1).max(128), addr: hostPort });
export type PrimaryRecord = z.infer<typeof PrimaryRecordSchema>;

export const ReplOffsetRecordSchema = z.object({
  role: z.enum(['primary', 'replica']),
  replId: z.string().max(64),
  offset: z.number().int().min(0),
  /** On a primary: each connected replica's acknowledged offset and lag. */
  replicas: z.array(z.object({
    nodeId: z.string().min(1).max(128),
    ackedOffset: z.number().int().min(0),
    lagBytes: z.number().int().min(0),
    lagMs: z.number().min(0),
  })).optional(),
  /**
   * Regions (docs/operations.md "Regions"): this node's sender side, per peer region: invalidations
   * spooled and not yet acknowledged (`depth`), the age of the oldest of them, sent, spool
   * overflows (each one a wholesale invalidation of the namespaces it held) and the last error.
   */
  regions: z.array(z.object({
    peer: z.string(),
    depth: z.number().int().min(0),
    oldestMs: z.number().min(0),
    sent: z.number().int().min(0),
    overflows: z.number().int().min(0),
    lastError: z.string().nullable(),
  })).optional(),
  at: z.number(),
});
export type ReplOffsetRecord = z.infer<typeof ReplOffsetRecordSchema>;

export const ResignRequestSchema = z.object({ epoch: z.number().int().min(1), requestedAt: z.number() });
export type ResignRequest = z.infer<typeof ResignRequestSchema>;

export const NamespacePolicySchema = z.object({
  defaultTtlSeconds: z.number().int().min(0).max(10 * 365 * 86400).optional(),
  maxItemBytes: z.number().int().min(1).max(64 * 1024 * 1024).optional(),
  quotaBytes: z.number().int().min(1).optional(),
  eviction: z.enum(['lru', 'lfu']).optional(),
  writeAck: z.enum(['primary', 'replica']).optional(),
  readPreference: z.enum(['primary', 'replica']).optional(),
  ttlJitterPct: z.number().min(0).max(100).optional(),
  origin: z.string().url().optional(),
  // Read-through (used only with `origin`; defaults in docs/operations.md):
  /** Stale window after the soft TTL: one background refresh runs while the stale value is served (max 65535: it rides in the entry's flags). */
  staleWhileRevalidateSeconds: z.number().int().min(0).max(65_535).optional(),
  /** How long an origin 404 is cached as a negative entry (0 = not cached). */
  negativeTtlSeconds: z.number().int().min(0).max(86_400).optional(),
  /** TTL of a fill lease at the owning node: how long one loader may hold a key. */
  fillLeaseMs: z.number().int().min(100).max(60_000).optional(),
  /** How long a miss waits for another loader's fill before it answers ORIGIN_TIMEOUT. */
  fillWaitMs: z.number().int().min(0).max(60_000).optional(),
  /** Deadline of one origin request. */
  originTimeoutMs: z.number().int().min(10).max(60_000).optional(),
  /** XFetch beta for probabilistic early refresh (0 = off; 1 is the usual choice). */
  earlyRefreshBeta: z.number().min(0).max(10).optional(),
  /** Requests per second for the whole namespace, shared by the proxies (each takes limit / --proxy-count). */
  qpsLimit: z.number().int().min(1).max(100_000_000).optional(),
  /** Hot-key auto promotion: a proxy that sees a key of this namespace above this many GETs/s writes an auto rule. */
  hotKeyAutoQps: z.number().int().min(1).max(10_000_000).optional(),
  /** Mode of auto rules (default near-cache). */
  hotKeyAutoMode: z.enum(['near-cache', 'replica-spread', 'copies']).optional(),
  /** K of auto rules in mode copies (default 3). */
  hotKeyAutoCopies: z.number().int().min(2).max(16).optional(),
  // Write policies (docs/api.md "Write policies"; the storage node's `write-policy/`):
  /** cache-aside (default): the app writes the store itself; write-through / write-behind: the shard's primary does. */
  writePolicy: z.enum(['cache-aside', 'write-through', 'write-behind']).optional(),
  /** The store's URL template (`{key}` in the path or query); default: `origin`. */
  store: z.string().url().optional(),
  /** The store's bulk endpoint (write-behind batches), when it offers one. */
  storeBulkUrl: z.string().url().optional(),
  /** Deadline of one store request. */
  storeTimeoutMs: z.number().int().min(10).max(60_000).optional(),
  /** Write-behind: a dirty key is flushed once it has waited this long (or sooner when a batch fills). */
  writeBehindDelayMs: z.number().int().min(0).max(3_600_000).optional(),
  /** Write-behind: keys per store batch. */
  writeBehindBatch: z.number().int().min(1).max(10_000).optional(),
  /** Write-behind: unflushed keys per shard before writes of new keys are refused (WRITE_QUEUE_FULL). */
  writeBehindMaxQueue: z.number().int().min(1).max(10_000_000).optional(),
  /** Write-behind: attempts of one key before it becomes a dead letter (0: retry failures that may pass for ever). */
  writeBehindMaxAttempts: z.number().int().min(0).max(1_000_000).optional(),
  // Regions (docs/operations.md "Regions"):
  /** local (default): writes stay in this region; invalidate: every write is an invalidation shipped to the peer regions. */
  replicated: z.enum(['local', 'invalidate']).optional(),
  /** The peer regions that get this namespace's invalidations (default: every peer). */
  regions: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/)).max(64).optional(),
});
export type NamespacePolicy = z.infer<typeof NamespacePolicySchema>;

/** Defaults of the write-policy fields of a namespace policy (docs/api.md, "Write policies"). */
export const WRITE_POLICY_DEFAULTS = {
  storeTimeoutMs: 2000,
  writeBehindDelayMs: 1000,
  writeBehindBatch: 500,
  writeBehindMaxQueue: 100_000,
  writeBehindMaxAttempts: 0,
} as const;

/** The store URL a namespace's write policy writes to (`store`, else `origin`), or undefined. */
export function storeUrlOf(policy: NamespacePolicy): string | undefined {
  return policy.store ?? policy.origin;
}

/** Why a namespace policy's write policy cannot work, or undefined (checked by `shardctl ns set` and the nodes). */
export function writePolicyProblem(policy: NamespacePolicy): string | undefined {
  const mode = policy.writePolicy ?? 'cache-aside';
  if (mode === 'cache-aside') return undefined;
  if (storeUrlOf(policy) === undefined) return `write policy ${mode} needs a store: set --store (or --origin)`;
  return undefined;
}

export const HotKeyRuleSchema = z
  .object({
    mode: z.enum(['near-cache', 'replica-spread', 'copies']),
    copies: z.number().int().min(2).max(16).optional(),
    ttlMs: z.number().int().min(1).max(60_000).optional(),
    expiresAt: z.number().optional(),
    source: z.enum(['operator', 'auto']).default('operator'),
  })
  .refine((r) => r.mode !== 'copies' || r.copies !== undefined, { message: 'mode "copies" needs copies (2-16)' });
export type HotKeyRule = z.infer<typeof HotKeyRuleSchema>;

/** Migration ids: letters, digits, `_`, `-`, `.` (they are etcd key segments). */
export const MIGRATION_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** States of a migration; `committed` and `aborted` are final. */
export const MIGRATION_STATES = ['planned', 'copying', 'cutting', 'paused', 'committed', 'aborted'] as const;
export type MigrationState = (typeof MIGRATION_STATES)[number];

const slotRange = z.tuple([z.number().int().min(0).max(SLOT_COUNT - 1), z.number().int().min(0).max(SLOT_COUNT - 1)]).refine(([a, b]) => a <= b, 'a slot range runs from its first to its last slot');

/**
 * One slot migration job (`migrations/<id>`): move `ranges` from shard `from` to shard `to`. Every
 * change is a compare-and-set on the key's mod revision, so whoever drives it can die and a
 * successor resumes from the record; the slots still to move are those of `ranges` that the slot
 * map still gives to `from`.
 */
export const MigrationRecordSchema = z.object({
  id: z.string().regex(MIGRATION_ID),
  from: shardId,
  to: shardId,
  ranges: z.array(slotRange).min(1).max(SLOT_COUNT),
  state: z.enum(MIGRATION_STATES),
  /** The state to go back to on resume (set while paused). */
  resumeTo: z.enum(['planned', 'copying', 'cutting']).optional(),
  /** Copy throttle in bytes per second (0: unthrottled). */
  maxBytesPerSec: z.number().int().min(0),
  createdAt: z.number(),
  updatedAt: z.number(),
  /** The primaries' epochs the copy started under; a commit compares them. */
  epochs: z.object({ from: z.number().int().min(0), to: z.number().int().min(0) }).optional(),
  progress: z.object({
    slotsTotal: z.number().int().min(0),
    slotsDone: z.number().int().min(0),
    keys: z.number().int().min(0),
    bytes: z.number().int().min(0),
    /** Slots cut over cold (the target took them empty because the stream could not converge). */
    coldSlots: z.number().int().min(0),
    freezeMsMax: z.number().min(0),
    /** Copy attempts (a restart after a failover of either primary adds one). */
    attempts: z.number().int().min(0),
    startedAt: z.number().optional(),
    finishedAt: z.number().optional(),
  }),
  /** Why it was aborted, paused, or restarted last (for people). */
  reason: z.string().max(500).optional(),
  /** The rebalance run that planned it, if any. */
  plan: z.string().max(64).optional(),
}).refine((m) => m.from !== m.to, { message: 'a migration moves slots between two different shards' });
export type MigrationRecord = z.infer<typeof MigrationRecordSchema>;

/** The control-plane service that drives migrations, written under its lease. */
export const DriverRecordSchema = z.object({ id: z.string().min(1).max(128), since: z.number() });
export type DriverRecord = z.infer<typeof DriverRecordSchema>;

/** Namespace names as the wire accepts them. */
export const NamespaceNameSchema = z.string().regex(NAMESPACE_PATTERN, 'namespace must be 1-64 letters, digits, "_", "-" or "."');
export const CacheKeySchema = z.string().min(1).max(Limits.MAX_KEY_LENGTH);

/** Parses JSON text with a schema; returns the record or a readable reason. */
export function parseRecord<T>(schema: z.ZodType<T>, text: string): { ok: true; value: T } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON' };
  }
  const result = schema.safeParse(json);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, reason: result.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ') };
}

/** An even slot map: `shards` contiguous ranges of nearly equal size. */
export function evenSlotMap(shards: number, epoch = 1): SlotMap {
  const ranges: Array<[number, number, number]> = [];
  for (let s = 0; s < shards; s++) {
    const from = Math.floor((s * SLOT_COUNT) / shards);
    const to = Math.floor(((s + 1) * SLOT_COUNT) / shards) - 1;
    ranges.push([from, to, s]);
  }
  return { epoch, ranges };
}

/** Region names: as cluster names. */
export const REGION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `region`: the region this cluster serves (`shardctl region self <name>`). */
export const RegionSelfSchema = z.object({ name: z.string().regex(REGION_NAME) });
export type RegionSelf = z.infer<typeof RegionSelfSchema>;

/**
 * `regions/<name>`: a peer region, by the base URL of its proxies' HTTP port (a load balancer or
 * one proxy), where invalidations are sent (`POST /v1/region/invalidations`) and home reads go.
 */
export const RegionPeerSchema = z.object({
  name: z.string().regex(REGION_NAME),
  endpoint: z.string().url().refine((u) => /^https?:\/\//.test(u), 'endpoint must be an http(s) URL'),
  addedAt: z.number().optional(),
});
export type RegionPeer = z.infer<typeof RegionPeerSchema>;
