import type { CommitmentVerified, PenaltyImposed, TransferredToEnforcement } from "@shenguan/contracts";
import type { CreditOutcome, CreditService } from "./credit/service.js";
import type { EnforcementOutcome, EnforcementService } from "./enforcement/service.js";

/**
 * What the bus runner passes from the consumed Kafka message: its CloudEvents
 * id (ce_id) becomes the correlation and causation of what the handler appends.
 */
export interface IncomingContext {
  readonly eventId: string;
  readonly traceparent?: string;
}

// Plain typed handlers for the events this service reacts to. Each is
// idempotent: a redelivered event decides nothing (the enforcement case is
// keyed by the transfer id; credit records are deduplicated by sourceRef).

/** TransferredToEnforcement (supervision topic) → opens enforcement case `<transferId>` for the transfer's enforcementDepartment. */
export function onTransferredToEnforcement(enforcement: EnforcementService, event: TransferredToEnforcement, ctx: IncomingContext): Promise<EnforcementOutcome> {
  return enforcement.openFromTransfer(event, ctx);
}

/** CommitmentVerified (supervision topic) with truthful=false → a barring COMMITMENT_BREACH credit record; otherwise nothing (null). */
export function onCommitmentVerified(credit: CreditService, event: CommitmentVerified, ctx: IncomingContext): Promise<CreditOutcome | null> {
  return credit.recordCommitmentBreach(event, ctx);
}

/** PenaltyImposed (enforcement topic) → a PENALTY credit record (双公示); null for a holder without a USCC. */
export function onPenaltyImposed(credit: CreditService, event: PenaltyImposed, ctx: IncomingContext): Promise<CreditOutcome | null> {
  return credit.recordPenalty(event, ctx);
}
