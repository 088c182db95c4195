/**
 * Deadlines as the events tell them, event by event: what linkage opens,
 * meets, moves and cards, rebuilt from the log alone (never from linkage's
 * read model), so the timeline can show each deadline's status at the moment
 * of every event. Ids follow linkage's deadlineIdOf (`claim-<handoffId>` …).
 */
import { addDays, localDateOf, type LocalDate } from "@shenguan/deadlines";
import { deadlineIdOf } from "@shenguan/linkage";

export type DeadlineKind = "CLAIM" | "COMMITMENT_VERIFICATION" | "REVOCATION_DECISION" | "SUPPLEMENT" | "RECTIFICATION";
/** open → yellow (黄牌) → red (红牌); met when the step was done; cancelled when the licence ended first. */
export type DeadlineState = "open" | "yellow" | "red" | "met" | "cancelled";

export interface DeadlineSnapshot {
  readonly deadlineId: string;
  readonly kind: DeadlineKind;
  readonly subjectRef: string;
  readonly licenceId: string | null;
  readonly responsibleDepartment: string | null;
  readonly dueDate: string | null;
  readonly status: DeadlineState;
  /** Past its due date at this moment and not met (a card may not have been issued yet). */
  readonly overdue: boolean;
  /** The event type that met it. */
  readonly metBy: string | null;
}

interface Tracked {
  deadlineId: string;
  kind: DeadlineKind;
  subjectRef: string;
  licenceId: string | null;
  responsibleDepartment: string | null;
  dueDate: string | null;
  status: DeadlineState;
  metBy: string | null;
}

const KINDS: ReadonlySet<string> = new Set<DeadlineKind>([
  "CLAIM",
  "COMMITMENT_VERIFICATION",
  "REVOCATION_DECISION",
  "SUPPLEMENT",
  "RECTIFICATION",
]);

/** The 60 calendar days for deciding a revocation request (市场监管总局令第16号), counted as linkage counts them. */
const REVOCATION_DECISION_DAYS = 60;

type Data = Record<string, unknown>;
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const num = (v: unknown): number | null => (typeof v === "number" ? v : null);

export class DeadlineTracker {
  private readonly deadlines = new Map<string, Tracked>();

  /** Folds one event in; returns whether it touched a deadline. */
  apply(event: { readonly type: string; readonly data: unknown; readonly time: Date }): boolean {
    const d = (event.data ?? {}) as Data;
    switch (event.type) {
      case "HandoffPushed": {
        const handoffId = str(d.handoffId);
        const licenceId = str(d.licenceId);
        if (handoffId) this.open("CLAIM", handoffId, licenceId, str(d.regulator), str(d.claimDue));
        if (licenceId && str(d.verificationDue))
          this.open("COMMITMENT_VERIFICATION", licenceId, licenceId, str(d.regulator), str(d.verificationDue));
        return true;
      }
      case "HandoffClaimed":
        return this.meet("CLAIM", str(d.handoffId), event.type);
      case "CommitmentVerified":
        return this.meet("COMMITMENT_VERIFICATION", str(d.licenceId), event.type);
      case "RevocationRequested": {
        const requestId = str(d.requestId);
        const at = num(d.requestedAt);
        if (!requestId) return false;
        const due = at === null ? null : addDays(localDateOf(new Date(at)) as LocalDate, REVOCATION_DECISION_DAYS);
        this.open("REVOCATION_DECISION", requestId, str(d.licenceId), str(d.approvalAuthority), due);
        return true;
      }
      case "RevocationRequestReceived":
        return this.move("REVOCATION_DECISION", str(d.requestId), str(d.decisionDue));
      case "RevocationDecisionExtended":
        return this.move("REVOCATION_DECISION", str(d.requestId), str(d.decisionDue));
      case "RevocationRequestDeclined":
        return this.meet("REVOCATION_DECISION", str(d.requestId), event.type);
      case "RectificationOrdered": {
        const id = str(d.rectificationId);
        if (!id) return false;
        this.open("RECTIFICATION", id, str(d.licenceId), str(d.regulator), str(d.dueDate));
        return true;
      }
      case "RectificationCompleted":
        return this.meet("RECTIFICATION", str(d.rectificationId), event.type);
      case "DeadlineWarned":
      case "DeadlineBreached": {
        const kind = str(d.kind) as DeadlineKind | null;
        const subjectRef = str(d.subjectRef);
        if (!kind || !subjectRef || !KINDS.has(kind)) return false;
        const t = this.open(kind, subjectRef, null, str(d.responsibleDepartment), str(d.dueDate));
        if (t.status === "met" || t.status === "cancelled") return true;
        if (event.type === "DeadlineBreached") t.status = "red";
        else if (t.status === "open") t.status = "yellow";
        return true;
      }
      case "LicenceRevoked":
      case "LicenceCancelled": {
        // A revocation answering a request meets that request's deadline first (linkage: met > cancelled).
        if (event.type === "LicenceRevoked") this.meet("REVOCATION_DECISION", str(d.answersRequestId), event.type);
        const licenceId = str(d.licenceId);
        for (const t of this.deadlines.values()) {
          if (t.licenceId === licenceId && t.status !== "met") t.status = "cancelled";
        }
        return true;
      }
      default:
        return false;
    }
  }

  /** Every deadline known so far, with `overdue` judged at `at`. */
  snapshot(at: Date): DeadlineSnapshot[] {
    if (this.deadlines.size === 0) return [];
    const today = this.localDate(at);
    return [...this.deadlines.values()].map((t) => ({
      ...t,
      overdue: t.dueDate !== null && (t.status === "open" || t.status === "yellow" || t.status === "red") && today > t.dueDate,
    }));
  }

  // A timeline asks for the date of every event, and localDateOf goes through Intl each time; consecutive
  // events mostly fall in one quarter hour. Every UTC offset is a multiple of 15 minutes, and offsets change
  // on such boundaries, so all instants of one UTC quarter hour have one local date.
  private slot = NaN;
  private slotDate = "";

  private localDate(at: Date): string {
    const slot = Math.floor(at.getTime() / 900_000);
    if (slot !== this.slot) {
      this.slotDate = localDateOf(at);
      this.slot = slot;
    }
    return this.slotDate;
  }

  private open(kind: DeadlineKind, subjectRef: string, licenceId: string | null, responsible: string | null, due: string | null): Tracked {
    const deadlineId = deadlineIdOf(kind, subjectRef);
    let t = this.deadlines.get(deadlineId);
    if (t === undefined) {
      t = { deadlineId, kind, subjectRef, licenceId, responsibleDepartment: responsible, dueDate: due, status: "open", metBy: null };
      this.deadlines.set(deadlineId, t);
    } else {
      // A card or an echo may arrive before the push that opened it: fill in what it lacked.
      t.licenceId ??= licenceId;
      t.responsibleDepartment ??= responsible;
      t.dueDate ??= due;
    }
    return t;
  }

  private meet(kind: DeadlineKind, subjectRef: string | null, by: string): boolean {
    if (!subjectRef) return false;
    const t = this.open(kind, subjectRef, null, null, null);
    if (t.status !== "met") {
      t.status = "met";
      t.metBy = by;
    }
    return true;
  }

  private move(kind: DeadlineKind, subjectRef: string | null, due: string | null): boolean {
    if (!subjectRef || !due) return false;
    this.open(kind, subjectRef, null, null, due).dueDate = due;
    return true;
  }
}
