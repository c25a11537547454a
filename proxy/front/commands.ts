import type { AccessLevel } from '../../shared/credentials';
import type { CacheBackend, GetResult, ReadPreference, WriteResult } from '../backend';

/**
 * The operations every front offers, as plain values. A front parses its wire into a `Command`,
 * `execute` calls the data plane, and the front encodes the tagged `Outcome` back onto its wire.
 * Fronts never call the backend themselves, so both fronts mean the same thing by each op.
 */
export type Command =
  | { op: 'get'; ns: string; key: string; pref?: ReadPreference }
  | { op: 'mget'; ns: string; keys: string[]; pref?: ReadPreference }
  | { op: 'set'; ns: string; key: string; value: Buffer; flags: number; ttlMs?: number; ifVersion?: number; tags?: string[] }
  | { op: 'delete'; ns: string; key: string }
  | { op: 'incr'; ns: string; key: string; delta: number | bigint; ttlMs?: number }
  | { op: 'expire'; ns: string; key: string; ttlMs: number }
  | { op: 'invalidate'; ns: string; tag?: string }
  | { op: 'ping' };

export type OpName = Command['op'];

/** What a command produced, tagged with its op. A miss is a value, never an error. */
export type Outcome =
  | { op: 'get'; result: GetResult }
  | { op: 'mget'; results: Array<GetResult | Error> }
  | { op: 'set'; result: WriteResult | undefined }
  | { op: 'delete'; deleted: boolean }
  | { op: 'incr'; value: number | bigint; version: number }
  | { op: 'expire'; updated: boolean }
  | { op: 'invalidate' }
  | { op: 'ping' };

/** Decides the read preference of a read: the namespace's policy unless the client asked. */
export type ReadPreferenceResolver = (ns: string, requested: ReadPreference | undefined) => ReadPreference;

/** The default resolver: what the client asked, else the primary. */
export const requestedOrPrimary: ReadPreferenceResolver = (_ns, requested) => requested ?? 'primary';

/**
 * The grant level a command needs on its namespace while auth is on (undefined: none, PING):
 * reads need `read`; writes, counters, expiries and tag invalidations `write`; invalidating a
 * whole namespace `admin`.
 */
export function accessLevelOf(cmd: Command): AccessLevel | undefined {
  switch (cmd.op) {
    case 'get':
    case 'mget':
      return 'read';
    case 'invalidate':
      return cmd.tag === undefined ? 'admin' : 'write';
    case 'ping':
      return undefined;
    default:
      return 'write';
  }
}

/** The namespace a command addresses, for metrics (`-` for none). */
export const namespaceOf = (cmd: Command): string => (cmd.op === 'ping' ? '-' : cmd.ns);

/**
 * Runs one command against the data plane and resolves with the backend's raw result; `outcomeOf`
 * turns it into the command's Outcome. Kept apart so the dispatcher needs one `then` per
 * command, not one here and one there (this runs once per request of every front). Rejections
 * are the backend's (`ProxyError`s); a backend that throws synchronously throws here.
 */
export function execute(backend: CacheBackend, cmd: Command, pref: ReadPreferenceResolver = requestedOrPrimary): Promise<unknown> {
  switch (cmd.op) {
    case 'get':
      return backend.get(cmd.ns, cmd.key, pref(cmd.ns, cmd.pref));
    case 'mget':
      return backend.mget(cmd.ns, cmd.keys, pref(cmd.ns, cmd.pref));
    case 'set': {
      const { value, flags, ttlMs, ifVersion, tags } = cmd;
      return backend.set(cmd.ns, cmd.key, { value, flags, ttlMs, ifVersion, tags });
    }
    case 'delete':
      return backend.delete(cmd.ns, cmd.key);
    case 'incr':
      return backend.incr(cmd.ns, cmd.key, cmd.delta, cmd.ttlMs);
    case 'expire':
      return backend.expire(cmd.ns, cmd.key, cmd.ttlMs);
    case 'invalidate':
      return backend.invalidate(cmd.ns, cmd.tag);
    case 'ping':
      return Promise.resolve(undefined);
  }
}

/** The Outcome of `cmd` from what `execute` resolved with. */
export function outcomeOf(cmd: Command, raw: unknown): Outcome {
  switch (cmd.op) {
    case 'get':
      return { op: 'get', result: raw as GetResult };
    case 'mget':
      return { op: 'mget', results: raw as Array<GetResult | Error> };
    case 'set':
      return { op: 'set', result: raw as WriteResult | undefined };
    case 'delete':
      return { op: 'delete', deleted: raw as boolean };
    case 'incr': {
      const r = raw as { value: number | bigint; version: number };
      return { op: 'incr', value: r.value, version: r.version };
    }
    case 'expire':
      return { op: 'expire', updated: raw as boolean };
    case 'invalidate':
      return { op: 'invalidate' };
    case 'ping':
      return { op: 'ping' };
  }
}
