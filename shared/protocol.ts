import * as opcodes from './opcodes';
import * as ops from './ops';

// Values are re-exported as constants, not with `export { } from`: TypeScript's CommonJS output
// makes such a re-export a getter, which turns this module's exports into a dictionary whose
// every read on the request path is a generic property load and a getter call (test/unit/exports-shape.test.ts).
export const Op = opcodes.Op;
export const Status = opcodes.Status;
export const PUSH_ID = opcodes.PUSH_ID;
export type { OpCode, StatusCode } from './opcodes';
/** Write ops whose key decides the slot, `[id, op, epoch, ns, key, ...]` (the frozen-slot check reads these): derived from the op table. */
export const KEYED_WRITE_OPS = ops.KEYED_WRITE_OPS;

/**
 * Node protocol (contract): opcodes, statuses and the argument layout of every request.
 *
 * A request is `[id, op, ...args]`, a reply `[id, status, ...result]`. The numbers (opcodes,
 * statuses, PUSH_ID) are defined in `shared/opcodes.ts` and re-exported here; they cross the
 * wire and are stored by peers: never renumber, only add. Write ops carry the epoch the sender
 * believes in as their first argument (the fencing token; a standalone node's epoch is 0).
 *
 * The definition of the data operations' frames (PING, STATS, SLOT_STATS, GET ... FILL_RELEASE,
 * the invalidation subscriptions and push, and the error replies' detail) is the operation table
 * in `shared/ops.ts`: the names, order and types of each request's and reply's fields, from which
 * the proxy and the node take every position (`SET.at.value`, `GET.reply.version`,
 * `ERRORS.MOVED.at.slot`). The layouts below summarise that table for reading and say what the
 * fields mean; change a layout in the table, then here. Replication, migration and HELLO/AUTH
 * are not in the table: their layouts below are the definition.
 *
 *   PING        [id, PING]                                        -> [id, OK, 'PONG']
 *   HELLO       [id, HELLO, clientNonce]                          -> [id, OK, serverNonce]
 *   AUTH        [id, AUTH, HMAC(secret, client label, nonces)]    -> [id, OK, HMAC(secret, server label, nonces)]
 *               (the cluster secret's challenge-response, shared/peer-auth.ts: on a node started
 *               with a secret, the first two frames of every connection; anything else before
 *               them gets UNAUTHENTICATED and the connection closes)
 *   STATS       [id, STATS]                                       -> [id, OK, {stats}]
 *   GET         [id, GET, ns, key]                                -> [id, OK, value, version, expiresAt, flags] | [id, MISS]
 *   MGET        [id, MGET, ns, keys[]]                            -> [id, OK, (null | [value, version, expiresAt, flags])[]]
 *               (a replica in a full sync answers GET and MGET from the data it is replacing, with
 *               one more element, `true`, at the end of the reply: `[id, OK, ..., flags, true]`,
 *               `[id, MISS, true]`, `[id, OK, entries, true]`; readers that ignore it see a stale read)
 *   SET         [id, SET, epoch, ns, key, value, ttlMs, flags, cond, ifVersion, tags]
 *                                                                 -> [id, OK, version, expiresAt] | NOT_STORED | VERSION_CONFLICT
 *   DELETE      [id, DELETE, epoch, ns, key]                      -> [id, OK, deleted 0|1]
 *   INCR        [id, INCR, epoch, ns, key, delta, ttlMsOnCreate]  -> [id, OK, value, version]
 *   EXPIRE      [id, EXPIRE, epoch, ns, key, ttlMs]               -> [id, OK, updated 0|1]
 *   PERSIST     [id, PERSIST, epoch, ns, key]                     -> [id, OK, updated 0|1]
 *   TTL         [id, TTL, ns, key]                                -> [id, OK, ms | -1 (no expiry) | -2 (missing)]
 *   EXISTS      [id, EXISTS, ns, keys[], touch?]                  -> [id, OK, count]   (touch 1: refresh each found key's recency, RESP TOUCH)
 *   INVALIDATE  [id, INVALIDATE, epoch, ns, tag | null, fromRegion?] -> [id, OK]
 *   NS_POLICY   [id, NS_POLICY, ns, {maxItemBytes?, quotaBytes?, eviction?}] -> [id, OK]
 *   SCAN        [id, SCAN, ns, slot, count, type?]                -> [id, OK, next, keys[]] | MOVED
 *               (the live keys of `ns` in the slots this node owns from `slot` on, whole slots
 *               only, until about `count` keys or the node's bounds; `next` = 16384 after the last)
 *   DBSIZE      [id, DBSIZE, ns]                                  -> [id, OK, count, expires]
 *               (`expires`: of the live keys, those with an expiry; older nodes leave it off)
 *   RANDOMKEY   [id, RANDOMKEY, ns]                               -> [id, OK, key | null]
 *   MEMORY_USAGE [id, MEMORY_USAGE, ns, key]                      -> [id, OK, bytes] | [id, MISS]
 *               (the entry's accounted bytes, as the memory limit counts them; a read: no touch)
 *   OBJECT      [id, OBJECT, ns, key]                             -> [id, OK, encoding, freq, idleSeconds] | [id, MISS]
 *               (`int` | `embstr` | `raw`; the LFU counter in an LFU namespace, else -1; the
 *               seconds since the last access in any other, else -1; a read: no touch, no hit)
 *   TYPE        [id, TYPE, ns, key]                               -> [id, OK, 'none' | 'string' | 'hash' | 'set']
 *
 * Redis hashes and sets (ops 70-71; `shared/collections.ts` lists the commands and their numbers):
 *   COLL        [id, COLL, ns, key, cmd, args[], keys[]?]                  -> [id, OK, reply] | WRONG_TYPE
 *   COLL_WRITE  [id, COLL_WRITE, epoch, ns, key, cmd, args[], ttlMsOnCreate] -> [id, OK, reply, version] | WRONG_TYPE
 *               (`args`: the command's arguments after the key, as bytes; `keys`: SINTER / SUNION /
 *               SDIFF's other keys, in `key`'s slot; `reply`: an integer, bytes, null, or a list of those)
 *
 * Redis string read-modify-writes (ops 60-79; RESP only; `dst` and MSETNX's keys in `key`'s slot):
 *   APPEND      [id, APPEND, epoch, ns, key, value, ttlMsOnCreate]        -> [id, OK, length, version]
 *   SETRANGE    [id, SETRANGE, epoch, ns, key, offset, value, ttlMsOnCreate] -> [id, OK, length, version]
 *   SETGET      [id, SETGET, epoch, ns, key, value, ttlMs, cond]          -> [id, OK, old | null, stored 0|1]
 *   INCRBYFLOAT [id, INCRBYFLOAT, epoch, ns, key, delta, ttlMsOnCreate]   -> [id, OK, value, version]   (decimal text)
 *   EXPIREAT    [id, EXPIREAT, epoch, ns, key, at, cond]                  -> [id, OK, updated 0|1]
 *   RENAME      [id, RENAME, epoch, ns, key, dst, nx]                     -> [id, OK, renamed 0|1] | [id, MISS]
 *   COPY        [id, COPY, epoch, ns, key, dst, replace]                  -> [id, OK, copied 0|1]
 *   MSETNX      [id, MSETNX, epoch, ns, key, keys[], values[], ttlMs]     -> [id, OK, stored 0|1]
 *
 * Fill leases (read-through; at the shard's primary, so they carry the epoch like writes):
 *   FILL_LEASE  [id, FILL_LEASE, epoch, ns, key, leaseTtlMs, seenVersion]
 *                 -> [id, OK, token, null]                   granted: load and FILL with `token` (> 0)
 *                 -> [id, OK, 0, [value, version, expiresAt, flags]]
 *                                                            not granted: the entry changed since the
 *                                                            caller saw `seenVersion` (0 = missing): use it
 *                 -> [id, LEASE_HELD, message, heldMs]        another loader holds the lease for heldMs more
 *   FILL        [id, FILL, epoch, ns, key, token, value, ttlMs, flags]
 *                 -> [id, OK, version, expiresAt] | [id, LEASE_LOST, message]
 *                 (a SET that lands only while `token` is the key's live lease; it ends the lease)
 *   FILL_RELEASE [id, FILL_RELEASE, epoch, ns, key, token]   -> [id, OK, released 0|1]
 *                 (a failed load gives the lease up, so the next miss loads at once)
 * Invalidation pushes for near-cached hot keys (ops 45-49 are reserved for hot keys):
 *   SUBSCRIBE_INVALIDATIONS    [id, 45, ns, keys[]]          -> [id, OK, keys subscribed on this connection]
 *   UNSUBSCRIBE_INVALIDATIONS  [id, 46, ns, keys[] | null]   -> [id, OK, keys subscribed on this connection]
 *   push                       [PUSH_ID, INVALIDATION, ns, key | null]   (node → subscriber, unasked)
 * A connection that subscribes is a subscription connection: proxies open one per node for it,
 * apart from their request links, and send nothing else on it. After any write to a subscribed
 * key (SET, DELETE, INCR, EXPIRE, PERSIST, FILL, and its own expiry or eviction of it) the node pushes `[PUSH_ID, INVALIDATION, ns, key]` to
 * every connection subscribed to it; after an INVALIDATE of a namespace (or a tag of it) it pushes
 * `[PUSH_ID, INVALIDATION, ns, null]` to every connection subscribed to a key of it. Pushes carry
 * the reserved id PUSH_ID (-1), which no request uses, so a reader tells them from replies
 * without counting. Subscriptions end with the connection; at most MAX_SUBSCRIPTIONS per
 * connection (BAD_REQUEST beyond).
 * Replication (node to node, on a connection of its own; ops 30-39). The replica opens it with
 *   REPL_SYNC   [id, REPL_SYNC, nodeId, addr, replId, offset] -> [id, OK, 'continue' | 'full', replId, offset]
 *                                                                  | NOT_PRIMARY | BAD_REQUEST
 * (A seventh element, once the cluster secret in clear, is ignored: the connection's HELLO/AUTH
 * handshake proves the secret now.)
 * after which the connection carries only `[0, op, ...]` frames: from the replica
 *   REPL_ACK    [0, REPL_ACK, appliedOffset]
 * and from the primary, in the order the primary made the changes,
 *   REPL_SET        [0, REPL_SET, ns, key, value, version, expiresAt, flags, tags | null, type?]
 *   REPL_DEL        [0, REPL_DEL, ns, key]
 *   REPL_INVALIDATE [0, REPL_INVALIDATE, ns, tag | null, watermark]
 *   REPL_COLL       [0, REPL_COLL, ns, key, type, version, expiresAt, [key, value | null, ...]]
 *                   (a hash or set command's changes: each field or member set to a value ('' for a
 *                   member) or removed (null), then the entry's version and expiry; a hash or set
 *                   left empty is deleted. A write to a large hash costs its changes, not its size)
 *   REPL_SNAPSHOT   [0, REPL_SNAPSHOT, [ns, key, value, version, expiresAt, flags, tags | null, ...], types[]?]
 *                   (`type`, `types`: each entry's `EntryType` (`shared/collections.ts`); REPL_SET leaves
 *                   it off for a string, a chunk carries `types`, one per entry, only when one is not a
 *                   string; a hash's or set's `value` is its packed form, `storage-node/store/collections.ts`)
 *   REPL_SNAPSHOT_END [0, REPL_SNAPSHOT_END, versionClock, [[ns, watermark, [[tag, mark], ...]], ...]]
 * REPL_SET, REPL_DEL, REPL_INVALIDATE and REPL_COLL frames are the replication stream: their bytes, header
 * included, are what offsets count. Snapshot frames (only after a 'full' answer) are outside the
 * offset space; stream frames interleave with them in the order the primary produced both.
 *
 * Slot ownership (cluster mode): a node answers a key operation on a slot its shard does not own
 * with `[id, MOVED, message, slot, ownerShard, slotMapEpoch]` (ownerShard -1 when no shard owns
 * it); the sender takes a slot map of at least that epoch and retries at the owner.
 *
 * Slot migration (ops 50-59). The control plane talks to the shard primaries; the target primary
 * pulls from the source primary on a connection of its own, in the replication framing:
 *   SLOT_STATS     [id, SLOT_STATS]                               -> [id, OK, [slot, keys, bytes, slot, keys, bytes, ...]]
 *                  (slots holding at least one entry; the rebalance planner's input)
 *   MIGRATE_START  [id, MIGRATE_START, epoch, migrationId, ranges, sourceAddr, maxBytesPerSec]  (to the target primary)
 *                  -> [id, OK, 'started' | 'running']   the target clears what it holds of the slots, then pulls
 *   MIGRATE_STATUS [id, MIGRATE_STATUS, migrationId]              -> [id, OK, {phase, keys, bytes, lagBytes, replicaLagBytes, error?}] | [id, MISS]
 *                  (replicaLagBytes: what the target's replicas have not acknowledged of its own stream)
 *                  phase: 'clearing' | 'snapshot' | 'streaming' | 'failed'
 *   MIGRATE_CUT    [id, MIGRATE_CUT, epoch, migrationId, ranges, recordModRevision, targetShard, targetEpoch, {freezeMs, cold}]
 *                  (to the source primary) freezes writes to `ranges`, drains the stream to the target
 *                  (at most freezeMs, or not at all when `cold`), then commits the move in one etcd
 *                  transaction (slot map epoch + 1; compares the migration record's mod revision, both
 *                  primaries' epochs and the slot map's mod revision), and releases the held writes:
 *                  -> [id, OK, {slotMapEpoch, freezeMs, drainMs, commitMs, cold, keys, slots}]  committed
 *                  -> [id, BUSY, message, {lagBytes}]                      not caught up: try again later
 *                  -> [id, VERSION_CONFLICT, message]                      the transaction's compare failed
 *   MIGRATE_END    [id, MIGRATE_END, epoch, migrationId]          -> [id, OK]  ends the migration's sessions on this node
 *                  (a target drops what it imported of slots it does not own)
 *   MIGRATE_PULL   [id, MIGRATE_PULL, migrationId, ranges, nodeId, maxBytesPerSec]  (target -> source; a seventh element is ignored)
 *                  -> [id, OK] and the connection carries the export: from the source REPL_SNAPSHOT chunks of
 *                  the slots (throttled to maxBytesPerSec), REPL_SET / REPL_DEL of their live changes in the
 *                  order the source made them, [0, MIGRATE_INVALIDATE, ns, tag | null], [0, MIGRATE_SNAPSHOT_END],
 *                  [0, MIGRATE_FENCE, fenceId, ranges]; from the target [0, MIGRATE_ACK, appliedBytes, fenceId]
 *                  (stream bytes applied; the last fence applied, 0 for none).
 * `ranges` are `[[fromSlot, toSlot], ...]`, inclusive.
 * An error reply is `[id, status, message, ...detail]`; `message` is for people, the status is
 * the stable part. WRITE_ACK_TIMEOUT is `[id, WRITE_ACK_TIMEOUT, message, offset]`: a write in a
 * namespace with `writeAck: replica` that no replica acknowledged in time; it stays on the primary. `expiresAt` is absolute epoch milliseconds, 0 when the entry never expires.
 */

