import type { Applicant, Deficiency, FieldChange } from "@shenguan/contracts";

/** Whether the applicant may use 告知承诺, as the linkage credit projection sees it. */
export interface CommitmentEligibility {
  readonly eligible: boolean;
  /** Why not: each barring credit record or past false commitment, in words. */
  readonly reasons: readonly string[];
}

interface Base<T extends string, D> {
  readonly type: T;
  readonly data: D;
  /** The acting department. */
  readonly department: string;
  readonly now: Date;
  /** `now` as a local (Asia/Shanghai) date, YYYY-MM-DD. */
  readonly today: string;
}

export type AcceptApplication = Base<
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

export type GrantLicence = Base<
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

export type DenyLicence = Base<"DenyLicence", { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string }>;

export type ChangeLicence = Base<
  "ChangeLicence",
  { readonly elicenceId: string; readonly decisionNumber: string; readonly changes: readonly FieldChange[]; readonly reason: string; readonly decisionDate: string }
>;

export type RenewLicence = Base<
  "RenewLicence",
  { readonly elicenceId: string; readonly decisionNumber: string; readonly validUntil: string | null; readonly decisionDate: string }
>;

export type CancelLicence = Base<"CancelLicence", { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string }>;

export type ReceiveRevocationRequest = Base<
  "ReceiveRevocationRequest",
  {
    readonly requestId: string;
    readonly regulator: string;
    readonly grounds: string;
    readonly requestedAt: number;
  }
>;

export type ExtendRevocationDecision = Base<"ExtendRevocationDecision", { readonly requestId: string; readonly reason: string }>;

export type RevokeLicence = Base<
  "RevokeLicence",
  { readonly decisionNumber: string; readonly reason: string; readonly decisionDate: string; readonly answersRequestId: string | null }
>;

export type DeclineRevocationRequest = Base<
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
