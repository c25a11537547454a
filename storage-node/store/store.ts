import { DirtyKeys } from './dirty-keys';
import { badRequest, OpError } from '../../shared/errors';
import { type CollCmdDef, type CollReply, EntryType, TYPE_NAMES, type TypeName, WRONG_TYPE_MESSAGE } from '../../shared/collections';
import {
  applyChanges, type Changes, checkArity, type CollValue, contentBytes, countOf, encoded, packedOf, planWrite, runRead, sizeAfter, valueBytes,
} from './collections';
import { ExpireCond, type ExpireCondition, KEEP_TTL, SetCond, type SetCondition, Status } from '../../shared/protocol';
import { addLongDouble, formatLongDouble, parseLongDouble } from '../../shared/long-double';
import { sumLengths } from './entry-table';
import { Evictor } from './evictor';
import { addInt64, notInteger, parseInt64, toDelta } from './int64';
import { lfuDecay, lfuMinutes } from './lfu';
import { entrySize, Keyspace, Removal } from './keyspace';
import { MAX_NAMESPACE_KEYS, type Namespace } from './namespace';
import { sweep } from './sweep';
import { StoreReplication } from './replicated';
import { StoreSlots } from './slots';
import { StoreKeys } from './key-walk';
import type {
  EntryView,
  IncrResult,
  NamespacePolicy,
  RawEntry,
  NamespaceStats,
  ObjectInfo,
  SetOptions,
  StoreListener,
  StoreOptions,
  StoreStats,
  SweepResult,
  WriteResult,
} from './types';
import {
  checkExpireTtl,
  checkFits,
  checkKey,
  checkTtl,
  checkValue,
  type FitLimits,
  ownTags,
  parseSetOptions,
  resolveOptions,
  resolvePolicy,
} from './validate';
import { bytesToString, latin1, stringToBytes } from './value-codec';
import { hashAscii } from './key-index';

/** Redis's OBJ_ENCODING_EMBSTR_SIZE_LIMIT: a string of at most this many bytes is `embstr`. */
export const EMBSTR_MAX_BYTES = 44;

/** Redis's WRONGTYPE: the key holds another type than the command works on. */
export function wrongType(): OpError {
  return new OpError(Status.WRONG_TYPE, WRONG_TYPE_MESSAGE);
}

/** The encoding Redis gives a string value it stores (`tryObjectEncoding`): `int`, `embstr` or `raw`. */
export function stringEncoding(value: string): ObjectInfo['encoding'] {
  if (value.length <= 20 && parseInt64(value) !== undefined) return 'int';
  return value.length <= EMBSTR_MAX_BYTES ? 'embstr' : 'raw';
}

/**
 * The storage node's cache engine: pure (no sockets, timers or etcd), clock and randomness
 * injected, O(1) per key.
 *
 *   Store ── ops, argument checks, room-making ──► Keyspace ── entry table (columns by id)
 *     │                                              ├─ per-namespace key index + member set
 *     ├─ Evictor (sampled LRU/LFU, pools) ──────────►├─ expiry set (id, expiresAt)
 *     └─ sweep (active expiry, reclaim walk) ───────►└─ counters, watermarks
 *
 * Versions: one store-wide counter; every successful mutation gives the entry the next value,
 * which is its CAS token. The "generation numbers" of namespace- and tag-wide invalidation are
 * the same counter used as a watermark: `invalidate(ns)` records the current counter for the
 * namespace and `invalidate(ns, tag)` for the (namespace, tag); an entry whose version is at or
 * below the watermark of its namespace or of one of its tags is invisible (missing for every
 * operation), and later writes are above it. Invalidation is O(1); invisible entries are
 * reclaimed on access, by the sweep's walk, and first when met by eviction sampling.
 *
 * Expiry: an entry is expired when `now >= expiresAt`; it is removed on access and by `sweep`.
 * Reads that only look (`exists`, `ttl`) neither count hits nor refresh recency.
 *
 * Access metadata: every hit or write moves a logical access clock (LRU order survives a frozen
 * clock); the Redis LFU counter is kept up only in namespaces that evict by LFU, which spares
 * LRU namespaces a clock read and a random draw per hit.
 *
 * Memory and speed (figures in `docs/performance.md`): keys are found through an open-addressing
 * index of ids per namespace (`key-index.ts`); the entry table's columns are reserved once for
 * the most entries the memory limit admits, so they never move or leave garbage behind; the
 * node's SET handler checks its arguments once and calls `setTrusted`.
 */
export class Store {
  /** Swapped only by `adopt` (a replica's full sync); everything else reads it per call. */
  private ks: Keyspace;
  private evictor: Evictor;
  private readonly now: () => number;
  private readonly raw: RawEntry = { value: '', version: 0, expiresAt: 0, flags: 0 };
  /** The result of the last write, reused (see `setTrusted`). */
  private readonly written: WriteResult = { version: 0, expiresAt: 0 };
  /** `incrAscii`'s result, reused. */
  private readonly counted: IncrResult = { value: 0, version: 0 };
  /** The result of the last `objectInfo`, reused. */
  private readonly objectFacts: ObjectInfo = { encoding: 'raw', freq: -1, idleSeconds: -1 };
  /** The key `setAscii`, `incr` or `incrAscii` wrote last (the stored string). */
  lastKey = '';
  /**
   * After `read` / `readAscii` answered undefined: true when the key holds a hash or set (GET
   * answers WRONGTYPE, MGET null), false when it is missing.
   */
  missWasType = false;
  private replicationPart: StoreReplication;
  private slotsPart: StoreSlots;
  private keysPart: StoreKeys;
  /** Policies set with `setNamespacePolicy`, applied again to an adopted keyspace. */
  private readonly policies = new Map<string, NamespacePolicy>();
  /**
   * A replica's entries belong to a history it is replacing: set while a full sync loads into an
   * `emptyTwin`, cleared by `adopt` (and on promotion). Reads report it; nothing else changes.
   */
  stale = false;
  /** Write-behind keys not yet in the store (`dirty-keys.ts`); eviction passes them over. */
  readonly dirty = new DirtyKeys();

