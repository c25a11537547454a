import { Op, Status } from '../../shared/protocol';
import { failureText, NotInitialisedError, within } from '../errors';
import { NodeClients } from '../rebalance/node-client';
import { formatLag } from '../status/text';
import type { NodeStatus, StatusDocument } from '../status/document';
import {
  breakerStates, nodeCounters, nodeRates, proxyCounters, proxyRates,
  type BreakerState, type NodeCounters, type NodeRates, type ProxyCounters, type ProxyRates,
} from './rates';

/**
 * The cluster sampler of `shardctl top` and of the control plane's dashboard: one frame per call,
 * rates against the previous one. Kept apart from both so they read the same figures the same way.
 */

/** How long one refresh waits for the status read, a node's STATS or a proxy's answer, ms. */
export const SAMPLE_TIMEOUT_MS = 2000;

/** Usage of one namespace on one node (from STATS). */
export interface NamespaceUsage {
  items: number;
  bytes: number;
  quotaBytes: number | null;
}

/** One node in a frame. */
export interface NodeSample extends NodeRates {
  nodeId: string;
  addr: string;
  shardId: number;
  role: NodeStatus['role'];
  live: boolean;
  /** Why STATS did not answer (the other figures are then null). */
  error: string | null;
  items: number | null;
  memoryBytes: number | null;
  memoryLimitBytes: number | null;
  /** Counters since the node started (client requests). */
  opsTotal: number | null;
  /** Replication as `shardctl status` shows it (REPL LAG), and its figures. */
  replLag: string;
  replication: NodeStatus['replication'];
  /** Items and bytes per namespace the node holds; null without STATS. */
  namespaces: Record<string, NamespaceUsage> | null;
}

/** One proxy in a frame. */
export interface ProxySample extends ProxyRates {
  url: string;
  error: string | null;
  requestsTotal: number | null;
  /** The proxy's breaker to each node it talks to, by node id (empty when unknown). */
  breakers: Record<string, BreakerState>;
}

/** A hot key as the proxies report it; `qps` summed over the proxies that report it. */
export interface HotKeySample {
  namespace: string;
  key: string;
  qps: number;
  mode: string;
  proxies: number;
}

/** One refresh (also what `shardctl top --once --output json` prints). */
export interface ClusterFrame {
  cluster: string;
  revision: number;
  at: string;
  /** Milliseconds between this read and the previous one the rates come from; null on the first. */
  elapsedMs: number | null;
  shards: Array<{ shardId: number; primary: string | null; healthy: boolean; problems: string[] }>;
  nodes: NodeSample[];
  proxies: ProxySample[];
  hotKeys: HotKeySample[];
}

/** Reads the status document the frame starts from (`clusterStatus` for shardctl and the service). */
export type StatusSource = () => Promise<StatusDocument>;

export interface SamplerOptions {
  /** Connections to the nodes (default: open access from the environment's settings is the caller's job). */
  nodes?: NodeClients;
  /** `Authorization` header sent to the proxies' admin ports (absent: none; the ports are open with auth off). */
  proxyAuthorization?: string;
}

/** A proxy admin address as a base URL: `host:port` gets `http://`, a trailing slash goes. */
export function proxyBaseUrl(text: string): string {
  const trimmed = text.trim().replace(/\/+$/, '');
  return /^https?:\/\//.test(trimmed) ? trimmed : `http://${trimmed}`;
}

