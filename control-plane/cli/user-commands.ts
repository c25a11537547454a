import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { ACCESS_LEVELS, newSecret, type AccessLevel, type Grant } from '../../shared/credentials';
import { addUser, dropOldPassword, grant, listUsers, parseGrant, removeUser, revoke, setAuth, setPassword, type UserEntry } from '../commands/users';
import type { CommandContext } from '../commands/context';
import { InputError } from '../errors';
import { withConnection, type ConnectionOptions } from './options';
import { runWithEtcd, type Session } from './run';

/**
 * `user add|rm|list|grant|revoke|passwd` and `auth on|off`: tenants and the cluster's auth switch.
 * A password comes from `--password-file` (a path, or `-` for stdin) or is made here and printed
 * once; it never travels in argv, where `ps` would show it.
 */
interface SecretFlags {
  passwordFile?: string;
  json: boolean;
}

/** The password of `--password-file` (first line), or a new random one (`generated`). */
function secretOf(flags: SecretFlags): { secret: string; generated: boolean } {
  if (flags.passwordFile === undefined) return { secret: newSecret(), generated: true };
  let text: string;
  try {
    text = fs.readFileSync(flags.passwordFile === '-' ? 0 : flags.passwordFile, 'utf8');
  } catch (err) {
    throw new InputError('--password-file', `cannot read ${flags.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  return { secret: text.split(/\r?\n/, 1)[0], generated: false };
}

const describe = (u: UserEntry): string =>
  `${u.name}: ${u.grants.map((g) => `${g.pattern}=${g.level}`).join(', ') || 'no grants'}${u.namespace ? `; RESP namespace ${u.namespace}` : ''}`;

/** Prints a user after a change, with its new password when one was made here. */
function printUser(session: Session, verb: string, u: UserEntry, made: { secret: string; generated: boolean }, json: boolean): void {
  const password = made.generated ? made.secret : undefined;
  if (json) session.io.out(JSON.stringify({ ...u, password }, null, 2));
  else session.io.out(`${verb} ${describe(u)}${password ? `\npassword (shown once): ${password}` : ''}`);
}

const passwordOption = (): Option => new Option('--password-file <path>', 'read the password from the first line of this file ("-" = stdin); default: make a random one and print it once');

/** `init --auth`: the user "admin" with "*=admin", unless it exists (a re-init with --force). */
export async function addInitialAdmin(ctx: CommandContext, session: Session, passwordFile: string | undefined): Promise<void> {
  if ((await listUsers(ctx)).some((u) => u.name === 'admin')) {
    session.io.out('authentication on; the user "admin" exists already and keeps its password');
    return;
  }
  const made = secretOf({ passwordFile, json: false });
  printUser(session, 'authentication on; added user', await addUser(ctx, 'admin', made.secret, { grants: [{ pattern: '*', level: 'admin' }] }), made, false);
}

/** Adds the `user` and `auth` command groups. */
export function addUserCommands(program: Command, session: Session): void {
  const io = session.io;
  const user = program.command('user').description('tenants: credentials and namespace grants');
  withConnection(user.command('add <name>'))
    .description('add a user; its password is read from --password-file or made and printed once')
    .addOption(passwordOption())
    .option('--grant <pattern=level>', 'grant a namespace pattern (repeatable), e.g. "orders:*=read", "tenant-a-*=write", "*=admin"', (v: string, all: Grant[] = []) => [...all, parseGrant(v)])
    .option('--namespace <ns>', 'namespace of its RESP connections (default: its first grant naming one namespace)')
    .action(async (name: string, opts: ConnectionOptions & SecretFlags & { grant?: Grant[]; namespace?: string }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const made = secretOf(opts);
        printUser(session, 'added user', await addUser(ctx, name, made.secret, { grants: opts.grant, namespace: opts.namespace }), made, opts.json);
      });
    });
  withConnection(user.command('passwd <name>'))
    .description('replace a user\'s password (--keep-old: the old one keeps working until --drop-old)')
    .addOption(passwordOption())
    .option('--keep-old', 'keep the current password valid beside the new one (rotation without downtime)', false)
    .option('--drop-old', 'end a rotation: keep only the newest password (no new password is set)', false)
    .action(async (name: string, opts: ConnectionOptions & SecretFlags & { keepOld: boolean; dropOld: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        if (opts.dropOld) {
          printUser(session, 'user', await dropOldPassword(ctx, name), { secret: '', generated: false }, opts.json);
          return;
        }
        const made = secretOf(opts);
        printUser(session, 'new password for', await setPassword(ctx, name, made.secret, { keepOld: opts.keepOld }), made, opts.json);
      });
    });
  withConnection(user.command('grant <name> <pattern> <level>'))
    .description(`grant ${ACCESS_LEVELS.join('|')} on a namespace pattern ("orders", "orders:*", "tenant-a-*", "*")`)
    .action(async (name: string, pattern: string, level: AccessLevel, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        io.out(`user ${describe(await grant(ctx, name, pattern, level))}`);
      });
    });
  withConnection(user.command('revoke <name> <pattern>'))
    .description('remove a grant')
    .action(async (name: string, pattern: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        io.out(`user ${describe(await revoke(ctx, name, pattern))}`);
      });
    });
  withConnection(user.command('rm <name>'))
    .description('remove a user')
    .action(async (name: string, opts: ConnectionOptions) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        await removeUser(ctx, name);
        io.out(`removed user ${name}`);
      });
    });
  withConnection(user.command('list'))
    .description('every user with its grants (never its password)')
    .action(async (opts: ConnectionOptions & { json: boolean }) => {
      session.status = await runWithEtcd(opts, io, async (ctx) => {
        const users = await listUsers(ctx);
        io.out(opts.json ? JSON.stringify(users, null, 2) : users.map((u) => (u.invalid ? `${u.name}: invalid record (${u.invalid})` : describe(u))).join('\n') || 'no users');
      });
    });
  const auth = program.command('auth').description('client authentication of the whole cluster');
  for (const on of [true, false]) {
    withConnection(auth.command(on ? 'on' : 'off'))
      .description(on ? 'require credentials from every client (needs a user with "*=admin")' : 'let clients in without credentials (loopback deployments only)')
      .action(async (opts: ConnectionOptions) => {
        session.status = await runWithEtcd(opts, io, async (ctx) => {
          await setAuth(ctx, on);
          io.out(`authentication ${on ? 'on' : 'off'} for cluster ${ctx.cluster}`);
        });
      });
  }
}
