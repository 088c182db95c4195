import type {
  ApplicationAccepted,
  LicenceCancelled,
  LicenceChanged,
  LicenceDenied,
  LicenceGranted,
  LicenceRenewed,
  LicenceRevoked,
  RevocationDecisionExtended,
  RevocationRequestDeclined,
} from "@shenguan/contracts";
import type { DomainEvent } from "@shenguan/eventstore";

/** A regulator's revocation request as the bureau records it on the case (internal: the request itself is on Kafka already). */
export interface RevocationRequestReceived {
  readonly caseId: string;
  readonly requestId: string;
  readonly regulator: string;
  readonly grounds: string;
  readonly requestedAt: number;
  /** Last day of the holder's 5-day statement period (陈述申辩). */
  readonly statementPeriodEnds: string;
  /** Last day for the decision: 60 calendar days, +20 once on extension. */
  readonly decisionDue: string;
}

/** The events of a licence case stream. All but RevocationRequestReceived are published contracts. */
export type LicenceEvent =
  | DomainEvent<"ApplicationAccepted", ApplicationAccepted>
  | DomainEvent<"LicenceGranted", LicenceGranted>
  | DomainEvent<"LicenceDenied", LicenceDenied>
  | DomainEvent<"LicenceChanged", LicenceChanged>
  | DomainEvent<"LicenceRenewed", LicenceRenewed>
  | DomainEvent<"LicenceCancelled", LicenceCancelled>
  | DomainEvent<"LicenceRevoked", LicenceRevoked>
  | DomainEvent<"RevocationRequestReceived", RevocationRequestReceived>
  | DomainEvent<"RevocationDecisionExtended", RevocationDecisionExtended>
  | DomainEvent<"RevocationRequestDeclined", RevocationRequestDeclined>;

export const licenceCaseStream = (caseId: string) => `licence-case-${caseId}`;