  constructor(private readonly options: StoreOptions, private readonly listener?: StoreListener) {
    const resolved = resolveOptions(options);
    this.ks = new Keyspace(resolved, listener);
    this.ks.pinned = this.dirty;
    this.evictor = new Evictor(this.ks);
    this.now = resolved.now;
    this.replicationPart = new StoreReplication(this.ks);
    this.slotsPart = new StoreSlots(this.ks, this.now);
    this.keysPart = new StoreKeys(this.ks, this.now);
  }

  /** Replica apply, snapshot chunks and watermarks (`replicated.ts`). */
  get replication(): StoreReplication {
    return this.replicationPart;
  }

  /** Per-slot figures, exports and slot removal (`slots.ts`). */
  get slots(): StoreSlots {
    return this.slotsPart;
  }

  /** Key-space walks: SCAN, DBSIZE, RANDOMKEY (`key-walk.ts`). */
  get keys(): StoreKeys {
    return this.keysPart;
  }

  /**
   * An empty store with this one's options, listener and passivity: a replica's full sync loads
   * into it while this one keeps serving, then `adopt`s it. It counts against the same
   * `maxMemoryBytes` on its own, so while both exist the node holds up to twice the limit.
   */
  emptyTwin(): Store {
    const twin = new Store(this.options, this.listener);
    twin.passive = this.passive;
    return twin;
  }

  /**
   * Takes `twin`'s entries, watermarks and version clock as this store's own in one step (a
   * replica's completed full sync); the old entries are dropped. Counters carry on, policies set
   * on this store apply, `stale` clears. `twin` must not be used afterwards.
   */
  adopt(twin: Store): void {
    const before = this.ks;
    const ks = twin.ks;
    ks.passive = before.passive;
    for (const name of Object.keys(before.counters) as Array<keyof typeof before.counters>) ks.counters[name] += before.counters[name];
    this.ks = ks;
    this.evictor = twin.evictor;
    this.replicationPart = twin.replicationPart;
    this.slotsPart = twin.slotsPart;
    this.keysPart = twin.keysPart;
    this.dirty.replaceWith(twin.dirty);
    ks.pinned = this.dirty;
    for (const [ns, policy] of this.policies) this.setNamespacePolicy(ns, policy);
    this.stale = false;
  }

  /** The entry, or undefined (counted as a miss); a hit refreshes recency (and LFU counter). */
  get(ns: string, key: string): EntryView | undefined {
    const raw = this.read(ns, key); // a hash or set: undefined, `missWasType` set
    if (raw === undefined) return undefined;
    return { value: stringToBytes(raw.value), version: raw.version, expiresAt: raw.expiresAt, flags: raw.flags };
  }

  /**
   * `get` without copying the value: the value comes as the stored latin1 string (one char per
   * byte), for a server that writes it straight into its reply buffer. The returned object is
   * reused by the next call; read it at once.
   */
  read(ns: string, key: string): RawEntry | undefined {
    const ks = this.ks;
    const space = ks.namespace(ns);
    return this.readFound(space, space === undefined ? -1 : space.keyIndex.find(key, ks.hash(key)));
  }

  /**
   * `read` of the ASCII key whose bytes are `bytes[start, end)` (a request frame's, read in place):
   * no key string is made.
   */
  readAscii(ns: string, bytes: Uint8Array, start: number, end: number): RawEntry | undefined {
    const ks = this.ks;
    const space = ks.namespace(ns);
    return this.readFound(space, space === undefined ? -1 : space.keyIndex.findAscii(bytes, start, end, hashAscii(bytes, start, end, ks.hashSeed)));
  }

  /** The end of `read`: entry `id` (-1: none) of `space`, as a hit or a miss. */
  private readFound(space: Namespace | undefined, id: number): RawEntry | undefined {
    const ks = this.ks;
    this.missWasType = false;
    if (space === undefined || id < 0) {
      ks.counters.misses++;
      return undefined;
    }
    const table = ks.table;
    const expiresAt = ks.expiresAt(id);
    const now = expiresAt !== 0 || space.lfu ? this.now() : 0;
    if (ks.reclaimIfDead(id, space, now)) {
      ks.counters.misses++;
      return undefined;
    }
    if (table.type(id) !== EntryType.STRING) {
      this.missWasType = true;
      return undefined;
    }
    ks.counters.hits++;
    ks.touch(id, space, now);
    const raw = this.raw;
    raw.value = table.value(id);
    raw.version = table.version(id);
    raw.expiresAt = expiresAt;
    raw.flags = table.flags(id);
    return raw;
  }

  /** `get` for each key, in order (a hash or set reads as missing, as Redis's MGET). */
  mget(ns: string, keys: readonly string[]): (EntryView | undefined)[] {
    const out: (EntryView | undefined)[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) out[i] = this.get(ns, keys[i]);
    return out;
  }

  /**
   * Writes `value` (copied). Returns undefined when the NX/XX condition is not met; throws
   * VERSION_CONFLICT, TOO_LARGE, OVER_QUOTA, OUT_OF_MEMORY or BAD_REQUEST.
   */
  set(ns: string, key: string, value: Uint8Array, options?: SetOptions): WriteResult | undefined {
    checkKey(key);
    checkValue(value);
    const o = parseSetOptions(options);
    const version = this.put(ns, key, value, o.ttlMs, o.flags, o.cond, o.ifVersion, o.tags, o.tagBytes);
    return version < 0 ? undefined : { version, expiresAt: this.written.expiresAt };
  }

  /**
   * `set` for a caller that has already checked every argument as `set` would (the node's request
   * validation does): nothing is checked again and no options object is needed. `tags` are
   * copied. The result object is reused by the next call; read it at once.
   */
  setTrusted(
    ns: string,
    key: string,
    value: Uint8Array,
    ttlMs: number,
    flags: number,
    cond: SetCondition,
    ifVersion: number,
    tags: readonly string[] | undefined,
  ): WriteResult | undefined {
    const owned = tags === undefined || tags.length === 0 ? undefined : ownTags(tags);
    const tagBytes = owned === undefined ? 0 : sumLengths(owned);
    const version = this.put(ns, key, value, ttlMs, flags, cond, ifVersion, owned, tagBytes);
    return version < 0 ? undefined : this.written;
  }

