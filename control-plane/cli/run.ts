import { ShardcacheError } from '../../shared/errors';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } from 'etcd3';
import { loadEtcdAccess } from '../../shared/etcd-flags';
import { EtcdUnavailableError, connectEtcd, explainEtcdError, type EtcdAccess } from '../../shared/topology/etcd';
import { commandContext, type CommandContext } from '../commands/context';
import { ExitCode, exitCodeOf } from '../errors';
import { colourWanted } from './colour';
import type { ConnectionOptions } from './options';

/** Deadline of each etcd call made by shardctl; an unreachable etcd fails within about this long. */
export const CALL_TIMEOUT_MS = 4000;
const DIAL_TIMEOUT_MS = 3000;

/** Where a command writes: stdout for results, stderr for errors and progress. */
export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Whether `out` may hold colour (ANSI escapes); absent: no colour. */
  readonly colour?: boolean;
}

/** The process's stdout and stderr, one line per call; colour on stdout as `colourWanted` says. */
export const consoleOutput: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  get colour() {
    return colourWanted(process.stdout);
  },
};

/** One invocation of shardctl: where it writes and the exit status its command settled on. */
export interface Session {
  io: Output;
  status: number;
}

/**
 * Connects to etcd, runs one command and closes the client. An error becomes a one-line message on
 * stderr and the exit status of its kind (see `ExitCode`); the result is that status.
 */
export async function runWithEtcd(options: ConnectionOptions, output: Output, command: (ctx: CommandContext) => Promise<number | void>): Promise<number> {
  let access: EtcdAccess;
  try {
    access = loadEtcdAccess(options);
  } catch (err) {
    output.err(`shardctl: ${(err as Error).message}`);
    return ExitCode.BAD_INPUT;
  }
  const client = connectEtcd(options.etcd, { callTimeoutMs: CALL_TIMEOUT_MS, dialTimeoutMs: DIAL_TIMEOUT_MS, access });
  try {
    const ctx = commandContext(client, options.cluster);
    await probe(ctx, options.etcd);
    const status = await command(ctx);
    return status ?? ExitCode.OK;
  } catch (raw) {
    // Our own errors pass as they are: explainEtcdError matches words such as "connect" anywhere
    // in a message, and a namespace called "connectors" must not read as an etcd outage.
    const err = raw instanceof ShardcacheError ? raw : explainEtcdError(raw, options.etcd);
    output.err(`shardctl: ${err instanceof EtcdUnavailableError ? unreachable(options.etcd, raw, options.etcdCa !== undefined || options.etcdCert !== undefined) : refusedBy(options, err) ?? firstLine(err.message)}`);
    return exitCodeOf(err);
  } finally {
    client.close();
  }
}

/**
 * One read with an overall deadline before the command runs. The client retries a call that timed
 * out, so a hung etcd (accepting connections, never answering) would otherwise take several call
 * deadlines to report; this bounds "etcd unreachable" to about CALL_TIMEOUT_MS.
 */
async function probe(ctx: CommandContext, endpoints: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EtcdUnavailableError(endpoints, `no answer within ${CALL_TIMEOUT_MS / 1000}s`)), CALL_TIMEOUT_MS);
  });
  try {
    await Promise.race([ctx.client.get(ctx.keys.config).exists(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** etcd's refusal of the user (or of what it may do), with the flags that choose the user; undefined for other errors. */
function refusedBy(options: ConnectionOptions, err: Error): string | undefined {
  const who = options.etcdUser === undefined ? 'without --etcd-user' : `as etcd user "${options.etcdUser}"`;
  if (err instanceof EtcdAuthenticationFailedError) return `etcd refused the login ${who}: wrong user or password (--etcd-user, $SHARDCACHE_ETCD_PASSWORD or --etcd-password-file)`;
  if (err instanceof EtcdPermissionDeniedError) return `etcd denied the request ${who}: the user lacks a role that allows it, or etcd auth is on and no --etcd-user was given`;
  return undefined;
}

function firstLine(text: string): string {
  return text.split('\n')[0];
}

/** The gist of a connection failure, by the first pattern its message matches. */
const CAUSES: ReadonlyArray<[RegExp, string]> = [
  [/ECONNREFUSED/, 'connection refused'],
  [/certificate|SSL|TLS|handshake|unknown ca/i, 'TLS handshake failed; check --etcd-ca, --etcd-cert and --etcd-key'],
  [/deadline|timed? ?out|no answer/i, `no answer within ${CALL_TIMEOUT_MS / 1000}s`],
  [/ENOTFOUND|EAI_AGAIN/, 'host not found'],
];

/**
 * One line for an unreachable etcd: where, the gist of why, and what to do. `tls` false (no
 * `--etcd-ca` or `--etcd-cert`): a connection that fails for no known reason may be plain TCP to
 * a TLS etcd, and the line says which flags turn TLS on.
 */
export function unreachable(endpoints: string, raw: unknown, tls?: boolean): string {
  const text = String((raw as Error)?.message ?? raw);
  const why = CAUSES.find(([pattern]) => pattern.test(text))?.[1] ?? 'unavailable';
  const hint = why === 'unavailable' && tls === false ? '; if etcd speaks TLS, pass --etcd-ca (and --etcd-cert, --etcd-key when it asks for a client certificate)' : '';
  return `cannot reach etcd at ${endpoints} (${why}); is etcd running? Start a local cluster with "npm start" or pass --etcd host:port${hint}`;
}
