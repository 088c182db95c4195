export { BUS_DEPARTMENT, LOG_SEALED, SEAL_STREAM } from "./constants.js";
export { checkDepartmentCode, FileKeyStore, MemoryKeyStore, type KeyStore, type KeyStoreOptions } from "./key-store.js";
export { EvidenceStore, headColumnsSql, knownHeadOf, type EvidenceStoreOptions, type KnownHeads } from "./evidence-store.js";
export { evidenceStoreFromEnv } from "./from-env.js";
export {
  appendInTransaction,
  appendManyInTransaction,
  appendsInTransaction,
  headsReadableIn,
  prepareManyInTransaction,
} from "./append-in-transaction.js";
export { LogSealer, type LogSealerOptions, type SealerLogger, type SealerMetrics } from "./sealer.js";
export { verifyStore, verifyStreams, type VerifyStoreOptions } from "./verify.js";
export { verifyLogOfStore, type LogOfStoreOptions } from "./log-ranges.js";
export {
  readLeaves,
  readLogForVerification,
  readLogPages,
  sqlOf,
  type LeafRow,
  type LogReadOptions,
  type VerifiedRow,
} from "./log-reader.js";
