import { createHash, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import { REGION_SECRET_ENV } from './regions';
import { MIN_SECRET_LENGTH } from './peer-auth';

/** `$SHARDCACHE_REGION_SECRET_FILE`: a file whose first line is the region secret (wins over the variable). */
export const REGION_SECRET_FILE_ENV = `${REGION_SECRET_ENV}_FILE`;

/**
 * The region secret this proxy expects on `/v1/region/*` and presents to peer regions (home
 * reads): the first line of `$SHARDCACHE_REGION_SECRET_FILE`, else `$SHARDCACHE_REGION_SECRET`;
 * undefined when neither is set (the region routes then answer 403). Read once at start, as the
 * cluster secret is. Throws (the proxy does not start) on an unreadable file or a secret shorter
 * than the cluster secret's minimum.
 */
export function loadRegionSecret(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = env[REGION_SECRET_FILE_ENV];
  let secret: string;
  let source: string;
  if (file !== undefined && file !== '') {
    try {
      secret = fs.readFileSync(file, 'utf8').split(/\r?\n/)[0];
    } catch (err) {
      throw new Error(`${REGION_SECRET_FILE_ENV}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    source = `${REGION_SECRET_FILE_ENV} ${file}`;
  } else {
    secret = env[REGION_SECRET_ENV] ?? '';
    source = REGION_SECRET_ENV;
    if (secret === '') return undefined;
  }
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`${source}: a region secret must be at least ${MIN_SECRET_LENGTH} characters`);
  return secret;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Whether an `Authorization` header value is `Bearer <secret>`, compared in constant time (both
 * sides hashed first, so neither the secret's length nor its bytes leak through the timing).
 */
export function bearerMatches(header: string, secret: string): boolean {
  if (header.length > 4096 || !/^bearer /i.test(header)) return false;
  return timingSafeEqual(digest(header.slice(7).trim()), digest(secret));
}