  /**
   * `setTrusted` (no tags) for a request frame read in place: the ASCII key is `bytes[keyStart,
   * keyEnd)`, the value `bytes[valueStart, valueEnd)` (copied). No key string is made unless the
   * key is new; `lastKey` is the stored key afterwards. The result object is reused; read it at once.
   */
  setAscii(
    ns: string,
    bytes: Buffer,
    keyStart: number,
    keyEnd: number,
    valueStart: number,
    valueEnd: number,
    ttlMs: number,
    flags: number,
    cond: SetCondition,
    ifVersion: number,
  ): WriteResult | undefined {
    const ks = this.ks;
    const known = ks.namespace(ns);
    const keyLength = keyEnd - keyStart;
    const valueLength = valueEnd - valueStart;
    const size = entrySize(keyLength, valueLength, 0);
    checkFits(known ?? this.fresh(ns), ks.options.maxMemoryBytes, keyLength + valueLength, size);
    const now = this.now();
    const hash = hashAscii(bytes, keyStart, keyEnd, ks.hashSeed);
    let found = known === undefined ? -1 : known.keyIndex.findAscii(bytes, keyStart, keyEnd, hash);
    if (found >= 0 && ks.reclaimIfDead(found, known as Namespace, now)) found = -1;
    if (ifVersion !== 0) this.checkVersion(found, ifVersion);
    if (cond === SetCond.NX ? found >= 0 : cond === SetCond.XX && found < 0) return undefined;
    const space = known ?? ks.admitNamespace(ns); // made only now that the write stores something
    let expiresAt = ttlMs > 0 ? now + ttlMs : 0;
    if (ttlMs === KEEP_TTL && found >= 0) expiresAt = ks.expiresAt(found);
    const table = ks.table;
    const value = latin1(bytes, valueStart, valueEnd);
    let id = found;
    if (found < 0) {
      if (space.keyIndex.size >= MAX_NAMESPACE_KEYS) this.makeSlot(space);
      this.makeRoom(space, size, found);
      id = ks.insert(space, latin1(bytes, keyStart, keyEnd), hash, value, size, now, true);
    } else {
      this.makeRoom(space, size - table.size(found), found);
      ks.rewrite(found, space, value, size, now);
    }
    table.setFlags(id, flags);
    ks.setTags(id, undefined);
    ks.setExpiry(id, expiresAt);
    this.lastKey = table.key(id) as string;
    const written = this.written;
    written.version = table.version(id);
    written.expiresAt = expiresAt;
    return written;
  }

  /** Removes the key; true if it existed (and was visible). */
  delete(ns: string, key: string): boolean {
    const space = this.ks.namespace(ns);
    if (space === undefined) return false;
    const id = this.ks.lookup(space, key, this.now());
    if (id < 0) return false;
    this.ks.remove(id, Removal.DELETED);
    return true;
  }

  /**
   * Adds `delta` to the signed 64-bit integer stored at the key (missing = 0, created with
   * `ttlMsOnCreate` when > 0; an existing key keeps its expiry, flags and tags). Throws
   * NOT_INTEGER or OVERFLOW.
   */
  incr(
    ns: string,
    key: string,
    delta: number | bigint,
    ttlMsOnCreate = 0,
  ): { value: number | bigint; version: number } {
    checkKey(key);
    const d = toDelta(delta);
    checkTtl(ttlMsOnCreate, 'ttlMsOnCreate');
    const ks = this.ks;
    const known = ks.namespace(ns);
    const now = this.now();
    const hash = ks.hash(key);
    const found = known === undefined ? -1 : ks.lookupHashed(known, key, hash, now);
    const r = this.added(known, ns, found, key, hash, d, ttlMsOnCreate, now);
    return { value: r.value, version: r.version };
  }

  /**
   * `incr` for a request frame read in place, whose key and delta the node's request validation
   * has checked (`delta` a safe integer): the ASCII key is `bytes[keyStart, keyEnd)`, and no key
   * string is made unless the key is new; `lastKey` is the stored key afterwards. The result
   * object is reused; read it at once.
   */
  incrAscii(ns: string, bytes: Buffer, keyStart: number, keyEnd: number, delta: number, ttlMsOnCreate: number): IncrResult {
    checkTtl(ttlMsOnCreate, 'ttlMsOnCreate');
    const ks = this.ks;
    const known = ks.namespace(ns);
    const now = this.now();
    const hash = hashAscii(bytes, keyStart, keyEnd, ks.hashSeed);
    let found = known === undefined ? -1 : known.keyIndex.findAscii(bytes, keyStart, keyEnd, hash);
    if (found >= 0 && ks.reclaimIfDead(found, known as Namespace, now)) found = -1;
    const key = found >= 0 ? (ks.table.key(found) as string) : latin1(bytes, keyStart, keyEnd);
    return this.added(known, ns, found, key, hash, delta, ttlMsOnCreate, now);
  }

  /** The end of `incr`: `delta` added to entry `found` (-1: none, counted from 0) of `key`; sets `lastKey`. */
  private added(
    known: Namespace | undefined, ns: string, found: number, key: string, hash: number, delta: number | bigint, ttlMsOnCreate: number, now: number,
  ): IncrResult {
    const ks = this.ks;
    const table = ks.table;
    this.stringAt(found);
    const value = intSum(found < 0 ? undefined : table.value(found), delta);
    const text = String(value);
    const size = this.fit(known, ns, found, key, text.length);
    const id = this.write(known ?? ks.admitNamespace(ns), found, key, hash, text, size, now);
    if (found < 0 && ttlMsOnCreate > 0) ks.setExpiry(id, now + ttlMsOnCreate);
    this.lastKey = table.key(id) as string;
    const counted = this.counted;
    counted.value = value;
    counted.version = table.version(id);
    return counted;
  }

  /** Sets a TTL; `ttlMs <= 0` deletes the key (Redis). True if the key existed. */
  expire(ns: string, key: string, ttlMs: number): boolean {
    checkExpireTtl(ttlMs);
    const space = this.ks.namespace(ns);
    if (space === undefined) return false;
    const now = this.now();
    const id = this.ks.lookup(space, key, now);
    if (id < 0) return false;
    if (ttlMs <= 0) {
      this.ks.remove(id, Removal.DELETED);
      return true;
    }
    this.ks.setExpiry(id, now + ttlMs);
    this.ks.table.setVersion(id, this.ks.nextVersion());
    return true;
  }