/** Merges the proxies' hot-key reports (`/v1/admin/hotkeys` bodies): qps summed per key, hottest first, `limit` of them. */
export function mergeHotKeys(reports: readonly unknown[], limit = 10): HotKeySample[] {
  const byKey = new Map<string, HotKeySample>();
  for (const report of reports) {
    const top = (report as { top?: unknown } | null)?.top;
    if (!Array.isArray(top)) continue;
    for (const raw of top as Array<Record<string, unknown>>) {
      if (typeof raw?.namespace !== 'string' || typeof raw.key !== 'string' || typeof raw.qps !== 'number') continue;
      const id = `${raw.namespace}\n${raw.key}`;
      const seen = byKey.get(id);
      if (seen) {
        seen.qps += raw.qps;
        seen.proxies += 1;
      } else {
        byKey.set(id, { namespace: raw.namespace, key: raw.key, qps: raw.qps, mode: typeof raw.mode === 'string' ? raw.mode : 'none', proxies: 1 });
      }
    }
  }
  return [...byKey.values()].sort((a, b) => b.qps - a.qps || a.namespace.localeCompare(b.namespace) || a.key.localeCompare(b.key)).slice(0, limit);
}

/** Per-namespace usage of a STATS document (`namespaces: { name: { items, bytes, quotaBytes } }`). */
export function namespaceUsage(stats: Record<string, unknown>): Record<string, NamespaceUsage> {
  const out: Record<string, NamespaceUsage> = {};
  const raw = stats.namespaces;
  if (raw === null || typeof raw !== 'object') return out;
  for (const [name, v] of Object.entries(raw as Record<string, Record<string, unknown>>)) {
    if (v === null || typeof v !== 'object') continue;
    const n = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);
    out[name] = { items: n(v.items), bytes: n(v.bytes), quotaBytes: typeof v.quotaBytes === 'number' ? v.quotaBytes : null };
  }
  return out;
}

/**
 * Reads frames of the cluster: the status document (etcd registrations, roles, replication
 * offsets: `clusterStatus`, as `shardctl status`), every registered node's STATS over the node
 * protocol (as `rebalance` reads SLOT_STATS) and each proxy's /metrics and /v1/admin/hotkeys; rates
 * are against the previous frame. Owns: its node connections (`close`, which also forgets the
 * previous frame, so rates start over: a baseline minutes old would average over the gap).
 */
export class ClusterSampler {
  readonly #status: StatusSource;
  readonly #nodes: NodeClients;
  readonly #proxies: string[];
  readonly #authorization: string | undefined;
  #lastAt: number | undefined;
  #nodeCounters = new Map<string, NodeCounters>();
  #proxyCounters = new Map<string, ProxyCounters>();

  constructor(status: StatusSource, proxies: readonly string[], options: SamplerOptions = {}) {
    this.#status = status;
    this.#nodes = options.nodes ?? new NodeClients();
    this.#proxies = proxies.map(proxyBaseUrl);
    this.#authorization = options.proxyAuthorization;
  }

  /** The proxies' admin base URLs this sampler reads. */
  get proxies(): readonly string[] {
    return this.#proxies;
  }

