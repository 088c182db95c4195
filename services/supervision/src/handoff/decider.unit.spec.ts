import type { HandoffPushed, InspectionRecorded } from "@shenguan/contracts";
import { DomainRefusal, NotPartyRefusal, deciderSpec } from "@shenguan/eventstore";
import { describe, expect, it } from "vitest";
import type { HandoffCommand } from "./commands.js";
import { handoffDecider } from "./decider.js";
import type { HandoffEvent } from "./events.js";

const spec = deciderSpec(handoffDecider);
const REGULATOR = "SCJG-350100";
const OTHER_REGULATOR = "ZJJ-350100";
const BUREAU = "SPJ-350100";
const now = new Date("2026-09-29T02:00:00Z"); // 10:00 in Fuzhou
const today = "2026-09-29";
const at = { department: REGULATOR, now, today };

const handoff: HandoffPushed = {
  handoffId: "H1",
  caseId: "C1",
  licenceId: "JY13501020012345",
  holderName: "福州示范餐饮有限公司",
  holderUscc: "91350100M000100Y43",
  itemCode: "000105001000",
  regionCode: "350102",
  regulator: REGULATOR,
  pushedAt: new Date("2026-09-28T02:00:00Z").getTime(),
  claimLimit: { amount: 5, unit: "WORKING_DAYS" },
  claimDue: "2026-10-12",
  autoClaimed: false,
  underCommitment: true,
  verificationDue: "2026-12-28",
  approvalAuthority: BUREAU,
};
const about = { licenceId: handoff.licenceId, caseId: "C1", holderUscc: handoff.holderUscc };

const received: HandoffEvent = { type: "HandoffReceived", data: handoff };
const claimed: HandoffEvent = {
  type: "HandoffClaimed",
  data: {
    handoffId: "H1",
    licenceId: handoff.licenceId,
    regulator: REGULATOR,
    claimedAt: now.getTime(),
    claimDue: handoff.claimDue,
    onTime: true,
    automatic: false,
  },
};
const inspection: InspectionRecorded = {
  inspectionId: "I1",
  handoffId: "H1",
  ...about,
  regulator: REGULATOR,
  inspectionDate: "2026-09-28",
  method: "RANDOM",
  result: "NON_COMPLIANT",
  findings: "后厨未做生熟分区",
  handling: "责令限期整改",
  rectificationDue: "2026-10-15",
};
const round1: HandoffEvent = {
  type: "RectificationOrdered",
  data: {
    rectificationId: "R1",
    ...about,
    regulator: REGULATOR,
    round: 1,
    requirements: "生熟分区",
    dueDate: "2026-10-15",
    orderedAt: now.getTime(),
  },
};
const round1Failed: HandoffEvent = {
  type: "RectificationCompleted",
  data: {
    rectificationId: "R1",
    licenceId: handoff.licenceId,
    caseId: "C1",
    regulator: REGULATOR,
    round: 1,
    passed: false,
    findings: "仍未分区",
    completedAt: now.getTime(),
  },
};
const requested: HandoffEvent = {
  type: "RevocationRequested",
  data: { requestId: "Q1", ...about, regulator: REGULATOR, approvalAuthority: BUREAU, grounds: "承诺不实", requestedAt: now.getTime() },
};
const revokedEnd = { ended: "revoked" as const, decisionNumber: "榕审批撤〔2026〕1号", decisionDate: today, reason: "以欺骗手段取得许可" };
const closed: HandoffEvent = { type: "HandoffClosed", data: { handoffId: "H1", licenceId: handoff.licenceId, ...revokedEnd } };
const declinedAnswer = { decisionNumber: "榕审批不撤〔2026〕1号", decisionDate: today, reason: "证据不足" };

