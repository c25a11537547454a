/**
 * The storage node's store engine (see `store.ts` for the design): import from here only.
 * Pure and clock-injected; the TCP server and replication are shells around it.
 */
import * as store from './store';
import * as keyspace from './keyspace';
import * as int64 from './int64';
import * as keyIndex from './key-index';
import * as valueCodec from './value-codec';

// Values are re-exported as constants, not with `export { } from`: TypeScript's CommonJS output
// makes such a re-export a getter, which turns this module's exports into a dictionary whose
// every read on the request path is a generic property load and a getter call (test/unit/exports-shape.test.ts).
export const Store = store.Store;
export type Store = store.Store;
export const wrongType = store.wrongType;
export const ENTRY_OVERHEAD = keyspace.ENTRY_OVERHEAD;
export const entrySize = keyspace.entrySize;
export const INT64_MAX = int64.INT64_MAX;
export const INT64_MIN = int64.INT64_MIN;
export const sameAscii = keyIndex.sameAscii;
export const latin1 = valueCodec.latin1;
export type { SnapshotEntry } from './replicated';
export type {
  EntryView,
  RawEntry,
  EvictionPolicy,
  NamespacePolicy,
  NamespaceStats,
  ObjectInfo,
  RemovalReason,
  SetOptions,
  StoreListener,
  StoreOptions,
  StoreStats,
  SweepResult,
  IncrResult,
  WriteResult,
} from './types';