  /** Removes the key's TTL; true if it had one. */
  persist(ns: string, key: string): boolean {
    const space = this.ks.namespace(ns);
    if (space === undefined) return false;
    const id = this.ks.lookup(space, key, this.now());
    if (id < 0 || this.ks.expiresAt(id) === 0) return false;
    this.ks.setExpiry(id, 0);
    this.ks.table.setVersion(id, this.ks.nextVersion());
    return true;
  }

  /**
   * Redis APPEND: `value` added at the end of the key's bytes (a missing key is created, with
   * `ttlMsOnCreate` when > 0; an existing one keeps its expiry, flags and tags). Returns the new
   * length. Throws TOO_LARGE past the namespace's item limit.
   */
  append(ns: string, key: string, value: Uint8Array, ttlMsOnCreate = 0): { length: number; version: number } {
    checkKey(key);
    checkValue(value);
    const now = this.now();
    const { known, hash, found } = this.locate(ns, key, now);
    const old = this.stringAt(found) < 0 ? '' : this.ks.table.value(found);
    const size = this.fit(known, ns, found, key, old.length + value.byteLength);
    return this.rewritten(known, ns, found, key, hash, old + bytesToString(value), size, now, ttlMsOnCreate);
  }

  /**
   * Redis SETRANGE: `value` written over the key's bytes from `offset`, zero bytes filling any gap
   * (created as APPEND creates). An empty `value` changes nothing and answers the current length
   * with version 0. The new length is checked against the limits before anything is allocated,
   * so a huge offset costs nothing.
   */
  setRange(ns: string, key: string, offset: number, value: Uint8Array, ttlMsOnCreate = 0): { length: number; version: number } {
    checkKey(key);
    checkValue(value);
    if (!Number.isSafeInteger(offset) || offset < 0) throw badRequest('offset is out of range');
    const now = this.now();
    const { known, hash, found } = this.locate(ns, key, now);
    const old = this.stringAt(found) < 0 ? '' : this.ks.table.value(found);
    if (value.byteLength === 0) return { length: old.length, version: 0 };
    const size = this.fit(known, ns, found, key, Math.max(old.length, offset + value.byteLength));
    return this.rewritten(known, ns, found, key, hash, setRangeText(old, offset, bytesToString(value)), size, now, ttlMsOnCreate);
  }

  /**
   * SET that answers the value it replaced, in one step (Redis SET ... GET, GETSET): `old` is the
   * previous value as stored (latin1, one char per byte), undefined when the key was missing;
   * `stored` false when the NX/XX condition was not met (nothing written).
   */
  setGet(ns: string, key: string, value: Uint8Array, ttlMs: number, cond: SetCondition): { old: string | undefined; stored: boolean } {
    checkKey(key);
    checkValue(value);
    const space = this.ks.namespace(ns);
    const id = this.stringAt(space === undefined ? -1 : this.ks.lookup(space, key, this.now()));
    const old = id < 0 ? undefined : this.ks.table.value(id);
    return { old, stored: this.put(ns, key, value, ttlMs, 0, cond, 0, undefined, 0) >= 0 };
  }

  /**
   * Redis INCRBYFLOAT: the stored number plus `increment`, both read and added as x87 long doubles
   * and stored as Redis prints them (`shared/long-double.ts`); a missing key counts from 0 and is
   * created as INCR creates it. Throws BAD_REQUEST with Redis's messages.
   */
  incrByFloat(ns: string, key: string, increment: string, ttlMsOnCreate = 0): { value: string; version: number } {
    checkKey(key);
    const now = this.now();
    const { known, hash, found } = this.locate(ns, key, now);
    const text = floatSumText(this.stringAt(found) < 0 ? '0' : this.ks.table.value(found), increment);
    const size = this.fit(known, ns, found, key, text.length);
    return { value: text, version: this.rewritten(known, ns, found, key, hash, text, size, now, ttlMsOnCreate).version };
  }

  /**
   * Sets the absolute expiry `at` (epoch ms) under Redis's EXPIRE options `cond` (`ExpireCond`
   * bits, each checked as Redis checks it); a time not after now deletes the key. True when the
   * key existed and the conditions held.
   */
  expireAt(ns: string, key: string, at: number, cond: ExpireCondition): boolean {
    if (!Number.isSafeInteger(at)) throw badRequest(`at must be a whole number of ms, got ${String(at)}`);
    const ks = this.ks;
    const space = ks.namespace(ns);
    if (space === undefined) return false;
    const now = this.now();
    const id = ks.lookup(space, key, now);
    if (id < 0) return false;
    const current = ks.expiresAt(id); // 0: none, which GT and LT take as infinite
    if ((cond & ExpireCond.NX) !== 0 && current !== 0) return false;
    if ((cond & ExpireCond.XX) !== 0 && current === 0) return false;
    if ((cond & ExpireCond.GT) !== 0 && (current === 0 || at <= current)) return false;
    if ((cond & ExpireCond.LT) !== 0 && current !== 0 && at >= current) return false;
    if (at <= now) {
      ks.remove(id, Removal.DELETED);
      return true;
    }
    ks.setExpiry(id, at);
    ks.table.setVersion(id, ks.nextVersion());
    return true;
  }

  /**
   * Redis RENAME / RENAMENX within the namespace: `dst` takes `src`'s value, expiry, flags and tags
   * (a new version) and `src` goes. -1: `src` missing; 0: `nx` and `dst` exists; 1: renamed
   * (also when `src` is `dst`, which RENAMENX answers 0).
   *
   * Like Redis's, it does not allocate: `src` is removed before `dst` is written, so the entry
   * takes the room its source frees and a full namespace or node evicts nothing for it (nor hits
   * the key-count limit). Only a longer key name grows the entry; room is made for those few
   * bytes first, with `src` protected, so a refusal leaves both keys as they were. The replicas
   * hear of it from the handler, in its order: `dst`'s new state, then `src`'s removal.
   */
  rename(ns: string, src: string, dst: string, nx: boolean): -1 | 0 | 1 {
    checkKey(dst);
    const ks = this.ks;
    const space = ks.namespace(ns);
    const now = this.now();
    const from = space === undefined ? -1 : ks.lookup(space, src, now);
    if (space === undefined || from < 0) return -1;
    if (src === dst) return nx ? 0 : 1;
    const hash = ks.hash(dst);
    const to = ks.lookupHashed(space, dst, hash, now);
    if (nx && to >= 0) return 0;
    const table = ks.table;
    const entry = this.entryAs(space, from, dst, true);
    // Net growth: at most dst.length - src.length, and below 0 whenever `dst` exists (its entry goes).
    this.makeRoom(space, entry.size - table.size(from) - (to < 0 ? 0 : table.size(to)), from);
    ks.remove(from, Removal.DELETED);
    let id = to;
    if (to < 0) id = ks.insert(space, dst, hash, entry.text, entry.size, now, false, entry.type);
    else ks.rewrite(to, space, entry.text, entry.size, now, entry.type);
    this.stamp(id, entry);
    return 1;
  }

