/** @shenguan/approval — the approval bureau (行政审批局): event-sourced licence cases. */
export { buildApprovalApp, type ApprovalDeps } from "./app.js";
export { LicenceService, type EligibilityLookup } from "./licence/service.js";
export { licenceDecider, REVOCATION, type LicenceCase } from "./licence/decider.js";
export type { LicenceCommand, CommitmentEligibility } from "./licence/commands.js";
export { licenceCaseStream, type LicenceEvent, type RevocationRequestReceived } from "./licence/events.js";
export { approvalConsumers } from "./consumers.js";
