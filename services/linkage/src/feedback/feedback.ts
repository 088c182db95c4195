import type {
  CommitmentVerified,
  CreditRecordPublished,
  CreditRepaired,
  EnforcementConcluded,
  InspectionRecorded,
  PenaltyImposed,
  RectificationCompleted,
  RectificationOrdered,
  RevocationRequested,
  TransferredToEnforcement,
} from "@shenguan/contracts";
import type { SqlQueryable } from "@shenguan/eventstore";
import { refreshFromFeedback } from "../handoff/handoffs.js";

/** One outcome flowing back to the approval bureau (反馈), shown on the licence. */
export interface FeedbackEntry {
  readonly eventId: string;
  /** The contract the outcome came in. */
  readonly eventType: string;
  readonly licenceId: string | null;
  readonly caseId: string | null;
  readonly handoffId: string | null;
  /** The outcome's own id (inspection, penalty, credit record …). */
  readonly ref: string;
  /** What it stems from when it names no licence: a transfer, a penalty, a credit record. */
  readonly sourceRef: string | null;
  /** Stable kind, e.g. INSPECTION. */
  readonly kind: string;
  /** A supervision result (closes the loop), as opposed to a step under way (rectification ordered, transfer). */
  readonly result: boolean;
  /** In Chinese and English words. */
  readonly summary: string;
  readonly department: string;
  readonly at: Date;
}

const INSPECTION_RESULT = {
  COMPLIANT: "合格 compliant",
  NON_COMPLIANT: "不合格 non-compliant",
  NOT_FOUND: "未发现经营 not found at the address",
} as const;
const INSPECTION_METHOD = {
  RANDOM: "双随机 random",
  TARGETED: "重点 targeted",
  COMPLAINT: "投诉 complaint",
  COMMITMENT_CHECK: "承诺核查 commitment check",
} as const;
const OUTCOME = {
  PENALISED: "已处罚 penalised",
  NO_VIOLATION: "无违法 no violation",
  DISMISSED: "不予立案 dismissed",
  REFERRED: "移送 referred",
} as const;
const PENALTY = {
  WARNING: "警告 warning",
  FINE: "罚款 fine",
  CONFISCATION: "没收 confiscation",
  SUSPENSION: "责令停产停业 suspension",
  LICENCE_REVOCATION: "吊销许可证 licence revocation",
  DETENTION_REFERRAL: "移送拘留 detention referral",
  OTHER: "其他 other",
} as const;

const yuan = (fen: number) => `${(fen / 100).toFixed(2)} 元 yuan`;

