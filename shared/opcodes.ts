/**
 * The numbers of the node protocol (contract): opcodes, reply statuses and the id of pushed
 * frames. They cross the wire and are stored by peers: never renumber, only add.
 *
 * `shared/protocol.ts` re-exports everything here (import from there); this module exists on its
 * own, without imports, so the op table (`shared/ops.ts`) can be built from these numbers while
 * `shared/protocol.ts` re-exports what the table derives (`KEYED_WRITE_OPS`) without an import cycle.
 */
export const Op = {
  PING: 1,
  STATS: 2,
  HELLO: 3,
  AUTH: 4,
  GET: 10,
  MGET: 11,
  SET: 12,
  DELETE: 13,
  INCR: 14,
  EXPIRE: 15,
  PERSIST: 16,
  TTL: 17,
  EXISTS: 18,
  INVALIDATE: 19,
  NS_POLICY: 20,
  SLOT_STATS: 21,
  /** Keys of a run of slots the node owns, from a cursor slot (RESP SCAN and KEYS). */
  SCAN: 22,
  /** Live keys of a namespace on the node (RESP DBSIZE). */
  DBSIZE: 23,
  /** A random live key of a namespace on the node (RESP RANDOMKEY). */
  RANDOMKEY: 24,
  /** The accounted bytes of one entry (RESP MEMORY USAGE). */
  MEMORY_USAGE: 25,
  /** What OBJECT ENCODING / FREQ / IDLETIME tell of one entry (RESP OBJECT). */
  OBJECT: 26,
  /** The type of one entry: `none`, `string`, `hash` or `set` (RESP TYPE). */
  TYPE: 27,
  /** A full sync's write-behind queue, in chunks before REPL_SNAPSHOT_END (not part of the offset space). */
  REPL_SNAPSHOT_DIRTY: 29,
  REPL_SYNC: 30,
  REPL_ACK: 31,
  REPL_SNAPSHOT: 32,
  REPL_SNAPSHOT_END: 33,
  REPL_SET: 34,
  REPL_DEL: 35,
  REPL_INVALIDATE: 36,
  /** A hash's or set's changes (`shared/protocol.ts`), rather than its whole new state. */
  REPL_COLL: 37,
  /** A write-behind key became dirty at `version` (`deleted` 1: the store must get a DELETE); the replica keeps it queued. */
  REPL_DIRTY: 38,
  /** A write-behind key was flushed up to `version`; the replica drops it from its queue. */
  REPL_CLEAN: 39,
  FILL_LEASE: 40,
  FILL: 41,
  FILL_RELEASE: 42,
  SUBSCRIBE_INVALIDATIONS: 45,
  UNSUBSCRIBE_INVALIDATIONS: 46,
  /** Push frames only: `[PUSH_ID, INVALIDATION, ns, key | null]`. */
  INVALIDATION: 47,
  MIGRATE_START: 50,
  MIGRATE_STATUS: 51,
  MIGRATE_CUT: 52,
  MIGRATE_END: 53,
  MIGRATE_PULL: 54,
  MIGRATE_INVALIDATE: 55,
  MIGRATE_SNAPSHOT_END: 56,
  MIGRATE_FENCE: 57,
  MIGRATE_ACK: 58,
  /** Redis string commands that read and write one entry (or two of one slot) on the node (ops 60-79). */
  APPEND: 60,
  SETRANGE: 61,
  SETGET: 62,
  INCRBYFLOAT: 63,
  EXPIREAT: 64,
  RENAME: 65,
  COPY: 66,
  MSETNX: 67,
  /** A Redis hash or set command that reads one collection entry (or several of one slot) on the node (`shared/collections.ts`). */
  COLL: 70,
  /** A Redis hash or set command that changes one collection entry on the primary (`shared/collections.ts`). */
  COLL_WRITE: 71,
  /** Write policies (`storage-node/write-policy/`): per-namespace queue figures and dead letters on this node. */
  WRITE_POLICY_STATUS: 80,
  /** Write-behind: flush a namespace's queue now and answer once it is empty (or the deadline passed). */
  WRITE_POLICY_FLUSH: 81,
  /** Regions: a peer region's invalidation of one key, applied unless the entry was written after it (`shared/regions.ts`). */
  REGION_INVALIDATE: 82,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Reply statuses (contract). */
export const Status = {
  OK: 0,
  MISS: 1,
  NOT_STORED: 2,
  VERSION_CONFLICT: 3,
  NOT_PRIMARY: 4,
  MOVED: 5,
  ASK: 6,
  TOO_LARGE: 7,
  OVER_QUOTA: 8,
  NOT_INTEGER: 9,
  OVERFLOW: 10,
  BAD_REQUEST: 11,
  BUSY: 12,
  OUT_OF_MEMORY: 13,
  PROTOCOL_ERROR: 14,
  UNKNOWN_OP: 15,
  INTERNAL: 16,
  WRITE_ACK_TIMEOUT: 17,
  /** FILL_LEASE: another loader holds the key's fill lease (detail: heldMs). */
  LEASE_HELD: 18,
  /** FILL: the token is not the key's live lease (lapsed or released; a new primary after a failover holds no lease a loader took before it). */
  LEASE_LOST: 19,
  /** The node requires the cluster secret's handshake (HELLO, AUTH) first, or it failed; the connection closes. */
  UNAUTHENTICATED: 20,
  /** The key holds another type than the operation works on (Redis's WRONGTYPE). */
  WRONG_TYPE: 21,
  /** Write-through: the store refused the write or could not be reached; the cache was left as it was. */
  STORE_ERROR: 22,
  /** Write-through: the store did not answer within the namespace's storeTimeoutMs; the cache was left as it was. */
  STORE_TIMEOUT: 23,
  /** Write-behind: the namespace's queue of unflushed keys is full (the store is slow or down); retry later. */
  WRITE_QUEUE_FULL: 24,
} as const;
export type StatusCode = (typeof Status)[keyof typeof Status];

/** The id of frames a node pushes unasked (invalidations); requests never use it. */
export const PUSH_ID = -1;
