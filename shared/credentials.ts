import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { z } from 'zod';
import { NAMESPACE_PATTERN } from './protocol';

/**
 * Tenants' credentials and grants (the `users/<name>` records in etcd, see topology/schema.ts):
 * what the control plane writes and every proxy checks. Secrets are stored only as scrypt hashes
 * (node's crypto, the same KDF Redis-compatible password stores and etcd's bcrypt serve for):
 * a leaked etcd dump gives no password. Grants are matched without regular expressions.
 */

/** Access levels, each including the ones before it. */
export const ACCESS_LEVELS = ['read', 'write', 'admin'] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

/** Rank of a level (read 1, write 2, admin 3); 0 is "no access". */
export const levelRank = (level: AccessLevel | undefined): number => (level === undefined ? 0 : ACCESS_LEVELS.indexOf(level) + 1);

/** User names: they are etcd key segments and appear in `AUTH user pass`. */
export const USER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The user `AUTH <password>` (one argument) authenticates as, as in Redis. */
export const DEFAULT_USER = 'default';

/**
 * A grant pattern: a namespace (`orders`), a namespace prefix (`tenant-a-*`) or every namespace
 * (`*`), optionally followed by `:*` (every key of it: `orders:*`). Key-level patterns other than
 * `:*` are not supported, so a grant is always a whole namespace.
 */
const GRANT_PATTERN = /^(\*|[A-Za-z0-9_.-]{1,64}\*?)(:\*)?$/;

/** Parameters of scrypt as stored with each hash (cost N, block size r, parallelism p). */
const ScryptParams = z.object({ N: z.number().int().min(1024).max(2 ** 20), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16) });

export const SecretHashSchema = ScryptParams.extend({
  algo: z.literal('scrypt'),
  salt: z.string().min(16).max(128),
  hash: z.string().min(16).max(256),
});
export type SecretHash = z.infer<typeof SecretHashSchema>;

export const GrantSchema = z.object({
  pattern: z.string().regex(GRANT_PATTERN, 'a grant pattern is a namespace, a namespace prefix ending in "*", or "*", optionally followed by ":*"'),
  level: z.enum(ACCESS_LEVELS),
});
export type Grant = z.infer<typeof GrantSchema>;

export const UserRecordSchema = z.object({
  /** Hashes of the user's secrets: two while a rotation is under way (old and new both work). */
  secrets: z.array(SecretHashSchema).min(1).max(2),
  grants: z.array(GrantSchema).max(256),
  /** The namespace of the user's RESP connections (default: its first grant naming one namespace). */
  namespace: z.string().regex(NAMESPACE_PATTERN).optional(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
export type UserRecord = z.infer<typeof UserRecordSchema>;

/** scrypt cost of new hashes: 16 MiB and tens of milliseconds each, so guessing offline is slow. */
export const SCRYPT_DEFAULTS = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

function scryptAsync(secret: string, salt: Buffer, params: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(secret, salt, KEY_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** A new salted hash of `secret`. */
export async function hashSecret(secret: string, params: { N: number; r: number; p: number } = SCRYPT_DEFAULTS): Promise<SecretHash> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, params);
  return { algo: 'scrypt', ...params, salt: salt.toString('base64'), hash: key.toString('base64') };
}

/** Whether `secret` matches `stored` (compared in constant time). */
export async function verifySecret(secret: string, stored: SecretHash): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  const key = await scryptAsync(secret, Buffer.from(stored.salt, 'base64'), stored);
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/** A random secret for a new user: 32 bytes, base64url (43 characters). */
export const newSecret = (): string => randomBytes(32).toString('base64url');

/** Whether grant `pattern` covers namespace `ns`. Linear in the pattern; no regular expression. */
export function patternCovers(pattern: string, ns: string): boolean {
  const namespacePart = pattern.endsWith(':*') ? pattern.slice(0, -2) : pattern;
  if (namespacePart === '*') return true;
  if (namespacePart.endsWith('*')) return ns.startsWith(namespacePart.slice(0, -1));
  return ns === namespacePart;
}

/** The highest level `grants` give on namespace `ns`, or undefined for none. */
export function grantedLevel(grants: readonly Grant[], ns: string): AccessLevel | undefined {
  let best = 0;
  for (const g of grants) {
    const rank = levelRank(g.level);
    if (rank > best && patternCovers(g.pattern, ns)) best = rank;
  }
  return best === 0 ? undefined : ACCESS_LEVELS[best - 1];
}

/** The namespace a user's RESP connections use: its own setting, else its first grant naming exactly one namespace. */
export function respNamespaceOf(user: UserRecord): string | undefined {
  if (user.namespace !== undefined) return user.namespace;
  for (const g of user.grants) {
    const ns = g.pattern.endsWith(':*') ? g.pattern.slice(0, -2) : g.pattern;
    if (!ns.endsWith('*')) return ns;
  }
  return undefined;
}
