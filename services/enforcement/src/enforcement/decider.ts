import type { EnforcementConcluded, EnforcementOutcome, PenaltyImposed } from "@shenguan/contracts";
import { localDateOf } from "@shenguan/deadlines";
import { exhaustive, refuse, NotPartyRefusal, type Decider } from "@shenguan/eventstore";
import type { EnforcementCommand, ImposePenalty, OpenCase } from "./commands.js";
import type { EnforcementCaseOpened, EnforcementEvent } from "./events.js";

/** An enforcement case (综合行政执法) from opening to its result (执法结果). One penalty decision per case. */
export type EnforcementCase =
  | { readonly status: "none" }
  | { readonly status: "open"; readonly opened: EnforcementCaseOpened; readonly penalty: PenaltyImposed | null }
  | { readonly status: "concluded"; readonly opened: EnforcementCaseOpened; readonly penalty: PenaltyImposed | null; readonly conclusion: EnforcementConcluded };

export const initialState = (): EnforcementCase => ({ status: "none" });

export function evolve(state: EnforcementCase, event: EnforcementEvent): EnforcementCase {
  switch (event.type) {
    case "EnforcementCaseOpened":
      return state.status === "none" ? { status: "open", opened: event.data, penalty: null } : state;
    case "PenaltyImposed":
      return state.status === "open"
        ? { ...state, opened: { ...state.opened, holderName: state.opened.holderName ?? event.data.holderName }, penalty: event.data }
        : state;
    case "EnforcementConcluded":
      return state.status === "open" ? { status: "concluded", opened: state.opened, penalty: state.penalty, conclusion: event.data } : state;
    default:
      return exhaustive(event);
  }
}

export function decide(command: EnforcementCommand, state: EnforcementCase): EnforcementEvent[] {
  switch (command.type) {
    case "OpenFromTransfer": {
      const { enforcementCaseId, transfer: t } = command.data;
      if (state.status !== "none") {
        if (state.opened.transferId === t.transferId) return []; // the transfer redelivered
        refuse("enforcement.case-exists", `enforcement case ${enforcementCaseId} already exists`, "enforcementCaseId");
      }
      return [
        {
          type: "EnforcementCaseOpened",
          data: {
            enforcementCaseId,
            origin: "TRANSFER",
            transferId: t.transferId,
            regulator: t.regulator,
            licenceId: t.licenceId,
            caseId: t.caseId,
            holderName: t.holderName,
            holderUscc: t.holderUscc,
            enforcementDepartment: t.enforcementDepartment,
            facts: t.reason,
            openedAt: t.transferredAt,
          },
        },
      ];
    }
    case "OpenCase": {
      const d = command.data;
      if (state.status !== "none") {
        if (sameOpening(state.opened, d, command.department)) return []; // the same opening again
        refuse("enforcement.case-exists", `enforcement case ${d.enforcementCaseId} already exists`, "enforcementCaseId");
      }
      return [
        {
          type: "EnforcementCaseOpened",
          data: {
            enforcementCaseId: d.enforcementCaseId,
            origin: "OWN_INITIATIVE",
            transferId: null,
            regulator: null,
            licenceId: d.licenceId,
            caseId: d.caseId,
            holderName: d.holder.name,
            holderUscc: d.holder.uscc,
            enforcementDepartment: command.department,
            facts: d.facts,
            openedAt: command.now.getTime(),
          },
        },
      ];
    }
    case "ImposePenalty": {
      const s = open(state, command.department);
      const d = command.data;
      if (s.penalty) {
        if (s.penalty.penaltyId === d.penaltyId) return []; // the same decision again
        refuse("penalty.exists", `case ${s.opened.enforcementCaseId} already has penalty decision ${s.penalty.decisionNumber}`, "penaltyId");
      }
      penaltyRules(d, command.today, s.opened);
      const holderName = d.holderName ?? s.opened.holderName;
      if (holderName === null) refuse("penalty.holder-name-missing", "the case does not know the holder's name (a transfer does not carry it): give holderName", "holderName");
      const o = s.opened;
      return [
        {
          type: "PenaltyImposed",
          data: {
            penaltyId: d.penaltyId,
            decisionNumber: d.decisionNumber,
            transferId: o.transferId,
            licenceId: o.licenceId,
            caseId: o.caseId,
            holderName,
            holderUscc: o.holderUscc,
            enforcementDepartment: o.enforcementDepartment,
            decisionDate: d.decisionDate,
            kinds: [...d.kinds],
            fineFen: d.fineFen,
            facts: d.facts,
            legalBasis: d.legalBasis,
            serious: d.serious,
          },
        },
      ];
    }
    case "Conclude": {
      const s = open(state, command.department, "enforcement.already-concluded");
      outcomeRules(command.data.outcome, s.penalty);
      const o = s.opened;
      return [
        {
          type: "EnforcementConcluded",
          data: {
            enforcementCaseId: o.enforcementCaseId,
            transferId: o.transferId,
            penaltyId: s.penalty?.penaltyId ?? null,
            licenceId: o.licenceId,
            caseId: o.caseId,
            holderUscc: o.holderUscc,
            enforcementDepartment: o.enforcementDepartment,
            outcome: command.data.outcome,
            summary: command.data.summary,
            concludedAt: command.now.getTime(),
          },
        },
      ];
    }
    default:
      return exhaustive(command);
  }
}

