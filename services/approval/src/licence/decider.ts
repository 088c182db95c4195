import type { ApplicationAccepted, LicenceGranted } from "@shenguan/contracts";
import { addDays, localDateOf, type LocalDate } from "@shenguan/deadlines";
import { exhaustive, refuse, NotPartyRefusal, type Decider } from "@shenguan/eventstore";
import type { LicenceCommand } from "./commands.js";
import type { LicenceEvent, RevocationRequestReceived } from "./events.js";

interface OpenRequest extends RevocationRequestReceived {
  readonly extended: boolean;
}

/** A licence case from acceptance (受理) to its end (注销/撤销). */
export type LicenceCase =
  | { readonly status: "none" }
  | { readonly status: "accepted"; readonly application: ApplicationAccepted }
  | { readonly status: "denied"; readonly application: ApplicationAccepted }
  | {
      readonly status: "granted";
      readonly application: ApplicationAccepted;
      readonly licence: LicenceGranted;
      readonly requests: Readonly<Record<string, OpenRequest>>;
    }
  | { readonly status: "cancelled" | "revoked"; readonly application: ApplicationAccepted; readonly licence: LicenceGranted };

/**
 * Statutory periods of a revocation request, in calendar days counted from the
 * day after the request (市场监管总局令第16号; 行政许可法 §69): a 5-day
 * statement period for the holder, a decision within 60 days, +20 once.
 */
export const REVOCATION = { statementDays: 5, decisionDays: 60, extensionDays: 20 } as const;

export const initialState = (): LicenceCase => ({ status: "none" });

export function evolve(state: LicenceCase, event: LicenceEvent): LicenceCase {
  switch (event.type) {
    case "ApplicationAccepted":
      return { status: "accepted", application: event.data };
    case "LicenceDenied":
      return state.status === "accepted" ? { status: "denied", application: state.application } : state;
    case "LicenceGranted":
      return state.status === "accepted" ? { status: "granted", application: state.application, licence: event.data, requests: {} } : state;
    case "LicenceChanged":
      return state.status === "granted" ? { ...state, licence: { ...state.licence, elicenceId: event.data.elicenceId, ...changedFields(event.data.changes) } } : state;
    case "LicenceRenewed":
      return state.status === "granted" ? { ...state, licence: { ...state.licence, elicenceId: event.data.elicenceId, validUntil: event.data.validUntil } } : state;
    case "LicenceCancelled":
      return state.status === "granted" ? { status: "cancelled", application: state.application, licence: state.licence } : state;
    case "LicenceRevoked":
      return state.status === "granted" ? { status: "revoked", application: state.application, licence: state.licence } : state;
    case "RevocationRequestReceived":
      return state.status === "granted" ? { ...state, requests: { ...state.requests, [event.data.requestId]: { ...event.data, extended: false } } } : state;
    case "RevocationDecisionExtended": {
      if (state.status !== "granted") return state;
      const r = state.requests[event.data.requestId];
      return r ? { ...state, requests: { ...state.requests, [r.requestId]: { ...r, extended: true, decisionDue: event.data.decisionDue } } } : state;
    }
    case "RevocationRequestDeclined": {
      if (state.status !== "granted") return state;
      const { [event.data.requestId]: _closed, ...rest } = state.requests;
      return { ...state, requests: rest };
    }
    default:
      return exhaustive(event);
  }
}

/** Changes that name a field of the licence record update it; others (e.g. an address) only travel in the event. */
function changedFields(changes: readonly { field: string; to: string }[]): Partial<LicenceGranted> {
  const updatable = new Set(["licenceContent", "legalRepresentative", "itemName"]);
  return Object.fromEntries(changes.filter((c) => updatable.has(c.field)).map((c) => [c.field, c.to]));
}

