import {
  GrantSchema, hashSecret, USER_NAME, UserRecordSchema, type AccessLevel, type Grant, type SCRYPT_DEFAULTS, type UserRecord,
} from '../../shared/credentials';
import { ClusterConfigSchema, parseRecord } from '../../shared/topology/schema';
import { InputError } from '../errors';
import { assertInitialised, type CommandContext } from './context';
import { validateNamespaceName } from './namespaces';

/**
 * Tenants (`users/<name>`): secrets stored as scrypt hashes, grants of namespace patterns, and the
 * cluster's auth switch (`config.auth`). Every change is a compare-and-set on the key's mod
 * revision, so two operators editing one user at once both win or one is told to retry. Secrets
 * never pass through argv: the CLI reads them from stdin or makes them.
 */

/** A user as listed: never its hashes. */
export interface UserEntry {
  name: string;
  grants: Grant[];
  namespace?: string;
  secrets: number;
  createdAt?: number;
  updatedAt?: number;
  /** Why the stored record is not valid (then the rest is empty). */
  invalid?: string;
}

/** scrypt parameters; tests pass cheap ones. */
type HashParams = { N: number; r: number; p: number } | typeof SCRYPT_DEFAULTS;

function validateUserName(name: string): string {
  if (!USER_NAME.test(name)) throw new InputError('<user>', 'a user name is 1-64 letters, digits, "_", "-" or "."');
  return name;
}

function validateSecret(secret: string): string {
  if (secret.length < 16 || secret.length > 512) throw new InputError('password', 'a password is 16-512 characters long');
  return secret;
}

/** Reads, changes and writes one user record with a compare-and-set; `change` gets undefined when it does not exist. */
async function updateUser(ctx: CommandContext, name: string, change: (current: UserRecord | undefined) => UserRecord | Promise<UserRecord>): Promise<UserRecord> {
  const key = ctx.keys.user(name);
  for (let attempt = 0; attempt < 5; attempt++) {
    const kv = (await ctx.client.get(key).exec()).kvs[0];
    let current: UserRecord | undefined;
    if (kv !== undefined) {
      const parsed = parseRecord(UserRecordSchema, kv.value.toString());
      if (!parsed.ok) throw new InputError('<user>', `the stored record of "${name}" is invalid (${parsed.reason}); remove it with "user rm" and add it again`);
      current = parsed.value;
    }
    const next = UserRecordSchema.parse(await change(current));
    const res = await ctx.client.if(key, 'Mod', '==', kv?.mod_revision ?? 0).then(ctx.client.put(key).value(JSON.stringify(next))).commit();
    if (res.succeeded) return next;
  }
  throw new InputError('<user>', `user "${name}" kept changing while it was being updated; try again`);
}

const mustExist = (name: string, user: UserRecord | undefined): UserRecord => {
  if (user === undefined) throw new InputError('<user>', `no user "${name}"; add it with "shardctl user add ${name}"`);
  return user;
};

/** Adds a user with `secret` (hashed here) and optional grants and RESP namespace; an existing name is refused. */
export async function addUser(
  ctx: CommandContext, name: string, secret: string, options: { grants?: Grant[]; namespace?: string; now?: number; hashParams?: HashParams } = {},
): Promise<UserEntry> {
  validateUserName(name);
  validateSecret(secret);
  if (options.namespace !== undefined) validateNamespaceName(options.namespace);
  await assertInitialised(ctx);
  const now = options.now ?? Date.now();
  const hash = await hashSecret(secret, options.hashParams);
  const user = await updateUser(ctx, name, (current) => {
    if (current !== undefined) throw new InputError('<user>', `user "${name}" exists; change its password with "user passwd" or its grants with "user grant"`);
    return { secrets: [hash], grants: options.grants ?? [], namespace: options.namespace, createdAt: now, updatedAt: now };
  });
  return entryOf(name, user);
}

/**
 * Replaces a user's secret. With `keepOld` the previous one keeps working beside it (two at most),
 * so clients can move to the new one before `user passwd --drop-old` retires the old.
 */
export async function setPassword(ctx: CommandContext, name: string, secret: string, options: { keepOld: boolean; hashParams?: HashParams }): Promise<UserEntry> {
  validateUserName(name);
  validateSecret(secret);
  await assertInitialised(ctx);
  const hash = await hashSecret(secret, options.hashParams);
  const user = await updateUser(ctx, name, (current) => {
    const u = mustExist(name, current);
    return { ...u, secrets: options.keepOld ? [u.secrets[u.secrets.length - 1], hash] : [hash], updatedAt: Date.now() };
  });
  return entryOf(name, user);
}

