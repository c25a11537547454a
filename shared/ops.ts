import { Op, PUSH_ID, Status } from './opcodes';
import type { CollReply, TypeName } from './collections';
import type { SetCondition } from './protocol';

/**
 * The operation table of the node protocol: the one definition of every data operation's frames.
 *
 * A request is `[id, op, ...request fields]`, a reply `[id, status, ...reply fields]`; each entry
 * lists its request fields and the fields of each reply shape in order, with their TypeScript
 * types. Everything that reads or writes a frame by position takes the position from here:
 *
 *   SET.at.value          5   index of a request field (`m[SET.at.value]`)
 *   GET.reply.version     3   index of a field of the OK reply (`reply[GET.reply.version]`)
 *   GET.replies.MISS.at.resync   2   index of a field of another reply shape
 *   ERRORS.MOVED.at.slot  3   index of an error reply's detail (`[id, status, message, ...detail]`)
 *   ENTRY.at.version      1   index inside a stored entry `[value, version, expiresAt, flags]`
 *   buildRequest(SET, epoch, ns, key, value, ttlMs, flags, cond, ifVersion, tags)
 *                             → `[0, SET, epoch, ...]`, type-checked against the request's tuple
 *   buildReply(INCR.ok, id, value, version) → `[id, OK, value, version]`
 *
 * Indexes are plain numbers (frozen objects, read once at load by the hot handlers), builders
 * allocate nothing but the frame's array. The opcode and status numbers come from
 * `shared/opcodes.ts` (re-exported by `shared/protocol.ts`, whose comment describes what each
 * operation does and summarises these layouts); this table says where the fields are.
 *
 * Per entry: `fronts` are the proxy fronts whose commands the proxy serves with the op (none: the
 * op is internal, or the proxy does not send it); `fenced`: a write carrying the epoch (the
 * fencing token) as its first field; `keyed`: its one key decides the slot. Fenced keyed ops all
 * start `[id, op, epoch, ns, key, ...]` (`WRITE_TARGET`, checked at load), which is what
 * `KEYED_WRITE_OPS` promises the node's frozen-slot check.
 *
 * STATS and SLOT_STATS are in the table (trivial: one reply field each). Not in the table (they
 * keep their layouts written in `shared/protocol.ts` and in their code):
 * HELLO/AUTH (`shared/peer-auth.ts`), replication (ops 30-36, `storage-node/replication/*`) and
 * slot migration (ops 50-58, `storage-node/migration/*`, `control-plane/rebalance/*`).
 */

/** Every frame's header: the request id (a reply echoes it) at `id`, then the opcode (requests) or the status (replies). */
export const FRAME = Object.freeze({ id: 0, op: 1, status: 1, firstField: 2 } as const);
export const ID = FRAME.id;
export const OP = FRAME.op;
export const STATUS = FRAME.status;

/** A frame field: its name and (type only) its TypeScript type; an optional field may be left off the end. */
export interface Field<N extends string = string, T = unknown, O extends boolean = boolean> {
  readonly name: N;
  readonly optional: O;
  /** Never set: carries the field's type. */
  readonly type?: { readonly of: T };
}

/** A type token for `field` (never read at run time). */
interface Type<T> {
  readonly of?: T;
}
const type = <T>(): Type<T> => ({});

function field<N extends string, T>(name: N, _type: Type<T>): Field<N, T, false> {
  return { name, optional: false };
}
/** A field a frame may leave off (only at the end). */
function optional<N extends string, T>(name: N, _type: Type<T>): Field<N, T, true> {
  return { name, optional: true };
}

type Fields = readonly Field[];

/** The tuple of a frame's field values, in order (`SET`: `[epoch, ns, key, value, ...]`). */
export type Values<F extends Fields> = F extends readonly [infer H extends Field, ...infer R extends Fields]
  ? H extends Field<string, infer T, true>
    ? [T?, ...Values<R>]
    : H extends Field<string, infer T, false>
      ? [T, ...Values<R>]
      : never
  : [];

type Offset<N extends number, A extends unknown[] = []> = A['length'] extends N ? A : Offset<N, [...A, unknown]>;
type IndexesOf<F extends Fields, P extends unknown[]> = F extends readonly [infer H extends Field, ...infer R extends Fields]
  ? { readonly [K in H['name']]: P['length'] } & IndexesOf<R, [...P, unknown]>
  : unknown;