  /** Redis COPY within the namespace: false when `src` is missing, or `dst` exists without `replace`. */
  copy(ns: string, src: string, dst: string, replace: boolean): boolean {
    checkKey(dst);
    if (src === dst) throw badRequest('source and destination objects are the same');
    const ks = this.ks;
    const space = ks.namespace(ns);
    const now = this.now();
    const from = space === undefined ? -1 : ks.lookup(space, src, now);
    if (space === undefined || from < 0) return false;
    const hash = ks.hash(dst);
    const to = ks.lookupHashed(space, dst, hash, now);
    if (to >= 0 && !replace) return false;
    this.duplicate(space, from, to, dst, hash, now);
    return true;
  }

  /**
   * Redis MSETNX: writes every pair (flags 0, `ttlMs` as SET takes it) only if none of the keys
   * exists; false when one does. Each item is checked against the item limit before any is
   * written; running out of quota or memory part way leaves the pairs written so far.
   */
  msetnx(ns: string, keys: readonly string[], values: readonly Uint8Array[], ttlMs: number): boolean {
    if (keys.length !== values.length || keys.length === 0) throw badRequest('keys and values must be lists of the same length');
    checkTtl(ttlMs, 'ttlMs');
    const ks = this.ks;
    const space = ks.namespace(ns);
    const now = this.now();
    for (let i = 0; i < keys.length; i++) {
      checkKey(keys[i]);
      checkValue(values[i]);
      if (space !== undefined && ks.lookup(space, keys[i], now) >= 0) return false;
    }
    for (let i = 0; i < keys.length; i++) this.fit(space, ns, -1, keys[i], values[i].byteLength);
    for (let i = 0; i < keys.length; i++) this.put(ns, keys[i], values[i], ttlMs, 0, SetCond.ALWAYS, 0, undefined, 0);
    return true;
  }

  /**
   * The entry's accounted bytes (`entrySize`: what the memory limit and quotas count), or -1 when
   * it is missing. Like TTL, it neither touches the entry nor counts a hit or a miss.
   */
  memoryUsage(ns: string, key: string): number {
    const space = this.ks.namespace(ns);
    if (space === undefined) return -1;
    const id = this.ks.lookup(space, key, this.now());
    return id < 0 ? -1 : this.ks.table.size(id);
  }

  /**
   * What OBJECT ENCODING / FREQ / IDLETIME tell of the entry, or undefined when it is missing:
   * its encoding by Redis's rule for strings (`int` for a canonical signed 64-bit integer, else
   * `embstr` up to 44 bytes, else `raw`); in an LFU namespace its LFU counter decayed to now (as
   * Redis's LFUDecrAndReturn, not stored) and `idleSeconds` -1; in any other, `freq` -1 and the
   * seconds since its last access (a hit or a write; coarse, as Redis's: see `Keyspace.idleSeconds`).
   * Like TTL, it neither touches the entry nor counts a hit or a miss. The result is reused.
   */
  objectInfo(ns: string, key: string): ObjectInfo | undefined {
    const ks = this.ks;
    const space = ks.namespace(ns);
    if (space === undefined) return undefined;
    const now = this.now();
    const id = ks.lookup(space, key, now);
    if (id < 0) return undefined;
    const table = ks.table;
    const info = this.objectFacts;
    const stored = table.stored(id);
    info.encoding = table.type(id) === EntryType.STRING ? stringEncoding(stored as string) : typeof stored === 'string' ? 'listpack' : 'hashtable';
    if (space.lfu) {
      info.freq = lfuDecay(table.lfu(id), table.lfuTime(id), lfuMinutes(now), ks.options.lfuDecayMinutes);
      info.idleSeconds = -1;
    } else {
      info.freq = -1;
      info.idleSeconds = ks.idleSeconds(table.tick(id), now);
    }
    return info;
  }

  /** What the key holds (RESP TYPE): `none` when missing. Like TTL, it neither touches the entry nor counts. */
  typeOf(ns: string, key: string): TypeName {
    const space = this.ks.namespace(ns);
    const id = space === undefined ? -1 : this.ks.lookup(space, key, this.now());
    return id < 0 ? 'none' : (TYPE_NAMES[this.ks.table.type(id)] as TypeName);
  }

  /**
   * Runs a hash or set read (`shared/collections.ts`) on the key: a missing key is an empty one;
   * `others`, SINTER / SUNION / SDIFF's other keys. `args` are latin1 strings (one char per byte).
   * A hit refreshes recency as GET's does. Throws WRONG_TYPE, or BAD_REQUEST with Redis's words.
   */
  collRead(ns: string, key: string, def: CollCmdDef, args: readonly string[], others: readonly string[] = []): CollReply {
    checkArity(def, args.length);
    const ks = this.ks;
    const space = ks.namespace(ns);
    const now = this.now();
    const value = this.collValue(space, key, def, now, true);
    const rest: (CollValue | undefined)[] = new Array(others.length);
    for (let i = 0; i < others.length; i++) rest[i] = this.collValue(space, others[i], def, now, false);
    return runRead(def, value, args, rest, ks.options.random);
  }