const claim: HandoffCommand = { type: "ClaimHandoff", ...at, data: {} };
const inspect = (over: Partial<Extract<HandoffCommand, { type: "RecordInspection" }>["data"]> = {}): HandoffCommand => ({
  type: "RecordInspection",
  ...at,
  data: {
    inspectionId: "I1",
    inspectionDate: inspection.inspectionDate,
    method: inspection.method,
    result: inspection.result,
    findings: inspection.findings,
    handling: inspection.handling,
    rectificationDue: inspection.rectificationDue,
    ...over,
  },
});
const order = (dueDate = "2026-10-15"): HandoffCommand => ({
  type: "OrderRectification",
  ...at,
  data: { rectificationId: "R1", requirements: "生熟分区", dueDate },
});
const complete = (round = 1, passed = true): HandoffCommand => ({
  type: "CompleteRectification",
  ...at,
  data: { round, passed, findings: passed ? "已整改" : "仍未分区" },
});
const verify: HandoffCommand = {
  type: "VerifyCommitment",
  ...at,
  data: { verificationId: "V1", truthful: false, findings: "承诺的场所面积不实" },
};
const transfer: HandoffCommand = {
  type: "TransferToEnforcement",
  ...at,
  data: { transferId: "T1", enforcementDepartment: "ZHZF-350100", reason: "逾期未整改" },
};
const requestRevocation: HandoffCommand = { type: "RequestRevocation", ...at, data: { requestId: "Q1", grounds: "承诺不实" } };
const noteEnded = (answersRequestId: string | null = null): HandoffCommand => ({
  type: "NoteLicenceEnded",
  ...at,
  data: { ...revokedEnd, answersRequestId },
});
const noteDeclined = (requestId = "Q1"): HandoffCommand => ({
  type: "NoteRevocationDeclined",
  ...at,
  data: { requestId, ...declinedAnswer },
});

/** Every command a regulator sends once the handoff is claimed. */
const supervisionCommands = [inspect(), order(), complete(), verify, transfer, requestRevocation];

const refusedWith = (code: string, field?: string) => (e: DomainRefusal) =>
  e instanceof DomainRefusal && e.code === code && (field === undefined || e.field === field);
const notRegulator = (e: Error) => e instanceof NotPartyRefusal && e.code === "handoff.not-regulator" && e.message.includes(REGULATOR);
const by = (command: HandoffCommand, department: string): HandoffCommand => ({ ...command, department });

describe("handoff: receive the push (推送)", () => {
  it("records the pushed licence", () =>
    spec
      .given([])
      .when({ type: "ReceiveHandoff", ...at, data: { handoff } })
      .then([received]));

  it("is a no-op when the push is redelivered", () =>
    spec
      .given([received])
      .when({ type: "ReceiveHandoff", ...at, data: { handoff } })
      .then([]));

  it("is claimed at once under 推送即认领: supervision may start without a claim, and a claim is refused", () => {
    const auto: HandoffEvent = { type: "HandoffReceived", data: { ...handoff, autoClaimed: true } };
    spec
      .given([auto])
      .when(transfer)
      .then([
        {
          type: "TransferredToEnforcement",
          data: {
            transferId: "T1",
            ...about,
            regulator: REGULATOR,
            enforcementDepartment: "ZHZF-350100",
            reason: "逾期未整改",
            transferredAt: now.getTime(),
            holderName: handoff.holderName,
          },
        },
      ]);
    spec
      .given([auto])
      .when(claim)
      .thenThrows((e: DomainRefusal) => e.code === "handoff.already-claimed" && e.message.includes("推送即认领"));
  });
});

describe("handoff: claim (认领)", () => {
  it("claims on time by the routed regulator", () => spec.given([received]).when(claim).then([claimed]));

  it("claims late, saying so, when today is past the claim limit", () =>
    spec
      .given([received])
      .when({ ...claim, today: "2026-10-13", now: new Date("2026-10-13T02:00:00Z") })
      .then([
        {
          type: "HandoffClaimed",
          data: { ...claimed.data, claimedAt: new Date("2026-10-13T02:00:00Z").getTime(), onTime: false } as typeof claimed.data,
        },
      ]));

  it("refuses the wrong regulator: nobody claims another's handoff", () =>
    spec.given([received]).when(by(claim, OTHER_REGULATOR)).thenThrows(notRegulator));

  it("refuses an unknown handoff, a second claim and a closed handoff", () => {
    spec.given([]).when(claim).thenThrows(refusedWith("handoff.unknown"));
    spec.given([received, claimed]).when(claim).thenThrows(refusedWith("handoff.already-claimed"));
    spec
      .given([received, closed])
      .when(claim)
      .thenThrows((e: DomainRefusal) => e.code === "handoff.closed" && e.message.includes("revoked on 2026-09-29"));
  });
});

