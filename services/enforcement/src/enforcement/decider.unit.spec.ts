import type { EnforcementConcluded, PenaltyImposed, TransferredToEnforcement } from "@shenguan/contracts";
import { validatePayload } from "@shenguan/contracts";
import { DomainRefusal, NotPartyRefusal, deciderSpec } from "@shenguan/eventstore";
import { describe, expect, it } from "vitest";
import type { EnforcementCommand, ImposePenalty } from "./commands.js";
import { enforcementDecider } from "./decider.js";
import type { EnforcementCaseOpened, EnforcementEvent } from "./events.js";

const spec = deciderSpec(enforcementDecider);
const ZFJ = "ZHZF-350100"; // 综合行政执法局
const now = new Date("2026-10-12T02:00:00Z"); // 10:00 in Fuzhou
const today = "2026-10-12";
const at = { department: ZFJ, now, today };
const USCC = "91350100M000100Y43";

const transfer: TransferredToEnforcement = {
  transferId: "T1",
  licenceId: "JY13501020012345",
  caseId: "C1",
  holderUscc: USCC,
  regulator: "SCJG-350100",
  enforcementDepartment: ZFJ,
  reason: "整改逾期未完成,移交执法",
  transferredAt: new Date("2026-10-09T02:00:00Z").getTime(),
  holderName: null,
};
const openedFromTransfer: EnforcementCaseOpened = {
  enforcementCaseId: "T1",
  origin: "TRANSFER",
  transferId: "T1",
  regulator: "SCJG-350100",
  licenceId: transfer.licenceId,
  caseId: "C1",
  holderName: null,
  holderUscc: USCC,
  enforcementDepartment: ZFJ,
  facts: transfer.reason,
  openedAt: transfer.transferredAt,
};
const opened: EnforcementEvent = { type: "EnforcementCaseOpened", data: openedFromTransfer };

const penaltyData: ImposePenalty["data"] = {
  penaltyId: "P1",
  decisionNumber: "榕综执罚〔2026〕12号",
  kinds: ["WARNING", "FINE"],
  fineFen: 500_000,
  facts: "超范围经营",
  legalBasis: "《食品安全法》第一百二十二条",
  serious: false,
  decisionDate: today,
  holderName: "福州示范餐饮有限公司",
};
const penalty: PenaltyImposed = {
  penaltyId: "P1",
  decisionNumber: penaltyData.decisionNumber,
  transferId: "T1",
  licenceId: transfer.licenceId,
  caseId: "C1",
  holderName: "福州示范餐饮有限公司",
  holderUscc: USCC,
  enforcementDepartment: ZFJ,
  decisionDate: today,
  kinds: ["WARNING", "FINE"],
  fineFen: 500_000,
  facts: "超范围经营",
  legalBasis: penaltyData.legalBasis,
  serious: false,
};
const penalised: EnforcementEvent = { type: "PenaltyImposed", data: penalty };

const conclusion = (over: Partial<EnforcementConcluded> = {}): EnforcementConcluded => ({
  enforcementCaseId: "T1",
  transferId: "T1",
  penaltyId: "P1",
  licenceId: transfer.licenceId,
  caseId: "C1",
  holderUscc: USCC,
  enforcementDepartment: ZFJ,
  outcome: "PENALISED",
  summary: "已处罚",
  concludedAt: now.getTime(),
  ...over,
});

const fromTransfer = (t: TransferredToEnforcement = transfer): EnforcementCommand => ({ type: "OpenFromTransfer", ...at, data: { enforcementCaseId: "T1", transfer: t } });
const impose = (over: Partial<ImposePenalty["data"]> = {}, department = ZFJ): EnforcementCommand => ({ type: "ImposePenalty", ...at, department, data: { ...penaltyData, ...over } });
const conclude = (outcome: EnforcementConcluded["outcome"], department = ZFJ): EnforcementCommand => ({ type: "Conclude", ...at, department, data: { outcome, summary: "已处罚" } });

const refusedWith = (code: string, field?: string) => (e: DomainRefusal) => e instanceof DomainRefusal && !(e instanceof NotPartyRefusal) && e.code === code && (field === undefined || e.field === field);
const notParty = (e: Error) => e instanceof NotPartyRefusal;

