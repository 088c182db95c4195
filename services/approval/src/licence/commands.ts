import type { Command } from "@shenguan/eventstore";
import type { Applicant, Deficiency, FieldChange } from "@shenguan/contracts";

/** Whether the applicant may use 告知承诺, as the linkage credit projection sees it. */
export interface CommitmentEligibility {
  readonly eligible: boolean;
  /** Why not: each barring credit record or past false commitment, in words. */
  readonly reasons: readonly string[];
}

export type AcceptApplication = Command<
  "AcceptApplication",
  {
    readonly caseId: string;
    readonly applicationNumber: string;
    readonly itemCode: string;
    readonly itemName: string;
    readonly applicant: Applicant;
    readonly regionCode: string;
    readonly underCommitment: boolean;
    readonly deficiency: Deficiency | null;
    /** Looked up before deciding when underCommitment; null otherwise. */
    readonly eligibility: CommitmentEligibility | null;
  }
>;

export type GrantLicence = Command<
  "GrantLicence",
  {
    readonly licenceId: string;
    readonly elicenceId: string;
    readonly decisionNumber: string;
    readonly licenceContent: string;
    readonly legalRepresentative: string;
    readonly decisionDate: string;
    readonly validUntil: string | null;
    readonly issuingAuthorityName: string;
  }
>;

export type DenyLicence = Command<"DenyLicence", { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string }>;

export type ChangeLicence = Command<
  "ChangeLicence",
  { readonly elicenceId: string; readonly decisionNumber: string; readonly changes: readonly FieldChange[]; readonly reason: string; readonly decisionDate: string }
>;

export type RenewLicence = Command<
  "RenewLicence",
  { readonly elicenceId: string; readonly decisionNumber: string; readonly validUntil: string | null; readonly decisionDate: string }
>;

export type CancelLicence = Command<"CancelLicence", { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string }>;

export type ReceiveRevocationRequest = Command<
  "ReceiveRevocationRequest",
  {
    readonly requestId: string;
    readonly regulator: string;
    readonly grounds: string;
    readonly requestedAt: number;
  }
>;

export type ExtendRevocationDecision = Command<"ExtendRevocationDecision", { readonly requestId: string; readonly reason: string }>;

export type RevokeLicence = Command<
  "RevokeLicence",
  { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string; readonly answersRequestId: string | null }
>;

export type DeclineRevocationRequest = Command<
  "DeclineRevocationRequest",
  { readonly requestId: string; readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string }
>;

export type LicenceCommand =
  | AcceptApplication
  | GrantLicence
  | DenyLicence
  | ChangeLicence
  | RenewLicence
  | CancelLicence
  | ReceiveRevocationRequest
  | ExtendRevocationDecision
  | RevokeLicence
  | DeclineRevocationRequest;
