import { CollCmd, type CollCmdCode, MAX_COLL_ARGS } from '../../shared/collections';
import { Limits, NAMESPACE_PATTERN } from '../../shared/protocol';
import type { ReadPreference } from '../backend';
import { badRequest } from './wire-error';

/**
 * Checks of client input shared by every front. Each returns the typed value or throws a
 * BAD_REQUEST `ProxyError` whose message names the field and what it accepts, so a bad request
 * never reaches the data plane. Pure.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const MAX_TAG_LENGTH = 256;

/** A short, printable rendering of a bad value for an error message. */
function shown(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : String(value);
}

/** A JSON object (not an array, not null). */
export function objectArg(value: unknown, what = 'request body'): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function namespaceArg(value: unknown): string {
  if (typeof value !== 'string' || !NAMESPACE_PATTERN.test(value)) {
    throw badRequest(`namespace must be 1-${Limits.MAX_NAMESPACE_LENGTH} letters, digits, "_", "-" or "." (got ${value === undefined ? 'nothing' : shown(value)})`);
  }
  return value;
}

export function keyArg(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) throw badRequest(`key must be a non-empty string (got ${value === undefined ? 'nothing' : shown(value)})`);
  if (value.length > Limits.MAX_KEY_LENGTH) throw badRequest(`key is ${value.length} characters long; the limit is ${Limits.MAX_KEY_LENGTH}`);
  return value;
}

export function keysArg(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > Limits.MAX_BATCH_KEYS) {
    throw badRequest(`keys must be a list of 1 to ${Limits.MAX_BATCH_KEYS} keys`);
  }
  value.forEach(keyArg);
  return value as string[];
}

/** TTL in seconds (fractions allowed) to ms; undefined stays undefined (the namespace default). */
export function ttlSecondsArg(value: unknown, field = 'ttlSeconds'): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'number' ? Math.round(value * 1000) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) throw badRequest(`${field} must be a number of seconds >= 0 (got ${shown(value)})`);
  return ms;
}

/** TTL in whole milliseconds (the WebSocket API); undefined stays undefined. */
export function ttlMsArg(value: unknown, field = 'ttlMs'): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw badRequest(`${field} must be a whole number of milliseconds >= 0 (got ${shown(value)})`);
  return value;
}

/** A CAS version as returned by a write: a whole number >= 1. */
export function versionArg(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw badRequest(`ifVersion must be a whole number >= 1 (got ${shown(value)})`);
  return value;
}

/** A signed 64-bit delta: a safe integer, a bigint, or a string of digits (for values beyond 2^53). */
export function deltaArg(value: unknown): number | bigint {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  let big: bigint | undefined;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) big = BigInt(value);
  if (big === undefined || big < INT64_MIN || big > INT64_MAX) {
    throw badRequest(`delta must be a whole number in the signed 64-bit range; write values beyond 2^53 as strings (got ${value === undefined ? 'nothing' : shown(value)})`);
  }
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

export function tagArg(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_TAG_LENGTH) {
    throw badRequest(`tag must be a non-empty string of at most ${MAX_TAG_LENGTH} characters (got ${shown(value)})`);
  }
  return value;
}

export function tagsArg(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > Limits.MAX_TAGS) throw badRequest(`tags must be a list of at most ${Limits.MAX_TAGS} tags`);
  value.forEach(tagArg);
  return value as string[];
}

export function readPreferenceArg(value: unknown): ReadPreference | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value !== 'primary' && value !== 'replica') throw badRequest(`readPreference must be "primary" or "replica" (got ${shown(value)})`);
  return value;
}

/** A hash or set command by its Redis name, any case (`'HSET'`, `'smembers'`). */
export function collCommandArg(value: unknown): CollCmdCode {
  const name = typeof value === 'string' ? value.toUpperCase() : '';
  if (!Object.hasOwn(CollCmd, name)) {
    throw badRequest(`command must be one of ${Object.keys(CollCmd).join(', ')} (got ${value === undefined ? 'nothing' : shown(value)})`);
  }
  return CollCmd[name as keyof typeof CollCmd];
}


/**
 * A hash or set command's arguments after the key as bytes: strings (UTF-8, or base64 when
 * `base64`), finite numbers (their decimal text: `HINCRBY h f 5`), or bytes when the wire has them
 * (WebSocket bin). Absent: none.
 */
export function collArgsArg(value: unknown, base64 = false): Buffer[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_COLL_ARGS) throw badRequest(`args must be a list of at most ${MAX_COLL_ARGS} strings`);
  return value.map((arg: unknown, i) => {
    if (typeof arg === 'string') {
      if (!base64) return Buffer.from(arg, 'utf8');
      if (!BASE64.test(arg)) throw badRequest(`args[${i}] is not base64`);
      return Buffer.from(arg, 'base64');
    }
    if (typeof arg === 'number' && Number.isFinite(arg)) return Buffer.from(String(arg), 'latin1');
    if (typeof arg === 'bigint') return Buffer.from(arg.toString(), 'latin1');
    // bin decodes as a view of the message, which uWS reuses after the callback: copy it.
    if (arg instanceof Uint8Array) return Buffer.from(arg);
    throw badRequest(`args[${i}] must be a string or a number (got ${shown(arg)})`);
  });
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The other keys of SINTER / SUNION / SDIFF; absent: none. */
export function collKeysArg(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > Limits.MAX_BATCH_KEYS) throw badRequest(`keys must be a list of at most ${Limits.MAX_BATCH_KEYS} keys`);
  value.forEach(keyArg);
  return value as string[];
}