export function decide(command: LicenceCommand, state: LicenceCase): LicenceEvent[] {
  switch (command.type) {
    case "AcceptApplication": {
      const d = command.data;
      if (state.status !== "none") {
        if (state.application.applicationNumber === d.applicationNumber) return []; // the same acceptance again
        refuse("case.exists", `case ${d.caseId} already holds application ${state.application.applicationNumber}`, "caseId");
      }
      if (!d.applicant.uscc && !d.applicant.idNumber) {
        refuse("applicant.identifier-missing", "an applicant needs a USCC (organisation) or an ID number (natural person)", "applicant");
      }
      if (d.underCommitment) {
        if (!d.eligibility) refuse("commitment.eligibility-unknown", "告知承诺 needs the applicant's credit standing, which was not available", "underCommitment");
        if (!d.eligibility.eligible) {
          refuse("commitment.barred", `the applicant may not use 告知承诺: ${d.eligibility.reasons.join("; ")}`, "underCommitment");
        }
      }
      if (d.deficiency) {
        if (d.deficiency.missingMaterials.length === 0) refuse("deficiency.no-materials", "容缺受理 must list the missing materials", "deficiency.missingMaterials");
        if (d.deficiency.supplementDeadline <= command.today) {
          refuse("deficiency.deadline-past", `the supplement deadline ${d.deficiency.supplementDeadline} must be after today (${command.today})`, "deficiency.supplementDeadline");
        }
      }
      return [
        {
          type: "ApplicationAccepted",
          data: {
            caseId: d.caseId,
            applicationNumber: d.applicationNumber,
            itemCode: d.itemCode,
            itemName: d.itemName,
            applicant: d.applicant,
            regionCode: d.regionCode,
            acceptingAuthority: command.department,
            acceptedAt: command.now.getTime(),
            underCommitment: d.underCommitment,
            deficiency: d.deficiency,
          },
        },
      ];
    }
    case "GrantLicence": {
      const s = accepted(state, command.department);
      const d = command.data;
      decisionDateRule(d.decisionDate, command.today, s.application);
      if (d.validUntil !== null && d.validUntil <= d.decisionDate) {
        refuse("licence.validity", `validUntil ${d.validUntil} must be after the decision date ${d.decisionDate}`, "validUntil");
      }
      const a = s.application;
      return [
        {
          type: "LicenceGranted",
          data: {
            caseId: a.caseId,
            licenceId: d.licenceId,
            elicenceId: d.elicenceId,
            decisionNumber: d.decisionNumber,
            itemCode: a.itemCode,
            itemName: a.itemName,
            licenceContent: d.licenceContent,
            holder: { name: a.applicant.name, uscc: a.applicant.uscc, idNumber: a.applicant.idNumber },
            legalRepresentative: d.legalRepresentative,
            decisionDate: d.decisionDate,
            validUntil: d.validUntil,
            issuingAuthority: command.department,
            issuingAuthorityName: d.issuingAuthorityName,
            regionCode: a.regionCode,
            underCommitment: a.underCommitment,
            acceptedWithDeficiency: a.deficiency !== null,
            supplementDeadline: a.deficiency?.supplementDeadline ?? null,
          },
        },
      ];
    }
    case "DenyLicence": {
      const s = accepted(state, command.department);
      const d = command.data;
      decisionDateRule(d.decisionDate, command.today, s.application);
      const a = s.application;
      return [
        {
          type: "LicenceDenied",
          data: {
            caseId: a.caseId,
            decisionNumber: d.decisionNumber,
            itemCode: a.itemCode,
            applicantName: a.applicant.name,
            applicantUscc: a.applicant.uscc,
            reason: d.reason,
            decisionDate: d.decisionDate,
            issuingAuthority: command.department,
            regionCode: a.regionCode,
          },
        },
      ];
    }
    case "ChangeLicence": {
      const s = inForce(state, command.department);
      const d = command.data;
      if (d.changes.length === 0) refuse("change.empty", "a change must name at least one changed field", "changes");
      decisionDateRule(d.decisionDate, command.today, s.application);
      return [{ type: "LicenceChanged", data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, ...d, changes: [...d.changes] } }];
    }
    case "RenewLicence": {
      const s = inForce(state, command.department);
      const d = command.data;
      const previous = s.licence.validUntil;
      if (previous === null) refuse("renewal.indefinite", "an indefinite licence cannot be renewed", "validUntil");
      if (d.validUntil !== null && d.validUntil <= previous) {
        refuse("renewal.not-later", `the renewed validity ${d.validUntil} must end after the current one (${previous})`, "validUntil");
      }
      decisionDateRule(d.decisionDate, command.today, s.application);
      return [{ type: "LicenceRenewed", data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, ...d, previousValidUntil: previous } }];
    }
    case "CancelLicence": {
      const s = inForce(state, command.department);
      decisionDateRule(command.data.decisionDate, command.today, s.application);
      return [{ type: "LicenceCancelled", data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, ...command.data } }];
    }
    case "ReceiveRevocationRequest": {
      const d = command.data;
      if (state.status === "granted" && state.requests[d.requestId]) return []; // redelivered request
      const s = inForceFor(state, "licence.not-in-force");
      const start = localDateOf(new Date(d.requestedAt));
      return [
        {
          type: "RevocationRequestReceived",
          data: {
            caseId: s.application.caseId,
            ...d,
            statementPeriodEnds: addDays(start, REVOCATION.statementDays),
            decisionDue: addDays(start, REVOCATION.decisionDays),
          },
        },
      ];
    }
    case "ExtendRevocationDecision": {
      const s = inForce(state, command.department);
      const r = openRequest(s, command.data.requestId);
      if (r.extended) refuse("revocation.already-extended", `the decision on request ${r.requestId} was extended once already (due ${r.decisionDue})`, "requestId");
      return [
        {
          type: "RevocationDecisionExtended",
          data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, requestId: r.requestId, reason: command.data.reason, decisionDue: addDays(r.decisionDue as LocalDate, REVOCATION.extensionDays), extendedAt: command.now.getTime() },
        },
      ];
    }
    case "RevokeLicence": {
      const s = inForce(state, command.department);
      const d = command.data;
      if (d.answersRequestId !== null) {
        const r = openRequest(s, d.answersRequestId);
        if (command.today <= r.statementPeriodEnds) {
          refuse("revocation.statement-period-open", `the holder's statement period runs until ${r.statementPeriodEnds}; decide after it`, "answersRequestId");
        }
      }
      decisionDateRule(d.decisionDate, command.today, s.application);
      return [{ type: "LicenceRevoked", data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, ...d } }];
    }
    case "DeclineRevocationRequest": {
      const s = inForce(state, command.department);
      const r = openRequest(s, command.data.requestId);
      decisionDateRule(command.data.decisionDate, command.today, s.application);
      return [{ type: "RevocationRequestDeclined", data: { caseId: s.application.caseId, licenceId: s.licence.licenceId, ...command.data, requestId: r.requestId } }];
    }
    default:
      return exhaustive(command);
  }
}

