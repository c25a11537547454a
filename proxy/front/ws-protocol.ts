import type { GetResult } from '../backend';
import { MsgpackWriter } from '../msgpack-writer';
import { ProxyErrorCode } from '../errors';
import { Limits } from '../../shared/protocol';
import { packr, unpackPlainAt } from '../../shared/msgpack';
import { ProtocolError } from '../../shared/errors';
import { isRespOnly, notOfFront, type Command, type Outcome } from './commands';
import {
  collArgsArg, collCommandArg, collKeysArg, deltaArg, keyArg, keysArg, namespaceArg, objectArg, readPreferenceArg, tagArg, tagsArg, ttlMsArg, versionArg,
} from './validate';
import { ValueFlag, jsonBytes, ttlRemainingMs } from './values';
import { badRequest, toWireError, type WireError } from './wire-error';

/**
 * The WebSocket binary API (contract; docs/api.md): a binary message carries one msgpack array,
 * or several back to back (a batch: each is its own request, answered on its own).
 *
 *   request  [id, op, ...args]          id: whole number 1..2^32-1, chosen by the client
 *   reply    [id, 'ok', ...result]      in completion order (pipelined), matched by id
 *            [id, 'error', code, message, detail?]
 *
 * Replies come one per message, unless the client connected to `/v1/ws?batch=1`: then the replies
 * that complete in one event-loop turn share a message, back to back (a client that reads one
 * array per message must not ask for that).
 *
 *   op            args                                   ok result
 *   'get'         ns, key, readPreference?               item
 *   'mget'        ns, keys[], readPreference?            item[] (an item may be { error })
 *   'set'         ns, key, value, { ttlMs, ifVersion, tags, flags }?   version, expiresAt | null
 *   'delete'      ns, key                                deleted (bool)
 *   'incr'        ns, key, delta, ttlMs?                 value (int64), version
 *   'expire'      ns, key, ttlMs                         updated (bool)
 *   'persist'     ns, key                                updated (bool: it had an expiry)
 *   'invalidate'  ns, tag?                               (nothing)
 *   'coll'        ns, key, command, args[]?, keys[]?, readPreference?   reply
 *   'ping'                                               'pong'
 *
 *   item = { hit: false, stale? } | { hit: true, value: bin, flags, version, ttlMs: ms | null, stale? }
 *   (stale: 'revalidating' | 'origin-error' from read-through, 'resync' from a replica loading a full sync)
 *
 * `coll` runs a hash or set command by its Redis name (`'HSET'`, `'SMEMBERS'`, any case; the list
 * in `shared/collections.ts`) with its arguments after the key (strings are UTF-8, bin is bytes,
 * numbers their decimal text) and, for SINTER / SUNION / SDIFF, the other `keys` of the key's
 * slot. `reply` is Redis's: an integer, bin, nil, or an array of those (HGETALL flat).
 *
 * `value` on set: msgpack bin is stored as bytes (with `flags`, default 0); any other msgpack value
 * is stored as JSON (flags bit 0), so the HTTP API reads it back as JSON and vice versa. A message
 * that is not a msgpack array with a valid id is answered with id 0. Pure.
 */

const MAX_ID = 0xffffffff;
const SET_OPTIONS = new Set(['ttlMs', 'ifVersion', 'tags', 'flags']);

/** A decoded request, or the error to answer it with (id 0 when no id could be read). */
export type Decoded = { ok: true; id: number; command: Command } | { ok: false; id: number; error: WireError };

type ArgParser = (args: unknown[]) => Command;

function setOptions(value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  const options = objectArg(value, 'set options');
  for (const name of Object.keys(options)) if (!SET_OPTIONS.has(name)) throw badRequest(`unknown set option "${name.slice(0, 64)}"; use ${[...SET_OPTIONS].join(', ')}`);
  return options;
}

function flagsOption(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) throw badRequest('flags must be a whole number from 0 to 4294967295');
  return value;
}

