import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../shared/log';
import type { ClusterKeys, HotKeyRule, NamespacePolicy } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import type { HotKeyReport } from './hot-keys';
import { hotId, type SnapshotRule } from './rules';

/** Settings of auto promotion. */
export interface PromoterOptions {
  /** How long an auto rule lives after the last write that found its key hot (ms, default 10 000). */
  holdMs?: number;
  /** A rule with less than this left is refreshed while its key stays hot (default holdMs / 2). */
  refreshMs?: number;
}

/** One rule to write: the key, the rule, and the create revision the key must still have (0 = absent). */
export interface Promotion {
  namespace: string;
  key: string;
  rule: HotKeyRule;
  createRevision: number;
}

/**
 * Which keys to promote now. Pure. A key qualifies when its namespace has `hotKeyAutoQps` and the
 * key's GETs/s lower bound (the sketch's count − error: a guarantee while the sketch counts every
 * GET, an estimate once it samples a busy second) reach it. It is written only when it has no
 * rule, or an auto rule close to expiry: an operator's rule is never touched, and proxies that all
 * see the same hot key do not all write it every tick (a fresh rule silences them all).
 */
export function promotions(
  top: readonly HotKeyReport[], snapshot: TopologySnapshot, wallNow: number, o: Required<PromoterOptions>,
): Promotion[] {
  const out: Promotion[] = [];
  for (const t of top) {
    const policy: NamespacePolicy | undefined = snapshot.namespaces.get(t.namespace);
    const threshold = policy?.hotKeyAutoQps;
    if (threshold === undefined || t.qpsLowerBound < threshold) continue;
    const existing: SnapshotRule | undefined = snapshot.hotkeys.get(hotId(t.namespace, t.key));
    if (existing !== undefined && (existing.source !== 'auto' || (existing.expiresAt ?? Infinity) - wallNow > o.refreshMs)) continue;
    const mode = policy?.hotKeyAutoMode ?? 'near-cache';
    const copies = mode === 'copies' ? Math.min(policy?.hotKeyAutoCopies ?? 3, Math.max(2, snapshot.shards.size)) : undefined;
    out.push({
      namespace: t.namespace, key: t.key, createRevision: existing?.createRevision ?? 0,
      rule: { mode, ...(copies === undefined ? {} : { copies }), source: 'auto', expiresAt: wallNow + o.holdMs },
    });
  }
  return out;
}

/**
 * Auto promotion (thin shell over `promotions`): every tick, writes the rules of keys above their
 * namespace's threshold to etcd, each under a lease a little longer than the rule's `expiresAt`,
 * so a rule nobody refreshes is ignored at its expiry and deleted by etcd soon after. The write
 * is a transaction on the key's create revision: a rule an operator wrote meanwhile wins.
 * Never on the request path; failures are logged and counted.
 */
export class Promoter {
  readonly #client: Etcd3;
  readonly #keys: ClusterKeys;
  readonly #log: Logger;
  readonly #o: Required<PromoterOptions>;
  readonly #recent = new Map<string, number>();
  #running: Promise<void> | undefined;

  constructor(client: Etcd3, keys: ClusterKeys, log: Logger, options: PromoterOptions = {}) {
    this.#client = client;
    this.#keys = keys;
    this.#log = log.child({ component: 'proxy:hotkeys-auto' });
    const holdMs = options.holdMs ?? 10_000;
    this.#o = { holdMs, refreshMs: options.refreshMs ?? holdMs / 2 };
  }

  /** One round; concurrent calls share it. Resolves with the number of rules written. */
  tick(top: readonly HotKeyReport[], snapshot: TopologySnapshot | undefined, onWrite: (ok: boolean) => void, wallNow = Date.now()): Promise<void> {
    if (snapshot === undefined || snapshot.namespaces.size === 0) return Promise.resolve();
    this.#running ??= this.#round(top, snapshot, onWrite, wallNow).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #round(top: readonly HotKeyReport[], snapshot: TopologySnapshot, onWrite: (ok: boolean) => void, wallNow: number): Promise<void> {
    for (const [id, at] of this.#recent) if (wallNow - at > 1000) this.#recent.delete(id);
    for (const p of promotions(top, snapshot, wallNow, this.#o)) {
      const id = hotId(p.namespace, p.key);
      if (this.#recent.has(id)) continue; // written a moment ago; the watch has not shown it yet
      this.#recent.set(id, wallNow);
      try {
        const key = this.#keys.hotkey(p.namespace, p.key);
        const lease = await this.#client.leaseClient.leaseGrant({ TTL: Math.ceil(this.#o.holdMs / 1000) + 2 });
        await this.#client.if(key, 'Create', '==', p.createRevision).then(this.#client.put(key).value(JSON.stringify(p.rule)).lease(lease.ID)).commit();
        onWrite(true);
        this.#log.info({ event: 'auto-rule', namespace: p.namespace, key: p.key.slice(0, 128), mode: p.rule.mode, expiresAt: p.rule.expiresAt }, 'hot key promoted');
      } catch (err) {
        onWrite(false);
        this.#log.warn({ event: 'auto-rule-failed', namespace: p.namespace, err: (err as Error).message }, 'could not write an auto hot-key rule');
      }
    }
  }
}

function autoAnywhere(snapshot: TopologySnapshot): boolean {
  for (const policy of snapshot.namespaces.values()) if (policy.hotKeyAutoQps !== undefined) return true;
  return false;
}

/** What auto promotion reads from the data plane. */
export interface PromotionSource {
  readonly snapshot: TopologySnapshot | undefined;
  readonly hotKeys: { top(n: number): HotKeyReport[]; readonly metrics: { autoRules: { inc(labels: { outcome: string }): void } } };
}

/** Runs a Promoter every `everyMs` (default 500 ms) on the data plane's top 20; `close` stops it and waits for a round in flight. */
export function startAutoPromotion(source: PromotionSource, client: Etcd3, keys: ClusterKeys, log: Logger, everyMs = 500, options?: PromoterOptions): { close(): Promise<void> } {
  const promoter = new Promoter(client, keys, log, options);
  const count = (ok: boolean): void => source.hotKeys.metrics.autoRules.inc({ outcome: ok ? 'written' : 'failed' });
  let last: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    const snapshot = source.snapshot;
    if (snapshot === undefined || !autoAnywhere(snapshot)) return; // no sketch merge when no namespace asks for it
    last = promoter.tick(source.hotKeys.top(20), snapshot, count);
  }, everyMs);
  timer.unref();
  return {
    close: async () => {
      clearInterval(timer);
      await last;
    },
  };
}
