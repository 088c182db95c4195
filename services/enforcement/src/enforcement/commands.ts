import type { Command } from "@shenguan/eventstore";
import type { EnforcementOutcome, PenaltyKind, TransferredToEnforcement } from "@shenguan/contracts";

/** A regulator's 移交执法 from Kafka; the case belongs to the transfer's enforcementDepartment. */
export type OpenFromTransfer = Command<"OpenFromTransfer", { readonly enforcementCaseId: string; readonly transfer: TransferredToEnforcement }>;

/** A case the enforcement department opens on its own initiative (complaint, patrol, clue). */
export type OpenCase = Command<
  "OpenCase",
  {
    readonly enforcementCaseId: string;
    readonly holder: { readonly name: string; readonly uscc: string | null };
    readonly licenceId: string | null;
    readonly caseId: string | null;
    readonly facts: string;
  }
>;

/** 行政处罚决定. */
export type ImposePenalty = Command<
  "ImposePenalty",
  {
    readonly penaltyId: string;
    readonly decisionNumber: string;
    readonly kinds: readonly PenaltyKind[];
    /** Fine in 分; required (and > 0) exactly when kinds include FINE. */
    readonly fineFen: number | null;
    readonly facts: string;
    readonly legalBasis: string;
    readonly serious: boolean;
    readonly decisionDate: string;
    /** The holder's name when the case does not know it yet (a transfer does not carry it). */
    readonly holderName: string | null;
  }
>;

export type Conclude = Command<"Conclude", { readonly outcome: EnforcementOutcome; readonly summary: string }>;

export type EnforcementCommand = OpenFromTransfer | OpenCase | ImposePenalty | Conclude;
