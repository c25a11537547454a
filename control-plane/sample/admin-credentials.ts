import fs from 'node:fs';
import { InputError } from '../errors';

/**
 * The admin credential the control plane's readers send to the proxies' admin ports (`shardctl
 * top`, the dashboard's sampler) while the cluster requires auth: a user with `admin` on `*`.
 * The password never comes from argv (it would show in `ps`): a file, or the environment.
 *
 *   --admin-user NAME           or $SHARDCACHE_ADMIN_USER (default "admin" when a password is given)
 *   --admin-password-file FILE  or $SHARDCACHE_ADMIN_PASSWORD_FILE, or the password in $SHARDCACHE_ADMIN_PASSWORD
 */
export interface AdminCredentialFlags {
  adminUser?: string;
  adminPasswordFile?: string;
}

export const ADMIN_USER_ENV = 'SHARDCACHE_ADMIN_USER';
export const ADMIN_PASSWORD_ENV = 'SHARDCACHE_ADMIN_PASSWORD';
export const ADMIN_PASSWORD_FILE_ENV = 'SHARDCACHE_ADMIN_PASSWORD_FILE';

/** The user made by `shardctl init --auth`, assumed when only a password is given. */
const DEFAULT_ADMIN_USER = 'admin';

/**
 * The `Authorization` header for a proxy's admin port (`Bearer user:password`, what the admin
 * gate reads), or undefined when no credential is configured (auth off: the port is open).
 * Throws InputError (naming the flag) for an unreadable file or a user without password.
 */
export function adminAuthorization(flags: AdminCredentialFlags, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = flags.adminPasswordFile ?? (env[ADMIN_PASSWORD_FILE_ENV] || undefined);
  let password: string | undefined;
  if (file !== undefined) {
    try {
      password = fs.readFileSync(file, 'utf8').split(/\r?\n/)[0];
    } catch (err) {
      throw new InputError('--admin-password-file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (password === '') throw new InputError('--admin-password-file', `${file} holds no password on its first line`);
  } else if (env[ADMIN_PASSWORD_ENV]) password = env[ADMIN_PASSWORD_ENV];
  const user = flags.adminUser ?? (env[ADMIN_USER_ENV] || undefined);
  if (password === undefined) {
    if (user !== undefined) throw new InputError(`--admin-user ${user}`, `needs a password: set ${ADMIN_PASSWORD_ENV} or pass --admin-password-file <file>`);
    return undefined;
  }
  return `Bearer ${user ?? DEFAULT_ADMIN_USER}:${password}`;
}