/** Keeps only a user's newest secret (the end of a rotation). */
export async function dropOldPassword(ctx: CommandContext, name: string): Promise<UserEntry> {
  validateUserName(name);
  await assertInitialised(ctx);
  const user = await updateUser(ctx, name, (current) => {
    const u = mustExist(name, current);
    return { ...u, secrets: [u.secrets[u.secrets.length - 1]], updatedAt: Date.now() };
  });
  return entryOf(name, user);
}

/** Grants `level` on `pattern` (replacing the level of an existing grant of the same pattern). */
export async function grant(ctx: CommandContext, name: string, pattern: string, level: AccessLevel): Promise<UserEntry> {
  validateUserName(name);
  const parsed = GrantSchema.safeParse({ pattern, level });
  if (!parsed.success) throw new InputError('<pattern>', parsed.error.issues[0].message);
  await assertInitialised(ctx);
  const user = await updateUser(ctx, name, (current) => {
    const u = mustExist(name, current);
    return { ...u, grants: [...u.grants.filter((g) => g.pattern !== pattern), parsed.data], updatedAt: Date.now() };
  });
  return entryOf(name, user);
}

/** Removes the grant of `pattern`; revoking one the user does not have is an error. */
export async function revoke(ctx: CommandContext, name: string, pattern: string): Promise<UserEntry> {
  validateUserName(name);
  await assertInitialised(ctx);
  const user = await updateUser(ctx, name, (current) => {
    const u = mustExist(name, current);
    if (!u.grants.some((g) => g.pattern === pattern)) throw new InputError('<pattern>', `user "${name}" has no grant "${pattern}"`);
    return { ...u, grants: u.grants.filter((g) => g.pattern !== pattern), updatedAt: Date.now() };
  });
  return entryOf(name, user);
}

/** Removes a user; its connections are refused from their next command on. */
export async function removeUser(ctx: CommandContext, name: string): Promise<void> {
  validateUserName(name);
  await assertInitialised(ctx);
  const res = await ctx.client.delete().key(ctx.keys.user(name)).exec();
  if (Number(res.deleted) === 0) throw new InputError('<user>', `no user "${name}" in cluster "${ctx.cluster}"`);
}

/** Every user, sorted by name, without secrets; invalid records are listed with the reason. */
export async function listUsers(ctx: CommandContext): Promise<UserEntry[]> {
  await assertInitialised(ctx);
  const prefix = ctx.keys.usersPrefix;
  const all = await ctx.client.getAll().prefix(prefix).strings();
  return Object.entries(all)
    .map(([key, text]): UserEntry => {
      const name = key.slice(prefix.length);
      const parsed = parseRecord(UserRecordSchema, text);
      return parsed.ok ? entryOf(name, parsed.value) : { name, grants: [], secrets: 0, invalid: parsed.reason };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Turns client authentication on or off for the whole cluster (`config.auth`). Turning it on
 * needs a user with an admin grant on `*`, so the operator cannot lock everyone out.
 */
export async function setAuth(ctx: CommandContext, on: boolean): Promise<void> {
  await assertInitialised(ctx);
  if (on && !(await listUsers(ctx)).some((u) => u.grants.some((g) => g.level === 'admin' && (g.pattern === '*' || g.pattern === '*:*')))) {
    throw new InputError('auth on', 'no user has an admin grant on "*"; add one first: shardctl user add admin --grant "*=admin"');
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    const kv = (await ctx.client.get(ctx.keys.config).exec()).kvs[0];
    const parsed = parseRecord(ClusterConfigSchema, kv.value.toString());
    if (!parsed.ok) throw new InputError('auth', `the cluster config is invalid (${parsed.reason})`);
    const next = { ...parsed.value, auth: on };
    const res = await ctx.client.if(ctx.keys.config, 'Mod', '==', kv.mod_revision).then(ctx.client.put(ctx.keys.config).value(JSON.stringify(next))).commit();
    if (res.succeeded) return;
  }
  throw new InputError('auth', 'the cluster config kept changing; try again');
}

/** Parses `pattern=level` (the `--grant` flag). */
export function parseGrant(text: string): Grant {
  const at = text.lastIndexOf('=');
  const parsed = GrantSchema.safeParse({ pattern: text.slice(0, at), level: text.slice(at + 1) });
  if (at < 0 || !parsed.success) throw new InputError('--grant', `"${text}": expected <namespace-pattern>=read|write|admin, e.g. "orders:*=read"`);
  return parsed.data;
}

function entryOf(name: string, u: UserRecord): UserEntry {
  return { name, grants: u.grants, namespace: u.namespace, secrets: u.secrets.length, createdAt: u.createdAt, updatedAt: u.updatedAt };
}
