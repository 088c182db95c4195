import type { CreditRecordPublished, CreditRepaired } from "@shenguan/contracts";
import { addDays, daysBetween, localDate, localDateOf } from "@shenguan/deadlines";
import { exhaustive, refuse, NotPartyRefusal, type Decider } from "@shenguan/eventstore";
import type { CreditCommand, PublishCreditRecord } from "./commands.js";
import type { CreditEvent } from "./events.js";

/** A published record and, once repaired, its repair. */
export interface CreditRecord extends CreditRecordPublished {
  readonly repair: CreditRepaired | null;
}

/** A credit subject (信用主体), keyed by its USCC: its records in publication order. */
export type CreditSubject =
  | { readonly status: "none" }
  | {
      readonly status: "recorded";
      readonly holderUscc: string;
      /** As the latest record names the subject. */
      readonly holderName: string;
      readonly records: Readonly<Record<string, CreditRecord>>;
      /** sourceRef → recordId: a policy reacting to the same source twice publishes once. */
      readonly sources: Readonly<Record<string, string>>;
      /** Local date of the most recent 信用修复, for the within-a-year rule. */
      readonly lastRepairOn: string | null;
    };

/**
 * A PENALTY published within this many days (by local date, inclusive) after
 * the subject's most recent credit repair bars 告知承诺 again, whatever its
 * severity: barred once more if penalised again within a year of repair.
 */
export const REPAIR_PROBATION_DAYS = 365;

export const initialState = (): CreditSubject => ({ status: "none" });

export function evolve(state: CreditSubject, event: CreditEvent): CreditSubject {
  switch (event.type) {
    case "CreditRecordPublished": {
      const r = event.data;
      const base = state.status === "recorded" ? state : { status: "recorded" as const, holderUscc: r.holderUscc, records: {}, sources: {}, lastRepairOn: null };
      return {
        ...base,
        holderName: r.holderName,
        records: { ...base.records, [r.recordId]: { ...r, repair: null } },
        sources: r.sourceRef === null ? base.sources : { ...base.sources, [r.sourceRef]: r.recordId },
      };
    }
    case "CreditRepaired": {
      if (state.status !== "recorded") return state;
      const record = state.records[event.data.recordId];
      if (!record) return state;
      const repairedOn = localDateOf(new Date(event.data.repairedAt));
      return {
        ...state,
        records: { ...state.records, [record.recordId]: { ...record, repair: event.data } },
        lastRepairOn: state.lastRepairOn !== null && state.lastRepairOn > repairedOn ? state.lastRepairOn : repairedOn,
      };
    }
    default:
      return exhaustive(event);
  }
}

export function decide(command: CreditCommand, state: CreditSubject): CreditEvent[] {
  switch (command.type) {
    case "PublishCreditRecord": {
      const d = command.data;
      if (state.status === "recorded") {
        if (d.sourceRef !== null && state.sources[d.sourceRef] !== undefined) return []; // the same source again
        if (state.records[d.recordId]) refuse("credit.record-exists", `record ${d.recordId} is already published for ${d.holderUscc}`, "recordId");
      }
      if (d.kind === "LICENCE" && (d.barsCommitment || d.severity === "SERIOUS")) {
        refuse("credit.licence-cannot-bar", "a LICENCE record publicises a grant (双公示): it can neither bar 告知承诺 nor be SERIOUS", d.barsCommitment ? "barsCommitment" : "severity");
      }
      if (d.publicUntil !== null && d.publicUntil <= command.today) {
        refuse("credit.public-until-past", `publicUntil ${d.publicUntil} must be after today (${command.today})`, "publicUntil");
      }
      return [
        {
          type: "CreditRecordPublished",
          data: {
            recordId: d.recordId,
            holderName: d.holderName,
            holderUscc: d.holderUscc,
            kind: d.kind,
            severity: d.severity,
            barsCommitment: bars(d, state, command.today),
            sourceRef: d.sourceRef,
            publishingDepartment: command.department,
            summary: d.summary,
            publishedAt: command.now.getTime(),
            publicUntil: d.publicUntil,
          },
        },
      ];
    }
    case "RepairCredit": {
      const d = command.data;
      const record = state.status === "recorded" ? state.records[d.recordId] : undefined;
      if (!record) refuse("credit.no-such-record", `no credit record ${d.recordId} for ${d.holderUscc}`, "recordId");
      if (command.department !== d.platformDepartment && command.department !== record.publishingDepartment) {
        throw new NotPartyRefusal("credit.not-party", `record ${record.recordId} may be repaired by the credit platform (${d.platformDepartment}) or its publisher (${record.publishingDepartment}), not ${command.department}`);
      }
      if (record.kind === "LICENCE") refuse("credit.not-repairable", `record ${record.recordId} publicises a licence; there is nothing to repair`, "recordId");
      if (record.repair) {
        refuse("credit.already-repaired", `record ${record.recordId} was repaired on ${localDateOf(new Date(record.repair.repairedAt))}`, "recordId");
      }
      return [
        {
          type: "CreditRepaired",
          data: { recordId: record.recordId, holderUscc: record.holderUscc, repairingDepartment: command.department, basis: d.basis, repairedAt: command.now.getTime() },
        },
      ];
    }
    default:
      return exhaustive(command);
  }
}

export const creditDecider: Decider<CreditCommand, CreditEvent, CreditSubject> = { initialState, evolve, decide };

/**
 * Whether a new record bars 告知承诺 (国办发〔2020〕42号): commitment breaches
 * and serious dishonesty always do, so does any SERIOUS record, and a penalty
 * within a year of the subject's last repair; otherwise the publisher decides.
 */
function bars(d: PublishCreditRecord["data"], state: CreditSubject, today: string): boolean {
  if (d.kind === "COMMITMENT_BREACH" || d.kind === "SERIOUS_DISHONESTY" || d.severity === "SERIOUS") return true;
  if (d.kind === "PENALTY" && state.status === "recorded" && withinProbation(state.lastRepairOn, today)) return true;
  return d.barsCommitment;
}

/** today is on or before the 365th day after the repair date. */
export function withinProbation(lastRepairOn: string | null, today: string): boolean {
  if (lastRepairOn === null) return false;
  const days = daysBetween(localDate(lastRepairOn), localDate(today));
  return days >= 0 && days <= REPAIR_PROBATION_DAYS;
}

/** The last day a new penalty still bars again after a repair on `repairedOn`. */
export const probationEnds = (repairedOn: string): string => addDays(localDate(repairedOn), REPAIR_PROBATION_DAYS);


