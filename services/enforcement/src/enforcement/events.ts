import type { EnforcementConcluded, PenaltyImposed } from "@shenguan/contracts";
import type { DomainEvent } from "@shenguan/eventstore";

/** How an enforcement case began: a regulator's 移交执法, or the enforcement department's own initiative. */
export type CaseOrigin = "TRANSFER" | "OWN_INITIATIVE";

/** An enforcement case was opened (internal: the transfer itself is on Kafka already; own-initiative cases start here). */
export interface EnforcementCaseOpened {
  readonly enforcementCaseId: string;
  readonly origin: CaseOrigin;
  /** The 移交执法 this case answers; null for own-initiative cases. */
  readonly transferId: string | null;
  /** The transferring regulator; null for own-initiative cases. */
  readonly regulator: string | null;
  readonly licenceId: string | null;
  /** The licence case the enforcement concerns, when there is one. */
  readonly caseId: string | null;
  /** 相对人名称: a transfer does not carry it, so it may be learnt only at the penalty. */
  readonly holderName: string | null;
  readonly holderUscc: string | null;
  /** The department the case belongs to: only it imposes penalties and concludes. */
  readonly enforcementDepartment: string;
  /** The transfer's reason or the facts that led to the case. */
  readonly facts: string;
  /** epoch milliseconds */
  readonly openedAt: number;
}

/** The events of an enforcement case stream. PenaltyImposed and EnforcementConcluded are published contracts. */
export type EnforcementEvent =
  | DomainEvent<"EnforcementCaseOpened", EnforcementCaseOpened>
  | DomainEvent<"PenaltyImposed", PenaltyImposed>
  | DomainEvent<"EnforcementConcluded", EnforcementConcluded>;

export const enforcementCaseStream = (enforcementCaseId: string) => `enforcement-${enforcementCaseId}`;