export const licenceDecider: Decider<LicenceCommand, LicenceEvent, LicenceCase> = { initialState, evolve, decide };


/** Only the bureau that accepted a case decides it. */
function party(application: ApplicationAccepted, department: string): void {
  if (application.acceptingAuthority !== department) {
    throw new NotPartyRefusal("case.not-party", `case ${application.caseId} belongs to ${application.acceptingAuthority}, not ${department}`);
  }
}

function accepted(state: LicenceCase, department: string) {
  if (state.status !== "accepted") refuse("case.not-pending", state.status === "none" ? "no application was accepted for this case" : `the case is already ${state.status}`);
  party(state.application, department);
  return state;
}

function inForceFor(state: LicenceCase, code: string) {
  if (state.status !== "granted") refuse(code, state.status === "none" ? "no licence exists for this case" : `the licence is not in force (${state.status})`);
  return state;
}

function inForce(state: LicenceCase, department: string) {
  const s = inForceFor(state, "licence.not-in-force");
  party(s.application, department);
  return s;
}

function openRequest(state: Extract<LicenceCase, { status: "granted" }>, requestId: string): OpenRequest {
  const r = state.requests[requestId];
  if (!r) refuse("revocation.no-such-request", `no open revocation request ${requestId} on this licence`, "requestId");
  return r;
}

function decisionDateRule(decisionDate: string, today: string, application: ApplicationAccepted): void {
  if (decisionDate > today) refuse("decision.date-in-future", `decisionDate ${decisionDate} is after today (${today})`, "decisionDate");
  const acceptedOn = localDateOf(new Date(application.acceptedAt));
  if (decisionDate < acceptedOn) refuse("decision.before-acceptance", `decisionDate ${decisionDate} is before the application was accepted (${acceptedOn})`, "decisionDate");
}

