import { encodeFrame, FRAME_HEADER_BYTES } from '../../shared/frame';
import { ProtocolError } from '../../shared/errors';
import { Limits, NAMESPACE_PATTERN, Op } from '../../shared/protocol';
import { EntryType } from '../../shared/collections';
import type { Store } from '../store';
import type { Changes } from '../store/collections';
import { bytesToString } from '../store/value-codec';

/**
 * Replication records: what the stream carries (REPL_SET is encoded by `encoder.ts`) (`shared/protocol.ts` has the layouts) and how a
 * replica applies them. Every field of a frame read from a socket is checked before the store
 * sees it; a bad record is a ProtocolError (the replica drops the link and resyncs in full).
 */

export const encodeDelRecord = (ns: string, key: string): Buffer => encodeFrame([0, Op.REPL_DEL, ns, key]);

export const encodeInvalidateRecord = (ns: string, tag: string | null, watermark: number): Buffer =>
  encodeFrame([0, Op.REPL_INVALIDATE, ns, tag, watermark]);

/** `[0, REPL_DIRTY, ns, key, version, value | null]`: a write-behind key's latest write (null: a delete), queued on the replica too. */
export const encodeDirtyRecord = (ns: string, key: string, version: number, value: Buffer | null): Buffer => encodeFrame([0, Op.REPL_DIRTY, ns, key, version, value]);

/** `[0, REPL_CLEAN, ns, key, version]`: the key's writes up to `version` reached the store (or were given up). */
export const encodeCleanRecord = (ns: string, key: string, version: number): Buffer => encodeFrame([0, Op.REPL_CLEAN, ns, key, version]);

/** Fields per record in a REPL_SNAPSHOT_DIRTY chunk: ns, key, version, value | null. */
export const DIRTY_FIELDS = 4;

/** `[0, REPL_COLL, ns, key, type, version, expiresAt, [key, value | null, ...]]`: a hash's or set's changes, keys and values as bytes. */
export function encodeCollRecord(ns: string, key: string, type: number, version: number, expiresAt: number, changes: Changes): Buffer {
  const flat: (Buffer | null)[] = [];
  for (const [k, v] of changes) flat.push(Buffer.from(k, 'latin1'), v === null ? null : Buffer.from(v, 'latin1'));
  return encodeFrame([0, Op.REPL_COLL, ns, key, type, version, expiresAt, flat]);
}

/** The changes of a REPL_COLL record, every element checked. */
function changesOf(v: unknown): Changes {
  if (!Array.isArray(v) || v.length % 2 !== 0 || v.length === 0) throw bad('changes');
  const out: Changes = new Map();
  for (let i = 0; i < v.length; i += 2) {
    const k = v[i];
    const value = v[i + 1];
    if (!(k instanceof Uint8Array) || (value !== null && !(value instanceof Uint8Array))) throw bad('changes');
    out.set(bytesToString(k), value === null ? null : bytesToString(value));
  }
  return out;
}

const bad = (what: string): ProtocolError => new ProtocolError(`bad replication record: ${what}`);

function ns(v: unknown): string {
  if (typeof v !== 'string' || !NAMESPACE_PATTERN.test(v)) throw bad('namespace');
  return v;
}

function key(v: unknown): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > Limits.MAX_KEY_LENGTH) throw bad('key');
  return v;
}

function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw bad(what);
  return v;
}

function bytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad('value');
  return v;
}

function tags(v: unknown): string[] | null {
  if (v === null || v === undefined) return null;
  if (!Array.isArray(v) || v.length > Limits.MAX_TAGS || !v.every((t) => typeof t === 'string' && t.length > 0 && t.length <= Limits.MAX_KEY_LENGTH)) throw bad('tags');
  return v as string[];
}

/** An entry's `EntryType` (absent: a string, as every entry of an older node). */
function entryType(v: unknown): number {
  if (v === undefined || v === null) return EntryType.STRING;
  if (v !== EntryType.STRING && v !== EntryType.HASH && v !== EntryType.SET) throw bad('type');
  return v;
}