  /**
   * Runs a hash or set write on the key, in one step: a missing key is created (with
   * `ttlMsOnCreate` when > 0), one left empty is deleted; an existing one keeps its expiry.
   * `version`: the entry's new version, 0 when nothing changed; `deleted`: the write removed the
   * key; `changes`: what it changed (what the replicas are sent). The new size is checked, and
   * room made as for a SET, before anything changes; throws WRONG_TYPE, TOO_LARGE, OVER_QUOTA,
   * OUT_OF_MEMORY, or BAD_REQUEST with Redis's words.
   */
  collWrite(ns: string, key: string, def: CollCmdDef, args: readonly string[], ttlMsOnCreate = 0): { reply: CollReply; version: number; deleted: boolean; changes: Changes } {
    checkKey(key);
    checkArity(def, args.length);
    checkTtl(ttlMsOnCreate, 'ttlMsOnCreate');
    const ks = this.ks;
    const now = this.now();
    const { known, hash, found } = this.locate(ns, key, now);
    if (found >= 0 && ks.table.type(found) !== def.type) throw wrongType();
    const current = found < 0 ? undefined : (ks.table.stored(found) as CollValue);
    const plan = planWrite(def, current, args, ks.options.random);
    const { changes } = plan;
    if (changes.size === 0) return { reply: plan.reply, version: 0, deleted: false, changes };
    const pairs = def.type === EntryType.HASH;
    const after = sizeAfter(current, changes, pairs);
    if (after.next === null) {
      if (found >= 0) ks.remove(found, Removal.DELETED);
      return { reply: plan.reply, version: 0, deleted: found >= 0, changes };
    }
    // Checked as the indexed size, which a value packed again after the changes only undercuts.
    const estimate = entrySize(key.length, after.bytes, 0);
    checkFits(known ?? this.fresh(ns), ks.options.maxMemoryBytes, key.length + after.content, estimate);
    // Room first: an indexed value changes in place, so nothing may fail once it has.
    if (found >= 0) this.makeRoom(known as Namespace, estimate - ks.table.size(found), found);
    const value = applyChanges(current, changes, pairs, after.next) as CollValue;
    const id = this.write(known ?? ks.admitNamespace(ns), found, key, hash, value, entrySize(key.length, valueBytes(value), 0), now, def.type);
    if (found < 0 && ttlMsOnCreate > 0) ks.setExpiry(id, now + ttlMsOnCreate);
    return { reply: plan.reply, version: ks.table.version(id), deleted: false, changes };
  }

  /** Elements of the hash or set at the key (0 when missing or another type); no touch. */
  collCount(ns: string, key: string): number {
    const space = this.ks.namespace(ns);
    const id = space === undefined ? -1 : this.ks.lookup(space, key, this.now());
    return id < 0 || this.ks.table.type(id) === EntryType.STRING ? 0 : countOf(this.ks.table.stored(id) as CollValue);
  }

  /** The packed value of `key` for a command on `def`'s type (undefined: missing); WRONG_TYPE for another type. `hit`: count and touch it as a read. */
  private collValue(space: Namespace | undefined, key: string, def: CollCmdDef, now: number, hit: boolean): CollValue | undefined {
    const ks = this.ks;
    const id = space === undefined ? -1 : ks.lookup(space, key, now);
    if (id < 0) {
      if (hit) ks.counters.misses++;
      return undefined;
    }
    if (ks.table.type(id) !== def.type) throw wrongType();
    if (hit) {
      ks.counters.hits++;
      ks.touch(id, space as Namespace, now);
    }
    return ks.table.stored(id) as CollValue;
  }

  /**
   * The live value of string `key` (latin1, one char per byte), undefined when missing; throws
   * WRONGTYPE for a hash or set. Neither a hit nor an access: a write-through write plans with it.
   */
  peekString(ns: string, key: string): string | undefined {
    const { found } = this.locate(ns, key, this.now());
    return this.stringAt(found) < 0 ? undefined : this.ks.table.value(found);
  }

  /**
   * Throws TOO_LARGE, OVER_QUOTA or OUT_OF_MEMORY when `length` value bytes under `key` cannot be
   * stored (what a write would throw, checked before a write-through write asks its store).
   */
  checkWritable(ns: string, key: string, length: number): void {
    const { known, found } = this.locate(ns, key, this.now());
    this.fit(known, ns, found, key, length);
  }

  /**
   * Stores `text` under string `key` as the read-modify-writes do (APPEND, INCR): an existing key
   * keeps its expiry, flags and tags, a new one gets `ttlMsOnCreate`. A write-through write's
   * result once its store took it.
   */
  writeString(ns: string, key: string, text: string, ttlMsOnCreate = 0): { length: number; version: number } {
    checkKey(key);
    const now = this.now();
    const { known, hash, found } = this.locate(ns, key, now);
    const size = this.fit(known, ns, this.stringAt(found), key, text.length);
    return this.rewritten(known, ns, found, key, hash, text, size, now, ttlMsOnCreate);
  }

  /** -2 when missing, -1 when the key never expires, else the milliseconds left (> 0). */
  ttl(ns: string, key: string): number {
    const space = this.ks.namespace(ns);
    if (space === undefined) return -2;
    const now = this.now();
    const id = this.ks.lookup(space, key, now);
    if (id < 0) return -2;
    const expiresAt = this.ks.expiresAt(id);
    return expiresAt === 0 ? -1 : expiresAt - now;
  }

  /** How many of `keys` exist; a key named twice counts twice (Redis). `touch`: each one found counts as accessed (RESP TOUCH), without a hit. */
  exists(ns: string, keys: readonly string[], touch = false): number {
    const space = this.ks.namespace(ns);
    if (space === undefined) return 0;
    const now = this.now();
    let count = 0;
    for (const key of keys) {
      const id = this.ks.lookup(space, key, now);
      if (id < 0) continue;
      count++;
      if (touch) this.ks.touch(id, space, now);
    }
    return count;
  }

  /**
   * Hides every entry of the namespace written so far, or only those tagged `tag`. O(1). False
   * when the store holds no such namespace (nothing to hide, and none is made for it).
   */
  invalidate(ns: string, tag?: string): boolean {
    const space = this.ks.namespace(ns);
    if (space === undefined) return false;
    if (tag !== undefined && tag !== null && typeof tag !== 'string') {
      throw badRequest('tag must be a string');
    }
    this.ks.invalidate(space, tag ?? undefined);
    return true;
  }

  /**
   * Replaces the namespace's policy (absent fields take the store defaults), creating the
   * namespace if needed; a namespace with a policy never counts against `maxNamespaces`.
   */
  setNamespacePolicy(ns: string, policy: NamespacePolicy): void {
    const ks = this.ks;
    this.policies.set(ns, policy);
    const resolved = resolvePolicy(policy, ks.options.defaultPolicy);
    const space = ks.ensureNamespace(ns);
    ks.manage(space);
    if (resolved.eviction !== space.eviction) this.evictor.reset();
    space.applyPolicy(resolved);
    ks.refreshQuota(space);
  }

