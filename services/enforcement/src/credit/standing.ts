import { localDateOf } from "@shenguan/deadlines";
import type { CreditRecord, CreditSubject } from "./decider.js";

/** A subject's credit as the platform shows it, and whether it may use 告知承诺. */
export interface CreditStanding {
  readonly uscc: string;
  readonly holderName: string | null;
  readonly records: ReadonlyArray<CreditRecord & { readonly repaired: boolean }>;
  /** True while any record that bars 告知承诺 is unrepaired. */
  readonly barred: boolean;
  /** One line per barring record, for the approval bureau's refusal. */
  readonly reasons: readonly string[];
}

/** The standing of a subject folded from its stream. A bar lasts until the record is repaired (信用修复). */
export function standingOf(uscc: string, subject: CreditSubject): CreditStanding {
  if (subject.status === "none") return { uscc, holderName: null, records: [], barred: false, reasons: [] };
  const records = Object.values(subject.records);
  const reasons = records
    .filter((r) => r.barsCommitment && r.repair === null)
    .map((r) => `${r.kind} ${r.recordId} (${r.severity}) published ${localDateOf(new Date(r.publishedAt))} by ${r.publishingDepartment}: ${r.summary}`);
  return {
    uscc,
    holderName: subject.holderName,
    records: records.map((r) => ({ ...r, repaired: r.repair !== null })),
    barred: reasons.length > 0,
    reasons,
  };
}