function flags(v: unknown): number {
  const n = uint(v, 'flags');
  if (n > 0xffffffff) throw bad('flags');
  return n;
}

/** Applies one entry given as `[ns, key, value, version, expiresAt, flags, tags]` fields from `at`, holding `type`. */
function applyEntry(store: Store, m: readonly unknown[], at: number, type: number): void {
  store.replication.applySet(ns(m[at]), key(m[at + 1]), bytes(m[at + 2]), uint(m[at + 3], 'version'), uint(m[at + 4], 'expiresAt'), flags(m[at + 5]), tags(m[at + 6]), type);
}

/** One entry as a stream or snapshot frame carries it, every field checked. */
export interface RecordEntry {
  ns: string;
  key: string;
  value: Uint8Array;
  version: number;
  expiresAt: number;
  flags: number;
  tags: string[] | null;
  /** `EntryType`. */
  type: number;
}

/** Reads the entry `[ns, key, value, version, expiresAt, flags, tags]` at `at`, holding `type`; throws ProtocolError when a field is bad. */
export function readEntry(m: readonly unknown[], at: number, type: number): RecordEntry {
  return {
    ns: ns(m[at]), key: key(m[at + 1]), value: bytes(m[at + 2]), version: uint(m[at + 3], 'version'), expiresAt: uint(m[at + 4], 'expiresAt'), flags: flags(m[at + 5]),
    tags: tags(m[at + 6]), type,
  };
}

/** Where REPL_SET carries its entry's type (after the entry; left off for a string). */
export const REPL_SET_TYPE_AT = 2 + 7;

/** The type of the entry a REPL_SET frame carries. */
export function setRecordType(m: readonly unknown[]): number {
  return entryType(m[REPL_SET_TYPE_AT]);
}

/**
 * The types of a snapshot chunk's entries: `[0, REPL_SNAPSHOT, flat, types?]` carries `types`
 * (one `EntryType` per entry) only when one of them is not a string, so a node that knows no
 * types reads a chunk of strings as before. Returns a reader of entry `i`'s type.
 */
export function chunkTypes(raw: unknown, entries: number): (i: number) => number {
  if (raw === undefined || raw === null) return () => EntryType.STRING;
  if (!Array.isArray(raw) || raw.length !== entries) throw bad('snapshot types');
  return (i) => entryType(raw[i]);
}

/** `[0, REPL_SNAPSHOT, flat]` with the types list when an entry is not a string (see `chunkTypes`). */
export function snapshotFrame(flat: readonly unknown[], types: readonly number[]): unknown[] {
  return types.some((t) => t !== EntryType.STRING) ? [0, Op.REPL_SNAPSHOT, flat, types] : [0, Op.REPL_SNAPSHOT, flat];
}

/** Applies every entry of a REPL_SNAPSHOT-framed chunk `m` through `apply`; throws ProtocolError for a malformed one. */
export function forEachChunkEntry(m: readonly unknown[], apply: (flat: readonly unknown[], at: number, type: number) => void): void {
  const flat = m[2];
  if (!Array.isArray(flat) || flat.length % SNAPSHOT_FIELDS !== 0) throw bad('snapshot chunk');
  const typeOf = chunkTypes(m[3], flat.length / SNAPSHOT_FIELDS);
  for (let i = 0; i < flat.length; i += SNAPSHOT_FIELDS) apply(flat, i, typeOf(i / SNAPSHOT_FIELDS));
}

/** Checks a namespace and key read from a peer; throws ProtocolError when either is bad. */
export function readTarget(m: readonly unknown[], at: number): { ns: string; key: string } {
  return { ns: ns(m[at]), key: key(m[at + 1]) };
}

/** Fields per entry in a REPL_SNAPSHOT chunk. */
export const SNAPSHOT_FIELDS = 7;

