import { ShardcacheError } from '../shared/errors';
import { EtcdUnavailableError } from '../shared/topology/etcd';

/**
 * Errors of the control plane, each with a stable code and the process exit status shardctl
 * reports for it. `exitCodeOf` is the one table that turns an error into an exit status.
 *
 *   0 ok · 1 bad input (the message names the flag or argument) · 2 etcd unreachable
 *   3 cluster not initialised · 4 the operation did not finish in time · 5 a migration was aborted
 */
export const ExitCode = { OK: 0, BAD_INPUT: 1, ETCD_UNAVAILABLE: 2, NOT_INITIALISED: 3, TIMED_OUT: 4, MIGRATION_ABORTED: 5 } as const;

/** The operator asked for something invalid or impossible; `subject` names the flag or argument. */
export class InputError extends ShardcacheError {
  readonly subject: string;
  constructor(subject: string, message: string) {
    super('BAD_INPUT', `${subject}: ${message}`);
    this.subject = subject;
  }
}

/** A command needs a cluster, but `config` is absent under its prefix. */
export class NotInitialisedError extends ShardcacheError {
  constructor(cluster: string) {
    super('NOT_INITIALISED', `cluster "${cluster}" is not initialised; run "shardctl init --cluster ${cluster} --shards N --replicas R" first`);
  }
}

/** A bounded wait (failover) ran out of time. */
export class TimedOutError extends ShardcacheError {
  constructor(message: string) {
    super('TIMED_OUT', message);
  }
}

/** Exit status for an error raised by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof InputError) return ExitCode.BAD_INPUT;
  if (err instanceof EtcdUnavailableError) return ExitCode.ETCD_UNAVAILABLE;
  if (err instanceof NotInitialisedError) return ExitCode.NOT_INITIALISED;
  if (err instanceof TimedOutError) return ExitCode.TIMED_OUT;
  return ExitCode.BAD_INPUT;
}

/** One line for a failed request (a socket error, a deadline, a handshake refused). */
export function failureText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = String(e?.message ?? err).split('\n')[0];
  return e?.code !== undefined && !text.includes(e.code) ? `${e.code}: ${text}` : text;
}

/** `work`, or a rejection naming `what` once `ms` pass (the work itself is not stopped). */
export async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
