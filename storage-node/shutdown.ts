import type { Logger } from '../shared/log';

/** What a primary's hand-over on SIGTERM needs of the node (wired by `main.ts`). */
export interface HandOverParts {
  /** True while this node holds its shard's primary role. */
  isPrimary(): boolean;
  /** Refuses every write from now on (NOT_PRIMARY, nothing applied). */
  closeGate(): void;
  /** Writes parked on frozen slots: run again (and refused by the closed gate). */
  releaseParked(): void;
  /** Resolves once the replicas acknowledged the current offset, or after `timeoutMs`. */
  syncReplicas(timeoutMs: number): Promise<{ caughtUp: boolean; replicas: number }>;
  /** Answers the writes still waiting for a replica with an error instead of dropping them. */
  failHeld(): void;
  /** `--shutdown-sync-ms`. */
  syncMs: number;
  log: Logger;
}

/**
 * The first step of a clustered node's shutdown, before it resigns:
 *
 *   primary: close the write gate ─► release parked writes ─► wait (≤ syncMs) for every replica to
 *            reach the offset ─► answer still-held writes BUSY "node shutting down"
 *   replica: nothing (no write is waiting on it)
 *
 * Writes acknowledged by a replica are therefore on the node that wins the next election (the
 * most up-to-date replica), writes refused meanwhile were never applied (proxies retry them), and
 * no write is left without an answer. Returns whether the replicas caught up.
 */
export async function handOver(parts: HandOverParts): Promise<boolean> {
  if (!parts.isPrimary()) return true;
  parts.closeGate();
  parts.releaseParked();
  const { caughtUp, replicas } = await parts.syncReplicas(parts.syncMs);
  parts.failHeld();
  if (caughtUp) parts.log.info({ event: 'hand-over', replicas }, 'replicas caught up; resigning');
  else parts.log.warn({ event: 'hand-over', replicas, waitedMs: parts.syncMs }, replicas === 0 ? 'no replica connected; resigning' : 'replicas did not catch up in time; resigning (writes they lack are lost)');
  return caughtUp;
}