describe("handoff: every supervision command", () => {
  it("needs the claim first", () => {
    for (const c of supervisionCommands) spec.given([received]).when(c).thenThrows(refusedWith("handoff.not-claimed"));
  });

  it("is refused to any department but the routed regulator", () => {
    for (const c of supervisionCommands) spec.given([received, claimed]).when(by(c, OTHER_REGULATOR)).thenThrows(notRegulator);
  });

  it("is refused once the licence ended upstream, with the reason", () => {
    for (const c of supervisionCommands) {
      spec
        .given([received, claimed, closed])
        .when(c)
        .thenThrows((e: DomainRefusal) => e.code === "handoff.closed" && e.message.includes(revokedEnd.decisionNumber));
    }
  });
});

describe("handoff: inspection (检查)", () => {
  it("records the inspection with the handoff, licence and licensee", () =>
    spec
      .given([received, claimed])
      .when(inspect())
      .then([{ type: "InspectionRecorded", data: inspection }]));

  it("is a no-op for the same inspection again", () =>
    spec
      .given([received, claimed, { type: "InspectionRecorded", data: inspection }])
      .when(inspect())
      .then([]));

  it("refuses an inspection dated after today", () =>
    spec
      .given([received, claimed])
      .when(inspect({ inspectionDate: "2026-09-30", rectificationDue: "2026-10-15" }))
      .thenThrows(refusedWith("inspection.date-in-future", "inspectionDate")));

  it("refuses a commitment check on a licence granted without 告知承诺", () =>
    spec
      .given([{ type: "HandoffReceived", data: { ...handoff, underCommitment: false, verificationDue: null } }, claimed])
      .when(inspect({ method: "COMMITMENT_CHECK" }))
      .thenThrows(refusedWith("inspection.no-commitment", "method")));

  it("refuses a rectification deadline without a violation, or not after the inspection", () => {
    spec
      .given([received, claimed])
      .when(inspect({ result: "COMPLIANT" }))
      .thenThrows(refusedWith("inspection.rectification-without-violation", "rectificationDue"));
    spec
      .given([received, claimed])
      .when(inspect({ rectificationDue: "2026-09-28" }))
      .thenThrows(refusedWith("inspection.rectification-due", "rectificationDue"));
  });
});

describe("handoff: rectification rounds (整改)", () => {
  it("orders round 1, then round 2 after round 1 failed", () => {
    spec.given([received, claimed]).when(order()).then([round1]);
    spec
      .given([received, claimed, round1, round1Failed])
      .when({ type: "OrderRectification", ...at, data: { rectificationId: "R2", requirements: "生熟分区", dueDate: "2026-10-30" } })
      .then([
        {
          type: "RectificationOrdered",
          data: { ...round1.data, rectificationId: "R2", round: 2, dueDate: "2026-10-30" } as typeof round1.data,
        },
      ]);
  });

  it("refuses a new round while one is open, and a due date that is not in the future", () => {
    spec.given([received, claimed, round1]).when(order("2026-10-30")).thenThrows(refusedWith("rectification.round-open"));
    spec.given([received, claimed]).when(order(today)).thenThrows(refusedWith("rectification.due-not-future", "dueDate"));
  });

  it("completes the open round, passed or failed", () => {
    spec.given([received, claimed, round1]).when(complete(1, false)).then([round1Failed]);
    spec
      .given([received, claimed, round1])
      .when(complete(1, true))
      .then([
        { type: "RectificationCompleted", data: { ...round1Failed.data, passed: true, findings: "已整改" } as typeof round1Failed.data },
      ]);
  });

  it("refuses to complete when no round is open, or a round that is not the open one", () => {
    spec.given([received, claimed]).when(complete()).thenThrows(refusedWith("rectification.none-open", "round"));
    spec.given([received, claimed, round1, round1Failed]).when(complete(1)).thenThrows(refusedWith("rectification.none-open", "round"));
    spec.given([received, claimed, round1]).when(complete(2)).thenThrows(refusedWith("rectification.not-open-round", "round"));
  });
});

describe("handoff: commitment verification (告知承诺核查)", () => {
  const verified: HandoffEvent = {
    type: "CommitmentVerified",
    data: {
      verificationId: "V1",
      ...about,
      regulator: REGULATOR,
      verifiedAt: now.getTime(),
      truthful: false,
      findings: "承诺的场所面积不实",
      holderName: handoff.holderName,
    },
  };

  it("verifies the commitment of a licence granted under 告知承诺", () => spec.given([received, claimed]).when(verify).then([verified]));

  it("refuses a licence granted without commitment, and a second verification", () => {
    spec
      .given([{ type: "HandoffReceived", data: { ...handoff, underCommitment: false, verificationDue: null } }, claimed])
      .when(verify)
      .thenThrows(refusedWith("verification.no-commitment"));
    spec.given([received, claimed, verified]).when(verify).thenThrows(refusedWith("verification.done"));
  });
});

