import { ValueFlag } from '../front/values';

/**
 * How a read-through entry describes itself in the entry's `flags` (contract between proxies;
 * bit 0 is the fronts' JSON bit, `front/values.ts`):
 *
 *   bit 0        JSON       the value is JSON text (the origin answered application/json)
 *   bit 1        NEGATIVE   the origin answered 404; the value is empty and reads are misses
 *   bit 2        FILLED     written by a read-through fill: the fields below are meaningful
 *   bits 3-15    load time  how long the origin load took, in 10 ms units (max 81.91 s): XFetch's delta
 *   bits 16-31   stale      the stale window in seconds: soft expiry = expiresAt - stale × 1000
 *
 * The node stores the entry with the hard TTL (soft TTL + stale window); between the soft and the
 * hard expiry the value is stale: served while one refresh runs. An entry an app wrote with SET
 * has no FILLED bit and is fresh until it expires. Pure.
 */
export const FillFlag = { NEGATIVE: 2, FILLED: 4 } as const;

const LOAD_SHIFT = 3;
const LOAD_MAX_UNITS = 0x1fff;
const STALE_SHIFT = 16;
/** Largest stale window the flags can carry, in seconds (the schema's bound). */
export const MAX_STALE_SECONDS = 0xffff;

/** What a fill records about an entry. */
export interface FillMeta {
  json: boolean;
  negative: boolean;
  loadMs: number;
  staleSeconds: number;
}

/** The flags of a filled entry. */
export function fillFlags(meta: FillMeta): number {
  const units = Math.min(LOAD_MAX_UNITS, Math.max(0, Math.ceil(meta.loadMs / 10)));
  const stale = Math.min(MAX_STALE_SECONDS, Math.max(0, Math.floor(meta.staleSeconds)));
  let flags = FillFlag.FILLED | (units << LOAD_SHIFT) | (stale << STALE_SHIFT);
  if (meta.json) flags |= ValueFlag.JSON;
  if (meta.negative) flags |= FillFlag.NEGATIVE;
  return flags >>> 0;
}

export const isFilled = (flags: number): boolean => (flags & FillFlag.FILLED) !== 0;
export const isNegative = (flags: number): boolean => (flags & (FillFlag.FILLED | FillFlag.NEGATIVE)) === (FillFlag.FILLED | FillFlag.NEGATIVE);

/** The origin load time a filled entry recorded, ms. */
export const loadMsOf = (flags: number): number => ((flags >>> LOAD_SHIFT) & LOAD_MAX_UNITS) * 10;

/** The soft expiry (epoch ms) of an entry; 0 = never. Entries without FILLED are fresh until `expiresAt`. */
export function softExpiresAt(expiresAt: number, flags: number): number {
  if (expiresAt === 0 || !isFilled(flags)) return expiresAt;
  return expiresAt - (flags >>> STALE_SHIFT) * 1000;
}