export const enforcementDecider: Decider<EnforcementCommand, EnforcementEvent, EnforcementCase> = { initialState, evolve, decide };


/** An open case, acted on by the department it belongs to. */
function open(state: EnforcementCase, department: string, concludedCode = "enforcement.concluded") {
  if (state.status === "none") refuse("enforcement.no-case", "no enforcement case was opened under this id");
  if (state.opened.enforcementDepartment !== department) {
    throw new NotPartyRefusal("enforcement.not-party", `case ${state.opened.enforcementCaseId} belongs to ${state.opened.enforcementDepartment}, not ${department}`);
  }
  if (state.status !== "open") refuse(concludedCode, `case ${state.opened.enforcementCaseId} is concluded (${state.conclusion.outcome}); nothing more can be decided on it`);
  return state;
}

function penaltyRules(d: ImposePenalty["data"], today: string, opened: EnforcementCaseOpened): void {
  if (d.kinds.length === 0) refuse("penalty.kinds-empty", "a penalty decision names at least one kind of penalty", "kinds");
  if (new Set(d.kinds).size !== d.kinds.length) refuse("penalty.kinds-repeated", `a kind of penalty is named twice: ${d.kinds.join(", ")}`, "kinds");
  const fined = d.kinds.includes("FINE");
  if (fined && d.fineFen === null) refuse("penalty.fine-missing", "a FINE needs its amount in fineFen", "fineFen");
  if (fined && d.fineFen !== null && d.fineFen <= 0) refuse("penalty.fine-not-positive", `fineFen must be > 0, got ${d.fineFen}`, "fineFen");
  if (!fined && d.fineFen !== null) refuse("penalty.fine-without-fine", "fineFen is given but the kinds do not include FINE", "fineFen");
  if (d.decisionDate > today) refuse("decision.date-in-future", `decisionDate ${d.decisionDate} is after today (${today})`, "decisionDate");
  const openedOn = localDateOf(new Date(opened.openedAt));
  if (d.decisionDate < openedOn) refuse("decision.before-opening", `decisionDate ${d.decisionDate} is before the case was opened (${openedOn})`, "decisionDate");
}

/**
 * PENALISED needs the penalty decision; NO_VIOLATION and DISMISSED contradict
 * one. REFERRED (移送, e.g. to public security) stands alone, or beside a
 * penalty whose kinds include DETENTION_REFERRAL: the referral is then part
 * of the decision itself.
 */
function outcomeRules(outcome: EnforcementOutcome, penalty: PenaltyImposed | null): void {
  switch (outcome) {
    case "PENALISED":
      if (!penalty) refuse("conclusion.no-penalty", "outcome PENALISED needs a penalty decision on the case", "outcome");
      return;
    case "NO_VIOLATION":
    case "DISMISSED":
      if (penalty) refuse("conclusion.penalty-exists", `outcome ${outcome} contradicts penalty decision ${penalty.decisionNumber}`, "outcome");
      return;
    case "REFERRED":
      if (penalty && !penalty.kinds.includes("DETENTION_REFERRAL")) {
        refuse("conclusion.penalty-exists", `penalty decision ${penalty.decisionNumber} was imposed: conclude PENALISED, or refer within the decision (DETENTION_REFERRAL)`, "outcome");
      }
      return;
    default:
      return exhaustive(outcome);
  }
}

function sameOpening(o: EnforcementCaseOpened, d: OpenCase["data"], department: string): boolean {
  return (
    o.origin === "OWN_INITIATIVE" &&
    o.enforcementDepartment === department &&
    o.holderName === d.holder.name &&
    o.holderUscc === d.holder.uscc &&
    o.licenceId === d.licenceId &&
    o.caseId === d.caseId &&
    o.facts === d.facts
  );
}

