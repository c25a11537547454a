/**
 * The recording HTTP store of the write-policy tests (issue 17). It lives in scripts/store-server.ts
 * so that the chaos harness and the proxy benchmark (built to dist/, which test/ is not) run the
 * same store; the tests know it as `TestStore`.
 */
export { RecordingStore as TestStore, type RecordingStoreOptions, type StoreCall, type StoreRequest } from '../../scripts/store-server';
