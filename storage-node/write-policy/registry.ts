import type { Logger } from '../../shared/log';
import { StoreClient } from '../../shared/store-http';
import { storeUrlOf, WRITE_POLICY_DEFAULTS, type NamespacePolicy } from '../../shared/topology/schema';

export type WriteMode = 'write-through' | 'write-behind';

/** One namespace's write policy as the node runs it. */
export interface WritePolicy {
  readonly ns: string;
  readonly mode: WriteMode;
  readonly client: StoreClient;
  readonly timeoutMs: number;
  readonly delayMs: number;
  readonly batch: number;
  readonly maxQueue: number;
  readonly maxAttempts: number;
  /** The fields the client was made from: a change makes a new client. */
  readonly source: string;
}

/**
 * The namespaces of this node with a write policy (write-through or write-behind), kept equal to
 * etcd's namespace policies (`cluster/namespace-policies.ts` calls `apply`). Each has its own
 * store client (keep-alive connections, bounds); a namespace whose store URL or timeout changes
 * gets a new client. A namespace that leaves write-behind while keys are still queued keeps its
 * last policy as `retired` until the queue is flushed, so no acknowledged write is dropped.
 */
export class WritePolicies {
  readonly #byNs = new Map<string, WritePolicy>();
  readonly #retired = new Map<string, WritePolicy>();
  readonly #log: Logger;
  /** Bumped on every change, so callers can cache what they derive. */
  generation = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** True when some namespace has a write policy (the node's in-place fast path is then off for writes). */
  get active(): boolean {
    return this.#byNs.size !== 0;
  }

  get(ns: string): WritePolicy | undefined {
    return this.#byNs.size === 0 ? undefined : this.#byNs.get(ns);
  }

  /** The policy a queued key of `ns` is flushed with: the current one if write-behind, else the retired one. */
  flushPolicy(ns: string): WritePolicy | undefined {
    const now = this.#byNs.get(ns);
    return now?.mode === 'write-behind' ? now : this.#retired.get(ns);
  }

  all(): IterableIterator<WritePolicy> {
    return this.#byNs.values();
  }

  /** Namespace `ns`'s policy from etcd (undefined: removed). A bad store URL leaves the namespace without a policy and says why. */
  apply(ns: string, policy: NamespacePolicy | undefined): void {
    const mode = policy?.writePolicy;
    const url = policy === undefined ? undefined : storeUrlOf(policy);
    const held = this.#byNs.get(ns);
    if (policy === undefined || mode === undefined || mode === 'cache-aside' || url === undefined) {
      if (held !== undefined) this.#remove(ns, held);
      return;
    }
    const timeoutMs = policy.storeTimeoutMs ?? WRITE_POLICY_DEFAULTS.storeTimeoutMs;
    const source = JSON.stringify([url, policy.storeBulkUrl ?? null, timeoutMs]);
    const settings = {
      ns, mode, timeoutMs,
      delayMs: policy.writeBehindDelayMs ?? WRITE_POLICY_DEFAULTS.writeBehindDelayMs,
      batch: policy.writeBehindBatch ?? WRITE_POLICY_DEFAULTS.writeBehindBatch,
      maxQueue: policy.writeBehindMaxQueue ?? WRITE_POLICY_DEFAULTS.writeBehindMaxQueue,
      maxAttempts: policy.writeBehindMaxAttempts ?? WRITE_POLICY_DEFAULTS.writeBehindMaxAttempts,
      source,
    };
    let client = held?.source === source ? held.client : undefined;
    if (client === undefined) {
      try {
        client = new StoreClient({
          template: url, bulkUrl: policy.storeBulkUrl, timeoutMs, maxBodyBytes: policy.maxItemBytes ?? undefined, maxBulkItems: settings.batch,
        });
      } catch (err) {
        this.#log.error({ event: 'write-policy-refused', namespace: ns, err: (err as Error).message }, 'namespace write policy not applied: its store cannot be used');
        if (held !== undefined) this.#remove(ns, held);
        return;
      }
    }
    if (held !== undefined && held.client !== client) {
      if (held.mode === 'write-behind' && mode !== 'write-behind') this.#retire(held);
      else closeLater(held);
    } else if (held !== undefined && held.mode === 'write-behind' && mode !== 'write-behind') this.#retire(held);
    this.#byNs.set(ns, { ...settings, client });
    if (mode === 'write-behind') {
      // The queue is flushed with the current policy from now on.
      const retired = this.#retired.get(ns);
      if (retired !== undefined && retired.client !== client) closeLater(retired);
      this.#retired.delete(ns);
    }
    this.generation++;
  }

  /** A retired policy whose queue is empty: its client's connections go. */
  release(ns: string): void {
    const retired = this.#retired.get(ns);
    if (retired === undefined) return;
    this.#retired.delete(ns);
    if (this.#byNs.get(ns)?.client !== retired.client) retired.client.close();
  }

  close(): void {
    for (const p of this.#byNs.values()) p.client.close();
    for (const p of this.#retired.values()) p.client.close();
    this.#byNs.clear();
    this.#retired.clear();
  }

  #remove(ns: string, held: WritePolicy): void {
    this.#byNs.delete(ns);
    this.#retire(held);
    this.generation++;
  }

  /** Keeps a write-behind policy for its queued keys; a write-through one's client closes once its requests could have ended. */
  #retire(held: WritePolicy): void {
    if (held.mode !== 'write-behind') return closeLater(held);
    const older = this.#retired.get(held.ns);
    if (older !== undefined && older.client !== held.client) closeLater(older);
    this.#retired.set(held.ns, held);
  }
}

/** Closes a replaced policy's client after its requests in flight had their deadline. */
function closeLater(policy: WritePolicy): void {
  setTimeout(() => policy.client.close(), policy.timeoutMs + 1000).unref();
}
