import type { CommitmentVerified, HandoffPushed, InspectionRecorded, TransferredToEnforcement } from "@shenguan/contracts";
import { exhaustive, refuse, NotPartyRefusal, type Decider } from "@shenguan/eventstore";
import type { HandoffCommand } from "./commands.js";
import type { HandoffEvent, LicenceEnd, RevocationAnswered } from "./events.js";

export interface Claim {
  readonly claimedAt: number;
  readonly onTime: boolean;
  /** 推送即认领: claimed by the push itself. */
  readonly automatic: boolean;
}

/** One rectification round (整改): open while `completion` is null. */
export interface RectificationRound {
  readonly round: number;
  readonly rectificationId: string;
  readonly requirements: string;
  readonly dueDate: string;
  readonly orderedAt: number;
  readonly completion: { readonly passed: boolean; readonly findings: string; readonly completedAt: number } | null;
}

export interface RevocationRequest {
  readonly requestId: string;
  readonly grounds: string;
  readonly requestedAt: number;
  /** The approval bureau's answer, once it came back over Kafka. */
  readonly answer: Omit<RevocationAnswered, "handoffId" | "requestId"> | null;
}

/** What the regulator did with the licence, kept whatever the handoff's status. */
export interface SupervisionRecord {
  readonly handoff: HandoffPushed;
  readonly inspections: readonly InspectionRecorded[];
  readonly rectifications: readonly RectificationRound[];
  readonly verification: CommitmentVerified | null;
  readonly transfers: readonly TransferredToEnforcement[];
  readonly revocationRequests: readonly RevocationRequest[];
}

/** A licence pushed to its regulator (推送), from the claim (认领) to the licence's end upstream. */
export type HandoffState =
  | { readonly status: "none" }
  | ({ readonly status: "pushed" } & SupervisionRecord)
  | ({ readonly status: "claimed"; readonly claim: Claim } & SupervisionRecord)
  | ({ readonly status: "closed"; readonly claim: Claim | null; readonly closure: LicenceEnd } & SupervisionRecord);

type Known = Exclude<HandoffState, { status: "none" }>;
type Open = Extract<HandoffState, { status: "pushed" | "claimed" }>;
type Claimed = Extract<HandoffState, { status: "claimed" }>;

export const initialState = (): HandoffState => ({ status: "none" });

export function evolve(state: HandoffState, event: HandoffEvent): HandoffState {
  if (event.type === "HandoffReceived") {
    if (state.status !== "none") return state;
    const h = event.data;
    const record: SupervisionRecord = {
      handoff: h,
      inspections: [],
      rectifications: [],
      verification: null,
      transfers: [],
      revocationRequests: [],
    };
    return h.autoClaimed
      ? { status: "claimed", claim: { claimedAt: h.pushedAt, onTime: true, automatic: true }, ...record }
      : { status: "pushed", ...record };
  }
  if (state.status === "none") return state;
  switch (event.type) {
    case "HandoffClaimed": {
      const { claimedAt, onTime, automatic } = event.data;
      return state.status === "pushed" ? { ...state, status: "claimed", claim: { claimedAt, onTime, automatic } } : state;
    }
    case "InspectionRecorded":
      return { ...state, inspections: [...state.inspections, event.data] };
    case "RectificationOrdered": {
      const { round, rectificationId, requirements, dueDate, orderedAt } = event.data;
      return {
        ...state,
        rectifications: [...state.rectifications, { round, rectificationId, requirements, dueDate, orderedAt, completion: null }],
      };
    }
    case "RectificationCompleted": {
      const { round, passed, findings, completedAt } = event.data;
      return {
        ...state,
        rectifications: state.rectifications.map((r) => (r.round === round ? { ...r, completion: { passed, findings, completedAt } } : r)),
      };
    }
    case "CommitmentVerified":
      return { ...state, verification: event.data };
    case "TransferredToEnforcement":
      return { ...state, transfers: [...state.transfers, event.data] };
    case "RevocationRequested": {
      const { requestId, grounds, requestedAt } = event.data;
      return { ...state, revocationRequests: [...state.revocationRequests, { requestId, grounds, requestedAt, answer: null }] };
    }
    case "RevocationAnswered": {
      const { handoffId: _h, requestId, ...answer } = event.data;
      return { ...state, revocationRequests: state.revocationRequests.map((r) => (r.requestId === requestId ? { ...r, answer } : r)) };
    }
    case "HandoffClosed": {
      const { handoffId: _h, licenceId: _l, ...closure } = event.data;
      return { ...state, status: "closed", claim: state.status === "pushed" ? null : state.claim, closure };
    }
    default:
      return exhaustive(event);
  }
}