  /** Active expiry and invalidation reclaim within `budgetMs` of the injected clock; none while passive. */
  sweep(budgetMs: number): SweepResult {
    if (!(budgetMs >= 0)) throw badRequest(`budgetMs must be >= 0, got ${String(budgetMs)}`);
    this.ks.sampleClock(this.now()); // a sample of the access clock each second, on replicas too (OBJECT IDLETIME)
    if (this.ks.passive) return { expired: 0, reclaimed: 0 };
    return sweep(this.ks, budgetMs);
  }

  /**
   * Passive (a replica): reads hide expired and invalidated entries but nothing is removed on
   * this store's own clock (no lazy reclaim, no sweep); the primary's deletes remove them.
   */
  get passive(): boolean {
    return this.ks.passive;
  }

  set passive(on: boolean) {
    this.ks.passive = on;
  }

  /** A new version above every one handed out (a write-behind delete's, which leaves no entry to carry one). */
  nextVersion(): number {
    return this.ks.nextVersion();
  }

  /** The store-wide version counter (the highest version handed out or applied). */
  get versionClock(): number {
    return this.ks.versionClock;
  }

  /**
   * Writes an entry that a slot migration brings in: the source's value, absolute expiry, flags
   * and tags, with a version of this store (above its watermarks, so no earlier invalidation here
   * hides it), and its type (`EntryType`). Makes room like a SET (TOO_LARGE / OVER_QUOTA / OUT_OF_MEMORY are thrown). An entry
   * already expired removes the key instead. Returns the version, or 0 when nothing was written.
   */
  importEntry(ns: string, key: string, value: Uint8Array, expiresAt: number, flags: number, tags: readonly string[] | null, type = 0): number {
    if (expiresAt !== 0 && expiresAt <= this.now()) {
      this.replication.applyDelete(ns, key);
      return 0;
    }
    const space = this.ks.ensureNamespace(ns); // the source's namespaces are admitted: `maxNamespaces` bounds client writes
    const owned = tags === null || tags.length === 0 ? undefined : ownTags(tags);
    const version = this.put(ns, key, value, 0, flags, SetCond.ALWAYS, 0, owned, owned === undefined ? 0 : sumLengths(owned), type);
    if (expiresAt !== 0) this.ks.setExpiry(space.keyIndex.find(key, this.ks.hash(key)), expiresAt);
    return version;
  }

  /** Counters, gauges and per-namespace figures. */
  stats(): StoreStats {
    const ks = this.ks;
    const namespaces = Object.create(null) as Record<string, NamespaceStats>;
    for (const space of ks.namespaces) {
      namespaces[space.name] = {
        items: space.keyIndex.size,
        bytes: space.bytes,
        quotaBytes: space.quotaBytes,
      };
    }
    return {
      items: ks.table.live,
      bytes: ks.bytes,
      maxMemoryBytes: ks.options.maxMemoryBytes,
      ...ks.counters,
      namespaces,
    };
  }

  /** Entries held, including invisible ones the sweep has not reclaimed yet. */
  get size(): number {
    return this.ks.table.live;
  }

  /**
   * The body of `set` once its arguments are checked: returns the new version (also left in
   * `written` with the expiry), or -1 when the NX/XX condition is not met.
   */
  private put(
    ns: string,
    key: string,
    value: Uint8Array,
    ttlMs: number,
    flags: number,
    cond: number,
    ifVersion: number,
    tags: readonly string[] | undefined,
    tagBytes: number,
    type = 0,
  ): number {
    const ks = this.ks;
    const known = ks.namespace(ns);
    // A hash or set (a migration's import) in the encoding its size calls for.
    const coll = type === EntryType.STRING ? undefined : encoded(bytesToString(value), type === EntryType.HASH);
    const size = entrySize(key.length, coll === undefined ? value.byteLength : valueBytes(coll), tagBytes);
    checkFits(known ?? this.fresh(ns), ks.options.maxMemoryBytes, key.length + value.byteLength, size);
    const now = this.now();
    const hash = ks.hash(key);
    const found = known === undefined ? -1 : ks.lookupHashed(known, key, hash, now);
    if (ifVersion !== 0) this.checkVersion(found, ifVersion);
    if (cond === SetCond.NX ? found >= 0 : cond === SetCond.XX && found < 0) return -1;
    const space = known ?? ks.admitNamespace(ns); // made only now that the write stores something
    let expiresAt = ttlMs > 0 ? now + ttlMs : 0;
    if (ttlMs === KEEP_TTL && found >= 0) expiresAt = ks.expiresAt(found);
    const id = this.write(space, found, key, hash, coll ?? bytesToString(value), size, now, type);
    const table = ks.table;
    table.setFlags(id, flags);
    ks.setTags(id, tags);
    ks.setExpiry(id, expiresAt);
    const written = this.written;
    written.version = table.version(id);
    written.expiresAt = expiresAt;
    return written.version;
  }

  /** Makes room, then inserts (found < 0) or rewrites entry `found`; returns the entry id. */
  private write(
    ns: Namespace,
    found: number,
    key: string,
    hash: number,
    value: string | CollValue,
    size: number,
    now: number,
    type = 0,
  ): number {
    const ks = this.ks;
    if (found < 0) {
      if (ns.keyIndex.size >= MAX_NAMESPACE_KEYS) this.makeSlot(ns);
      this.makeRoom(ns, size, found);
      return ks.insert(ns, key, hash, value, size, now, false, type);
    }
    this.makeRoom(ns, size - ks.table.size(found), found);
    ks.rewrite(found, ns, value, size, now, type);
    return found;
  }

  /** Evicts until `need` more bytes fit in the namespace quota and the memory limit. */
  private makeRoom(ns: Namespace, need: number, protect: number): void {
    if (need <= 0) return;
    const ks = this.ks;
    while (ns.quotaBytes > 0 && ns.bytes + need > ns.quotaBytes) {
      if (!this.evictor.evictFrom(ns, protect, Removal.EVICTED_QUOTA)) {
        throw new OpError(Status.OVER_QUOTA, `namespace ${ns.name} has no room for ${need} more bytes`);
      }
    }
    while (ks.bytes + need > ks.options.maxMemoryBytes) {
      if (!this.evictor.evictAny(protect)) {
        throw new OpError(Status.OUT_OF_MEMORY, `no room for ${need} more bytes after eviction`);
      }
    }
  }

