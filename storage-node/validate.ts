import { badRequest, type OpError } from '../shared/errors';
import { KEEP_TTL, Limits, NAMESPACE_PATTERN, SetCond, type SetCondition } from '../shared/protocol';

/**
 * Argument checks for request frames. Each returns the typed value or throws BAD_REQUEST with a
 * message naming the argument, so a bad frame gets a clear error reply and never reaches the store.
 * They are at least as strict as the store's own checks, which lets the SET handler use the
 * store's unchecked path (`Store.setTrusted`).
 */

/**
 * Namespace names that passed the pattern, so a request costs a string comparison (the name of
 * the request before) or a set lookup instead of a regex.
 */
const knownNamespaces = new Set<string>();
/** Bound on `knownNamespaces`; past it the cache starts over. */
const MAX_KNOWN_NAMESPACES = 1024;
let lastNamespace = '';

export function namespaceArg(value: unknown): string {
  if (typeof value !== 'string') throw badNamespace();
  if (value === lastNamespace) return value;
  if (!knownNamespaces.has(value)) {
    if (!NAMESPACE_PATTERN.test(value)) throw badNamespace();
    if (knownNamespaces.size >= MAX_KNOWN_NAMESPACES) knownNamespaces.clear();
    knownNamespaces.add(value);
  }
  lastNamespace = value;
  return value;
}

function badNamespace(): OpError {
  return badRequest('namespace must be 1-64 characters of letters, digits, "_", "-" or "."');
}

export function keyArg(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > Limits.MAX_KEY_LENGTH) {
    throw badRequest(`key must be a non-empty string of at most ${Limits.MAX_KEY_LENGTH} characters`);
  }
  return value;
}

export function keysArg(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > Limits.MAX_BATCH_KEYS) {
    throw badRequest(`keys must be a list of 1 to ${Limits.MAX_BATCH_KEYS} keys`);
  }
  for (const key of value) keyArg(key);
  return value as string[];
}

/** Values are bytes; a string is taken as its UTF-8 bytes. */
export function valueArg(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  throw badRequest('value must be binary (msgpack bin) or a string');
}

function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw badRequest(`${name} must be a whole number from ${min} to ${max}`);
  }
  return value;
}

export const epochArg = (value: unknown): number => wholeNumber(value, 'epoch', 0, Number.MAX_SAFE_INTEGER);
export const ttlArg = (value: unknown): number => (value === KEEP_TTL ? KEEP_TTL : wholeNumber(value ?? 0, 'ttlMs', 0, Number.MAX_SAFE_INTEGER));
export const flagsArg = (value: unknown): number => wholeNumber(value ?? 0, 'flags', 0, 0xffffffff);
export const versionArg = (value: unknown): number => wholeNumber(value ?? 0, 'ifVersion', 0, Number.MAX_SAFE_INTEGER);
export const condArg = (value: unknown): SetCondition => wholeNumber(value ?? 0, 'cond', SetCond.ALWAYS, SetCond.XX) as SetCondition;
export const signedTtlArg = (value: unknown): number =>
  wholeNumber(value, 'ttlMs', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

export function deltaArg(value: unknown): number | bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw badRequest('delta must be a whole number (signed 64-bit)');
}

export function tagsArg(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > Limits.MAX_TAGS || !value.every((t) => typeof t === 'string' && t.length > 0 && t.length <= 256)) {
    throw badRequest(`tags must be a list of at most ${Limits.MAX_TAGS} non-empty strings of at most 256 characters`);
  }
  return value as string[];
}

export function optionalTagArg(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw badRequest('tag must be a non-empty string of at most 256 characters');
  return value;
}