type Flat<T> = { readonly [K in keyof T]: T[K] };
/** Field name → index in the frame (literal numbers), fields starting at `From`. */
export type Indexes<F extends Fields, From extends number = 2> = number extends F['length'] ? Readonly<Record<string, number>> : Flat<IndexesOf<F, Offset<From>>>;

/** The fronts of the proxy: HTTP, WebSocket, RESP. */
export type Front = 'http' | 'ws' | 'resp';

export type StatusName = keyof typeof Status;

/** One reply shape: `[id, status, ...fields]`. */
export interface Shape<F extends Fields = Fields> {
  readonly status: number;
  readonly statusName: StatusName;
  /** Field names, in order. */
  readonly fields: readonly string[];
  /** Field name → index in the reply. */
  readonly at: Indexes<F>;
  readonly spec: F;
}

type Shapes<S> = { readonly [K in keyof S]: S[K] extends Fields ? Shape<S[K]> : never };

export interface OpDef<
  Name extends keyof typeof Op = keyof typeof Op,
  Req extends Fields = Fields,
  Ok extends Fields = Fields,
  Other extends Partial<Record<StatusName, Fields>> = Partial<Record<StatusName, Fields>>,
> {
  readonly name: Name;
  readonly code: (typeof Op)[Name];
  readonly fronts: readonly Front[];
  /** A write that carries the epoch (fencing token) as its first field. */
  readonly fenced: boolean;
  /** Its one key decides the slot (the frozen-slot and ownership checks read it). */
  readonly keyed: boolean;
  /** Request field names, in order. */
  readonly fields: readonly string[];
  /** Request field name → index in the request. */
  readonly at: Indexes<Req>;
  /** Elements of a full request (id and op included). */
  readonly length: number;
  /** OK reply field name → index in the reply. */
  readonly reply: Indexes<Ok>;
  /** The OK reply's shape. */
  readonly ok: Shape<Ok>;
  /** Other reply shapes the op answers with besides errors, by status name. */
  readonly replies: Shapes<Other>;
  readonly request: Req;
}

export type AnyOpDef = OpDef<any, any, any, any>;
export type AnyShape = Shape<any>;

function indexes(fields: Fields, from: number): Record<string, number> {
  const at: Record<string, number> = {};
  for (let i = 0; i < fields.length; i++) {
    if (fields[i].optional && i < fields.length - 1 && !fields[i + 1].optional) throw new Error(`optional field ${fields[i].name} before a required one`);
    at[fields[i].name] = from + i;
  }
  return Object.freeze(at);
}

function shape<const F extends Fields>(statusName: StatusName, spec: F): Shape<F> {
  return Object.freeze({ status: Status[statusName], statusName, fields: Object.freeze(spec.map((f) => f.name)), at: indexes(spec, FRAME.firstField) as Indexes<F>, spec });
}

function defineOp<
  const Name extends keyof typeof Op,
  const Req extends Fields,
  const Ok extends Fields,
  const Other extends Partial<Record<StatusName, Fields>> = {},
>(
  name: Name,
  spec: { request: Req; ok: Ok; other?: Other; fronts?: readonly Front[]; fenced?: boolean; keyed?: boolean },
): OpDef<Name, Req, Ok, Other> {
  const ok = shape('OK', spec.ok);
  const replies: Record<string, Shape> = {};
  for (const [status, fields] of Object.entries(spec.other ?? {})) replies[status] = shape(status as StatusName, fields as Fields);
  return Object.freeze({
    name,
    code: Op[name],
    fronts: Object.freeze([...(spec.fronts ?? [])]),
    fenced: spec.fenced ?? false,
    keyed: spec.keyed ?? false,
    fields: Object.freeze(spec.request.map((f) => f.name)),
    at: indexes(spec.request, FRAME.firstField) as Indexes<Req>,
    length: FRAME.firstField + spec.request.length,
    reply: ok.at,
    ok,
    replies: Object.freeze(replies) as unknown as Shapes<Other>,
    request: spec.request,
  });
}