describe("handoff: transfer to enforcement (移交执法)", () => {
  it("transfers with the enforcement department and the reason", () =>
    spec
      .given([received, claimed])
      .when(transfer)
      .then([
        {
          type: "TransferredToEnforcement",
          data: {
            transferId: "T1",
            ...about,
            regulator: REGULATOR,
            enforcementDepartment: "ZHZF-350100",
            reason: "逾期未整改",
            transferredAt: now.getTime(),
            holderName: handoff.holderName,
          },
        },
      ]));
});

describe("handoff: revocation request", () => {
  it("asks the approval bureau that granted the licence", () => spec.given([received, claimed]).when(requestRevocation).then([requested]));

  it("refuses when the push does not name the approval bureau (version 1 data)", () =>
    spec
      .given([{ type: "HandoffReceived", data: { ...handoff, approvalAuthority: null } }, claimed])
      .when(requestRevocation)
      .thenThrows(refusedWith("revocation.authority-unknown")));

  it("refuses a second request while the first is unanswered, and allows one after a decline", () => {
    spec
      .given([received, claimed, requested])
      .when({ ...requestRevocation, data: { requestId: "Q2", grounds: "另案" } })
      .thenThrows(refusedWith("revocation.request-open"));
    spec
      .given([
        received,
        claimed,
        requested,
        { type: "RevocationAnswered", data: { handoffId: "H1", requestId: "Q1", outcome: "declined", ...declinedAnswer } },
      ])
      .when({ ...requestRevocation, data: { requestId: "Q2", grounds: "另案" } })
      .then([{ type: "RevocationRequested", data: { ...requested.data, requestId: "Q2", grounds: "另案" } as typeof requested.data }]);
  });
});

describe("handoff: the licence ends upstream (注销/撤销), and answers come back", () => {
  const { ended: _ended, ...decision } = revokedEnd;
  const answeredRevoked: HandoffEvent = {
    type: "RevocationAnswered",
    data: { handoffId: "H1", requestId: "Q1", outcome: "revoked", ...decision },
  };

  it("closes the handoff, even before it was claimed", () => {
    spec.given([received, claimed]).when(noteEnded()).then([closed]);
    spec.given([received]).when(noteEnded()).then([closed]);
  });

  it("records the answer when the revocation answers this handoff's request, then closes", () =>
    spec.given([received, claimed, requested]).when(noteEnded("Q1")).then([answeredRevoked, closed]));

  it("is a no-op when redelivered, or for a handoff this service never received", () => {
    spec.given([received, claimed, requested, answeredRevoked, closed]).when(noteEnded("Q1")).then([]);
    spec.given([]).when(noteEnded()).then([]);
  });

  it("records a declined request, also on a closed handoff, once", () => {
    const declined: HandoffEvent = {
      type: "RevocationAnswered",
      data: { handoffId: "H1", requestId: "Q1", outcome: "declined", ...declinedAnswer },
    };
    spec.given([received, claimed, requested]).when(noteDeclined()).then([declined]);
    spec.given([received, claimed, requested, closed]).when(noteDeclined()).then([declined]);
    spec.given([received, claimed, requested, declined]).when(noteDeclined()).then([]);
  });

  it("ignores a decline of a request this handoff did not send", () => {
    spec.given([received, claimed, requested]).when(noteDeclined("Q9")).then([]);
    spec.given([]).when(noteDeclined()).then([]);
  });
});

describe("handoff: folded state", () => {
  it("keeps the supervision record through closure", () => {
    const events: HandoffEvent[] = [
      received,
      claimed,
      { type: "InspectionRecorded", data: inspection },
      round1,
      round1Failed,
      requested,
      closed,
    ];
    const state = events.reduce(handoffDecider.evolve, handoffDecider.initialState());
    expect(state).toMatchObject({
      status: "closed",
      claim: { automatic: false, onTime: true },
      closure: revokedEnd,
      inspections: [inspection],
      rectifications: [{ round: 1, completion: { passed: false } }],
      revocationRequests: [{ requestId: "Q1", answer: null }],
    });
  });
});