export const feedbackOf = {
  inspection(e: InspectionRecorded, eventId: string, at: Date): FeedbackEntry {
    const due = e.rectificationDue ? `; 限期整改至 rectify by ${e.rectificationDue}` : "";
    return {
      ...base(eventId, "InspectionRecorded", e.licenceId, e.caseId, e.handoffId, e.inspectionId, null, e.regulator, at),
      kind: "INSPECTION",
      result: true,
      summary: `检查 inspection ${e.inspectionDate} (${INSPECTION_METHOD[e.method]}): ${INSPECTION_RESULT[e.result]}. ${e.findings}; 处理 handling: ${e.handling}${due}`,
    };
  },
  rectificationOrdered(e: RectificationOrdered, eventId: string): FeedbackEntry {
    return {
      ...base(eventId, "RectificationOrdered", e.licenceId, e.caseId, null, e.rectificationId, null, e.regulator, new Date(e.orderedAt)),
      kind: "RECTIFICATION_ORDERED",
      result: false,
      summary: `责令整改 rectification ordered, 第${e.round}轮 round ${e.round}, 期限 due ${e.dueDate}: ${e.requirements}`,
    };
  },
  rectificationCompleted(e: RectificationCompleted, eventId: string): FeedbackEntry {
    return {
      ...base(
        eventId,
        "RectificationCompleted",
        e.licenceId,
        e.caseId,
        null,
        `${e.rectificationId}#${e.round}`,
        e.rectificationId,
        e.regulator,
        new Date(e.completedAt),
      ),
      kind: "RECTIFICATION_COMPLETED",
      result: true,
      summary: `整改复查 rectification check, 第${e.round}轮 round ${e.round}: ${e.passed ? "通过 passed" : "未通过 failed"}. ${e.findings}`,
    };
  },
  commitmentVerified(e: CommitmentVerified, eventId: string): FeedbackEntry {
    return {
      ...base(eventId, "CommitmentVerified", e.licenceId, e.caseId, null, e.verificationId, null, e.regulator, new Date(e.verifiedAt)),
      kind: "COMMITMENT_VERIFICATION",
      result: true,
      summary: `告知承诺核查 commitment verification: ${e.truthful ? "承诺属实 truthful" : "承诺不实 untruthful (虚假承诺 false commitment)"}. ${e.findings}`,
    };
  },
  transferred(e: TransferredToEnforcement, eventId: string): FeedbackEntry {
    return {
      ...base(eventId, "TransferredToEnforcement", e.licenceId, e.caseId, null, e.transferId, null, e.regulator, new Date(e.transferredAt)),
      kind: "TRANSFER_TO_ENFORCEMENT",
      result: false,
      summary: `移交执法 transferred to enforcement (${e.enforcementDepartment}): ${e.reason}`,
    };
  },
  revocationRequested(e: RevocationRequested, eventId: string): FeedbackEntry {
    return {
      ...base(eventId, "RevocationRequested", e.licenceId, e.caseId, null, e.requestId, null, e.regulator, new Date(e.requestedAt)),
      kind: "REVOCATION_REQUEST",
      result: true,
      summary: `申请撤销许可 revocation requested of ${e.approvalAuthority}: ${e.grounds}`,
    };
  },
  penalty(e: PenaltyImposed, eventId: string, at: Date): FeedbackEntry {
    const fine = e.fineFen !== null ? `, ${yuan(e.fineFen)}` : "";
    return {
      ...base(eventId, "PenaltyImposed", e.licenceId, e.caseId, null, e.penaltyId, e.transferId, e.enforcementDepartment, at),
      kind: "PENALTY",
      result: true,
      summary: `行政处罚 penalty ${e.decisionNumber} (${e.decisionDate}): ${e.kinds.map((k) => PENALTY[k]).join(", ")}${fine}${e.serious ? "; 情节严重 serious" : ""}. ${e.facts}`,
    };
  },
  enforcementConcluded(e: EnforcementConcluded, eventId: string): FeedbackEntry {
    return {
      ...base(
        eventId,
        "EnforcementConcluded",
        e.licenceId,
        e.caseId,
        null,
        e.enforcementCaseId,
        e.penaltyId ?? e.transferId,
        e.enforcementDepartment,
        new Date(e.concludedAt),
      ),
      kind: "ENFORCEMENT_RESULT",
      result: true,
      summary: `执法结果 enforcement concluded: ${OUTCOME[e.outcome]}. ${e.summary}`,
    };
  },
  creditRecord(e: CreditRecordPublished, eventId: string): FeedbackEntry {
    return {
      ...base(eventId, "CreditRecordPublished", null, null, null, e.recordId, e.sourceRef, e.publishingDepartment, new Date(e.publishedAt)),
      kind: "CREDIT_RECORD",
      result: false,
      summary: `信用记录 credit record ${e.kind} (${e.severity})${e.barsCommitment ? ", 不得适用告知承诺 bars notification-commitment" : ""}: ${e.summary}`,
    };
  },
  creditRepaired(e: CreditRepaired, eventId: string): FeedbackEntry {
    return {
      ...base(
        eventId,
        "CreditRepaired",
        null,
        null,
        null,
        `repair-${e.recordId}`,
        e.recordId,
        e.repairingDepartment,
        new Date(e.repairedAt),
      ),
      kind: "CREDIT_REPAIR",
      result: false,
      summary: `信用修复 credit repaired (record ${e.recordId}): ${e.basis}`,
    };
  },
};

function base(
  eventId: string,
  eventType: string,
  licenceId: string | null,
  caseId: string | null,
  handoffId: string | null,
  ref: string,
  sourceRef: string | null,
  department: string,
  at: Date,
) {
  return { eventId, eventType, licenceId, caseId, handoffId, ref, sourceRef, department, at };
}

/** Records an outcome (once per event) and, when it names a licence, moves that handoff's supervision facts. */
export async function recordFeedback(tx: SqlQueryable, f: FeedbackEntry): Promise<void> {
  await tx.query(
    `insert into linkage_feedback (event_id, event_type, licence_id, case_id, handoff_id, ref, source_ref, kind, result, summary, department, at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) on conflict (event_id) do nothing`,
    [f.eventId, f.eventType, f.licenceId, f.caseId, f.handoffId, f.ref, f.sourceRef, f.kind, f.result, f.summary, f.department, f.at],
  );
  if (f.licenceId) await refreshFromFeedback(tx, f.licenceId);
}

export interface FeedbackView {
  readonly eventId: string;
  readonly eventType: string;
  readonly kind: string;
  readonly result: boolean;
  readonly summary: string;
  readonly department: string;
  readonly at: string;
  readonly ref: string;
  readonly caseId: string | null;
}

/**
 * What came back about a licence, oldest first: outcomes naming it, and
 * outcomes reaching it through what they stem from (a penalty without
 * licence id from a transfer about it, the credit record of that penalty, its
 * repair …).
 */
export async function feedbackOfLicence(db: SqlQueryable, licenceId: string): Promise<FeedbackView[]> {
  const { rows } = await db.query<{
    event_id: string;
    event_type: string;
    kind: string;
    result: boolean;
    summary: string;
    department: string;
    at: Date;
    ref: string;
    case_id: string | null;
  }>(
    `with recursive about(ref) as (
       select ref from linkage_feedback where licence_id = $1
       union select $1::text
       union
       select f.ref from linkage_feedback f join about a on f.source_ref = a.ref
     )
     select event_id, event_type, kind, result, summary, department, at, ref, case_id from linkage_feedback
     where licence_id = $1 or source_ref in (select ref from about)
     order by at, event_id`,
    [licenceId],
  );
  return rows.map((r) => ({
    eventId: r.event_id,
    eventType: r.event_type,
    kind: r.kind,
    result: r.result,
    summary: r.summary,
    department: r.department,
    at: new Date(r.at).toISOString(),
    ref: r.ref,
    caseId: r.case_id,
  }));
}