// Field types.
const str = type<string>();
const num = type<number>();
const bin = type<Uint8Array>();
const bit = type<0 | 1>();
const strs = type<readonly string[]>();
const int64 = type<number | bigint>();
const yes = type<true>();

/** Fields that recur. */
const epoch = field('epoch', num);
const ns = field('ns', str);
const key = field('key', str);
const keys = field('keys', strs);
/** A replica in a full sync answers reads from the data it replaces with a trailing `true`. */
const resync = optional('resync', yes);
const message = field('message', str);

/** A stored entry on the wire (MGET's entries, FILL_LEASE's changed entry): `[value, version, expiresAt, flags]`. */
const ENTRY_FIELDS = [field('value', bin), field('version', num), field('expiresAt', num), field('flags', num)] as const;
export type EntryTuple = Values<typeof ENTRY_FIELDS>;
/** Positions inside an entry tuple (from 0). */
export const ENTRY = Object.freeze({ fields: Object.freeze(ENTRY_FIELDS.map((f) => f.name)), at: indexes(ENTRY_FIELDS, 0) as Indexes<typeof ENTRY_FIELDS, 0>, length: ENTRY_FIELDS.length });

/** NS_POLICY's policy map (keys are names, not positions). */
export interface NamespacePolicyWire {
  maxItemBytes?: number;
  quotaBytes?: number;
  eviction?: 'lru' | 'lfu';
}

const ALL_FRONTS = ['http', 'ws', 'resp'] as const;

/** A key whose write-behind flush gave up (a store answer that will not change, or attempts exhausted). */
export interface DeadLetter {
  key: string;
  version: number;
  /** Whether the lost write was a delete. */
  deleted: boolean;
  reason: string;
  /** Epoch ms. */
  at: number;
}

/** One namespace's write-policy figures on one node (WRITE_POLICY_STATUS). */
export interface WritePolicyFigures {
  namespace: string;
  policy: 'write-through' | 'write-behind';
  /** Whether this node is its shard's primary (only a primary writes to the store). */
  primary: boolean;
  /** Write-behind: keys waiting to be flushed (a key written many times counts once), and their bytes. */
  depth: number;
  bytes: number;
  /** Age of the oldest unflushed write, ms (0 when none). */
  oldestMs: number;
  /** Keys being written to the store now. */
  inFlight: number;
  /** Store writes that succeeded (or were superseded: 409/412), failed (each attempt), and writes coalesced into a waiting one. */
  flushed: number;
  failed: number;
  coalesced: number;
  /** Writes refused because the queue was full. */
  refused: number;
  /** Dead letters held (the newest are in `recent`). */
  deadLetters: number;
  recent: DeadLetter[];
  lastError: string | null;
}

// ─── The table ──────────────────────────────────────────────────────────────────────────────

/** The breaker's half-open probe and the links' keepalive. */
export const PING = defineOp('PING', { request: [], ok: [field('pong', str)] });
/** Node figures (`storage-node/metrics`); read by tools. */
export const STATS = defineOp('STATS', { request: [], ok: [field('stats', type<Record<string, unknown>>())] });
/** `[slot, keys, bytes, slot, keys, bytes, ...]` of the slots holding an entry (the rebalance planner's input). */
export const SLOT_STATS = defineOp('SLOT_STATS', { request: [], ok: [field('figures', type<number[]>())] });