function setCommand([ns, key, value, rawOptions]: unknown[]): Command {
  const options = setOptions(rawOptions);
  const binary = value instanceof Uint8Array;
  return {
    op: 'set', ns: namespaceArg(ns), key: keyArg(key),
    // bin decodes as a view of the message, which uWS reuses after the callback: copy it.
    value: binary ? Buffer.from(value) : jsonBytes(value),
    flags: binary ? flagsOption(options.flags) : ValueFlag.JSON,
    ttlMs: ttlMsArg(options.ttlMs), ifVersion: versionArg(options.ifVersion), tags: tagsArg(options.tags),
  };
}

/** Argument parsers by op name; each throws BAD_REQUEST naming the bad argument. */
const OPS = new Map<string, ArgParser>([
  ['get', ([ns, key, pref]) => ({ op: 'get', ns: namespaceArg(ns), key: keyArg(key), pref: readPreferenceArg(pref) })],
  ['mget', ([ns, keys, pref]) => ({ op: 'mget', ns: namespaceArg(ns), keys: keysArg(keys), pref: readPreferenceArg(pref) })],
  ['set', setCommand],
  ['delete', ([ns, key]) => ({ op: 'delete', ns: namespaceArg(ns), key: keyArg(key) })],
  ['incr', ([ns, key, delta, ttlMs]) => ({ op: 'incr', ns: namespaceArg(ns), key: keyArg(key), delta: delta === undefined ? 1 : deltaArg(delta), ttlMs: ttlMsArg(ttlMs) })],
  ['expire', ([ns, key, ttlMs]) => {
    if (ttlMs === undefined || ttlMs === null) throw badRequest('expire needs ttlMs (milliseconds >= 0; 0 deletes the key)');
    return { op: 'expire', ns: namespaceArg(ns), key: keyArg(key), ttlMs: ttlMsArg(ttlMs)! };
  }],
  ['persist', ([ns, key]) => ({ op: 'persist', ns: namespaceArg(ns), key: keyArg(key) })],
  ['invalidate', ([ns, tag]) => ({ op: 'invalidate', ns: namespaceArg(ns), tag: tagArg(tag) })],
  ['coll', ([ns, key, command, args, keys, pref]) => ({
    op: 'coll', ns: namespaceArg(ns), key: keyArg(key), cmd: collCommandArg(command), args: collArgsArg(args), keys: collKeysArg(keys), pref: readPreferenceArg(pref),
  })],
  ['ping', () => ({ op: 'ping' })],
]);

/** Op names of the WebSocket API, in the order docs/api.md lists them. */
export const WS_OPS: readonly string[] = [...OPS.keys()];

const fail = (id: number, message: string): Decoded => ({ ok: false, id, error: { code: ProxyErrorCode.BAD_REQUEST, message } });

/** Most requests one binary message runs; each one past it is refused (BAD_REQUEST, with its id). */
export const MAX_BATCH_REQUESTS = Limits.MAX_WS_BATCH_REQUESTS;

/**
 * Decodes every request of one binary message: one msgpack array, or several back to back (a
 * batch). Returns them in order; a message that stops being valid msgpack partway yields the
 * requests before that point, then one id-0 error for the rest, and a value that is not a
 * request with an id ends the message there (one id-0 error, however much garbage follows).
 * Requests past MAX_BATCH_REQUESTS are refused one by one, with their ids. Never throws.
 *
 * Only plain msgpack is read (shared/msgpack.ts): an extension type ends the message there.
 */
export function decodeMessage(bytes: Uint8Array): Decoded[] {
  const out: Decoded[] = [];
  if (bytes.length === 0) return [fail(0, 'empty message; send msgpack arrays [id, op, ...args], one or several back to back per binary message')];
  for (let pos = 0; pos < bytes.length; ) {
    let message: unknown;
    try {
      ({ value: message, end: pos } = unpackPlainAt(bytes, pos));
    } catch (err) {
      const what = out.length === 0 ? 'message is not valid msgpack' : `message is not valid msgpack after its first ${out.length} request(s)`;
      const why = err instanceof ProtocolError ? ` (${err.message})` : '';
      out.push(fail(0, `${what}${why}; send msgpack arrays [id, op, ...args], one or several back to back per binary message`));
      break;
    }
    let decoded = requestOf(message);
    if (decoded.ok && out.length >= MAX_BATCH_REQUESTS) decoded = fail(decoded.id, TOO_MANY);
    out.push(decoded);
    // A value that is not a request with an id: what follows is taken for garbage, not read.
    if (!decoded.ok && decoded.id === 0) break;
  }
  return out;
}

