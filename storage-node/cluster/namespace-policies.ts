import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../shared/log';
import type { NamespacePolicy as ClusterPolicy } from '../../shared/topology/schema';
import type { TopologySnapshot } from '../../shared/topology/snapshot';
import { TopologyWatcher } from '../../shared/topology/watcher';
import type { NamespacePolicy as StorePolicy } from '../store';

/** The part of a namespace policy a storage node enforces itself. */
export function storePolicyOf(policy: ClusterPolicy | undefined): StorePolicy {
  if (!policy) return {};
  const out: StorePolicy = {};
  if (policy.maxItemBytes !== undefined) out.maxItemBytes = policy.maxItemBytes;
  if (policy.quotaBytes !== undefined) out.quotaBytes = policy.quotaBytes;
  if (policy.eviction !== undefined) out.eviction = policy.eviction;
  return out;
}

/**
 * Which namespaces' node-side policy changed between two snapshots: `[namespace, policy]` pairs,
 * where a removed namespace gets `{}` (back to the node's defaults). Pure.
 */
export function policyChanges(
  prev: ReadonlyMap<string, ClusterPolicy>,
  next: ReadonlyMap<string, ClusterPolicy>,
): Array<[string, StorePolicy]> {
  const changes: Array<[string, StorePolicy]> = [];
  const same = (a: StorePolicy, b: StorePolicy): boolean =>
    a.maxItemBytes === b.maxItemBytes && a.quotaBytes === b.quotaBytes && a.eviction === b.eviction;
  for (const [ns, policy] of next) {
    const want = storePolicyOf(policy);
    if (!prev.has(ns) || !same(storePolicyOf(prev.get(ns)), want)) changes.push([ns, want]);
  }
  for (const ns of prev.keys()) if (!next.has(ns)) changes.push([ns, {}]);
  return changes;
}

/** Namespaces whose policy asks for `writeAck: replica`. Pure. */
export function ackNamespaces(policies: ReadonlyMap<string, ClusterPolicy>): string[] {
  return [...policies].filter(([, p]) => p.writeAck === 'replica').map(([ns]) => ns);
}

/**
 * Keeps the store's namespace policies (item size limit, quota, eviction) equal to the ones in
 * etcd (`shardctl ns set`), through a TopologyWatcher. Owns that watcher.
 */
export class NamespacePolicySync {
  readonly #watcher: TopologyWatcher;
  #applied: ReadonlyMap<string, ClusterPolicy> = new Map();

  /**
   * `apply` gets each namespace whose store policy changed; `onAckNamespaces`, when given, gets
   * after every change the namespaces whose writes need a replica acknowledgement.
   */
  constructor(
    client: Etcd3, cluster: string, apply: (ns: string, policy: StorePolicy) => void, log: Logger, onAckNamespaces?: (namespaces: string[]) => void,
    /** Every snapshot, after its policies were applied (the node's slot ownership reads its slot map). */
    onSnapshot?: (snapshot: TopologySnapshot) => void,
  ) {
    this.#watcher = new TopologyWatcher({ client, cluster, onError: (err, during) => log.warn({ err: err.message, during }, 'topology watch trouble') });
    this.#watcher.on('change', (snapshot: TopologySnapshot) => {
      for (const [ns, policy] of policyChanges(this.#applied, snapshot.namespaces)) {
        apply(ns, policy);
        log.info({ event: 'namespace-policy', namespace: ns, policy }, 'namespace policy applied');
      }
      this.#applied = snapshot.namespaces;
      onAckNamespaces?.(ackNamespaces(snapshot.namespaces));
      onSnapshot?.(snapshot);
    });
  }

  /** Starts in the background (retrying while etcd is down). */
  start(): void {
    void this.#watcher.start();
  }

  close(): Promise<void> {
    return this.#watcher.close();
  }
}
