import { isUint8Array } from 'node:util/types';
import { badRequest, ConfigError, OpError } from '../../shared/errors';
import { KEEP_TTL, Limits, SetCond, Status } from '../../shared/protocol';
import { DEFAULT_MAX_NAMESPACES, NAMESPACE_ID_LIMIT, type ResolvedOptions } from './keyspace';
import type { ResolvedPolicy } from './namespace';
import type { EvictionPolicy, NamespacePolicy, SetOptions, StoreOptions } from './types';
import { sumLengths } from './entry-table';
import { ownString } from './value-codec';

/**
 * Argument checks at the store's edge. Bad requests throw `OpError(BAD_REQUEST)` naming the
 * argument; bad construction options throw `ConfigError`. Everything past this file may assume
 * well-formed input.
 */

/** SET options after checks; `ttlMs` is 0 (none), KEEP_TTL or > 0. */
export interface ParsedSet {
  ttlMs: number;
  flags: number;
  cond: number;
  ifVersion: number;
  /** Own copy of the tags, undefined when none. */
  tags: readonly string[] | undefined;
  tagBytes: number;
}

const NO_OPTIONS: ParsedSet = {
  ttlMs: 0,
  flags: 0,
  cond: SetCond.ALWAYS,
  ifVersion: 0,
  tags: undefined,
  tagBytes: 0,
};
const MIB = 1024 * 1024;
const MAX_SAMPLES = 64;

/** Checks and copies the options of a SET. */
export function parseSetOptions(o: SetOptions | undefined): ParsedSet {
  if (o === undefined) return NO_OPTIONS;
  const ttlMs = o.ttlMs ?? 0;
  if (ttlMs !== KEEP_TTL) checkTtl(ttlMs, 'ttlMs');
  const flags = o.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff_ffff) {
    throw badRequest(`flags must be a uint32, got ${String(flags)}`);
  }
  const cond = o.cond ?? SetCond.ALWAYS;
  if (cond !== SetCond.ALWAYS && cond !== SetCond.NX && cond !== SetCond.XX) {
    throw badRequest(`cond must be ALWAYS, NX or XX, got ${String(cond)}`);
  }
  const ifVersion = o.ifVersion ?? 0;
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw badRequest(`ifVersion must be a non-negative integer, got ${String(ifVersion)}`);
  }
  const tags = copyTags(o.tags);
  return { ttlMs, flags, cond, ifVersion, tags, tagBytes: tags === undefined ? 0 : sumLengths(tags) };
}

/** Checks a TTL argument: a non-negative integer number of milliseconds. */
export function checkTtl(ttlMs: number, name: string): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 0) {
    throw badRequest(`${name} must be a non-negative integer (ms), got ${String(ttlMs)}`);
  }
}

/** Checks an EXPIRE argument: any integer (<= 0 deletes). */
export function checkExpireTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs)) throw badRequest(`ttlMs must be an integer (ms), got ${String(ttlMs)}`);
}

/** Checks a key written to the store. */
export function checkKey(key: string): void {
  if (typeof key !== 'string') throw badRequest('key must be a string');
  if (key.length > Limits.MAX_KEY_LENGTH) {
    throw badRequest(`key of ${key.length} characters exceeds the limit of ${Limits.MAX_KEY_LENGTH}`);
  }
}

/** Checks a value written to the store. */
export function checkValue(value: Uint8Array): void {
  if (!isUint8Array(value)) throw badRequest('value must be bytes');
}

/** What `checkFits` reads of a namespace (or of the defaults a new one would get). */
export interface FitLimits {
  readonly name: string;
  readonly maxItemBytes: number;
  readonly quotaBytes: number;
}

/**
 * Refuses an entry that could never fit (TOO_LARGE, OVER_QUOTA, OUT_OF_MEMORY), before anything
 * is evicted for it.
 */
export function checkFits(ns: FitLimits, maxMemoryBytes: number, itemBytes: number, size: number): void {
  if (itemBytes > ns.maxItemBytes) {
    const limit = ns.maxItemBytes;
    const message =
      `item of ${itemBytes} bytes (key + value) exceeds the limit of ${limit} bytes ` +
      `of namespace ${ns.name}`;
    throw new OpError(Status.TOO_LARGE, message, [itemBytes, limit]);
  }
  if (ns.quotaBytes > 0 && size > ns.quotaBytes) {
    const quota = ns.quotaBytes;
    const message = `entry of ${size} bytes exceeds the quota of ${quota} bytes of namespace ${ns.name}`;
    throw new OpError(Status.OVER_QUOTA, message, [size, quota]);
  }
  if (size > maxMemoryBytes) {
    const message = `entry of ${size} bytes exceeds the memory limit of ${maxMemoryBytes} bytes`;
    throw new OpError(Status.OUT_OF_MEMORY, message, [size, maxMemoryBytes]);
  }
}