  async next(now: () => number = () => performance.now()): Promise<ClusterFrame> {
    const doc = await within(SAMPLE_TIMEOUT_MS, 'etcd', this.#status());
    if (!doc.initialised) throw new NotInitialisedError(doc.cluster);
    const [stats, proxies] = await Promise.all([
      Promise.all(doc.nodes.map((n) => this.#stats(n.addr).then((s) => ({ stats: s }), (err: unknown) => ({ error: failureText(err) })))),
      Promise.all(this.#proxies.map((url) => this.#proxy(url))),
    ]);
    const at = now();
    const elapsed = this.#lastAt === undefined ? null : at - this.#lastAt;
    this.#lastAt = at;
    const nextNodeCounters = new Map<string, NodeCounters>();
    const nodes = doc.nodes.map((n, i): NodeSample => {
      const base = { nodeId: n.nodeId, addr: n.addr, shardId: n.shardId, role: n.role, live: n.live, replLag: formatLag(n), replication: n.replication };
      const got = stats[i];
      if ('error' in got) {
        return {
          ...base, error: got.error, items: null, memoryBytes: null, memoryLimitBytes: null, opsTotal: null, opsPerSec: null, hitRatio: null, lookupsPerSec: null,
          evictionsPerSec: null, expirationsPerSec: null, namespaces: null,
        };
      }
      const counters = nodeCounters(got.stats);
      nextNodeCounters.set(n.nodeId, counters);
      const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
      return {
        ...base, error: null, items: num(got.stats.items), memoryBytes: num(got.stats.bytes), memoryLimitBytes: num(got.stats.maxMemoryBytes), opsTotal: counters.ops,
        ...nodeRates(this.#nodeCounters.get(n.nodeId), counters, elapsed ?? 0), namespaces: namespaceUsage(got.stats),
      };
    });
    this.#nodeCounters = nextNodeCounters;
    const nextProxyCounters = new Map<string, ProxyCounters>();
    const proxyRows = proxies.map((p): ProxySample => {
      if (p.counters === undefined) {
        return { url: p.url, error: p.error ?? 'no answer', requestsTotal: null, requestsPerSec: null, errorRate: null, errorsPerSec: null, p99Ms: null, breakers: {} };
      }
      nextProxyCounters.set(p.url, p.counters);
      return { url: p.url, error: null, requestsTotal: p.counters.requests, ...proxyRates(this.#proxyCounters.get(p.url), p.counters, elapsed ?? 0), breakers: p.breakers ?? {} };
    });
    this.#proxyCounters = nextProxyCounters;
    return {
      cluster: doc.cluster,
      revision: doc.revision,
      at: new Date().toISOString(),
      elapsedMs: elapsed,
      shards: doc.shards.map((s) => ({ shardId: s.shardId, primary: s.primary?.nodeId ?? null, healthy: s.healthy, problems: s.problems })),
      nodes,
      proxies: proxyRows,
      hotKeys: mergeHotKeys(proxies.map((p) => p.hotKeys)),
    };
  }

  /** Closes the node connections and forgets the previous frame (the next one has no rates). */
  async close(): Promise<void> {
    this.#lastAt = undefined;
    this.#nodeCounters = new Map();
    this.#proxyCounters = new Map();
    await this.#nodes.close();
  }

  async #stats(addr: string): Promise<Record<string, unknown>> {
    // requestWithin drops the connection on timeout: a hung node does not collect a STATS per tick.
    const reply = await this.#nodes.requestWithin(addr, SAMPLE_TIMEOUT_MS, Op.STATS);
    if (reply[1] !== Status.OK || reply[2] === null || typeof reply[2] !== 'object') throw new Error(`node ${addr} refused STATS (status ${String(reply[1])})`);
    return reply[2] as Record<string, unknown>;
  }

  async #proxy(url: string): Promise<{ url: string; counters?: ProxyCounters; breakers?: Record<string, BreakerState>; hotKeys?: unknown; error?: string }> {
    const headers: Record<string, string> = this.#authorization === undefined ? {} : { authorization: this.#authorization };
    const get = async (path: string): Promise<Response> => {
      const res = await fetch(`${url}${path}`, { headers, signal: AbortSignal.timeout(SAMPLE_TIMEOUT_MS) });
      if (!res.ok) {
        await res.body?.cancel();
        const hint = res.status === 401 || res.status === 403
          ? this.#authorization === undefined
            ? ' (the cluster requires auth: pass --admin-user and --admin-password-file, or set $SHARDCACHE_ADMIN_PASSWORD)'
            : ' (the admin credential was refused: it needs a user with admin on "*")'
          : '';
        throw new Error(`${path}: HTTP ${res.status}${hint}`);
      }
      return res;
    };
    try {
      const [metrics, hot] = await Promise.all([
        get('/metrics').then((r) => r.text()),
        get('/v1/admin/hotkeys').then((r) => r.json() as Promise<unknown>, () => undefined),
      ]);
      return { url, counters: proxyCounters(metrics), breakers: breakerStates(metrics), hotKeys: hot };
    } catch (err) {
      // fetch's own message is "fetch failed"; its cause says why (connection refused, timeout...).
      const cause = (err as Error)?.cause;
      return { url, error: failureText(cause instanceof Error && cause.message !== '' ? cause : err) };
    }
  }
}
