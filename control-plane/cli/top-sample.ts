import { Op, Status } from '../../shared/protocol';
import { peerAccessFromEnv } from '../../shared/peer-flags';
import { clusterStatus } from '../commands/status';
import type { CommandContext } from '../commands/context';
import { NotInitialisedError } from '../errors';
import { NodeClients } from '../rebalance/node-client';
import { formatLag } from '../status/text';
import type { NodeStatus } from '../status/document';
import { nodeCounters, nodeRates, proxyCounters, proxyRates, type NodeCounters, type NodeRates, type ProxyCounters, type ProxyRates } from './top-rates';

/** How long one refresh waits for a node's STATS or a proxy's answer, ms. */
export const SAMPLE_TIMEOUT_MS = 2000;

/** One node in a frame of `shardctl top`. */
export interface TopNode extends NodeRates {
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
}

export interface TopProxy extends ProxyRates {
  url: string;
  error: string | null;
  requestsTotal: number | null;
}

/** A hot key as the proxies report it; `qps` summed over the proxies that report it. */
export interface TopHotKey {
  namespace: string;
  key: string;
  qps: number;
  mode: string;
  proxies: number;
}

/** One refresh of `shardctl top` (also what `--once --output json` prints). */
export interface TopFrame {
  cluster: string;
  revision: number;
  at: string;
  /** Milliseconds between this read and the previous one the rates come from; null on the first. */
  elapsedMs: number | null;
  shards: Array<{ shardId: number; primary: string | null; healthy: boolean; problems: string[] }>;
  nodes: TopNode[];
  proxies: TopProxy[];
  hotKeys: TopHotKey[];
}

/** Anything that may hang: rejects after `ms`. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A proxy admin address as a base URL: `host:port` gets `http://`, a trailing slash goes. */
export function proxyBaseUrl(text: string): string {
  const trimmed = text.trim().replace(/\/+$/, '');
  return /^https?:\/\//.test(trimmed) ? trimmed : `http://${trimmed}`;
}

/** Merges the proxies' hot-key reports (`/v1/admin/hotkeys` bodies): qps summed per key, hottest first, `limit` of them. */
export function mergeHotKeys(reports: readonly unknown[], limit = 10): TopHotKey[] {
  const byKey = new Map<string, TopHotKey>();
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

const message = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0];

/**
 * Reads frames of the cluster: the status document (etcd registrations, roles, replication
 * offsets: `clusterStatus`, as `shardctl status`), every registered node's STATS over the node
 * protocol (as `rebalance` reads SLOT_STATS) and each proxy's /metrics and /v1/admin/hotkeys; rates
 * are against the previous frame. Owns: its node connections (`close`).
 */
export class TopSampler {
  readonly #nodes: NodeClients;
  readonly #proxies: string[];
  #lastAt: number | undefined;
  #nodeCounters = new Map<string, NodeCounters>();
  #proxyCounters = new Map<string, ProxyCounters>();

  constructor(private readonly ctx: CommandContext, proxies: readonly string[], nodes = new NodeClients(peerAccessFromEnv())) {
    this.#nodes = nodes;
    this.#proxies = proxies.map(proxyBaseUrl);
  }

  async next(now: () => number = () => performance.now()): Promise<TopFrame> {
    const doc = await clusterStatus(this.ctx);
    if (!doc.initialised) throw new NotInitialisedError(this.ctx.cluster);
    const [stats, proxies] = await Promise.all([
      Promise.all(doc.nodes.map((n) => this.#stats(n.addr).then((s) => ({ stats: s }), (err: unknown) => ({ error: message(err) })))),
      Promise.all(this.#proxies.map((url) => this.#proxy(url))),
    ]);
    const at = now();
    const elapsed = this.#lastAt === undefined ? null : at - this.#lastAt;
    this.#lastAt = at;
    const nextNodeCounters = new Map<string, NodeCounters>();
    const nodes = doc.nodes.map((n, i): TopNode => {
      const base = { nodeId: n.nodeId, addr: n.addr, shardId: n.shardId, role: n.role, live: n.live, replLag: formatLag(n), replication: n.replication };
      const got = stats[i];
      if ('error' in got) {
        return { ...base, error: got.error, items: null, memoryBytes: null, memoryLimitBytes: null, opsTotal: null, opsPerSec: null, hitRatio: null, evictionsPerSec: null };
      }
      const counters = nodeCounters(got.stats);
      nextNodeCounters.set(n.nodeId, counters);
      const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
      return {
        ...base, error: null, items: num(got.stats.items), memoryBytes: num(got.stats.bytes), memoryLimitBytes: num(got.stats.maxMemoryBytes), opsTotal: counters.ops,
        ...nodeRates(this.#nodeCounters.get(n.nodeId), counters, elapsed ?? 0),
      };
    });
    this.#nodeCounters = nextNodeCounters;
    const nextProxyCounters = new Map<string, ProxyCounters>();
    const proxyRows = proxies.map((p): TopProxy => {
      if (p.counters === undefined) return { url: p.url, error: p.error ?? 'no answer', requestsTotal: null, requestsPerSec: null, errorRate: null };
      nextProxyCounters.set(p.url, p.counters);
      return { url: p.url, error: null, requestsTotal: p.counters.requests, ...proxyRates(this.#proxyCounters.get(p.url), p.counters, elapsed ?? 0) };
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

  async close(): Promise<void> {
    await this.#nodes.close();
  }

  async #stats(addr: string): Promise<Record<string, unknown>> {
    const reply = await within(SAMPLE_TIMEOUT_MS, `node ${addr}`, this.#nodes.request(addr, Op.STATS));
    if (reply[1] !== Status.OK || reply[2] === null || typeof reply[2] !== 'object') throw new Error(`node ${addr} refused STATS (status ${String(reply[1])})`);
    return reply[2] as Record<string, unknown>;
  }

  async #proxy(url: string): Promise<{ url: string; counters?: ProxyCounters; hotKeys?: unknown; error?: string }> {
    const get = async (path: string): Promise<Response> => {
      const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(SAMPLE_TIMEOUT_MS) });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}${res.status === 401 || res.status === 403 ? ' (the cluster requires auth; the proxy admin port wants an admin)' : ''}`);
      return res;
    };
    try {
      const [metrics, hot] = await Promise.all([
        get('/metrics').then((r) => r.text()),
        get('/v1/admin/hotkeys').then((r) => r.json() as Promise<unknown>, () => undefined),
      ]);
      return { url, counters: proxyCounters(metrics), hotKeys: hot };
    } catch (err) {
      // fetch's own message is "fetch failed"; its cause says why (connection refused, timeout...).
      const cause = (err as Error)?.cause;
      return { url, error: message(cause instanceof Error && cause.message !== '' ? cause : err) };
    }
  }
}
