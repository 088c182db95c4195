/**
 * @shenguan/enforcement — 综合行政执法 (enforcement cases, 行政处罚) and the
 * credit platform (信用平台: records, 信用修复, the 告知承诺 bar).
 */
export { buildEnforcementApp, type EnforcementApp, type EnforcementDeps } from "./app.js";
export { EnforcementService, type EnforcementOutcome, type CommandContext } from "./enforcement/service.js";
export { enforcementDecider, type EnforcementCase } from "./enforcement/decider.js";
export { enforcementCaseStream, type EnforcementEvent, type EnforcementCaseOpened } from "./enforcement/events.js";
export type { EnforcementCommand } from "./enforcement/commands.js";
export { CreditService, PUBLICITY_DAYS, type CreditOutcome, type CreditContext } from "./credit/service.js";
export { creditDecider, REPAIR_PROBATION_DAYS, type CreditSubject, type CreditRecord } from "./credit/decider.js";
export { creditStream, type CreditEvent } from "./credit/events.js";
export type { CreditCommand } from "./credit/commands.js";
export { standingOf, type CreditStanding } from "./credit/standing.js";
export { onCommitmentVerified, onPenaltyImposed, onTransferredToEnforcement, type IncomingContext } from "./incoming.js";
export { enforcementConsumers } from "./consumers.js";
