/**
 * The storage node's store engine (see `store.ts` for the design): import from here only.
 * Pure and clock-injected; the TCP server and replication are shells around it.
 */
export { Store, wrongType } from './store';
export { ENTRY_OVERHEAD, entrySize } from './keyspace';
export { INT64_MAX, INT64_MIN } from './int64';
export { sameAscii } from './key-index';
export { latin1 } from './value-codec';
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
  WriteResult,
} from './types';
