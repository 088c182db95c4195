/** @shenguan/supervision — the regulators' service (行业主管部门): supervision of a licence after its push. */
export { buildSupervisionApp, type SupervisionDeps } from "./app.js";
export { SupervisionService, type CommandContext, type Outcome, type PushLookup } from "./handoff/service.js";
export {
  handoffDecider,
  type HandoffState,
  type SupervisionRecord,
  type RectificationRound,
  type RevocationRequest,
  type Claim,
} from "./handoff/decider.js";
export type { HandoffCommand } from "./handoff/commands.js";
export {
  handoffStream,
  licenceEndStream,
  type HandoffEvent,
  type HandoffClosed,
  type RevocationAnswered,
  type LicenceEnd,
} from "./handoff/events.js";
export { onLicenceCancelled, onLicenceRevoked, onRevocationDeclined, type IncomingEvent } from "./handoff/incoming.js";
export {
  migrateInbox,
  INBOX_PROJECTION,
  INBOX_TABLES,
  projectInbox,
  projectInboxChunk,
  inboxChunkStatement,
  queryInbox,
  pushOf,
  inboxStatuses,
  type InboxEvent,
  type InboxFilter,
  type InboxItem,
  type InboxStatus,
  type ReceivedPush,
} from "./inbox/projection.js";
export { supervisionConsumers } from "./consumers.js";
export { rebuildInbox } from "./rebuild.js";
