import fs from 'node:fs';
import { Option, type Command } from 'commander';
import { ConfigError } from './errors';
import { loadTls, readPem, type TlsFlagNames } from './tls';
import type { EtcdAccess } from './topology/etcd';

/**
 * The flags that secure the way to etcd, declared once for every program and shardctl:
 *
 *   --etcd-ca <file>             CA etcd's certificate must chain to (turns TLS on: https:// endpoints)
 *   --etcd-cert <file>           client certificate, for etcd's --client-cert-auth (with --etcd-key)
 *   --etcd-key <file>            its private key
 *   --etcd-user <name>           etcd user (etcd's own auth); the password comes from
 *   --etcd-password-file <file>  or the environment variable SHARDCACHE_ETCD_PASSWORD, never argv
 *
 * Each reads SHARDCACHE_ETCD_CA, _CERT, _KEY, _USER and _PASSWORD_FILE when the flag is absent.
 * Parsing keeps paths only; `loadEtcdAccess` reads the files when the program starts and names the
 * flag and the path in every error (never the bytes).
 */

/** The flags as commander returns them (paths and names, nothing read yet). */
export interface EtcdAccessFlags {
  etcdCa?: string;
  etcdCert?: string;
  etcdKey?: string;
  etcdUser?: string;
  etcdPasswordFile?: string;
}

const ETCD_TLS_FLAGS: TlsFlagNames = { cert: '--etcd-cert', key: '--etcd-key', ca: '--etcd-ca', clientAuth: '' };

/** Environment variable holding the etcd password (argv is visible to every user of the machine). */
export const ETCD_PASSWORD_ENV = 'SHARDCACHE_ETCD_PASSWORD';

/** Adds the `--etcd-*` access flags, with their environment fallbacks, to `command`. */
export function addEtcdAccessOptions(command: Command): Command {
  const opt = (flags: string, env: string, description: string) => new Option(flags, description).env(`SHARDCACHE_ETCD_${env}`);
  return command
    .addOption(opt('--etcd-ca <file>', 'CA', 'CA (PEM) etcd\'s certificate must chain to; turns TLS to etcd on'))
    .addOption(opt('--etcd-cert <file>', 'CERT', 'client certificate (PEM) for etcd --client-cert-auth; needs --etcd-key'))
    .addOption(opt('--etcd-key <file>', 'KEY', 'private key (PEM) of --etcd-cert'))
    .addOption(opt('--etcd-user <name>', 'USER', `etcd user; its password from --etcd-password-file or $${ETCD_PASSWORD_ENV}`))
    .addOption(opt('--etcd-password-file <file>', 'PASSWORD_FILE', 'file holding the etcd user\'s password (one line)'));
}

/** The password of `--etcd-user`: from the file (first line) or the environment. */
function passwordOf(flags: EtcdAccessFlags, env: NodeJS.ProcessEnv): string {
  if (flags.etcdPasswordFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(flags.etcdPasswordFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`--etcd-password-file: cannot read ${flags.etcdPasswordFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    const password = text.split(/\r?\n/)[0];
    if (password === '') throw new ConfigError(`--etcd-password-file: ${flags.etcdPasswordFile} is empty`);
    return password;
  }
  const password = env[ETCD_PASSWORD_ENV];
  if (password === undefined || password === '') {
    throw new ConfigError(`--etcd-user ${flags.etcdUser} needs a password: set ${ETCD_PASSWORD_ENV} or pass --etcd-password-file <file>`);
  }
  return password;
}

/**
 * Reads what the flags name: TLS files (PEM, checked) and the etcd user's password. No flag set:
 * an empty access (plain TCP, no login). Throws ConfigError naming the flag when a file cannot be
 * used or flags that go together are not given together.
 */
export function loadEtcdAccess(flags: EtcdAccessFlags, env: NodeJS.ProcessEnv = process.env): EtcdAccess {
  if ((flags.etcdCert === undefined) !== (flags.etcdKey === undefined)) {
    throw new ConfigError(flags.etcdCert === undefined ? '--etcd-key needs --etcd-cert (the certificate of that key)' : '--etcd-cert needs --etcd-key (its private key)');
  }
  if (flags.etcdPasswordFile !== undefined && flags.etcdUser === undefined) throw new ConfigError('--etcd-password-file needs --etcd-user');
  const access: EtcdAccess = {};
  if (flags.etcdCert !== undefined) {
    // The whole check of a certificate: readable, parses, matches its key, not expired.
    const m = loadTls({ certFile: flags.etcdCert, keyFile: flags.etcdKey!, caFile: flags.etcdCa }, ETCD_TLS_FLAGS);
    access.tls = { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
  } else if (flags.etcdCa !== undefined) {
    access.tls = { ca: readPem(flags.etcdCa, '--etcd-ca', 'certificate') };
  }
  if (flags.etcdUser !== undefined) access.auth = { username: flags.etcdUser, password: passwordOf(flags, env) };
  return access;
}
