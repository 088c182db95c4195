import type {
  CommitmentVerified,
  HandoffClaimed,
  HandoffPushed,
  InspectionRecorded,
  RectificationCompleted,
  RectificationOrdered,
  RevocationRequested,
  TransferredToEnforcement,
} from "@shenguan/contracts";
import type { DomainEvent } from "@shenguan/eventstore";

/** How a licence ended upstream (注销 or 撤销), as the approval bureau published it. */
export interface LicenceEnd {
  readonly ended: "cancelled" | "revoked";
  readonly decisionNumber: string;
  readonly decisionDate: string;
  readonly reason: string;
}

/** The licence ended: supervision of this handoff is closed (internal). */
export interface HandoffClosed extends LicenceEnd {
  readonly handoffId: string;
  readonly licenceId: string;
}

/** The approval bureau answered one of this handoff's revocation requests (internal). */
export interface RevocationAnswered {
  readonly handoffId: string;
  readonly requestId: string;
  readonly outcome: "revoked" | "declined";
  readonly decisionNumber: string;
  readonly decisionDate: string;
  readonly reason: string;
}

/**
 * The events of a handoff stream. HandoffReceived carries the pushed record
 * as linkage published it; HandoffClosed and RevocationAnswered are internal;
 * the rest are published contracts, so their data is exactly the contract payload.
 */
export type HandoffEvent =
  | DomainEvent<"HandoffReceived", HandoffPushed>
  | DomainEvent<"HandoffClaimed", HandoffClaimed>
  | DomainEvent<"InspectionRecorded", InspectionRecorded>
  | DomainEvent<"RectificationOrdered", RectificationOrdered>
  | DomainEvent<"RectificationCompleted", RectificationCompleted>
  | DomainEvent<"CommitmentVerified", CommitmentVerified>
  | DomainEvent<"TransferredToEnforcement", TransferredToEnforcement>
  | DomainEvent<"RevocationRequested", RevocationRequested>
  | DomainEvent<"RevocationAnswered", RevocationAnswered>
  | DomainEvent<"HandoffClosed", HandoffClosed>;

export const handoffStream = (handoffId: string) => `supervision-${handoffId}`;

/**
 * A licence that ended before (or while) its handoff arrived: the approval
 * and linkage topics are consumed independently, so the end is remembered
 * per licence and a handoff received later is closed at once.
 */
export const licenceEndStream = (licenceId: string) => `supervision-licence-end-${licenceId}`;

export type LicenceEndEvent = DomainEvent<"LicenceEndNoted", LicenceEnd & { readonly licenceId: string; readonly caseId: string }>;