export function decide(command: HandoffCommand, state: HandoffState): HandoffEvent[] {
  switch (command.type) {
    case "ReceiveHandoff":
      // A redelivered push is a no-op: the stream is the handoff's own.
      return state.status === "none" ? [{ type: "HandoffReceived", data: command.data.handoff }] : [];
    case "ClaimHandoff": {
      const s = open(state, command.department);
      if (s.status === "claimed") {
        refuse(
          "handoff.already-claimed",
          s.claim.automatic
            ? `handoff ${s.handoff.handoffId} was claimed by the push itself (推送即认领)`
            : `handoff ${s.handoff.handoffId} was claimed already at ${new Date(s.claim.claimedAt).toISOString()}`,
        );
      }
      const h = s.handoff;
      return [
        {
          type: "HandoffClaimed",
          data: {
            handoffId: h.handoffId,
            licenceId: h.licenceId,
            regulator: h.regulator,
            claimedAt: command.now.getTime(),
            claimDue: h.claimDue,
            onTime: command.today <= h.claimDue,
            automatic: false,
          },
        },
      ];
    }
    case "RecordInspection": {
      const s = claimed(state, command.department);
      const d = command.data;
      if (s.inspections.some((i) => i.inspectionId === d.inspectionId)) return [];
      if (d.inspectionDate > command.today)
        refuse("inspection.date-in-future", `inspectionDate ${d.inspectionDate} is after today (${command.today})`, "inspectionDate");
      if (d.method === "COMMITMENT_CHECK" && !s.handoff.underCommitment) {
        refuse(
          "inspection.no-commitment",
          `licence ${s.handoff.licenceId} was not granted under 告知承诺: there is no commitment to check`,
          "method",
        );
      }
      if (d.rectificationDue !== null) {
        if (d.result !== "NON_COMPLIANT")
          refuse(
            "inspection.rectification-without-violation",
            `a rectification deadline needs a NON_COMPLIANT result, not ${d.result}`,
            "rectificationDue",
          );
        if (d.rectificationDue <= d.inspectionDate) {
          refuse(
            "inspection.rectification-due",
            `rectificationDue ${d.rectificationDue} must be after the inspection date ${d.inspectionDate}`,
            "rectificationDue",
          );
        }
      }
      const { inspectionId, inspectionDate, method, result, findings, handling, rectificationDue } = d;
      return [
        {
          type: "InspectionRecorded",
          data: {
            inspectionId,
            handoffId: s.handoff.handoffId,
            ...about(s),
            regulator: s.handoff.regulator,
            inspectionDate,
            method,
            result,
            findings,
            handling,
            rectificationDue,
          },
        },
      ];
    }
    case "OrderRectification": {
      const s = claimed(state, command.department);
      const d = command.data;
      const current = openRound(s);
      if (current)
        refuse(
          "rectification.round-open",
          `round ${current.round} (due ${current.dueDate}) is still open: complete it before ordering another`,
        );
      if (d.dueDate <= command.today)
        refuse("rectification.due-not-future", `dueDate ${d.dueDate} must be after today (${command.today})`, "dueDate");
      return [
        {
          type: "RectificationOrdered",
          data: {
            rectificationId: d.rectificationId,
            ...about(s),
            regulator: s.handoff.regulator,
            round: s.rectifications.length + 1,
            requirements: d.requirements,
            dueDate: d.dueDate,
            orderedAt: command.now.getTime(),
          },
        },
      ];
    }
    case "CompleteRectification": {
      const s = claimed(state, command.department);
      const d = command.data;
      const current = openRound(s);
      if (!current) refuse("rectification.none-open", "no rectification round is open on this handoff", "round");
      if (current.round !== d.round)
        refuse("rectification.not-open-round", `round ${d.round} is not the open round (${current.round})`, "round");
      const { licenceId, caseId } = s.handoff;
      return [
        {
          type: "RectificationCompleted",
          data: {
            rectificationId: current.rectificationId,
            licenceId,
            caseId,
            regulator: s.handoff.regulator,
            round: current.round,
            passed: d.passed,
            findings: d.findings,
            completedAt: command.now.getTime(),
          },
        },
      ];
    }
    case "VerifyCommitment": {
      const s = claimed(state, command.department);
      const d = command.data;
      if (!s.handoff.underCommitment)
        refuse(
          "verification.no-commitment",
          `licence ${s.handoff.licenceId} was not granted under 告知承诺: there is no commitment to verify`,
        );
      if (s.verification)
        refuse("verification.done", `the commitment was verified already (${s.verification.truthful ? "truthful" : "not truthful"})`);
      return [
        {
          type: "CommitmentVerified",
          data: {
            verificationId: d.verificationId,
            ...about(s),
            regulator: s.handoff.regulator,
            verifiedAt: command.now.getTime(),
            truthful: d.truthful,
            findings: d.findings,
            holderName: s.handoff.holderName,
          },
        },
      ];
    }
    case "TransferToEnforcement": {
      const s = claimed(state, command.department);
      const d = command.data;
      return [
        {
          type: "TransferredToEnforcement",
          data: {
            transferId: d.transferId,
            ...about(s),
            regulator: s.handoff.regulator,
            enforcementDepartment: d.enforcementDepartment,
            reason: d.reason,
            transferredAt: command.now.getTime(),
            holderName: s.handoff.holderName,
          },
        },
      ];
    }
    case "RequestRevocation": {
      const s = claimed(state, command.department);
      const authority = s.handoff.approvalAuthority;
      if (authority === null) {
        refuse(
          "revocation.authority-unknown",
          `the push of handoff ${s.handoff.handoffId} does not name the approval bureau (a version 1 event): the request has nowhere to go`,
        );
      }
      const pending = s.revocationRequests.find((r) => r.answer === null);
      if (pending) refuse("revocation.request-open", `request ${pending.requestId} is still awaiting the approval bureau's decision`);
      const d = command.data;
      return [
        {
          type: "RevocationRequested",
          data: {
            requestId: d.requestId,
            ...about(s),
            regulator: s.handoff.regulator,
            approvalAuthority: authority,
            grounds: d.grounds,
            requestedAt: command.now.getTime(),
          },
        },
      ];
    }
    case "NoteLicenceEnded": {
      if (state.status === "none" || state.status === "closed") return [];
      const { answersRequestId, ...end } = command.data;
      const { handoffId, licenceId } = state.handoff;
      const answered =
        answersRequestId === null ? undefined : state.revocationRequests.find((r) => r.requestId === answersRequestId && r.answer === null);
      const answer: HandoffEvent[] = answered
        ? [
            {
              type: "RevocationAnswered",
              data: {
                handoffId,
                requestId: answered.requestId,
                outcome: "revoked",
                decisionNumber: end.decisionNumber,
                decisionDate: end.decisionDate,
                reason: end.reason,
              },
            },
          ]
        : [];
      return [...answer, { type: "HandoffClosed", data: { handoffId, licenceId, ...end } }];
    }
    case "NoteRevocationDeclined": {
      if (state.status === "none") return [];
      const d = command.data;
      const request = state.revocationRequests.find((r) => r.requestId === d.requestId);
      if (!request || request.answer) return []; // another handoff's request, or a redelivery
      return [{ type: "RevocationAnswered", data: { handoffId: state.handoff.handoffId, outcome: "declined", ...d } }];
    }
    default:
      return exhaustive(command);
  }
}