describe("enforcement case: open from a transfer (移交执法)", () => {
  it("opens a case for the transfer's enforcement department", () => spec.given([]).when(fromTransfer()).then([opened]));

  it("is a no-op when the transfer is redelivered", () => spec.given([opened]).when(fromTransfer()).then([]));

  it("refuses another transfer under an existing case id", () =>
    spec.given([opened]).when(fromTransfer({ ...transfer, transferId: "T2" })).thenThrows(refusedWith("enforcement.case-exists", "enforcementCaseId")));
});

describe("enforcement case: open on own initiative", () => {
  const data = { enforcementCaseId: "E1", holder: { name: "某某公司", uscc: USCC }, licenceId: null, caseId: null, facts: "群众举报无证经营" };
  const ownOpened: EnforcementEvent = {
    type: "EnforcementCaseOpened",
    data: {
      enforcementCaseId: "E1",
      origin: "OWN_INITIATIVE",
      transferId: null,
      regulator: null,
      licenceId: null,
      caseId: null,
      holderName: "某某公司",
      holderUscc: USCC,
      enforcementDepartment: ZFJ,
      facts: data.facts,
      openedAt: now.getTime(),
    },
  };

  it("opens a case owned by the acting department", () => spec.given([]).when({ type: "OpenCase", ...at, data }).then([ownOpened]));

  it("is a no-op for the same opening again, and refuses a different one under the same id", () => {
    spec.given([ownOpened]).when({ type: "OpenCase", ...at, data }).then([]);
    spec.given([ownOpened]).when({ type: "OpenCase", ...at, data: { ...data, facts: "另一线索" } }).thenThrows(refusedWith("enforcement.case-exists"));
    spec.given([ownOpened]).when({ type: "OpenCase", ...at, department: "ZHZF-350200", data }).thenThrows(refusedWith("enforcement.case-exists"));
  });
});

describe("enforcement case: impose a penalty (行政处罚)", () => {
  it("imposes a penalty carrying the case's transfer, licence and holder", () => spec.given([opened]).when(impose()).then([penalised]));

  it("emits exactly the PenaltyImposed contract payload", () => {
    const state = [opened].reduce(enforcementDecider.evolve, enforcementDecider.initialState());
    const [event] = enforcementDecider.decide(impose(), state);
    expect(() => validatePayload("PenaltyImposed", event!.data)).not.toThrow();
  });

  it("takes the holder name from an own-initiative case when the command gives none", () => {
    const own: EnforcementEvent = { type: "EnforcementCaseOpened", data: { ...openedFromTransfer, holderName: "案件所载名称" } };
    spec.given([own]).when(impose({ holderName: null })).then([{ type: "PenaltyImposed", data: { ...penalty, holderName: "案件所载名称" } }]);
  });

  it("refuses when nobody knows the holder's name", () => spec.given([opened]).when(impose({ holderName: null })).thenThrows(refusedWith("penalty.holder-name-missing", "holderName")));

  it("imposes a warning without a fine", () =>
    spec.given([opened]).when(impose({ kinds: ["WARNING"], fineFen: null })).then([{ type: "PenaltyImposed", data: { ...penalty, kinds: ["WARNING"], fineFen: null } }]));

  it("refuses a penalty from a department the case does not belong to", () => spec.given([opened]).when(impose({}, "ZHZF-350200")).thenThrows(notParty));

  it("refuses a penalty without a case", () => spec.given([]).when(impose()).thenThrows(refusedWith("enforcement.no-case")));

  it("refuses a penalty after the conclusion", () => {
    const concluded: EnforcementEvent = { type: "EnforcementConcluded", data: conclusion({ penaltyId: null, outcome: "NO_VIOLATION" }) };
    spec.given([opened, concluded]).when(impose()).thenThrows(refusedWith("enforcement.concluded"));
  });

  it("is a no-op for the same penalty again, and refuses a second penalty decision", () => {
    spec.given([opened, penalised]).when(impose()).then([]);
    spec.given([opened, penalised]).when(impose({ penaltyId: "P2" })).thenThrows(refusedWith("penalty.exists", "penaltyId"));
  });

  it("refuses a penalty without kinds, or naming a kind twice", () => {
    spec.given([opened]).when(impose({ kinds: [], fineFen: null })).thenThrows(refusedWith("penalty.kinds-empty", "kinds"));
    spec.given([opened]).when(impose({ kinds: ["FINE", "FINE"] })).thenThrows(refusedWith("penalty.kinds-repeated", "kinds"));
  });

  it("requires a positive fine exactly when the kinds include FINE", () => {
    spec.given([opened]).when(impose({ fineFen: null })).thenThrows(refusedWith("penalty.fine-missing", "fineFen"));
    spec.given([opened]).when(impose({ fineFen: 0 })).thenThrows(refusedWith("penalty.fine-not-positive", "fineFen"));
    spec.given([opened]).when(impose({ fineFen: -100 })).thenThrows(refusedWith("penalty.fine-not-positive", "fineFen"));
    spec.given([opened]).when(impose({ kinds: ["WARNING"], fineFen: 100 })).thenThrows(refusedWith("penalty.fine-without-fine", "fineFen"));
  });

  it("refuses a decision date after today or before the case was opened", () => {
    spec.given([opened]).when(impose({ decisionDate: "2026-10-13" })).thenThrows(refusedWith("decision.date-in-future", "decisionDate"));
    spec.given([opened]).when(impose({ decisionDate: "2026-10-08" })).thenThrows(refusedWith("decision.before-opening", "decisionDate"));
    spec.given([opened]).when(impose({ decisionDate: "2026-10-09" })).then([{ type: "PenaltyImposed", data: { ...penalty, decisionDate: "2026-10-09" } }]);
  });
});

