import { COLL_CMDS, type CollCmdCode, type CollReply, type EntryTypeCode, type TypeName } from '../../shared/collections';
import type { AccessLevel } from '../../shared/credentials';
import type { ExpireCondition, SetCondition } from '../../shared/protocol';
import type { GetResult, ReadPreference, WriteResult } from '../backend';
import type { MgetResults } from '../routing/mget';
import type { ObjectFacts } from '../routing/messages';

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
  /**
   * A hash or set command (`shared/collections.ts`): `args` after the key as Redis takes them,
   * `keys` the other keys of SINTER / SUNION / SDIFF (all in `key`'s slot). A read (COLL_CMDS'
   * `write` false) honours `pref`; a write goes to the primary.
   */
  | { op: 'coll'; ns: string; key: string; cmd: CollCmdCode; args: Buffer[]; keys?: string[]; pref?: ReadPreference }
  // The string read-modify-writes of the RESP front, each one node operation (shared/ops.ts, APPEND ... MSETNX).
  | { op: 'append'; ns: string; key: string; value: Buffer }
  | { op: 'setrange'; ns: string; key: string; offset: number; value: Buffer }
  /** SET answering the replaced value; `ttlMs` as on 'set' (undefined: the namespace default, KEEP_TTL: keep). */
  | { op: 'setget'; ns: string; key: string; value: Buffer; ttlMs?: number; cond?: SetCondition }
  | { op: 'incrbyfloat'; ns: string; key: string; delta: string }
  /** `at`: epoch ms (not after now deletes the key). */
  | { op: 'expireat'; ns: string; key: string; at: number; cond: ExpireCondition }
  /** `dst` in `key`'s slot. */
  | { op: 'rename'; ns: string; key: string; dst: string; nx: boolean }
  | { op: 'copy'; ns: string; key: string; dst: string; replace: boolean }
  /** Keys of one slot, `values[i]` for `keys[i]`. */
  | { op: 'msetnx'; ns: string; keys: string[]; values: Buffer[] }
  /** Keys of the slots from `slot` (a SCAN cursor) on the node owning it; `count` as SCAN's COUNT; `type`: only keys holding it. */
  | { op: 'scan'; ns: string; slot: number; count: number; type?: EntryTypeCode; pref?: ReadPreference }
  /** RESP TYPE: what the key holds. */
  | { op: 'type'; ns: string; key: string }
  /** RESP TTL / PTTL: the key's time left on its node, whatever it holds. */
  | { op: 'ttl'; ns: string; key: string }
  /** RESP EXISTS / TOUCH: how many of `keys` exist, whatever they hold (a key named twice counts twice). */
  /** `touch`: each key found counts as accessed on its node (RESP TOUCH). */
  | { op: 'exists'; ns: string; keys: string[]; touch?: boolean }
  | { op: 'dbsize'; ns: string }
  | { op: 'randomkey'; ns: string; pref?: ReadPreference }
  /** RESP MEMORY USAGE: the entry's accounted bytes on its node (a read at the primary). */
  | { op: 'memory_usage'; ns: string; key: string }
  /** RESP OBJECT ENCODING / FREQ / IDLETIME: what the key's node tells of its entry (a read at the primary). */
  | { op: 'object'; ns: string; key: string }
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
  /** `version`: the entry's after a write (0: nothing changed, and for reads). */
  | { op: 'coll'; reply: CollReply; version: number }
  | { op: 'append'; length: number }
  | { op: 'setrange'; length: number }
  | { op: 'setget'; old: Buffer | null; stored: boolean }
  | { op: 'incrbyfloat'; value: string }
  | { op: 'expireat'; updated: boolean }
  /** -1: no such key; 0: RENAMENX found the target. */
  | { op: 'rename'; renamed: -1 | 0 | 1 }
  | { op: 'copy'; copied: boolean }
  | { op: 'msetnx'; stored: boolean }
  /** `next`: the slot to scan next, SLOT_COUNT when the scan is done. */
  | { op: 'scan'; next: number; keys: string[] }
  /** `expires`: of those keys, the ones with an expiry; undefined when a node did not tell (older than the field). */
  | { op: 'dbsize'; count: number; expires?: number }
  | { op: 'randomkey'; key: string | null }
  | { op: 'type'; type: TypeName }
  /** ms left, -1 no expiry, -2 missing. */
  | { op: 'ttl'; ttlMs: number }
  | { op: 'exists'; count: number }
  /** null: no such key. */
  | { op: 'memory_usage'; bytes: number | null }
  /** null: no such key. */
  | { op: 'object'; facts: ObjectFacts | null }
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
 * Each op once: reads (the key-space walks too) need `read`; writes, counters, expiries and tag invalidations `write`;
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
  coll: { level: (cmd) => (COLL_CMDS.get(cmd.cmd)?.write === true ? 'write' : 'read'), tokens: (cmd) => 1 + (cmd.keys?.length ?? 0) },
  append: { level: WRITE, tokens: ONE },
  setrange: { level: WRITE, tokens: ONE },
  setget: { level: WRITE, tokens: ONE },
  incrbyfloat: { level: WRITE, tokens: ONE },
  expireat: { level: WRITE, tokens: ONE },
  rename: { level: WRITE, tokens: () => 2 },
  copy: { level: WRITE, tokens: () => 2 },
  msetnx: { level: WRITE, tokens: (cmd) => cmd.keys.length },
  // One request each however many keys they return (KEYS is many SCANs, each charged).
  scan: { level: READ, tokens: ONE },
  dbsize: { level: READ, tokens: ONE },
  randomkey: { level: READ, tokens: ONE },
  memory_usage: { level: READ, tokens: ONE },
  object: { level: READ, tokens: ONE },
  type: { level: READ, tokens: ONE },
  ttl: { level: READ, tokens: ONE },
  exists: { level: READ, tokens: (cmd) => cmd.keys.length },
  ping: { level: () => undefined, tokens: () => 0 },
};

/** The grant level `cmd` needs on its namespace while auth is on (see FRONT_OPS). */
export function accessLevelOf(cmd: Command): AccessLevel | undefined {
  return (FRONT_OPS[cmd.op] as FrontOp<Command>).level(cmd);
}

/**
 * The ops only the RESP front sends (Redis commands with no HTTP or WebSocket form): the other
 * fronts never parse them, so their outcomes cannot reach those fronts' encoders.
 */
export type RespOnlyOp =
  | 'scan' | 'dbsize' | 'randomkey' | 'append' | 'setrange' | 'setget' | 'incrbyfloat' | 'expireat' | 'rename' | 'copy' | 'msetnx' | 'memory_usage' | 'object'
  | 'type' | 'ttl' | 'exists';
const RESP_ONLY: { readonly [K in RespOnlyOp]: true } = {
  scan: true, dbsize: true, randomkey: true, append: true, setrange: true, setget: true, incrbyfloat: true, expireat: true, rename: true, copy: true, msetnx: true, memory_usage: true, object: true,
  type: true, ttl: true, exists: true,
};

/** Whether `outcome` is of a RESP-only op (see RespOnlyOp). */
export const isRespOnly = (outcome: Outcome): outcome is Extract<Outcome, { op: RespOnlyOp }> => Object.hasOwn(RESP_ONLY, outcome.op);

/** For the HTTP and WebSocket encoders: an outcome of a RESP-only op is a bug upstream. */
export function notOfFront(op: OpName, front: string): never {
  throw new Error(`${op} is not an operation of the ${front} front`);
}

/** The namespace a command addresses, for metrics (`-` for none). */
export const namespaceOf = (cmd: Command): string => (cmd.op === 'ping' ? '-' : cmd.ns);
