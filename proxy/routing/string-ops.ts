import { slotOf } from '../../shared/slot';
import type { NamespacePolicy } from '../../shared/topology/schema';
import type { Command, Outcome } from '../front/commands';
import { ProxyError, ProxyErrorCode } from '../errors';
import { checkItemSize, resolveTtlMs, validateKeys, validateTarget } from '../policy';
import { parseFlag } from './messages';
import {
  appendMessage, copyMessage, expireAtMessage, incrByFloatMessage, msetnxMessage, parseIncrByFloat, parseLength, parseRename, parseSetGet,
  renameMessage, setGetMessage, setRangeMessage,
} from './string-messages';

/** The commands served by one string read-modify-write on the node (APPEND ... MSETNX). */
export type StringCommand = Extract<Command, { op: 'append' | 'setrange' | 'setget' | 'incrbyfloat' | 'expireat' | 'rename' | 'copy' | 'msetnx' }>;

/** A string command as the data plane sends it: its message, its reply parser and the keys it may change (the first routes it). */
export interface StringRequest {
  keys: readonly string[];
  message: unknown[];
  parse: (reply: unknown[], nodeId: string) => Outcome;
}

/** The error of keys in two slots, Redis Cluster's words. */
export const CROSSSLOT = "Keys in request don't hash to the same slot";

/** Throws CROSSSLOT unless every key shares the first one's slot (the node runs these ops within one slot). */
export function checkSameSlot(ns: string, keys: readonly string[]): void {
  const slot = slotOf(ns, keys[0]);
  for (let i = 1; i < keys.length; i++) if (slotOf(ns, keys[i]) !== slot) throw new ProxyError(ProxyErrorCode.BAD_REQUEST, CROSSSLOT, { crossSlot: true });
}

function badRequest(message: string, field: string): ProxyError {
  return new ProxyError(ProxyErrorCode.BAD_REQUEST, message, { field });
}

/**
 * Checks `cmd` and builds its request. Policy applies as to SET and INCR: a value over the item
 * limit is refused here; a key these ops create gets the namespace's default TTL (SETGET takes
 * the caller's `ttlMs` when given). Pure apart from `random` (TTL jitter).
 */
export function stringRequest(cmd: StringCommand, policy: NamespacePolicy | undefined, random: () => number): StringRequest {
  const { ns } = cmd;
  const onCreate = (): number => resolveTtlMs(policy, undefined, random);
  switch (cmd.op) {
    case 'append':
      validateTarget(ns, cmd.key);
      checkItemSize(policy, cmd.key, cmd.value);
      return { keys: [cmd.key], message: appendMessage(0, ns, cmd.key, cmd.value, onCreate()), parse: (r, n) => ({ op: 'append', length: parseLength(r, n) }) };
    case 'setrange':
      validateTarget(ns, cmd.key);
      if (!Number.isSafeInteger(cmd.offset) || cmd.offset < 0) throw badRequest('offset is out of range', 'offset');
      checkItemSize(policy, cmd.key, cmd.value);
      return {
        keys: [cmd.key], message: setRangeMessage(0, ns, cmd.key, cmd.offset, cmd.value, onCreate()), parse: (r, n) => ({ op: 'setrange', length: parseLength(r, n) }),
      };
    case 'setget':
      validateTarget(ns, cmd.key);
      checkItemSize(policy, cmd.key, cmd.value);
      return {
        keys: [cmd.key], message: setGetMessage(0, ns, cmd.key, cmd.value, resolveTtlMs(policy, cmd.ttlMs, random), cmd.cond ?? 0),
        parse: (r, n) => ({ op: 'setget', ...parseSetGet(r, n) }),
      };
    case 'incrbyfloat':
      validateTarget(ns, cmd.key);
      return { keys: [cmd.key], message: incrByFloatMessage(0, ns, cmd.key, cmd.delta, onCreate()), parse: (r, n) => ({ op: 'incrbyfloat', value: parseIncrByFloat(r, n) }) };
    case 'expireat':
      validateTarget(ns, cmd.key);
      if (!Number.isSafeInteger(cmd.at)) throw badRequest('at must be a whole number of milliseconds', 'at');
      return { keys: [cmd.key], message: expireAtMessage(0, ns, cmd.key, cmd.at, cmd.cond), parse: (r, n) => ({ op: 'expireat', updated: parseFlag(r, n) }) };
    case 'rename':
    case 'copy': {
      validateTarget(ns, cmd.key);
      validateTarget(ns, cmd.dst);
      const keys = [cmd.dst, cmd.key];
      checkSameSlot(ns, keys);
      if (cmd.op === 'copy') return { keys, message: copyMessage(0, ns, cmd.key, cmd.dst, cmd.replace), parse: (r, n) => ({ op: 'copy', copied: parseFlag(r, n) }) };
      return { keys, message: renameMessage(0, ns, cmd.key, cmd.dst, cmd.nx), parse: (r, n) => ({ op: 'rename', renamed: parseRename(r, n) }) };
    }
    case 'msetnx': {
      validateKeys(cmd.keys);
      if (cmd.values.length !== cmd.keys.length) throw badRequest('one value per key', 'values');
      checkSameSlot(ns, cmd.keys);
      for (let i = 0; i < cmd.keys.length; i++) checkItemSize(policy, cmd.keys[i], cmd.values[i]);
      return { keys: cmd.keys, message: msetnxMessage(0, ns, cmd.keys, cmd.values, onCreate()), parse: (r, n) => ({ op: 'msetnx', stored: parseFlag(r, n) }) };
    }
  }
}
