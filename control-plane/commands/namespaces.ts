import { NamespaceNameSchema, NamespacePolicySchema, parseRecord, storeUrlOf, writePolicyProblem, type NamespacePolicy } from '../../shared/topology/schema';
import { KEY_PLACEHOLDER, originTemplateProblem } from '../../shared/url-template';
import { InputError } from '../errors';
import { assertInitialised, type CommandContext } from './context';

/**
 * Namespace policies (`namespaces/<ns>`): set merges into what is stored with a compare-and-swap on
 * the key's mod revision, so two operators editing different fields at once both win.
 */
export type PolicyPatch = Partial<NamespacePolicy>;

/** The shardctl flag that sets each policy field (error messages name the flag). */
export const POLICY_FLAG: Record<keyof NamespacePolicy, string> = {
  defaultTtlSeconds: '--default-ttl',
  maxItemBytes: '--max-item-bytes',
  quotaBytes: '--quota-bytes',
  eviction: '--eviction',
  writeAck: '--write-ack',
  readPreference: '--read-preference',
  ttlJitterPct: '--ttl-jitter',
  origin: '--origin',
  staleWhileRevalidateSeconds: '--stale-while-revalidate',
  negativeTtlSeconds: '--negative-ttl',
  fillLeaseMs: '--fill-lease-ms',
  fillWaitMs: '--fill-wait-ms',
  originTimeoutMs: '--origin-timeout-ms',
  earlyRefreshBeta: '--early-refresh-beta',
  qpsLimit: '--qps-limit',
  hotKeyAutoQps: '--hot-key-auto-qps',
  hotKeyAutoMode: '--hot-key-auto-mode',
  hotKeyAutoCopies: '--hot-key-auto-copies',
  writePolicy: '--write-policy',
  store: '--store',
  storeBulkUrl: '--store-bulk-url',
  storeTimeoutMs: '--store-timeout-ms',
  writeBehindDelayMs: '--write-behind-delay-ms',
  writeBehindBatch: '--write-behind-batch',
  writeBehindMaxQueue: '--write-behind-max-queue',
  writeBehindMaxAttempts: '--write-behind-max-attempts',
  replicated: '--replicated',
  regions: '--regions',
};

/** A stored policy by namespace name. */
export interface NamespaceEntry {
  namespace: string;
  policy: NamespacePolicy | null;
  /** Why the stored value was not a valid policy (then `policy` is null). */
  invalid?: string;
}

/** Checks a namespace name as the wire accepts it. */
export function validateNamespaceName(namespace: string): string {
  const parsed = NamespaceNameSchema.safeParse(namespace);
  if (!parsed.success) throw new InputError('<namespace>', `"${namespace}": ${parsed.error.issues[0].message}`);
  return parsed.data;
}

/**
 * Merges `patch` over the stored JSON (which may be absent or partly invalid) and validates the
 * result; an invalid field is reported with the flag that sets it, and so is a write policy the
 * nodes could not run (`writePolicyRefusal`). Pure.
 */
export function mergePolicy(storedJson: string | undefined, patch: PolicyPatch): NamespacePolicy {
  const stored = storedObject(storedJson);
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const parsed = NamespacePolicySchema.safeParse({ ...stored, ...defined });
  if (parsed.success) {
    const refusal = writePolicyRefusal(parsed.data);
    if (refusal !== undefined) throw refusal;
    return parsed.data;
  }
  const issue = parsed.error.issues[0];
  const field = String(issue.path[0] ?? '') as keyof NamespacePolicy;
  throw new InputError(POLICY_FLAG[field] ?? 'policy', issue.message);
}

/**
 * Why the nodes could not run this policy's write policy, as an error naming the flag to fix, or
 * undefined. Checked here, before the policy is stored, because a node that meets it can only log
 * and refuse the namespace's writes: `writePolicyProblem` (a write policy without a store), and the
 * store URL the nodes would use (`--store`, else `--origin`, which may have been stored before it
 * served as a store) and the bulk URL checked as the store's HTTP client checks them.
 */
