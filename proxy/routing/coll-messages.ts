import { Limits, Status } from '../../shared/protocol';
import { COLL_CMDS, type CollCmdDef, type CollReply, MAX_COLL_ARGS, type TypeName } from '../../shared/collections';
import { ProxyError, ProxyErrorCode } from '../errors';
import { validateKey } from '../policy';
import { checkSameSlot } from './string-ops';
import { buildError, buildRequest, COLL, COLL_WRITE, FRAME, TYPE } from '../../shared/ops';
import { bufferOf, parseOk } from './messages';
import { errorFromReply } from './status';

/**
 * Messages and reply parsers of the hash and set commands (COLL, COLL_WRITE; `shared/collections.ts`)
 * and of TYPE. Like `messages.ts`: pure, every position from the op table, epoch 0 (the router
 * stamps the primary's).
 */

/** `[id, COLL, ns, key, cmd, args[], keys[]?]`: `keys` only for the multi-key commands (SINTER ...). */
export function collMessage(ns: string, key: string, cmd: number, args: readonly Uint8Array[], keys?: readonly string[]): unknown[] {
  return keys === undefined ? buildRequest(COLL, ns, key, cmd, args) : buildRequest(COLL, ns, key, cmd, args, keys);
}

/** `[id, COLL_WRITE, epoch, ns, key, cmd, args[], ttlMsOnCreate]`. */
export const collWriteMessage = (epoch: number, ns: string, key: string, cmd: number, args: readonly Uint8Array[], ttlMsOnCreate: number): unknown[] =>
  buildRequest(COLL_WRITE, epoch, ns, key, cmd, args, ttlMsOnCreate);

/** `[id, TYPE, ns, key]`. */
export const typeMessage = (ns: string, key: string): unknown[] => buildRequest(TYPE, ns, key);

const TYPE_NAMES: ReadonlySet<string> = new Set<TypeName>(['none', 'string', 'hash', 'set']);

function malformed(reply: readonly unknown[], what: string, nodeId?: string): Error {
  return errorFromReply(buildError(reply[FRAME.id], Status.INTERNAL, what), nodeId);
}


/**
 * A node's `CollReply`, its shape checked (an integer, bytes, null, or a flat list of those) and
 * its bytes made Buffers; anything else is an INTERNAL error (a node's reply is trusted for
 * meaning, not for shape).
 */
export function collReplyOf(value: unknown, reply: readonly unknown[], nodeId?: string): CollReply {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'bigint') return value;
  if (value instanceof Uint8Array) return bufferOf(value);
  if (Array.isArray(value)) {
    const out = new Array<Buffer | number | null>(value.length);
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || item === undefined) out[i] = null;
      else if (typeof item === 'number') out[i] = item;
      else if (item instanceof Uint8Array) out[i] = bufferOf(item);
      else throw malformed(reply, 'COLL reply list holds an element that is not bytes, an integer or null', nodeId);
    }
    return out;
  }
  throw malformed(reply, 'COLL reply is not bytes, an integer, null or a list', nodeId);
}

/** `[id, OK, reply]` → the command's reply. */
export function parseColl(reply: readonly unknown[], nodeId?: string): CollReply {
  parseOk(reply, nodeId);
  return collReplyOf(reply[COLL.reply.reply], reply, nodeId);
}

/** `[id, OK, reply, version]` → the command's reply and the entry's version after it (0: nothing changed). */
export function parseCollWrite(reply: readonly unknown[], nodeId?: string): { reply: CollReply; version: number } {
  parseOk(reply, nodeId);
  const version = reply[COLL_WRITE.reply.version];
  return { reply: collReplyOf(reply[COLL_WRITE.reply.reply], reply, nodeId), version: typeof version === 'number' ? version : 0 };
}

/** `[id, OK, 'none' | 'string' | 'hash' | 'set']` → the type name. */
export function parseType(reply: readonly unknown[], nodeId?: string): TypeName {
  parseOk(reply, nodeId);
  const type = reply[TYPE.reply.type];
  if (typeof type !== 'string' || !TYPE_NAMES.has(type)) throw malformed(reply, 'TYPE reply without a type name', nodeId);
  return type as TypeName;
}

/**
 * The row of a hash or set command after checking what every front may send (pure): a known
 * command, its arguments bytes and as many as its row takes, and `keys` only for SINTER / SUNION /
 * SDIFF, each valid and (with `key`) in one slot (CROSSSLOT otherwise). BAD_REQUEST names what is
 * wrong; the RESP front checks Redis's arity first, with Redis's words.
 */
export function checkColl(ns: string, key: string, cmd: unknown, args: unknown, keys: unknown): CollCmdDef {
  const def = typeof cmd === 'number' ? COLL_CMDS.get(cmd) : undefined;
  if (def === undefined) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, 'unknown hash or set command', { field: 'command' });
  if (!Array.isArray(args) || !args.every((a) => a instanceof Uint8Array)) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `${def.name} arguments must be a list of strings or bytes`, { field: 'args' });
  if (args.length > MAX_COLL_ARGS) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `${def.name} takes at most ${MAX_COLL_ARGS} arguments after the key (got ${args.length})`, { field: 'args' });
  if (args.length < def.min || args.length > def.max || (args.length - def.min) % def.step !== 0) {
    throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `${def.name} takes ${argCountText(def)} after the key (got ${args.length})`, { field: 'args' });
  }
  if (keys !== undefined) {
    if (!def.multiKey) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `${def.name} takes no other keys`, { field: 'keys' });
    if (!Array.isArray(keys) || keys.length > Limits.MAX_BATCH_KEYS) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, `keys must be a list of at most ${Limits.MAX_BATCH_KEYS} keys`, { field: 'keys' });
    for (const k of keys) validateKey(k);
    checkSameSlot(ns, [key, ...(keys as string[])]);
  }
  return def;
}

/** How many arguments a row takes, in words ("2, 4, 6 ... arguments", "0 to 2 arguments"). */
export function argCountText(def: CollCmdDef): string {
  if (def.min === def.max) return `${def.min} argument${def.min === 1 ? '' : 's'}`;
  if (def.step > 1) return `${def.min}, ${def.min + def.step}, ${def.min + 2 * def.step} ... arguments`;
  if (def.max === Number.MAX_SAFE_INTEGER) return `${def.min} or more arguments`;
  return `${def.min} to ${def.max} arguments`;
}
