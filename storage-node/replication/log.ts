import { randomBytes } from 'node:crypto';
import { Backlog, decideSync, type SyncDecision, type SyncRequest } from './backlog';
import { encodeCleanRecord, encodeCollRecord, encodeDelRecord, encodeDirtyRecord, encodeInvalidateRecord } from './records';
import type { Changes } from '../store/collections';
import { SetRecordEncoder, type RecordValue } from './encoder';
import type { Store } from '../store';
import type { MutationTee } from '../migration/export';

/** A new replication id: 20 random bytes in hex (Redis uses 40 hex characters too). */
export const newReplId = (): string => randomBytes(20).toString('hex');

/**
 * This node's replication stream: identity (PSYNC2 ids), the backlog, and the write hooks the
 * request handlers call after each successful mutation. No sockets: `onAppend` tells the shell
 * that there is something to send.
 *
 *   handler (primary) ─► set/changed/deleted/invalidated ─► encode once ─► Backlog.append ─► onAppend
 *   replica link ─► appendFrame(header, payload) (the primary's bytes, same offsets)
 *
 * Guards: `offset` is the backlog's end; `replId` names the history up to `offset`; `replId2`
 * names the history this node shared with its previous primary up to `offset2`.
 */
export class ReplicationLog {
  readonly backlog: Backlog;
  replId = newReplId();
  replId2 = '';
  offset2 = 0;
  /** Namespaces whose writes wait for a replica acknowledgement (`writeAck: replica`). */
  readonly ackNamespaces = new Set<string>();
  /**
   * Writes go into the backlog: on while this node is the primary and its history may be
   * continued by a replica (one has synced since the promotion, the node came from following a
   * primary, or a namespace waits for replica acknowledgements). A primary that no replica has
   * followed writes nothing into its backlog (its ring is allocated but untouched), as Redis
   * keeps no backlog until a replica connects: the first replica to sync takes a full sync under
   * a new replication id (`startRecording`).
   */
  recording = false;
  /**
   * `replId` names a primary's history this node holds up to `offset`: it synced with that
   * primary (the replica link sets it). A promotion then records on, even at offset 0, so the
   * old primary's other replicas continue from this node.
   */
  following = false;
  /** Slot exports to feed with every mutation (`migration/export.ts`); null while none runs. */
  tee: MutationTee | null = null;
  #waitOffset = 0;
  readonly #store: Store;
  readonly #onAppend: () => void;
  readonly #header = Buffer.alloc(4);
  readonly #setEncoder = new SetRecordEncoder();

  constructor(store: Store, backlogBytes: number, onAppend: () => void) {
    this.#store = store;
    this.backlog = new Backlog(backlogBytes);
    this.#onAppend = onAppend;
  }

  get offset(): number {
    return this.backlog.end;
  }

  /** A SET the store just accepted (`value` as the request carried it). */
  set(ns: string, key: string, value: Uint8Array, version: number, expiresAt: number, flags: number, tags: readonly string[] | undefined): void {
    if (this.recording) this.#appendSet(ns, key, value, version, expiresAt, flags, tags);
    if (this.tee !== null) this.tee.set(ns, key, value, expiresAt, flags, tags ?? null, 0);
  }

  /** A write that changed an entry in place (INCR, EXPIRE, PERSIST, a hash or set command): its whole new state. */
  changed(ns: string, key: string): void {
    if (!this.recording && this.tee === null) return;
    const e = this.#store.replication.peek(ns, key);
    if (e === undefined) return this.deleted(ns, key);
    if (this.recording) this.#appendSet(ns, key, e.value, e.version, e.expiresAt, e.flags, e.tags, e.type); // the latin1 string as it is: no Buffer per write
    if (this.tee !== null) this.tee.set(ns, key, Buffer.from(e.value, 'latin1'), e.expiresAt, e.flags, e.tags, e.type);
  }

  /**
   * A hash or set command's changes (REPL_COLL: what changed, not the whole entry, so a write to a
   * large hash costs its changes); a migration's export takes the entry's whole new state.
   */
  collChanged(ns: string, key: string, changes: Changes): void {
    if (!this.recording && this.tee === null) return;
    const e = this.#store.replication.peekMeta(ns, key);
    if (e === undefined) return this.deleted(ns, key);
    if (this.recording) this.#append(encodeCollRecord(ns, key, e.type, e.version, e.expiresAt, changes), ns);
    if (this.tee !== null && this.tee.wants(ns, key)) {
      const whole = this.#store.replication.peek(ns, key)!;
      this.tee.set(ns, key, Buffer.from(whole.value, 'latin1'), whole.expiresAt, whole.flags, whole.tags, whole.type);
    }
  }