/** Checks a namespace policy and fills absent fields from `defaults`. */
export function resolvePolicy(p: NamespacePolicy, defaults: ResolvedPolicy): ResolvedPolicy {
  if (p === null || typeof p !== 'object') throw badRequest('namespace policy must be an object');
  const maxItemBytes = p.maxItemBytes ?? defaults.maxItemBytes;
  if (!Number.isSafeInteger(maxItemBytes) || maxItemBytes <= 0) {
    throw badRequest(`maxItemBytes must be a positive integer, got ${String(maxItemBytes)}`);
  }
  const quotaBytes = p.quotaBytes ?? 0;
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0) {
    throw badRequest(`quotaBytes must be a non-negative integer, got ${String(quotaBytes)}`);
  }
  const eviction = p.eviction ?? defaults.eviction;
  if (!isPolicy(eviction)) throw badRequest(`eviction must be 'lru' or 'lfu', got ${String(eviction)}`);
  return { maxItemBytes, quotaBytes, eviction };
}

/** Checks construction options and fills in the defaults. */
export function resolveOptions(o: StoreOptions): ResolvedOptions {
  const { maxMemoryBytes } = o;
  if (!Number.isSafeInteger(maxMemoryBytes) || maxMemoryBytes <= 0) {
    throw new ConfigError(`maxMemoryBytes must be a positive integer, got ${String(maxMemoryBytes)}`);
  }
  const evictionSamples = o.evictionSamples ?? 5;
  if (!Number.isInteger(evictionSamples) || evictionSamples < 1 || evictionSamples > MAX_SAMPLES) {
    throw new ConfigError(`evictionSamples must be an integer in 1..${MAX_SAMPLES}`);
  }
  const eviction = o.defaultEviction ?? 'lru';
  if (!isPolicy(eviction)) throw new ConfigError(`defaultEviction must be 'lru' or 'lfu'`);
  const maxItemBytes = o.defaultMaxItemBytes ?? MIB;
  if (!Number.isSafeInteger(maxItemBytes) || maxItemBytes <= 0) {
    throw new ConfigError('defaultMaxItemBytes must be a positive integer');
  }
  const maxNamespaces = o.maxNamespaces ?? DEFAULT_MAX_NAMESPACES;
  if (!Number.isInteger(maxNamespaces) || maxNamespaces < 1 || maxNamespaces > NAMESPACE_ID_LIMIT) {
    throw new ConfigError(`maxNamespaces must be an integer in 1..${NAMESPACE_ID_LIMIT}`);
  }
  const lfuLogFactor = o.lfuLogFactor ?? 10;
  const lfuDecayMinutes = o.lfuDecayMinutes ?? 1;
  if (!(lfuLogFactor >= 0) || !(lfuDecayMinutes >= 0)) {
    throw new ConfigError('lfuLogFactor and lfuDecayMinutes must be non-negative');
  }
  return {
    maxMemoryBytes,
    now: o.now ?? Date.now,
    random: o.random ?? Math.random,
    evictionSamples,
    defaultPolicy: { maxItemBytes, quotaBytes: 0, eviction },
    lfuLogFactor,
    lfuDecayMinutes,
    maxNamespaces,
  };
}

/** Own copies of tags already checked (see `ownString`). */
export function ownTags(tags: readonly string[]): readonly string[] {
  const copy: string[] = [];
  for (const tag of tags) copy.push(ownString(tag));
  return copy;
}

function copyTags(tags: readonly string[] | undefined): readonly string[] | undefined {
  if (tags === undefined || tags === null) return undefined;
  if (!Array.isArray(tags)) throw badRequest('tags must be an array of strings');
  if (tags.length > Limits.MAX_TAGS) {
    throw badRequest(`${tags.length} tags exceed the limit of ${Limits.MAX_TAGS}`);
  }
  if (tags.length === 0) return undefined;
  const copy: string[] = [];
  for (const tag of tags) {
    if (typeof tag !== 'string') throw badRequest('tags must be an array of strings');
    if (tag.length > Limits.MAX_KEY_LENGTH) {
      throw badRequest(`tag of ${tag.length} characters exceeds the limit of ${Limits.MAX_KEY_LENGTH}`);
    }
    copy.push(ownString(tag));
  }
  return copy;
}

function isPolicy(p: unknown): p is EvictionPolicy {
  return p === 'lru' || p === 'lfu';
}