export const GET = defineOp('GET', {
  request: [ns, key],
  ok: [field('value', bin), field('version', num), field('expiresAt', num), field('flags', num), resync],
  other: { MISS: [resync] },
  fronts: ALL_FRONTS,
  keyed: true,
});
export const MGET = defineOp('MGET', {
  request: [ns, keys],
  ok: [field('entries', type<(EntryTuple | null)[]>()), resync],
  fronts: ALL_FRONTS,
});
export const SET = defineOp('SET', {
  request: [
    epoch, ns, key, field('value', bin), field('ttlMs', num), field('flags', num), field('cond', type<SetCondition>()), field('ifVersion', num),
    field('tags', type<readonly string[] | null>()),
  ],
  ok: [field('version', num), field('expiresAt', num)],
  other: { NOT_STORED: [] },
  fronts: ALL_FRONTS,
  fenced: true,
  keyed: true,
});
export const DELETE = defineOp('DELETE', { request: [epoch, ns, key], ok: [field('deleted', bit)], fronts: ALL_FRONTS, fenced: true, keyed: true });
export const INCR = defineOp('INCR', {
  request: [epoch, ns, key, field('delta', int64), field('ttlMsOnCreate', num)],
  ok: [field('value', int64), field('version', num)],
  fronts: ALL_FRONTS,
  fenced: true,
  keyed: true,
});
export const EXPIRE = defineOp('EXPIRE', { request: [epoch, ns, key, field('ttlMs', num)], ok: [field('updated', bit)], fronts: ALL_FRONTS, fenced: true, keyed: true });
export const PERSIST = defineOp('PERSIST', { request: [epoch, ns, key], ok: [field('updated', bit)], fronts: ['ws', 'resp'], fenced: true, keyed: true });
/** `ttlMs`: ms left, -1 no expiry, -2 missing (any type: RESP TTL / PTTL). */
export const TTL = defineOp('TTL', { request: [ns, key], ok: [field('ttlMs', num)], fronts: ['resp'], keyed: true });
/** How many of `keys` exist, any type (RESP EXISTS / TOUCH, split by shard); `touch` 1: each one found counts as accessed (TOUCH). */
export const EXISTS = defineOp('EXISTS', { request: [ns, keys, optional('touch', bit)], ok: [field('count', num)], fronts: ['resp'] });
/** Namespace-wide (every shard takes it, whatever slots it owns), so not keyed. RESP's FLUSHDB / FLUSHALL send it without a tag. */
/** `fromRegion`: a peer region's invalidation (`shared/regions.ts`), applied here and never shipped on to other regions. */
export const INVALIDATE = defineOp('INVALIDATE', { request: [epoch, ns, field('tag', type<string | null>()), optional('fromRegion', str)], ok: [], fronts: ALL_FRONTS, fenced: true });
export const NS_POLICY = defineOp('NS_POLICY', { request: [ns, field('policy', type<NamespacePolicyWire>())], ok: [] });

/**
 * RESP SCAN and KEYS: the namespace's live keys in the slots this node owns from `slot` on, a
 * slot at a time and never part of one, until about `count` keys or the node's bounds on one call
 * (`storage-node/store/key-walk.ts`); `next` is the slot to ask next (SLOT_COUNT: none left). A
 * read of no key: MOVED when the node does not own `slot`. `type` (an `EntryType`, SCAN's TYPE
 * option): only the keys holding that type; left off, every key.
 */
export const SCAN = defineOp('SCAN', {
  request: [ns, field('slot', num), field('count', num), optional('type', num)],
  ok: [field('next', num), keys],
  fronts: ['resp'],
});
/**
 * RESP DBSIZE: the namespace's live keys on this node (`count`) and, of those, the ones with an
 * expiry (`expires`, INFO keyspace's; left off by nodes older than the field); the proxy adds up
 * every shard's.
 */
export const DBSIZE = defineOp('DBSIZE', { request: [ns], ok: [field('count', num), optional('expires', num)], fronts: ['resp'] });
/** RESP RANDOMKEY: a random live key of the namespace on this node, null when it has none. */
export const RANDOMKEY = defineOp('RANDOMKEY', { request: [ns], ok: [field('key', type<string | null>())], fronts: ['resp'] });
/**
 * RESP MEMORY USAGE: the entry's accounted bytes (`entrySize`: key, value, tags and the fixed
 * per-entry overhead, what the memory limit and quotas count); MISS when the key is missing.
 */
export const MEMORY_USAGE = defineOp('MEMORY_USAGE', { request: [ns, key], ok: [field('bytes', num)], other: { MISS: [] }, fronts: ['resp'], keyed: true });
/**
 * RESP OBJECT ENCODING / FREQ / IDLETIME: what the node knows of the entry, in one reply.
 * `encoding`: `int`, `embstr` or `raw` (Redis's rule for strings), `listpack` or `hashtable` for a hash or set (its encoding); `freq`: its LFU counter decayed
 * to now when the namespace evicts by LFU, else -1 (not tracked); `idleSeconds`: whole seconds
 * since its last access (a hit or a write) when the namespace does not evict by LFU, else -1 (not
 * tracked). MISS when the key is missing. A read that neither refreshes recency nor counts a hit.
 */
