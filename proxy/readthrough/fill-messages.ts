import { Status } from '../../shared/protocol';
import { buildError, buildRequest, FILL, FILL_LEASE, FILL_RELEASE, FRAME } from '../../shared/ops';
import type { Hit } from '../backend';
import { entryResult } from '../routing/messages';
import { errorFromReply } from '../routing/status';

/**
 * Messages and reply parsers of the fill-lease ops (layouts in the op table, `shared/ops.ts`).
 * Pure; slot `FRAME.id` (0) is the request id, written by the link.
 */

const STATUS = FRAME.status;

/** What FILL_LEASE answered. */
export type LeaseReply = { kind: 'granted'; token: number } | { kind: 'changed'; entry: Hit } | { kind: 'held'; heldMs: number };

/** `[id, FILL_LEASE, epoch, ns, key, leaseTtlMs, seenVersion]`. */
export function leaseMessage(epoch: number, ns: string, key: string, leaseTtlMs: number, seenVersion: number): unknown[] {
  return buildRequest(FILL_LEASE, epoch, ns, key, leaseTtlMs, seenVersion);
}

/** `[id, FILL, epoch, ns, key, token, value, ttlMs, flags]`. */
export function fillMessage(epoch: number, ns: string, key: string, token: number, value: Uint8Array, ttlMs: number, flags: number): unknown[] {
  return buildRequest(FILL, epoch, ns, key, token, value, ttlMs, flags);
}

/** `[id, FILL_RELEASE, epoch, ns, key, token]`. */
export function releaseMessage(epoch: number, ns: string, key: string, token: number): unknown[] {
  return buildRequest(FILL_RELEASE, epoch, ns, key, token);
}

export function parseLease(reply: readonly unknown[], nodeId?: string): LeaseReply {
  if (reply[STATUS] === Status.LEASE_HELD) {
    const heldMs = reply[FILL_LEASE.replies.LEASE_HELD.at.heldMs];
    return { kind: 'held', heldMs: typeof heldMs === 'number' ? heldMs : 0 };
  }
  if (reply[STATUS] !== Status.OK) throw errorFromReply(reply, nodeId);
  const token = reply[FILL_LEASE.reply.token];
  if (typeof token === 'number' && token > 0) return { kind: 'granted', token };
  const entry = entryResult(reply[FILL_LEASE.reply.entry]);
  if (!entry.hit) throw errorFromReply(buildError(reply[FRAME.id], Status.INTERNAL, 'FILL_LEASE refused without an entry'), nodeId);
  return { kind: 'changed', entry };
}

/** `[id, OK, version, expiresAt]` → the write; `[id, LEASE_LOST, ...]` → undefined. */
export function parseFill(reply: readonly unknown[], nodeId?: string): { version: number; expiresAt: number } | undefined {
  if (reply[STATUS] === Status.LEASE_LOST) return undefined;
  if (reply[STATUS] !== Status.OK) throw errorFromReply(reply, nodeId);
  return { version: reply[FILL.reply.version] as number, expiresAt: reply[FILL.reply.expiresAt] as number };
}

export function parseRelease(reply: readonly unknown[], nodeId?: string): boolean {
  if (reply[STATUS] !== Status.OK) throw errorFromReply(reply, nodeId);
  return reply[FILL_RELEASE.reply.released] === 1;
}