const TOO_MANY = `a message may carry at most ${MAX_BATCH_REQUESTS} requests; this one was not run: send it in another message`;

/** One decoded msgpack value as a request. */
function requestOf(message: unknown): Decoded {
  if (!Array.isArray(message) || message.length < 2) return fail(0, 'a request must be a msgpack array [id, op, ...args]');
  const [id, op, ...args] = message as unknown[];
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1 || id > MAX_ID) return fail(0, 'request id must be a whole number from 1 to 4294967295');
  const parse = typeof op === 'string' ? OPS.get(op) : undefined;
  if (!parse) return fail(id, `unknown op ${typeof op === 'string' ? JSON.stringify(op).slice(0, 40) : `of type ${typeof op}`}; ops are ${WS_OPS.join(', ')}`);
  try {
    return { ok: true, id, command: parse(args) };
  } catch (err) {
    return { ok: false, id, error: toWireError(err) };
  }
}

/** A read result as a msgpack item. */
export function itemOf(result: GetResult, now: number): Record<string, unknown> {
  if (!result.hit) return result.stale === undefined ? { hit: false } : { hit: false, stale: result.stale };
  const item: Record<string, unknown> = { hit: true, value: result.value, flags: result.flags, version: result.version, ttlMs: ttlRemainingMs(result.expiresAt, now) };
  if (result.stale !== undefined) item.stale = result.stale;
  return item;
}

/** The ok-reply values of an outcome (after `[id, 'ok']`). */
export function resultOf(outcome: Outcome, now: number, errorOf: (err: Error) => WireError): unknown[] {
  if (isRespOnly(outcome)) return notOfFront(outcome.op, 'WebSocket');
  switch (outcome.op) {
    case 'get':
      return [itemOf(outcome.result, now)];
    case 'mget':
      return [outcome.results.toArray().map((r) => (r instanceof Error ? { error: errorOf(r) } : itemOf(r, now)))];
    case 'set':
      return outcome.result ? [outcome.result.version, outcome.result.expiresAt === 0 ? null : outcome.result.expiresAt] : [null, null];
    case 'delete':
      return [outcome.deleted];
    case 'incr':
      return [outcome.value, outcome.version];
    case 'expire':
    case 'persist':
      return [outcome.updated];
    case 'invalidate':
      return [];
    case 'coll':
      return [outcome.reply];
    case 'ping':
      return ['pong'];
  }
}

/** An ok reply as the values of its msgpack array. */
export function okReply(id: number, result: unknown[]): unknown[] {
  return [id, 'ok', ...result];
}

/** An error reply as the values of its msgpack array. */
export function errorReply(id: number, error: WireError): unknown[] {
  return error.detail ? [id, 'error', error.code, error.message, error.detail] : [id, 'error', error.code, error.message];
}

/**
 * Appends one reply to `out`, as the front sends it: the hand-written encoder, or msgpackr with
 * the protocol's options for a value that encoder leaves to it.
 */
export function appendReply(out: MsgpackWriter, reply: unknown[]): void {
  if (!out.append(reply)) out.appendRaw(packr.pack(reply));
}

/** One ok reply alone, encoded as the front encodes it. */
export function encodeOk(id: number, result: unknown[]): Buffer {
  return encodedAlone(okReply(id, result));
}

/** One error reply alone, encoded as the front encodes it. */
export function encodeError(id: number, error: WireError): Buffer {
  return encodedAlone(errorReply(id, error));
}

function encodedAlone(reply: unknown[]): Buffer {
  const out = new MsgpackWriter(256);
  appendReply(out, reply);
  return out.take();
}