describe("enforcement case: conclude (执法结果)", () => {
  it("concludes PENALISED with the penalty", () => spec.given([opened, penalised]).when(conclude("PENALISED")).then([{ type: "EnforcementConcluded", data: conclusion() }]));

  it("emits exactly the EnforcementConcluded contract payload", () => {
    const state = [opened, penalised].reduce(enforcementDecider.evolve, enforcementDecider.initialState());
    const [event] = enforcementDecider.decide(conclude("PENALISED"), state);
    expect(() => validatePayload("EnforcementConcluded", event!.data)).not.toThrow();
  });

  it("refuses PENALISED without a penalty", () => spec.given([opened]).when(conclude("PENALISED")).thenThrows(refusedWith("conclusion.no-penalty", "outcome")));

  it("concludes NO_VIOLATION, DISMISSED or REFERRED without a penalty", () => {
    for (const outcome of ["NO_VIOLATION", "DISMISSED", "REFERRED"] as const) {
      spec.given([opened]).when(conclude(outcome)).then([{ type: "EnforcementConcluded", data: conclusion({ outcome, penaltyId: null }) }]);
    }
  });

  it("refuses NO_VIOLATION, DISMISSED or REFERRED when a penalty was imposed", () => {
    for (const outcome of ["NO_VIOLATION", "DISMISSED", "REFERRED"] as const) {
      spec.given([opened, penalised]).when(conclude(outcome)).thenThrows(refusedWith("conclusion.penalty-exists", "outcome"));
    }
  });

  it("concludes REFERRED beside a penalty that itself refers for detention", () => {
    const referring: EnforcementEvent = { type: "PenaltyImposed", data: { ...penalty, kinds: ["FINE", "DETENTION_REFERRAL"] } };
    spec.given([opened, referring]).when(conclude("REFERRED")).then([{ type: "EnforcementConcluded", data: conclusion({ outcome: "REFERRED" }) }]);
  });

  it("refuses a conclusion by another department, without a case, or twice", () => {
    spec.given([opened, penalised]).when(conclude("PENALISED", "ZHZF-350200")).thenThrows(notParty);
    spec.given([]).when(conclude("DISMISSED")).thenThrows(refusedWith("enforcement.no-case"));
    const concluded: EnforcementEvent = { type: "EnforcementConcluded", data: conclusion() };
    spec.given([opened, penalised, concluded]).when(conclude("PENALISED")).thenThrows(refusedWith("enforcement.already-concluded"));
  });
});