/** True for the ops whose frames are part of the offset space. */
export function isStreamOp(op: unknown): boolean {
  return op === Op.REPL_SET || op === Op.REPL_DEL || op === Op.REPL_INVALIDATE || op === Op.REPL_COLL || op === Op.REPL_DIRTY || op === Op.REPL_CLEAN;
}

/**
 * Applies a stream or snapshot frame `[0, op, ...]` to a replica's store. Returns the version
 * clock a REPL_SNAPSHOT_END carries (else 0). Throws ProtocolError for anything malformed.
 */
export function applyRecord(store: Store, m: readonly unknown[]): number {
  switch (m[1]) {
    case Op.REPL_SET:
      applyEntry(store, m, 2, setRecordType(m));
      return 0;
    case Op.REPL_DEL:
      store.replication.applyDelete(ns(m[2]), key(m[3]));
      return 0;
    case Op.REPL_COLL: {
      const type = entryType(m[4]);
      if (type === EntryType.STRING) throw bad('type');
      if (!store.replication.applyCollChanges(ns(m[2]), key(m[3]), type, uint(m[5], 'version'), uint(m[6], 'expiresAt'), changesOf(m[7]))) {
        throw bad('changes to a key of another type');
      }
      return 0;
    }
    case Op.REPL_INVALIDATE: {
      const tag = m[3] === null ? null : key(m[3]);
      store.replication.applyInvalidate(ns(m[2]), tag, uint(m[4], 'watermark'));
      return 0;
    }
    case Op.REPL_SNAPSHOT:
      forEachChunkEntry(m, (flat, at, type) => applyEntry(store, flat, at, type));
      return 0;
    case Op.REPL_DIRTY:
      markDirty(store, m[2], m[3], m[4], m[5]);
      return 0;
    case Op.REPL_CLEAN:
      store.dirty.clean(ns(m[2]), key(m[3]), uint(m[4], 'version'));
      return 0;
    case Op.REPL_SNAPSHOT_DIRTY: {
      const flat = m[2];
      if (!Array.isArray(flat) || flat.length % DIRTY_FIELDS !== 0) throw bad('dirty chunk');
      for (let i = 0; i < flat.length; i += DIRTY_FIELDS) markDirty(store, flat[i], flat[i + 1], flat[i + 2], flat[i + 3]);
      return 0;
    }
    case Op.REPL_SNAPSHOT_END:
      applyWatermarks(store, m[3]);
      return uint(m[2], 'version clock');
    default:
      throw bad(`unexpected op ${String(m[1])}`);
  }
}

/** Queues a write-behind key on a replica (its clock raised to the version, so a promoted replica hands out newer ones). */
function markDirty(store: Store, nsField: unknown, keyField: unknown, versionField: unknown, valueField: unknown): void {
  const version = uint(versionField, 'version');
  if (valueField !== null && !(valueField instanceof Uint8Array)) throw bad('dirty value');
  const value = valueField === null ? null : Buffer.from(valueField); // a copy: the frame's bytes are reused
  store.dirty.mark(ns(nsField), key(keyField), value, version, Date.now());
  store.replication.raiseVersionClock(version);
}

function applyWatermarks(store: Store, list: unknown): void {
  if (!Array.isArray(list)) throw bad('watermarks');
  for (const item of list) {
    if (!Array.isArray(item) || !Array.isArray(item[2])) throw bad('watermarks');
    const space = ns(item[0]);
    const mark = uint(item[1], 'watermark');
    // After the snapshot's entries, some of which may be newer than the watermark.
    if (mark > 0) store.replication.applySnapshotWatermark(space, null, mark);
    for (const pair of item[2] as unknown[]) {
      if (!Array.isArray(pair)) throw bad('tag watermark');
      store.replication.applySnapshotWatermark(space, key(pair[0]), uint(pair[1], 'tag watermark'));
    }
  }
}

/** Size of a frame given its payload (header included), for offsets. */