export const OBJECT = defineOp('OBJECT', {
  request: [ns, key],
  ok: [field('encoding', type<'int' | 'embstr' | 'raw' | 'listpack' | 'hashtable'>()), field('freq', num), field('idleSeconds', num)],
  other: { MISS: [] },
  fronts: ['resp'],
  keyed: true,
});

/** RESP TYPE: what the key holds (`none` when missing). A read: no touch, no hit. */
export const TYPE = defineOp('TYPE', { request: [ns, key], ok: [field('type', type<TypeName>())], fronts: ['resp'], keyed: true });

/**
 * A Redis hash or set command (`shared/collections.ts`: `cmd` is a `CollCmd`, `args` its
 * arguments after the key, as Redis takes them). COLL reads the entry (SINTER / SUNION / SDIFF
 * also the `keys`, all in `key`'s slot); COLL_WRITE changes it at the primary (a missing key is
 * created with `ttlMsOnCreate`, as INCR creates one; one left empty is deleted, as Redis does).
 * `version` is the entry's after the write, 0 when nothing changed. WRONG_TYPE when a key holds
 * another type.
 */
export const COLL = defineOp('COLL', {
  request: [ns, key, field('cmd', num), field('args', type<readonly Uint8Array[]>()), optional('keys', strs)],
  ok: [field('reply', type<CollReply>())],
  fronts: ALL_FRONTS,
  keyed: true,
});
export const COLL_WRITE = defineOp('COLL_WRITE', {
  request: [epoch, ns, key, field('cmd', num), field('args', type<readonly Uint8Array[]>()), field('ttlMsOnCreate', num)],
  ok: [field('reply', type<CollReply>()), field('version', num)],
  fronts: ALL_FRONTS,
  fenced: true,
  keyed: true,
});

/**
 * Redis's string read-modify-writes, each one step on the primary (RESP only). APPEND / SETRANGE
 * answer the new length; a missing key is created with `ttlMsOnCreate` (the namespace default,
 * as INCR), an existing one keeps its expiry, flags and tags. SETRANGE with an empty value writes
 * nothing and answers version 0.
 */
