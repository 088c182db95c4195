/** @shenguan/audit — the auditor: case timelines, state as of a moment, subject files, evidence verification, verifiable export. */
export { caseTimeline, timelineOf, type CaseTimeline, type TimelineEntry, type TimelineOptions } from "./timeline.js";
export { asOf, stateAsOf, folderOf, type AsOf, type StreamKind } from "./as-of.js";
export {
  subjectFile,
  subjectFileOf,
  readSubject,
  sectionOf,
  mentions,
  type SubjectFile,
  type SubjectEntry,
  type SubjectSection,
} from "./subject.js";
export { DeadlineTracker, type DeadlineSnapshot, type DeadlineKind, type DeadlineState } from "./deadlines.js";
export {
  verifyPart,
  verifyWholeLog,
  readSeals,
  ringWithBus,
  VerifiedBlocks,
  type AuditKeys,
  type EvidenceReport,
  type PartOptions,
  type WholeLogOptions,
} from "./evidence.js";
export {
  exportBundle,
  verifyBundle,
  bundleSize,
  BundleError,
  BUNDLE_FORMAT,
  BUNDLE_FILES,
  type BundleScope,
  type BundleTrust,
  type BundleFailure,
  type BundleVerification,
  type ExportOptions,
  type ExportResult,
  type Manifest,
  type VerifyBundleOptions,
} from "./bundle.js";
export { keysFromJson, keysToJson, KeyFileError, type KeysJson, type KeyEntryJson } from "./keys.js";
export { EVENT_LABELS, eventLabel, DEADLINE_KIND_LABELS, DEADLINE_STATUS_LABELS, SUBJECT_SECTION_LABELS } from "./labels.js";
export { byPosition, eventJson, readLog, toJsonText, SEAL_STREAM, SEAL_EVENT, type EventJson } from "./events.js";
export { parseInstant } from "./input.js";
export {
  auditPlugin,
  auditKeysOf,
  type AuditPluginOptions,
  type AuditAccessLog,
  type AuditAccessEntry,
  type AuditKeySource,
} from "./http.js";
