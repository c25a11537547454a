import type { RegionReceived } from '../../proxy/region/figures';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commandContext } from '../../control-plane/commands/context';
import { setNamespace } from '../../control-plane/commands/namespaces';
import { addRegionPeer, setRegionSelf } from '../../control-plane/commands/regions';
import { connectEtcd, type EtcdAccess } from '../../shared/topology/etcd';
import type { ProgramSpec } from './processes';

/**
 * Several regions on one machine (issue 18; docs/operations.md "Regions"): shared by `npm start --
 * --regions N` (scripts/local-cluster.ts), the chaos harness's region scenario
 * (scripts/chaos/regions.ts) and `npm run bench -- regions`. Each region is a whole cluster (its
 * own etcd, nodes, control plane, proxy); what makes them regions is in each region's etcd:
 * `region` (its own name), `regions/<peer>` (each other region, by its proxy's HTTP URL) and the
 * namespaces with `replicated: invalidate`, plus one secret every program of every region has
 * ($SHARDCACHE_REGION_SECRET).
 */

/** The namespace `npm start -- --regions N` replicates (invalidations) across its regions. */
export const REPLICATED_NS = 'shared';

/** Name of region `i` (0-based): r1, r2, ... */
export const regionName = (i: number): string => `r${i + 1}`;

/**
 * The region secret in `file` (0600): the one already there (a kept data dir), else a new random
 * one written there. Returns the secret.
 */
export function regionSecretIn(file: string): string {
  if (fs.existsSync(file)) {
    const held = fs.readFileSync(file, 'utf8').split('\n')[0].trim();
    if (held.length >= 16) return held;
  }
  const secret = crypto.randomBytes(32).toString('hex');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/** The specs renamed `<prefix><name>` (program names, hence log files, unique across regions). Pure. */
export function prefixed(specs: readonly ProgramSpec[], prefix: string): ProgramSpec[] {
  return specs.map((s) => ({ ...s, name: `${prefix}${s.name}` }));
}

export interface RegionPeerAddr {
  name: string;
  /** Base URL of the peer's proxies' HTTP port. */
  endpoint: string;
}

/**
 * Writes a region's configuration into its etcd with the code of `shardctl region self <self>`,
 * `shardctl region add <peer> <endpoint>` and `shardctl ns set <ns> --replicated invalidate`
 * (in process): its name, its peers, and each namespace's policy with `replicated: invalidate`
 * merged over what is stored.
 */
export async function configureRegion(etcd: string, cluster: string, self: string, peers: readonly RegionPeerAddr[], namespaces: readonly string[], access?: EtcdAccess): Promise<void> {
  const client = connectEtcd(etcd, { access });
  try {
    const ctx = commandContext(client, cluster);
    await setRegionSelf(ctx, self);
    for (const p of peers) await addRegionPeer(ctx, p.name, p.endpoint);
    for (const ns of namespaces) await setNamespace(ctx, ns, { replicated: 'invalidate' });
  } finally {
    client.close();
  }
}

/** What a proxy's `GET /v1/admin/regions` says it received from each peer region. */
export type ReceivedFrom = RegionReceived;

/** A proxy's `GET /v1/admin/regions` (undefined when it does not answer). */
export async function regionsOf(proxyAdminUrl: string): Promise<{ region: string | null; peers: RegionPeerAddr[]; received: ReceivedFrom[] } | undefined> {
  try {
    const res = await fetch(`${proxyAdminUrl}/v1/admin/regions`, { signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as { region: string | null; peers: RegionPeerAddr[]; received: ReceivedFrom[] }) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until the proxy at `proxyAdminUrl` has heard (a batch or a heartbeat) from every one of `peers`; false after `timeoutMs`. */
export async function waitLinked(proxyAdminUrl: string, peers: readonly string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await regionsOf(proxyAdminUrl);
    const heard = new Set((report?.received ?? []).map((r) => r.from));
    if (peers.every((p) => heard.has(p))) return true;
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
}
