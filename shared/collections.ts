import { Limits } from './protocol';

/**
 * Hashes and sets (contract): the entry types a node holds and the Redis commands it runs on
 * them. A proxy sends a hash or set command as one node op, COLL (reads) or COLL_WRITE (writes,
 * at the primary), with the command's number from `CollCmd` and its arguments after the key as
 * bytes, exactly as Redis takes them; the node runs it on the entry in one step and answers a
 * `CollReply`. The numbers cross the wire: never renumber, only add.
 *
 * Why one op for many commands: the node is where the entry is, so a command is one round trip
 * and one step whatever it does, and adding a command is one row here plus its code in
 * `storage-node/store/collections.ts`, with no new frame layout for the proxy and node to agree on.
 */

/** What an entry holds (the node's type column; RESP TYPE names them). */
export const EntryType = { STRING: 0, HASH: 1, SET: 2 } as const;
export type EntryTypeCode = (typeof EntryType)[keyof typeof EntryType];

/** TYPE's answer for each `EntryType`, and `none` for a missing key. */
export const TYPE_NAMES: readonly string[] = Object.freeze(['string', 'hash', 'set']);
export type TypeName = 'none' | 'string' | 'hash' | 'set';

/** The commands, by Redis name. */
export const CollCmd = {
  HSET: 1,
  HSETNX: 2,
  HGET: 3,
  HMGET: 4,
  HGETALL: 5,
  HDEL: 6,
  HEXISTS: 7,
  HLEN: 8,
  HKEYS: 9,
  HVALS: 10,
  HINCRBY: 11,
  HINCRBYFLOAT: 12,
  HSTRLEN: 13,
  HRANDFIELD: 14,
  SADD: 20,
  SREM: 21,
  SISMEMBER: 22,
  SMISMEMBER: 23,
  SMEMBERS: 24,
  SCARD: 25,
  SPOP: 26,
  SRANDMEMBER: 27,
  SINTER: 28,
  SUNION: 29,
  SDIFF: 30,
} as const;
export type CollCmdCode = (typeof CollCmd)[keyof typeof CollCmd];

/**
 * A command's reply: an integer, a bulk string (bytes), null (Redis's nil), or a flat list of
 * those. The proxy writes it in its front's form (HGETALL's flat list is a map in RESP3).
 */
export type CollReply = number | bigint | Uint8Array | null | readonly (Uint8Array | number | null)[];

/** One command's row. */
export interface CollCmdDef {
  readonly name: keyof typeof CollCmd;
  readonly code: CollCmdCode;
  /** The entry type it works on. */
  readonly type: typeof EntryType.HASH | typeof EntryType.SET;
  /** Changes the entry (COLL_WRITE, at the primary); else a read (COLL). */
  readonly write: boolean;
  /** Arguments after the key: at least `min`, at most `max`, and a multiple of `step` (HSET's field-value pairs). */
  readonly min: number;
  readonly max: number;
  readonly step: number;
  /** Takes more keys of the key's slot (COLL's `keys`) instead of arguments: SINTER, SUNION, SDIFF. */
  readonly multiKey: boolean;
}

const ANY = Number.MAX_SAFE_INTEGER;

function row(name: keyof typeof CollCmd, type: 1 | 2, write: boolean, min: number, max: number, step = 1, multiKey = false): CollCmdDef {
  return Object.freeze({ name, code: CollCmd[name], type, write, min, max, step, multiKey });
}

const H = EntryType.HASH;
const S = EntryType.SET;

/** Every command's row, by number. */
export const COLL_CMDS: ReadonlyMap<number, CollCmdDef> = new Map(
  [
    row('HSET', H, true, 2, ANY, 2),
    row('HSETNX', H, true, 2, 2),
    row('HGET', H, false, 1, 1),
    row('HMGET', H, false, 1, ANY),
    row('HGETALL', H, false, 0, 0),
    row('HDEL', H, true, 1, ANY),
    row('HEXISTS', H, false, 1, 1),
    row('HLEN', H, false, 0, 0),
    row('HKEYS', H, false, 0, 0),
    row('HVALS', H, false, 0, 0),
    row('HINCRBY', H, true, 2, 2),
    row('HINCRBYFLOAT', H, true, 2, 2),
    row('HSTRLEN', H, false, 1, 1),
    // [count [WITHVALUES]]
    row('HRANDFIELD', H, false, 0, 2),
    row('SADD', S, true, 1, ANY),
    row('SREM', S, true, 1, ANY),
    row('SISMEMBER', S, false, 1, 1),
    row('SMISMEMBER', S, false, 1, ANY),
    row('SMEMBERS', S, false, 0, 0),
    row('SCARD', S, false, 0, 0),
    // [count]
    row('SPOP', S, true, 0, 1),
    row('SRANDMEMBER', S, false, 0, 1),
    row('SINTER', S, false, 0, 0, 1, true),
    row('SUNION', S, false, 0, 0, 1, true),
    row('SDIFF', S, false, 0, 0, 1, true),
  ].map((d) => [d.code, d]),
);
if (COLL_CMDS.size !== Object.keys(CollCmd).length) throw new Error('collections: a command has no row, or two share a number');

/**
 * The most elements a random pick with repeats may ask for (HRANDFIELD / SRANDMEMBER with a
 * negative count): Redis answers any count, which lets a 20-byte request build a reply of
 * gigabytes; past this the node refuses the count.
 */
export const MAX_RANDOM_PICKS = 100_000;

/**
 * Most arguments after the key one hash or set command may carry, on every front and at the node
 * (twice MGET's key bound: HSET's pairs of a 10,000-field batch).
 */
export const MAX_COLL_ARGS = 2 * Limits.MAX_BATCH_KEYS;

/** The message of a WRONGTYPE reply, Redis's words. */
export const WRONG_TYPE_MESSAGE = 'Operation against a key holding the wrong kind of value';