  /** A key removed by a request (DELETE, EXPIRE <= 0): the request's reply waits in an ack namespace. */
  deleted(ns: string, key: string): void {
    if (this.recording) this.#append(encodeDelRecord(ns, key), ns);
    if (this.tee !== null) this.tee.del(ns, key);
  }

  /**
   * A key the store removed by itself (expiry, eviction, invalidation reclaim), possibly while
   * serving another request (a GET that meets an expired entry, a SET that evicts): replicated,
   * but no reply waits for it.
   */
  removed(ns: string, key: string): void {
    if (this.recording) {
      this.backlog.append(encodeDelRecord(ns, key));
      this.#onAppend();
    }
    if (this.tee !== null) this.tee.del(ns, key);
  }

  /** A write-behind key's latest write, queued on the replicas too (after the write's own record). */
  dirty(ns: string, key: string, version: number, value: Buffer | null): void {
    if (!this.recording) return;
    this.#append(encodeDirtyRecord(ns, key, version, value), ns);
  }

  /** A write-behind key flushed (or given up) up to `version`: the replicas drop it from their queue. */
  clean(ns: string, key: string, version: number): void {
    if (!this.recording) return;
    this.backlog.append(encodeCleanRecord(ns, key, version));
    this.#onAppend();
  }

  /** A namespace (tag null) or tag invalidation; the watermark is the store's version clock. */
  invalidated(ns: string, tag: string | null): void {
    if (this.recording) this.#append(encodeInvalidateRecord(ns, tag, this.#store.versionClock), ns);
    if (this.tee !== null) this.tee.invalidated(ns, tag);
  }

  /**
   * The offset the last write's reply must wait for (a replica acknowledgement), or 0; reading
   * it clears it. The server asks after each request.
   */
  takeAckWait(): number {
    const offset = this.#waitOffset;
    this.#waitOffset = 0;
    return offset;
  }

  /** A replica appends a stream frame of its primary, byte for byte. */
  appendFrame(payload: Uint8Array): void {
    this.#header.writeUInt32BE(payload.length, 0);
    this.backlog.append(this.#header);
    this.backlog.append(payload);
  }

  /** A replica whose data is being replaced: its history is no longer any primary's. */
  forget(): void {
    this.following = false;
    this.replId = '';
    this.replId2 = '';
    this.offset2 = 0;
  }

  /**
   * Promotion (PSYNC2): the history so far stays reachable under the old id up to here, and the
   * backlog records on when there is a history to continue (the node followed a primary, or
   * recorded its own) or a namespace waits for replica acknowledgements. A node with no history
   * (a new cluster's first primary) records nothing until a replica syncs (`startRecording`).
   */
  promote(): void {
    this.replId2 = this.replId;
    this.offset2 = this.offset;
    this.replId = newReplId();
    this.recording = this.following || this.offset > 0 || this.ackNamespaces.size !== 0;
    this.following = false;
    if (!this.recording) this.replId2 = ''; // writes from here on are not in the backlog: no continuing across them
  }

  /**
   * Turns the backlog on for a primary that kept none (a replica is syncing, or a namespace now
   * waits for acknowledgements). The writes before were not recorded, so the history starts
   * over under a new id: every replica takes a full sync.
   */
  startRecording(): void {
    if (this.recording) return;
    this.replId = newReplId();
    this.replId2 = '';
    this.offset2 = 0;
    this.recording = true;
  }

  /** Where a replica asking for `request` continues from, or full sync. */
  decide(request: SyncRequest): SyncDecision {
    return decideSync(request, this, this.backlog);
  }

  /** Encodes a REPL_SET straight into the ring when it fits before the ring's end. */
  #appendSet(ns: string, key: string, value: RecordValue, version: number, expiresAt: number, flags: number, tags: readonly string[] | null | undefined, type = 0): void {
    const enc = this.#setEncoder;
    const backlog = this.backlog;
    const max = enc.bound(ns, key, value, tags);
    const at = backlog.reserve(max);
    if (at >= 0) backlog.commit(enc.encodeInto(backlog.ring, at, ns, key, value, version, expiresAt, flags, type));
    else {
      const scratch = enc.scratch(max);
      backlog.append(scratch, enc.encodeInto(scratch, 0, ns, key, value, version, expiresAt, flags, type));
    }
    this.#appended(ns);
  }

  #append(frame: Buffer, ns: string): void {
    this.backlog.append(frame);
    this.#appended(ns);
  }

  #appended(ns: string): void {
    if (this.ackNamespaces.size !== 0 && this.ackNamespaces.has(ns)) this.#waitOffset = this.backlog.end;
    this.#onAppend();
  }
}
