import { Op, Status } from '../../shared/protocol';
import type { Hit } from '../backend';
import { entryResult } from '../routing/messages';
import { errorFromReply } from '../routing/status';

/**
 * Messages and reply parsers of the fill-lease ops (layouts in `shared/protocol.ts`). Pure; slot 0
 * is the request id, written by the link.
 */

/** What FILL_LEASE answered. */
export type LeaseReply = { kind: 'granted'; token: number } | { kind: 'changed'; entry: Hit } | { kind: 'held'; heldMs: number };

/** `[id, FILL_LEASE, epoch, ns, key, leaseTtlMs, seenVersion]`. */
export function leaseMessage(epoch: number, ns: string, key: string, leaseTtlMs: number, seenVersion: number): unknown[] {
  return [0, Op.FILL_LEASE, epoch, ns, key, leaseTtlMs, seenVersion];
}

/** `[id, FILL, epoch, ns, key, token, value, ttlMs, flags]`. */
export function fillMessage(epoch: number, ns: string, key: string, token: number, value: Uint8Array, ttlMs: number, flags: number): unknown[] {
  return [0, Op.FILL, epoch, ns, key, token, value, ttlMs, flags];
}

/** `[id, FILL_RELEASE, epoch, ns, key, token]`. */
export function releaseMessage(epoch: number, ns: string, key: string, token: number): unknown[] {
  return [0, Op.FILL_RELEASE, epoch, ns, key, token];
}

export function parseLease(reply: readonly unknown[], nodeId?: string): LeaseReply {
  if (reply[1] === Status.LEASE_HELD) return { kind: 'held', heldMs: typeof reply[3] === 'number' ? reply[3] : 0 };
  if (reply[1] !== Status.OK) throw errorFromReply(reply, nodeId);
  const token = reply[2];
  if (typeof token === 'number' && token > 0) return { kind: 'granted', token };
  const entry = entryResult(reply[3]);
  if (!entry.hit) throw errorFromReply([reply[0], Status.INTERNAL, 'FILL_LEASE refused without an entry'], nodeId);
  return { kind: 'changed', entry };
}

/** `[id, OK, version, expiresAt]` → the write; `[id, LEASE_LOST, ...]` → undefined. */
export function parseFill(reply: readonly unknown[], nodeId?: string): { version: number; expiresAt: number } | undefined {
  if (reply[1] === Status.LEASE_LOST) return undefined;
  if (reply[1] !== Status.OK) throw errorFromReply(reply, nodeId);
  return { version: reply[2] as number, expiresAt: reply[3] as number };
}

export function parseRelease(reply: readonly unknown[], nodeId?: string): boolean {
  if (reply[1] !== Status.OK) throw errorFromReply(reply, nodeId);
  return reply[2] === 1;
}
