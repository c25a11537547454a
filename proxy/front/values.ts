import { badRequest } from './wire-error';

/**
 * How the fronts store values (contract between fronts, kept in the entry's `flags`):
 *
 *   bit 0 (JSON)   the value is UTF-8 JSON text; HTTP GET returns it as JSON, the WebSocket
 *                  client decodes it back into a value
 *   no bit         the value is opaque bytes; HTTP GET returns them as application/octet-stream
 *
 * A counter created by INCR has no bit set (its bytes are its decimal digits); one created by a
 * JSON write of a number keeps the JSON bit, since INCR keeps an entry's flags. Pure.
 */
export const ValueFlag = { JSON: 1 } as const;

/** Whether an entry's flags mark its value as JSON text. */
export const isJson = (flags: number): boolean => (flags & ValueFlag.JSON) !== 0;

/**
 * The UTF-8 JSON bytes of a value. Throws BAD_REQUEST for what JSON cannot carry (undefined,
 * 64-bit integers, binary nested in a structure) instead of silently changing it.
 */
export function jsonBytes(value: unknown): Buffer {
  if (value === undefined) throw badRequest('value is required (any JSON value; use application/octet-stream for bytes)');
  // A scalar has nothing nested to check, so it skips the replacer (JSON.stringify calls a replacer per value).
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) return Buffer.from(JSON.stringify(value), 'utf8');
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    if (typeof raw === 'bigint') throw badRequest('a 64-bit integer inside a JSON value cannot be stored exactly; send it as a string');
    if (raw instanceof Uint8Array && key !== '') throw badRequest('binary data nested inside a structured value is not supported; store it as its own key');
    return v;
  });
  return Buffer.from(text, 'utf8');
}

/** Milliseconds until `expiresAt` (absolute epoch ms; 0 = never), at least 0; null when it never expires. */
export function ttlRemainingMs(expiresAt: number, now: number): number | null {
  return expiresAt === 0 ? null : Math.max(0, expiresAt - now);
}

/** An integer as JSON can carry it exactly: a number within ±(2^53 − 1), else its decimal string. */
export function jsonInteger(value: number | bigint): number | string {
  if (typeof value === 'number') return value;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
}
