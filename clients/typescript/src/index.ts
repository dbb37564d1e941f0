export {
  AppSyncClient,
  PAGED_ROUTES,
  type AppSyncClientOptions,
  type Answer,
  type ChangesOptions,
  type GetOptions,
  type ItemOf,
  type Meta,
  type PageOf,
  type PagedRoute,
  type QueryOf,
  type Schemas,
  type SyncOptions,
  type TokenProvider,
} from "./client.js";
export { AppSyncError, type ErrorBody } from "./errors.js";
export { retryAfterMs, type RetryOptions } from "./retry.js";
export { Checksum } from "./checksum.js";
export { MemoryStore, type CollectionState, type MirrorBatch, type MirrorRecord, type MirrorStore } from "./store.js";
export {
  ALL_COLLECTIONS,
  INITIAL_LOAD,
  MirrorLockedError,
  PAGED_COLLECTIONS,
  mirror,
  type CollectionName,
  type CollectionReport,
  type MirrorOptions,
} from "./mirror.js";
export { figuresOf, verify, type CollectionVerdict, type Figures, type VerifyOptions, type VerifyReport } from "./verify.js";
export { mintServiceToken, type ServiceKey, type ServiceTokenClaims } from "./token.js";
export type { components, operations, paths } from "./schema.js";
