import type { CollCmdCode, CollReply } from '../../../shared/collections';
import { globMatches, type Glob } from './glob';
import { keyArg } from './args';
import type { RespContext } from './context';
import { RespCommandError, RespMessages } from './errors';
import type { ReplySink } from './reply-queue';
import { array, bulk, bulkValues, integer, map, Replies, setOf } from './reply';
import { bufferOf } from '../../routing/messages';

/**
 * What the hash and set commands share (cmd-hashes.ts, cmd-sets.ts): sending one command to the
 * node (the data plane's `coll`) and writing the node's `CollReply` in RESP2 or RESP3. The
 * encoders are pure; a reply of an unexpected shape throws (the door logs it and answers ERR
 * internal): the node's reply is trusted for meaning, not for shape.
 */

/** Turns a node's reply into the RESP reply, for the connection's protocol. */
export type CollEncode = (reply: CollReply, protocol: 2 | 3) => Buffer;

/**
 * Runs hash or set command `cmd` on `args[1]` with `collArgs` (what follows the key, as Redis
 * takes it) and, for SINTER / SUNION / SDIFF, the other `keys`; fills `slot` with `encode` of the
 * node's reply. One callback from the data plane, no promise.
 */
export function runColl(ctx: RespContext, args: Buffer[], slot: ReplySink, cmd: CollCmdCode, collArgs: Buffer[], encode: CollEncode, keys?: string[]): undefined {
  const protocol = ctx.session.protocol;
  const key = keyArg(args[1]);
  ctx.door.call({ op: 'coll', ns: ctx.session.ns, key, cmd, args: collArgs, keys }, slot, ({ reply }) => encode(reply, protocol));
  return undefined;
}

class ShapeError extends Error {
  constructor(what: string) {
    super(`node reply is not ${what}`);
    this.name = 'ShapeError';
  }
}

type Item = Buffer | number | bigint | null;

/** `:n`. */
export const asInteger: CollEncode = (reply) => {
  if (typeof reply !== 'number' && typeof reply !== 'bigint') throw new ShapeError('an integer');
  return integer(reply);
};

/** `$n bytes`, or the null bulk. */
export const asBulk: CollEncode = (reply) => {
  if (reply !== null && !(reply instanceof Uint8Array)) throw new ShapeError('bytes or null');
  return bulk(reply === null ? null : bufferOf(reply));
};

function listOf(reply: CollReply): readonly Item[] {
  if (reply === null) return []; // a missing key's list, should a node answer nil
  if (!Array.isArray(reply)) throw new ShapeError('a list');
  return reply as readonly Item[];
}

function itemReply(item: Item): Buffer {
  if (item === null) return Replies.NULL_BULK;
  if (typeof item === 'number' || typeof item === 'bigint') return integer(item);
  if (item instanceof Uint8Array) return bulk(bufferOf(item));
  throw new ShapeError('a list of bytes, integers or null');
}

/** The items of a list, each encoded. */
const itemReplies = (items: readonly Item[]): Buffer[] => items.map(itemReply);

/** `*n` of bulks (nulls as null bulks) and integers. */
export const asList: CollEncode = (reply) => {
  const items = listOf(reply);
  if (items.every((i) => i === null || i instanceof Uint8Array)) {
    return bulkValues({ length: items.length, valueAt: (i) => (items[i] === null ? null : bufferOf(items[i] as Uint8Array)) });
  }
  return array(itemReplies(items));
};

/** A set: `~n` in RESP3 (SMEMBERS, SINTER, SUNION, SDIFF, SPOP with a count), an array in RESP2. */
export const asSet: CollEncode = (reply, protocol) => (protocol === 2 ? asList(reply, 2) : setOf(itemReplies(listOf(reply)), 3));

/** `[f, v, f, v ...]` as pairs, checked even. */
function pairsOf(reply: CollReply): Array<readonly [Buffer, Buffer]> {
  const items = listOf(reply);
  if (items.length % 2 !== 0) throw new ShapeError('a list of field-value pairs');
  const pairs: Array<readonly [Buffer, Buffer]> = [];
  for (let i = 0; i < items.length; i += 2) pairs.push([itemReply(items[i]), itemReply(items[i + 1])]);
  return pairs;
}

/** HGETALL's flat `[f, v ...]`: a map (`%n`) in RESP3, the flat array in RESP2. */
export const asMap: CollEncode = (reply, protocol) => (protocol === 2 ? asList(reply, 2) : map(pairsOf(reply), 3));

/** HRANDFIELD ... WITHVALUES's flat `[f, v ...]`: an array of `[f, v]` pairs in RESP3 (as Redis 7 answers), the flat array in RESP2. */
export const asPairs: CollEncode = (reply, protocol) => (protocol === 2 ? asList(reply, 2) : array(pairsOf(reply).map((pair) => array([...pair]))));

/** The reply of HSCAN / SSCAN: cursor `0` (the whole hash or set in one page) and `items`. */
export function scanReply(items: readonly Buffer[]): Buffer {
  return array([SCAN_END, bulkValues({ length: items.length, valueAt: (i) => items[i] })]);
}

const SCAN_END = bulk('0');

/** The bytes of a list reply (HGETALL's, SMEMBERS's), checked. */
export function bytesOf(reply: CollReply): Buffer[] {
  return listOf(reply).map((item) => {
    if (!(item instanceof Uint8Array)) throw new ShapeError('a list of bytes');
    return bufferOf(item);
  });
}

/** HSCAN from HGETALL's flat `[f, v ...]`: the pairs whose field `match` matches (the fields alone with `noValues`). */
export function hashScanItems(flat: readonly Buffer[], match: Glob | undefined, noValues: boolean): Buffer[] {
  if (flat.length % 2 !== 0) throw new ShapeError('a list of field-value pairs');
  const out: Buffer[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    if (match !== undefined && !globMatches(match, flat[i])) continue;
    out.push(flat[i]);
    if (!noValues) out.push(flat[i + 1]);
  }
  return out;
}

/** SSCAN from SMEMBERS's list: the members `match` matches. */
export function setScanItems(members: readonly Buffer[], match: Glob | undefined): Buffer[] {
  return match === undefined ? [...members] : members.filter((m) => globMatches(match, m));
}

/** An arity error of a command whose arguments come in pairs (HSET, HMSET), Redis's words. */
export function checkPairs(args: readonly Buffer[], from: number, name: string): void {
  if ((args.length - from) % 2 !== 0) throw new RespCommandError(RespMessages.wrongArgs(name));
}