export const handoffDecider: Decider<HandoffCommand, HandoffEvent, HandoffState> = { initialState, evolve, decide };


/** The handoff exists and the acting department is its regulator: no one supervises another's licence. */
function party(state: HandoffState, department: string): Known {
  if (state.status === "none") refuse("handoff.unknown", "no licence was pushed with this handoff id");
  const regulator = state.handoff.regulator;
  if (regulator !== department) {
    throw new NotPartyRefusal(
      "handoff.not-regulator",
      `handoff ${state.handoff.handoffId} is routed to ${regulator}; ${department} may not act on it`,
    );
  }
  return state;
}

function open(state: HandoffState, department: string): Open {
  const s = party(state, department);
  if (s.status === "closed") {
    const c = s.closure;
    refuse(
      "handoff.closed",
      `licence ${s.handoff.licenceId} was ${c.ended} on ${c.decisionDate} (${c.decisionNumber}): its supervision is closed`,
    );
  }
  return s;
}

function claimed(state: HandoffState, department: string): Claimed {
  const s = open(state, department);
  if (s.status === "pushed") refuse("handoff.not-claimed", `claim handoff ${s.handoff.handoffId} (认领) before supervising it`);
  return s;
}

function openRound(s: SupervisionRecord): RectificationRound | undefined {
  return s.rectifications.find((r) => r.completion === null);
}

/** The licence fields every supervision contract repeats. */
function about(s: SupervisionRecord) {
  return { licenceId: s.handoff.licenceId, caseId: s.handoff.caseId, holderUscc: s.handoff.holderUscc };
}

