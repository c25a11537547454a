import { CacheKeySchema, HotKeyRuleSchema, parseRecord, type HotKeyRule } from '../../shared/topology/schema';
import { InputError } from '../errors';
import { assertInitialised, readConfig, type CommandContext } from './context';
import { validateNamespaceName } from './namespaces';

/**
 * Hot-key rules (`hotkeys/<ns>/<uri-encoded key>`): an operator pins a key to a near cache in the
 * proxies, spreads its reads over replicas, or keeps K copies on other shards.
 */
export type HotKeyMode = HotKeyRule['mode'];

/** An operator's rule as given on the command line. */
export interface HotKeyInput {
  mode: HotKeyMode;
  copies?: number;
  ttlMs?: number;
  /** Seconds from now after which the rule lapses. */
  expiresInSeconds?: number;
}

/** A stored rule; `rule` is null (and `invalid` says why) when the value does not validate. */
export interface HotKeyEntry {
  namespace: string;
  key: string;
  rule: HotKeyRule | null;
  invalid?: string;
}

const FLAG: Record<string, string> = { mode: '--mode', copies: '--copies', ttlMs: '--ttl-ms', expiresAt: '--expires-in' };

/** Checks a cache key as the wire accepts it. */
export function validateKey(key: string): string {
  const parsed = CacheKeySchema.safeParse(key);
  if (!parsed.success) throw new InputError('<key>', parsed.error.issues[0].message);
  return parsed.data;
}

/** Builds and validates an operator rule; flags that do not apply to the mode are refused. Pure. */
export function buildHotKeyRule(input: HotKeyInput, now: number): HotKeyRule {
  if (input.copies !== undefined && input.mode !== 'copies') throw new InputError('--copies', `only applies to --mode copies, not ${input.mode}`);
  if (input.ttlMs !== undefined && input.mode !== 'near-cache') throw new InputError('--ttl-ms', `only applies to --mode near-cache, not ${input.mode}`);
  if (input.mode === 'copies' && input.copies === undefined) throw new InputError('--copies', '--mode copies needs --copies K (2-16)');
  const parsed = HotKeyRuleSchema.safeParse({
    mode: input.mode,
    copies: input.copies,
    ttlMs: input.ttlMs,
    expiresAt: input.expiresInSeconds === undefined ? undefined : now + input.expiresInSeconds * 1000,
    source: 'operator',
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InputError(FLAG[String(issue.path[0] ?? '')] ?? 'rule', issue.message);
}

/** Adds (or replaces) the rule for one key. */
export async function addHotKey(ctx: CommandContext, namespace: string, key: string, input: HotKeyInput, now = Date.now()): Promise<HotKeyRule> {
  validateNamespaceName(namespace);
  validateKey(key);
  const rule = buildHotKeyRule(input, now);
  const config = await readConfig(ctx);
  if (rule.copies !== undefined && rule.copies > config.shards) {
    throw new InputError('--copies', `${rule.copies} copies need as many shards, and cluster "${ctx.cluster}" has ${config.shards}`);
  }
  await ctx.client.put(ctx.keys.hotkey(namespace, key)).value(JSON.stringify(rule));
  return rule;
}

/** Removes the rule for one key; removing one that does not exist is an error. */
export async function removeHotKey(ctx: CommandContext, namespace: string, key: string): Promise<void> {
  validateNamespaceName(namespace);
  validateKey(key);
  await assertInitialised(ctx);
  const res = await ctx.client.delete().key(ctx.keys.hotkey(namespace, key)).exec();
  if (Number(res.deleted) === 0) throw new InputError('<key>', `no hot-key rule for "${key}" in namespace "${namespace}"`);
}

/** Every rule, or those of one namespace, sorted by namespace then key. */
export async function listHotKeys(ctx: CommandContext, namespace?: string): Promise<HotKeyEntry[]> {
  if (namespace !== undefined) validateNamespaceName(namespace);
  await assertInitialised(ctx);
  const prefix = namespace === undefined ? ctx.keys.hotkeysPrefix : `${ctx.keys.hotkeysPrefix}${namespace}/`;
  const all = await ctx.client.getAll().prefix(prefix).strings();
  const entries: HotKeyEntry[] = [];
  for (const [fullKey, text] of Object.entries(all)) {
    const [ns, encoded] = fullKey.slice(ctx.keys.hotkeysPrefix.length).split('/');
    if (encoded === undefined) continue;
    const parsed = parseRecord(HotKeyRuleSchema, text);
    const key = safeDecode(encoded);
    entries.push(parsed.ok ? { namespace: ns, key, rule: parsed.value } : { namespace: ns, key, rule: null, invalid: parsed.reason });
  }
  return entries.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