/** Stable code name of each status, as it appears in logs, metrics and proxy errors. */
export const STATUS_NAME: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(Status).map(([name, n]) => [n, name])),
);

/** Name of each opcode, for metrics labels. */
export const OP_NAME: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(Op).map(([name, n]) => [n, name.toLowerCase()])),
);

/** Keys one connection may subscribe to for invalidation pushes. */
export const MAX_SUBSCRIPTIONS = 10_000;

/** SET condition (contract). */
export const SetCond = { ALWAYS: 0, NX: 1, XX: 2 } as const;
export type SetCondition = (typeof SetCond)[keyof typeof SetCond];

/** `ttlMs` value on SET that keeps the entry's current expiry (Redis KEEPTTL). */
export const KEEP_TTL = -1;

/**
 * EXPIREAT's conditions, bits that may combine as Redis 7's EXPIRE options do (XX with GT or LT):
 * NX only without an expiry, XX only with one, GT only to a later time (no expiry counts as
 * infinite), LT only to an earlier one.
 */
export const ExpireCond = { ALWAYS: 0, NX: 1, XX: 2, GT: 4, LT: 8 } as const;
/** A combination of `ExpireCond` bits (0-15). */
export type ExpireCondition = number;

/** Slot ranges on the wire and in etcd: `[fromSlot, toSlot]`, inclusive. */
export type SlotRange = [number, number];

/** Default and hard limits shared by every program. */
export const Limits = {
  /** Largest frame a peer may send unless configured otherwise (bytes, payload only). */
  DEFAULT_MAX_FRAME_BYTES: 16 * 1024 * 1024,
  /** Longest key, in UTF-16 code units. */
  MAX_KEY_LENGTH: 1024,
  /** Longest namespace name. */
  MAX_NAMESPACE_LENGTH: 64,
  /** Most keys in one MGET/EXISTS. */
  MAX_BATCH_KEYS: 10_000,
  /** Most tags on one entry. */
  MAX_TAGS: 16,
  /** Most requests the proxy runs from one WebSocket message (a batch); the typed client sends no more. */
  MAX_WS_BATCH_REQUESTS: 4096,
} as const;

/** Namespace names: letters, digits, `_`, `-`, `.`; they appear in etcd keys and metric labels. */
export const NAMESPACE_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