export const APPEND = defineOp('APPEND', {
  request: [epoch, ns, key, field('value', bin), field('ttlMsOnCreate', num)],
  ok: [field('length', num), field('version', num)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
export const SETRANGE = defineOp('SETRANGE', {
  request: [epoch, ns, key, field('offset', num), field('value', bin), field('ttlMsOnCreate', num)],
  ok: [field('length', num), field('version', num)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** SET that answers the value it replaced (`old`, null when missing); `stored` 0 when NX/XX was not met. RESP SET ... GET and GETSET. */
export const SETGET = defineOp('SETGET', {
  request: [epoch, ns, key, field('value', bin), field('ttlMs', num), field('cond', type<SetCondition>())],
  ok: [field('old', type<Uint8Array | null>()), field('stored', bit)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** `delta` and `value` are decimal text, added as Redis adds them (`shared/long-double.ts`). */
export const INCRBYFLOAT = defineOp('INCRBYFLOAT', {
  request: [epoch, ns, key, field('delta', str), field('ttlMsOnCreate', num)],
  ok: [field('value', str), field('version', num)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** The absolute expiry `at` (epoch ms; not after now deletes the key) under `cond` (`ExpireCond`: EXPIRE's NX, XX, GT, LT). */
export const EXPIREAT = defineOp('EXPIREAT', {
  request: [epoch, ns, key, field('at', num), field('cond', num)],
  ok: [field('updated', bit)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** `key` renamed `dst` (same slot); `nx` 1: only while `dst` is missing (`renamed` 0 otherwise). MISS: `key` is missing. */
export const RENAME = defineOp('RENAME', {
  request: [epoch, ns, key, field('dst', str), field('nx', bit)],
  ok: [field('renamed', bit)],
  other: { MISS: [] },
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** `key` copied to `dst` (same slot) with its expiry; `copied` 0 when `key` is missing or `dst` exists without `replace`. */
export const COPY = defineOp('COPY', {
  request: [epoch, ns, key, field('dst', str), field('replace', bit)],
  ok: [field('copied', bit)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});
/** Every `keys[i]` set to `values[i]` (all in `key`'s slot) only if none exists; `stored` 0 otherwise. */
export const MSETNX = defineOp('MSETNX', {
  request: [epoch, ns, key, keys, field('values', type<readonly Uint8Array[]>()), field('ttlMs', num)],
  ok: [field('stored', bit)],
  fronts: ['resp'],
  fenced: true,
  keyed: true,
});

/** Granted: `token` > 0 and `entry` null; not granted (the entry changed since `seenVersion`): `token` 0 and the entry. */
export const FILL_LEASE = defineOp('FILL_LEASE', {
  request: [epoch, ns, key, field('leaseTtlMs', num), field('seenVersion', num)],
  ok: [field('token', num), field('entry', type<EntryTuple | null>())],
  other: { LEASE_HELD: [message, field('heldMs', num)] },
  fenced: true,
  keyed: true,
});
export const FILL = defineOp('FILL', {
  request: [epoch, ns, key, field('token', num), field('value', bin), field('ttlMs', num), field('flags', num)],
  ok: [field('version', num), field('expiresAt', num)],
  other: { LEASE_LOST: [message] },
  fenced: true,
  keyed: true,
});
export const FILL_RELEASE = defineOp('FILL_RELEASE', { request: [epoch, ns, key, field('token', num)], ok: [field('released', bit)], fenced: true, keyed: true });

/**
 * Write policies (`storage-node/write-policy/`). WRITE_POLICY_STATUS: one `WritePolicyFigures`
 * per namespace with a write policy that this node knows of (`ns` null: all of them).
 * WRITE_POLICY_FLUSH: the namespace's write-behind queue flushed now (due or not); the reply
 * comes once it is empty or after `timeoutMs`, with what is left (`remaining`: 0 when drained).
 */
export const WRITE_POLICY_STATUS = defineOp('WRITE_POLICY_STATUS', { request: [field('ns', type<string | null>())], ok: [field('figures', type<WritePolicyFigures[]>())] });
export const WRITE_POLICY_FLUSH = defineOp('WRITE_POLICY_FLUSH', { request: [ns, field('timeoutMs', num)], ok: [field('remaining', num), field('deadLetters', num)] });

/**
 * Regions (`shared/regions.ts`): a peer region's invalidation of `key`, written there at `at`
 * (epoch ms). The entry is removed unless it was written here after `at` (a newer local write
 * stays); `deleted` says whether it was. Replicated as a delete; never shipped on to other regions.
 */
export const REGION_INVALIDATE = defineOp('REGION_INVALIDATE', { request: [epoch, ns, key, field('at', num)], ok: [field('deleted', bit)], fenced: true, keyed: true });

/** `subscribed`: the keys this connection subscribes to after the request. */
export const SUBSCRIBE_INVALIDATIONS = defineOp('SUBSCRIBE_INVALIDATIONS', { request: [ns, keys], ok: [field('subscribed', num)] });
/** `keys` null: every key of `ns`. */
export const UNSUBSCRIBE_INVALIDATIONS = defineOp('UNSUBSCRIBE_INVALIDATIONS', {
  request: [ns, field('keys', type<readonly string[] | null>())],
  ok: [field('subscribed', num)],
});
/** The push `[PUSH_ID, INVALIDATION, ns, key | null]` (node → subscriber, unasked; `key` null: the whole namespace). */
export const INVALIDATION = defineOp('INVALIDATION', { request: [ns, field('key', type<string | null>())], ok: [] });

/** Every op of the table, by name. */
export const OPS = Object.freeze({
  PING, STATS, SLOT_STATS, GET, MGET, SET, DELETE, INCR, EXPIRE, PERSIST, TTL, EXISTS, INVALIDATE, NS_POLICY, SCAN, DBSIZE, RANDOMKEY, MEMORY_USAGE, OBJECT,
  FILL_LEASE, FILL, FILL_RELEASE, SUBSCRIBE_INVALIDATIONS, UNSUBSCRIBE_INVALIDATIONS, INVALIDATION,
  APPEND, SETRANGE, SETGET, INCRBYFLOAT, EXPIREAT, RENAME, COPY, MSETNX, TYPE, COLL, COLL_WRITE, WRITE_POLICY_STATUS, WRITE_POLICY_FLUSH, REGION_INVALIDATE,
});

/** Table entries by opcode. */
export const OP_BY_CODE: ReadonlyMap<number, AnyOpDef> = new Map(Object.values(OPS).map((d: AnyOpDef) => [d.code, d]));

// ─── Frame header and error replies ────────────────────────────────────────────────────────

/** Any error reply: `[id, status, message, ...detail]`. */
export const ERROR_REPLY = Object.freeze({ message: FRAME.firstField, detail: FRAME.firstField + 1 } as const);

const sizeDetail = [message, optional('size', num), optional('limit', num)] as const;
/** Error replies whose detail the proxy reads, by status name. */
export const ERRORS = Object.freeze({
  /** `epoch` / `primaryAddr`: the primary the node knows of (0 / null: none). */
  NOT_PRIMARY: shape('NOT_PRIMARY', [message, field('epoch', num), field('primaryAddr', type<string | null>())]),
  /** `ownerShard` -1: no shard owns the slot. */
  MOVED: shape('MOVED', [message, field('slot', num), field('ownerShard', num), field('slotMapEpoch', num)]),
  VERSION_CONFLICT: shape('VERSION_CONFLICT', [message, optional('currentVersion', num)]),
  TOO_LARGE: shape('TOO_LARGE', sizeDetail),
  OVER_QUOTA: shape('OVER_QUOTA', sizeDetail),
  OUT_OF_MEMORY: shape('OUT_OF_MEMORY', sizeDetail),
  WRITE_ACK_TIMEOUT: shape('WRITE_ACK_TIMEOUT', [message, field('offset', num)]),
  LEASE_HELD: FILL_LEASE.replies.LEASE_HELD,
  LEASE_LOST: FILL.replies.LEASE_LOST,
});

/** The redirect details the proxy's router reads, as plain identifiers (so `typeof reply[X] === 'number'` narrows). */
export const NOT_PRIMARY_EPOCH_AT = ERRORS.NOT_PRIMARY.at.epoch;
export const MOVED_OWNER_AT = ERRORS.MOVED.at.ownerShard;
export const MOVED_SLOT_MAP_EPOCH_AT = ERRORS.MOVED.at.slotMapEpoch;

// ─── Derived ───────────────────────────────────────────────────────────────────────────────

/** Where fenced keyed ops keep their target: `[id, op, epoch, ns, key, ...]`. */
export const WRITE_TARGET = Object.freeze({ epoch: SET.at.epoch, ns: SET.at.ns, key: SET.at.key } as const);
/** Where keyed reads keep their target: `[id, op, ns, key, ...]`. */
export const READ_TARGET = Object.freeze({ ns: GET.at.ns, key: GET.at.key } as const);

/** Write ops whose key decides the slot, all laid out as `WRITE_TARGET` (re-exported by `shared/protocol.ts`). */
export const KEYED_WRITE_OPS: ReadonlySet<number> = new Set(Object.values(OPS).filter((d: AnyOpDef) => d.fenced && d.keyed).map((d: AnyOpDef) => d.code));

// Checks of what the code relies on, at load.
for (const d of Object.values(OPS) as AnyOpDef[]) {
  const at = d.at as Record<string, number>;
  if (d.fenced && at.epoch !== WRITE_TARGET.epoch) throw new Error(`ops: ${d.name} is fenced but its epoch is not at ${WRITE_TARGET.epoch}`);
  if (d.fenced && d.keyed && (at.ns !== WRITE_TARGET.ns || at.key !== WRITE_TARGET.key)) throw new Error(`ops: ${d.name} does not start [id, op, epoch, ns, key]`);
  if (!d.fenced && d.keyed && (at.ns !== READ_TARGET.ns || at.key !== READ_TARGET.key)) throw new Error(`ops: ${d.name} does not start [id, op, ns, key]`);
}
if (OP_BY_CODE.size !== Object.keys(OPS).length) throw new Error('ops: two entries share an opcode');
// The node's subscription handler reads both subscription ops by one layout.
if (SUBSCRIBE_INVALIDATIONS.at.ns !== UNSUBSCRIBE_INVALIDATIONS.at.ns || SUBSCRIBE_INVALIDATIONS.at.keys !== UNSUBSCRIBE_INVALIDATIONS.at.keys) throw new Error('ops: subscription layouts differ');
// parseFlag reads DELETE / EXPIRE / PERSIST (and EXPIREAT / RENAME / COPY / MSETNX) replies at one index.
if ([EXPIRE.reply.updated, PERSIST.reply.updated, EXPIREAT.reply.updated, RENAME.reply.renamed, COPY.reply.copied, MSETNX.reply.stored].some((at) => at !== DELETE.reply.deleted)) {
  throw new Error('ops: 0|1 replies differ in layout');
}

// ─── Builders ──────────────────────────────────────────────────────────────────────────────

/** Most fields a frame built here carries after its header (SET's 9). */
const MAX_FIELDS = 9;
for (const d of Object.values(OPS) as AnyOpDef[]) {
  if (d.length - FRAME.firstField > MAX_FIELDS || d.ok.fields.length > MAX_FIELDS) throw new Error(`ops: ${d.name} has more than ${MAX_FIELDS} fields`);
}

/**
 * `[h0, h1, ...fields]` from up to MAX_FIELDS positional arguments: one array and nothing else
 * (no rest array), so builders cost what an array literal does. `n` is the number of fields.
 */
function frame(n: number, h0: unknown, h1: unknown, a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown, g: unknown, h: unknown, i: unknown): unknown[] {
  switch (n) {
    case 0: return [h0, h1];
    case 1: return [h0, h1, a];
    case 2: return [h0, h1, a, b];
    case 3: return [h0, h1, a, b, c];
    case 4: return [h0, h1, a, b, c, d];
    case 5: return [h0, h1, a, b, c, d, e];
    case 6: return [h0, h1, a, b, c, d, e, f];
    case 7: return [h0, h1, a, b, c, d, e, f, g];
    case 8: return [h0, h1, a, b, c, d, e, f, g, h];
    case 9: return [h0, h1, a, b, c, d, e, f, g, h, i];
    default: throw new RangeError(`a frame of ${n} fields`);
  }
}

/**
 * `[0, op, ...fields]`: a request with id 0 (the sender writes the id at `ID` just before
 * encoding), type-checked against the op's request tuple.
 */
export function buildRequest<D extends AnyOpDef>(op: D, ...fields: Values<D['request']>): unknown[];
export function buildRequest(op: AnyOpDef, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown, g?: unknown, h?: unknown, i?: unknown): unknown[] {
  return frame(arguments.length - 1, 0, op.code, a, b, c, d, e, f, g, h, i);
}

/** `[PUSH_ID, INVALIDATION, ns, key | null]`. */
export function buildPush(...fields: Values<(typeof INVALIDATION)['request']>): unknown[];
export function buildPush(a?: unknown, b?: unknown): unknown[] {
  return frame(arguments.length, PUSH_ID, INVALIDATION.code, a, b, undefined, undefined, undefined, undefined, undefined, undefined, undefined);
}

/** `[id, status, ...fields]` of a reply shape (`GET.ok`, `GET.replies.MISS`, `ERRORS.MOVED` ...). */
export function buildReply<S extends AnyShape>(shape: S, id: unknown, ...fields: Values<S['spec']>): unknown[];
export function buildReply(shape: AnyShape, id: unknown, a?: unknown, b?: unknown, c?: unknown, d?: unknown, e?: unknown, f?: unknown, g?: unknown, h?: unknown, i?: unknown): unknown[] {
  return frame(arguments.length - 2, id, shape.status, a, b, c, d, e, f, g, h, i);
}

/** `[id, status, message, ...detail]`: any error reply. */
export function buildError(id: unknown, status: number, message: string, detail: readonly unknown[] = []): unknown[] {
  const r: unknown[] = [id, status, message];
  for (let i = 0; i < detail.length; i++) r.push(detail[i]);
  return r;
}

/** `[value, version, expiresAt, flags]` (the order of `ENTRY`). */
export function buildEntry(...fields: EntryTuple): EntryTuple;
export function buildEntry(value: unknown, version: unknown, expiresAt: unknown, flags: unknown): unknown[] {
  return [value, version, expiresAt, flags];
}
if (ENTRY.fields.join() !== 'value,version,expiresAt,flags') throw new Error('ops: buildEntry does not follow ENTRY');