export function writePolicyRefusal(policy: NamespacePolicy): InputError | undefined {
  const problem = writePolicyProblem(policy);
  if (problem !== undefined) return new InputError(POLICY_FLAG.writePolicy, problem);
  if ((policy.writePolicy ?? 'cache-aside') === 'cache-aside') return undefined;
  const template = storeUrlOf(policy)!;
  const templateProblem = originTemplateProblem(template, policy.store === undefined ? 'the origin template (used as the store)' : 'the store template');
  if (templateProblem !== undefined) return new InputError(policy.store === undefined ? POLICY_FLAG.origin : POLICY_FLAG.store, templateProblem);
  if (policy.storeBulkUrl !== undefined) {
    const bulkProblem = storeBulkUrlProblem(policy.storeBulkUrl);
    if (bulkProblem !== undefined) return new InputError(POLICY_FLAG.storeBulkUrl, bulkProblem);
  }
  return undefined;
}

/** Why a store bulk URL cannot be used, or undefined: one URL for every batch, so it names no key. */
export function storeBulkUrlProblem(url: string): string | undefined {
  if (url.includes(KEY_PLACEHOLDER)) return 'the store bulk URL names no key: it has no {key}';
  return originTemplateProblem(url, 'the store bulk URL');
}

function storedObject(json: string | undefined): Record<string, unknown> {
  if (json === undefined) return {};
  try {
    const value: unknown = JSON.parse(json);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Creates or updates a namespace policy; returns the stored policy. */
export async function setNamespace(ctx: CommandContext, namespace: string, patch: PolicyPatch): Promise<{ policy: NamespacePolicy; created: boolean }> {
  validateNamespaceName(namespace);
  await assertInitialised(ctx);
  const key = ctx.keys.namespace(namespace);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = (await ctx.client.get(key).exec()).kvs[0];
    const policy = mergePolicy(current?.value.toString(), patch);
    const res = await ctx.client
      .if(key, 'Mod', '==', current?.mod_revision ?? 0)
      .then(ctx.client.put(key).value(JSON.stringify(policy)))
      .commit();
    if (res.succeeded) return { policy, created: current === undefined };
  }
  throw new InputError('ns set', `namespace "${namespace}" kept changing while it was being updated; try again`);
}

/** The policy of one namespace; a missing or invalid one is an error that says so. */
export async function getNamespace(ctx: CommandContext, namespace: string): Promise<NamespacePolicy> {
  validateNamespaceName(namespace);
  await assertInitialised(ctx);
  const text = await ctx.client.get(ctx.keys.namespace(namespace)).string();
  if (text === null) throw new InputError('<namespace>', `no policy for namespace "${namespace}" in cluster "${ctx.cluster}"`);
  const parsed = parseRecord(NamespacePolicySchema, text);
  if (!parsed.ok) throw new InputError('<namespace>', `the stored policy of "${namespace}" is invalid (${parsed.reason}); fix it with "ns set" or remove it with "ns rm"`);
  return parsed.value;
}

/** Every namespace with a policy, sorted by name; invalid records are listed with the reason. */
export async function listNamespaces(ctx: CommandContext): Promise<NamespaceEntry[]> {
  await assertInitialised(ctx);
  const prefix = ctx.keys.namespacesPrefix;
  const all = await ctx.client.getAll().prefix(prefix).strings();
  return Object.entries(all)
    .map(([key, text]): NamespaceEntry => {
      const parsed = parseRecord(NamespacePolicySchema, text);
      const namespace = key.slice(prefix.length);
      return parsed.ok ? { namespace, policy: parsed.value } : { namespace, policy: null, invalid: parsed.reason };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace));
}

/** Deletes a namespace policy; removing one that does not exist is an error. */
export async function removeNamespace(ctx: CommandContext, namespace: string): Promise<void> {
  validateNamespaceName(namespace);
  await assertInitialised(ctx);
  const res = await ctx.client.delete().key(ctx.keys.namespace(namespace)).exec();
  if (Number(res.deleted) === 0) throw new InputError('<namespace>', `no policy for namespace "${namespace}" in cluster "${ctx.cluster}"`);
}
