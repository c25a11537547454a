import type { AccessLevel } from '../../shared/credentials';
import type { SetCondition } from '../../shared/protocol';
import type { GetResult, ReadPreference, WriteResult } from '../backend';
import type { MgetResults } from '../routing/mget';

/**
 * The operations every front offers, as plain values. A front parses its wire into a `Command`,
 * the Dispatcher hands it to the data plane (`CacheBackend.run`), and the front encodes the
 * tagged `Outcome` back onto its wire. Fronts never call the backend themselves, so every front
 * means the same thing by each op. What each op needs of the dispatcher (its grant level, its
 * QPS tokens) is written once, in `FRONT_OPS`.
 */
export type Command =
  | { op: 'get'; ns: string; key: string; pref?: ReadPreference }
  | { op: 'mget'; ns: string; keys: string[]; pref?: ReadPreference }
  | { op: 'set'; ns: string; key: string; value: Buffer; flags: number; ttlMs?: number; ifVersion?: number; tags?: string[]; cond?: SetCondition }
  | { op: 'delete'; ns: string; key: string }
  | { op: 'incr'; ns: string; key: string; delta: number | bigint; ttlMs?: number }
  | { op: 'expire'; ns: string; key: string; ttlMs: number }
  | { op: 'persist'; ns: string; key: string }
  | { op: 'invalidate'; ns: string; tag?: string }
  | { op: 'ping' };

export type OpName = Command['op'];

/** What a command produced, tagged with its op. A miss is a value, never an error. */
export type Outcome =
  | { op: 'get'; result: GetResult }
  | { op: 'mget'; results: MgetResults }
  | { op: 'set'; result: WriteResult | undefined }
  | { op: 'delete'; deleted: boolean }
  | { op: 'incr'; value: number | bigint; version: number }
  | { op: 'expire'; updated: boolean }
  | { op: 'persist'; updated: boolean }
  | { op: 'invalidate' }
  | { op: 'ping' };

/** Called once with a command's outcome or the error that ended it. */
export type OutcomeDone = (err: unknown, outcome?: Outcome) => void;

/** Decides the read preference of a read: the namespace's policy unless the client asked. */
export type ReadPreferenceResolver = (ns: string, requested: ReadPreference | undefined) => ReadPreference;

/** The default resolver: what the client asked, else the primary. */
export const requestedOrPrimary: ReadPreferenceResolver = (_ns, requested) => requested ?? 'primary';

/** What the dispatcher needs to know of one op before it runs. */
interface FrontOp<C extends Command> {
  /** The grant level the command needs on its namespace while auth is on (undefined: none). */
  level(cmd: C): AccessLevel | undefined;
  /** Tokens charged to the namespace's QPS share: one per key. */
  tokens(cmd: C): number;
}

const READ = (): AccessLevel => 'read';
const WRITE = (): AccessLevel => 'write';
const ONE = (): number => 1;

/**
 * Each op once: reads need `read`; writes, counters, expiries and tag invalidations `write`;
 * invalidating a whole namespace `admin`; PING nothing.
 */
export const FRONT_OPS: { readonly [K in OpName]: FrontOp<Extract<Command, { op: K }>> } = {
  get: { level: READ, tokens: ONE },
  mget: { level: READ, tokens: (cmd) => cmd.keys.length },
  set: { level: WRITE, tokens: ONE },
  delete: { level: WRITE, tokens: ONE },
  incr: { level: WRITE, tokens: ONE },
  expire: { level: WRITE, tokens: ONE },
  persist: { level: WRITE, tokens: ONE },
  invalidate: { level: (cmd) => (cmd.tag === undefined ? 'admin' : 'write'), tokens: ONE },
  ping: { level: () => undefined, tokens: () => 0 },
};

/** The grant level `cmd` needs on its namespace while auth is on (see FRONT_OPS). */
export function accessLevelOf(cmd: Command): AccessLevel | undefined {
  return (FRONT_OPS[cmd.op] as FrontOp<Command>).level(cmd);
}

/** The namespace a command addresses, for metrics (`-` for none). */
export const namespaceOf = (cmd: Command): string => (cmd.op === 'ping' ? '-' : cmd.ns);