  /** A namespace at `MAX_NAMESPACE_KEYS` makes room for a new key as if it were at its quota. */
  private makeSlot(ns: Namespace): void {
    if (this.evictor.evictFrom(ns, -1, Removal.EVICTED_QUOTA)) return;
    const message = `namespace ${ns.name} holds ${MAX_NAMESPACE_KEYS} keys, the most it can`;
    throw new OpError(Status.OUT_OF_MEMORY, message);
  }

  /**
   * The accounted size of `key` holding `length` value bytes (entry `found`, -1 for a new one,
   * keeps its tags), after the item, quota and memory checks: called before the value is built.
   */
  private fit(known: Namespace | undefined, ns: string, found: number, key: string, length: number): number {
    const ks = this.ks;
    const size = entrySize(key.length, length, found < 0 ? 0 : ks.table.tagBytes(found));
    checkFits(known ?? this.fresh(ns), ks.options.maxMemoryBytes, key.length + length, size);
    return size;
  }

  /** `key`'s namespace (undefined: not made yet), hash and live entry (-1: none) at `now`. */
  private locate(ns: string, key: string, now: number): { known: Namespace | undefined; hash: number; found: number } {
    const ks = this.ks;
    const known = ks.namespace(ns);
    const hash = ks.hash(key);
    return { known, hash, found: known === undefined ? -1 : ks.lookupHashed(known, key, hash, now) };
  }

  /** `id` (-1: none), after WRONGTYPE unless it holds a string. */
  private stringAt(id: number): number {
    if (id >= 0 && this.ks.table.type(id) !== EntryType.STRING) throw wrongType();
    return id;
  }

  /** Stores `text` (size checked by `fit`) as a read-modify-write does: a new key gets `ttlMsOnCreate`. */
  private rewritten(
    known: Namespace | undefined, ns: string, found: number, key: string, hash: number, text: string, size: number, now: number, ttlMsOnCreate: number,
  ): { length: number; version: number } {
    checkTtl(ttlMsOnCreate, 'ttlMsOnCreate');
    const ks = this.ks;
    const id = this.write(known ?? ks.admitNamespace(ns), found, key, hash, text, size, now);
    if (found < 0 && ttlMsOnCreate > 0) ks.setExpiry(id, now + ttlMsOnCreate);
    return { length: text.length, version: ks.table.version(id) };
  }

  /** Writes entry `from`'s value, flags, tags and expiry as `dst` (entry `to`, -1: new) of `space`. */
  private duplicate(space: Namespace, from: number, to: number, dst: string, hash: number, now: number): void {
    const entry = this.entryAs(space, from, dst);
    this.stamp(this.write(space, to, dst, hash, entry.text, entry.size, now, entry.type), entry);
  }

  /**
   * Entry `from`'s value (a large hash or set: a copy of its own, or itself when it `moves`: the
   * caller removes `from`), flags, tags and expiry, and its accounted size under the key `dst`,
   * checked to fit `space`.
   */
  private entryAs(space: Namespace, from: number, dst: string, moves = false): { text: string | CollValue; type: number; flags: number; expiresAt: number; tags: readonly string[] | undefined; size: number } {
    const ks = this.ks;
    const table = ks.table;
    const type = table.type(from);
    const stored = table.stored(from);
    const text = typeof stored === 'string' || moves ? (stored as string | CollValue) : encoded(packedOf(stored as CollValue), type === EntryType.HASH);
    const tags = table.tags.get(from);
    const bytes = typeof text === 'string' ? text.length : valueBytes(text);
    const size = entrySize(dst.length, bytes, tags === undefined ? 0 : sumLengths(tags));
    checkFits(space, ks.options.maxMemoryBytes, dst.length + (typeof text === 'string' ? text.length : contentBytes(text)), size);
    return { text, type, flags: table.flags(from), expiresAt: ks.expiresAt(from), tags, size };
  }

  /** Gives entry `id` the flags, tags and expiry of `entry`. */
  private stamp(id: number, entry: { flags: number; expiresAt: number; tags: readonly string[] | undefined }): void {
    this.ks.table.setFlags(id, entry.flags);
    this.ks.setTags(id, entry.tags);
    this.ks.setExpiry(id, entry.expiresAt);
  }

  /** The limits a namespace not made yet would have (the defaults), for `checkFits`. */
  private fresh(name: string): FitLimits {
    const policy = this.ks.options.defaultPolicy;
    return { name, maxItemBytes: policy.maxItemBytes, quotaBytes: policy.quotaBytes };
  }

  private checkVersion(found: number, expected: number): void {
    const current = found < 0 ? 0 : this.ks.table.version(found);
    if (current === expected) return;
    throw new OpError(Status.VERSION_CONFLICT, `version is ${current}, expected ${expected}`, [current]);
  }
}

/** SETRANGE's new value: `patch` over `old` from `offset`, zero bytes filling any gap. Pure. */
export function setRangeText(old: string, offset: number, patch: string): string {
  return offset <= old.length ? old.slice(0, offset) + patch + old.slice(offset + patch.length) : old + '\0'.repeat(offset - old.length) + patch;
}

/** INCRBYFLOAT's new value as Redis prints it; throws BAD_REQUEST with Redis's messages. Pure. */
export function floatSumText(current: string, increment: unknown): string {
  const now = parseLongDouble(current);
  const by = typeof increment === 'string' ? parseLongDouble(increment) : undefined;
  if (now === undefined || by === undefined) throw badRequest('value is not a valid float');
  const sum = typeof now === 'string' || typeof by === 'string' ? undefined : addLongDouble(now, by);
  if (sum === undefined) throw badRequest('increment would produce NaN or Infinity');
  return formatLongDouble(sum);
}

/** INCR's new value: `current` (undefined: missing, 0) plus `delta`; throws NOT_INTEGER or OVERFLOW. Pure. */
export function intSum(current: string | undefined, delta: number | bigint): number | bigint {
  const n = current === undefined ? 0 : parseInt64(current);
  if (n === undefined) throw notInteger();
  return addInt64(n, delta);
}
