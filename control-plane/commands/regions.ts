import { NamespacePolicySchema, parseRecord, RegionPeerSchema, RegionSelfSchema, type RegionPeer } from '../../shared/topology/schema';
import { InputError } from '../errors';
import { regionsStatus, type ProxyRegions, type RegionsStatus } from '../status/regions';
import { assertInitialised, readTopology, type CommandContext } from './context';

/**
 * Regions (docs/operations.md "Regions"): this cluster's region (`region`) and its peers
 * (`regions/<name>`, by the base URL of their proxies' client port). Each region is a whole
 * cluster; the same commands run against each region's etcd.
 */

/** This region and its peers as stored. */
export interface RegionList {
  region: string | null;
  peers: RegionPeer[];
}

/** Checks a region name (pure). */
export function validateRegionName(name: string, subject = '<name>'): string {
  const parsed = RegionSelfSchema.safeParse({ name });
  if (!parsed.success) throw new InputError(subject, `"${name.slice(0, 80)}": a region name is 1-64 letters, digits, "_", "." or "-"`);
  return parsed.data.name;
}

/** Builds and validates a peer record (pure); `self`: this cluster's region, which is never its own peer. */
export function buildPeer(name: string, endpoint: string, self: string | null, now: number): RegionPeer {
  validateRegionName(name);
  if (self !== null && name === self) throw new InputError('<name>', `"${name}" is this cluster's own region (shardctl region self); a peer is another region`);
  const parsed = RegionPeerSchema.safeParse({ name, endpoint: endpoint.replace(/\/+$/, ''), addedAt: now });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(String(issue.path[0] ?? '') === 'endpoint' ? '<endpoint>' : '<name>', `${issue.message} (the base URL of the peer region's proxies, e.g. https://cache.eu-west.example.com)`);
  }
  return parsed.data;
}

async function readSelf(ctx: CommandContext): Promise<string | null> {
  const text = await ctx.client.get(ctx.keys.region).string();
  const parsed = text === null ? undefined : parseRecord(RegionSelfSchema, text);
  return parsed?.ok ? parsed.value.name : null;
}

/** Sets this cluster's region; returns the name it had before (null: none). */
export async function setRegionSelf(ctx: CommandContext, name: string): Promise<string | null> {
  validateRegionName(name);
  await assertInitialised(ctx);
  const peer = await ctx.client.get(ctx.keys.regionPeer(name)).string();
  if (peer !== null) throw new InputError('<name>', `"${name}" is a peer region of this cluster; remove it first (shardctl region remove ${name})`);
  const before = await readSelf(ctx);
  await ctx.client.put(ctx.keys.region).value(JSON.stringify({ name }));
  return before;
}

/** Adds or replaces a peer region; `replaced`: it was there before. */
export async function addRegionPeer(ctx: CommandContext, name: string, endpoint: string, now = Date.now()): Promise<{ peer: RegionPeer; replaced: boolean }> {
  await assertInitialised(ctx);
  const peer = buildPeer(name, endpoint, await readSelf(ctx), now);
  const key = ctx.keys.regionPeer(peer.name);
  const replaced = (await ctx.client.get(key).string()) !== null;
  await ctx.client.put(key).value(JSON.stringify(peer));
  return { peer, replaced };
}

/** Removes a peer region; returns the namespaces whose `regions` list still names it (they no longer send it anything). */
export async function removeRegionPeer(ctx: CommandContext, name: string): Promise<string[]> {
  validateRegionName(name);
  await assertInitialised(ctx);
  const res = await ctx.client.delete().key(ctx.keys.regionPeer(name)).exec();
  if (Number(res.deleted) === 0) throw new InputError('<name>', `no peer region "${name}" in cluster "${ctx.cluster}" (shardctl region list)`);
  const all = await ctx.client.getAll().prefix(ctx.keys.namespacesPrefix).strings();
  const naming: string[] = [];
  for (const [key, text] of Object.entries(all)) {
    const parsed = parseRecord(NamespacePolicySchema, text);
    if (parsed.ok && parsed.value.regions?.includes(name)) naming.push(key.slice(ctx.keys.namespacesPrefix.length));
  }
  return naming.sort();
}

/** This region and its peers (sorted by name). */
export async function listRegions(ctx: CommandContext): Promise<RegionList> {
  await assertInitialised(ctx);
  const { snapshot } = await readTopology(ctx);
  return { region: snapshot.region?.name ?? null, peers: [...snapshot.regions.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

/** The regions section of `shardctl status`: this region, peers and the sender side the nodes publish. */
export async function regionsOfCluster(ctx: CommandContext): Promise<RegionsStatus> {
  await assertInitialised(ctx);
  const { snapshot, offsets } = await readTopology(ctx);
  return regionsStatus(snapshot, offsets);
}

/**
 * `--regions a,b` of `ns set` (pure): names checked, duplicates dropped; names that are not peer
 * regions now are returned as warnings (a peer may be added later), never refused.
 */
export function checkPolicyRegions(names: readonly string[], peers: ReadonlySet<string>, self: string | null): { regions: string[]; warnings: string[] } {
  const regions = [...new Set(names.map((n) => validateRegionName(n, '--regions')))];
  const warnings: string[] = [];
  for (const name of regions) {
    if (name === self) warnings.push(`--regions names ${name}, this cluster's own region: it never receives its own invalidations`);
    else if (!peers.has(name)) warnings.push(`--regions names ${name}, which is not a peer region yet (shardctl region add ${name} <endpoint>); it gets nothing until it is`);
  }
  return { regions, warnings };
}

/** The peer names and own region, for `checkPolicyRegions`. */
export async function regionNames(ctx: CommandContext): Promise<{ peers: Set<string>; self: string | null }> {
  const peers = await ctx.client.getAll().prefix(ctx.keys.regionsPrefix).keys();
  return { peers: new Set(peers.map((k) => k.slice(ctx.keys.regionsPrefix.length))), self: await readSelf(ctx) };
}

/**
 * What one proxy's admin port says it received (`GET /v1/admin/regions`), or why it said
 * nothing; never rejects. `authorization`: the admin credential, with auth on.
 */
export async function proxyRegions(baseUrl: string, authorization: string | undefined, timeoutMs = 3000, fetcher: typeof fetch = fetch): Promise<ProxyRegions> {
  try {
    const res = await fetcher(`${baseUrl}/v1/admin/regions`, { headers: authorization === undefined ? {} : { authorization }, signal: AbortSignal.timeout(timeoutMs) });
    const body = (await res.json().catch(() => undefined)) as { region?: string | null; received?: ProxyRegions['received']; error?: { message?: string } } | undefined;
    if (!res.ok) return { proxy: baseUrl, error: `HTTP ${res.status}${body?.error?.message ? `: ${body.error.message}` : ''}` };
    if (body === undefined || !Array.isArray(body.received)) return { proxy: baseUrl, error: 'not a regions report (a proxy older than regions?)' };
    return { proxy: baseUrl, region: body.region ?? null, received: body.received };
  } catch (err) {
    return { proxy: baseUrl, error: (err as Error)?.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : `unreachable (${String((err as Error)?.message ?? err).split('\n')[0]})` };
  }
}
