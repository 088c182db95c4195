import type { CommitmentVerified, CreditRecordPublished, CreditRepaired } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import type { SqlQueryable } from "@shenguan/eventstore";
import { idNumberHash } from "../handoff/handoffs.js";

export async function recordCreditRecord(tx: SqlQueryable, r: CreditRecordPublished): Promise<void> {
  await tx.query(
    `insert into linkage_credit_records (record_id, holder_uscc, holder_name, kind, severity, bars_commitment, source_ref, publishing_department,
       summary, published_at, public_until)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) on conflict (record_id) do nothing`,
    [
      r.recordId,
      r.holderUscc,
      r.holderName,
      r.kind,
      r.severity,
      r.barsCommitment,
      r.sourceRef,
      r.publishingDepartment,
      r.summary,
      new Date(r.publishedAt),
      r.publicUntil,
    ],
  );
}

export async function recordCreditRepair(tx: SqlQueryable, r: CreditRepaired): Promise<void> {
  await tx.query(
    `insert into linkage_credit_repairs (record_id, holder_uscc, repairing_department, basis, repaired_at) values ($1, $2, $3, $4, $5)
     on conflict (record_id) do nothing`,
    [r.recordId, r.holderUscc, r.repairingDepartment, r.basis, new Date(r.repairedAt)],
  );
}

/** A false commitment (truthful = false) bars 告知承诺 at once; the credit platform's record for it, once it arrives, takes over. */
export async function recordCommitmentBreach(tx: SqlQueryable, v: CommitmentVerified): Promise<void> {
  if (v.truthful) return;
  await tx.query(
    `insert into linkage_commitment_breaches (verification_id, licence_id, case_id, holder_uscc, regulator, findings, verified_at)
     values ($1, $2, $3, $4, $5, $6, $7) on conflict (verification_id) do nothing`,
    [v.verificationId, v.licenceId, v.caseId, v.holderUscc, v.regulator, v.findings, new Date(v.verifiedAt)],
  );
}

/** One record that bars the subject from 告知承诺. */
export interface BarringRecord {
  /** CREDIT_RECORD (from the credit platform) or COMMITMENT_VERIFICATION (a false commitment not yet recorded there). */
  readonly source: "CREDIT_RECORD" | "COMMITMENT_VERIFICATION";
  /** The credit record kind (COMMITMENT_BREACH, SERIOUS_DISHONESTY, PENALTY …). */
  readonly kind: string;
  /** The credit record id or the verification id. */
  readonly id: string;
  /** Local date it was recorded. */
  readonly date: string;
  readonly summary: string;
  readonly department: string;
}

export interface CommitmentEligibilityResult {
  readonly eligible: boolean;
  /** One sentence per barring record, naming kind, id, date and summary (what the approval bureau shows the applicant). */
  readonly reasons: string[];
  readonly records: BarringRecord[];
}

/**
 * 告知承诺 eligibility (domain step 8): not eligible while a credit record
 * that bars commitment is unrepaired, or a false commitment found by a
 * regulator has neither been taken over by a credit record nor repaired.
 * An organisation is matched by USCC; a natural person by ID number, through
 * the licences they held (credit records carry USCCs only).
 *
 * @example
 *   const { eligible, reasons } = await commitmentEligibility(sql, { uscc: "91350100M000100Y43", idNumber: null });
 */
export async function commitmentEligibility(
  sql: SqlQueryable,
  subject: { uscc?: string | null; idNumber?: string | null },
): Promise<CommitmentEligibilityResult> {
  const uscc = subject.uscc ?? null;
  const idHash = subject.idNumber ? idNumberHash(subject.idNumber) : null;
  if (uscc === null && idHash === null) return { eligible: true, reasons: [], records: [] };
  const { rows } = await sql.query<{
    source: BarringRecord["source"];
    kind: string;
    id: string;
    at: Date;
    summary: string;
    department: string;
  }>(
    `select 'CREDIT_RECORD' as source, r.kind, r.record_id as id, r.published_at as at, r.summary, r.publishing_department as department
       from linkage_credit_records r
      where r.bars_commitment and r.holder_uscc = $1
        and not exists (select 1 from linkage_credit_repairs p where p.record_id = r.record_id)
     union all
     select 'COMMITMENT_VERIFICATION', 'COMMITMENT_BREACH', b.verification_id, b.verified_at, b.findings, b.regulator
       from linkage_commitment_breaches b left join linkage_handoffs h on h.licence_id = b.licence_id
      where (coalesce(b.holder_uscc, h.holder_uscc) = $1 or h.holder_id_hash = $2)
        and not exists (select 1 from linkage_credit_records r where r.source_ref = b.verification_id)
        and not exists (select 1 from linkage_credit_repairs p where p.record_id = b.verification_id)
     order by at, id`,
    [uscc, idHash],
  );
  const records = rows.map((r) => ({
    source: r.source,
    kind: r.kind,
    id: r.id,
    date: localDateOf(new Date(r.at)),
    summary: r.summary,
    department: r.department,
  }));
  return {
    eligible: records.length === 0,
    reasons: records.map((r) =>
      r.source === "CREDIT_RECORD"
        ? `信用记录 credit record ${r.id} (${r.kind}, ${r.date}, ${r.department}) bars 告知承诺 until repaired: ${r.summary}`
        : `虚假承诺 false commitment found by verification ${r.id} (${r.kind}, ${r.date}, ${r.department}): ${r.summary}`,
    ),
    records,
  };
}
