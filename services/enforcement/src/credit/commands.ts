import type { Command } from "@shenguan/eventstore";
import type { CreditRecordKind, CreditSeverity } from "@shenguan/contracts";

export type PublishCreditRecord = Command<
  "PublishCreditRecord",
  {
    readonly recordId: string;
    readonly holderName: string;
    readonly holderUscc: string;
    readonly kind: CreditRecordKind;
    readonly severity: CreditSeverity;
    /** What the publisher asks for; the platform's rules may force it to true. */
    readonly barsCommitment: boolean;
    /** The penalty, verification or licence the record stems from: a second record from the same source is a no-op. */
    readonly sourceRef: string | null;
    readonly summary: string;
    readonly publicUntil: string | null;
  }
>;

/** 信用修复. */
export type RepairCredit = Command<
  "RepairCredit",
  {
    readonly recordId: string;
    readonly holderUscc: string;
    readonly basis: string;
    /** The credit platform's own department code: it may repair any record; others only their own. */
    readonly platformDepartment: string;
  }
>;

export type CreditCommand = PublishCreditRecord | RepairCredit;
