import type { ApplicationAccepted, LicenceGranted } from "@shenguan/contracts";
import { DomainRefusal, NotPartyRefusal, deciderSpec } from "@shenguan/eventstore";
import { describe, it } from "vitest";
import type { LicenceCommand } from "./commands.js";
import { licenceDecider } from "./decider.js";
import type { LicenceEvent } from "./events.js";

const spec = deciderSpec(licenceDecider);
const BUREAU = "SPJ-350100";
const now = new Date("2026-09-29T02:00:00Z"); // 10:00 in Fuzhou
const today = "2026-09-29";
const at = { department: BUREAU, now, today };

const application: ApplicationAccepted = {
  caseId: "C1",
  applicationNumber: "SL-2026-0001",
  itemCode: "000105001000",
  itemName: "食品经营许可",
  applicant: { name: "福州示范餐饮有限公司", uscc: "91350100M000100Y43", idNumber: null },
  regionCode: "350102",
  acceptingAuthority: BUREAU,
  acceptedAt: new Date("2026-09-28T02:00:00Z").getTime(),
  underCommitment: true,
  deficiency: null,
};
const accepted: LicenceEvent = { type: "ApplicationAccepted", data: application };

const grantData = {
  licenceId: "JY13501020012345",
  elicenceId: "1.2.156.3005.2.11100000000000000123.91350100M000100Y43.SN1.001.X",
  decisionNumber: "榕审批食许〔2026〕1号",
  licenceContent: "热食类食品制售",
  legalRepresentative: "林某某",
  decisionDate: today,
  validUntil: "2031-09-28",
  issuingAuthorityName: "福州市行政审批局",
};
const licence: LicenceGranted = {
  caseId: "C1",
  licenceId: grantData.licenceId,
  elicenceId: grantData.elicenceId,
  decisionNumber: grantData.decisionNumber,
  itemCode: application.itemCode,
  itemName: application.itemName,
  licenceContent: grantData.licenceContent,
  holder: { name: application.applicant.name, uscc: application.applicant.uscc, idNumber: null },
  legalRepresentative: "林某某",
  decisionDate: today,
  validUntil: "2031-09-28",
  issuingAuthority: BUREAU,
  issuingAuthorityName: "福州市行政审批局",
  regionCode: "350102",
  underCommitment: true,
  acceptedWithDeficiency: false,
  supplementDeadline: null,
};
const granted: LicenceEvent = { type: "LicenceGranted", data: licence };
const request = { requestId: "R1", regulator: "SCJG-350100", grounds: "承诺不实", requestedAt: now.getTime() };
// Requested on 2026-09-29: statement period runs 5 calendar days (to 10-04), decision within 60 (to 11-28).
const requested: LicenceEvent = { type: "RevocationRequestReceived", data: { caseId: "C1", ...request, statementPeriodEnds: "2026-10-04", decisionDue: "2026-11-28" } };

const acceptCmd = (over: Partial<Extract<LicenceCommand, { type: "AcceptApplication" }>["data"]> = {}): LicenceCommand => ({
  type: "AcceptApplication",
  ...at,
  data: {
    caseId: "C1",
    applicationNumber: application.applicationNumber,
    itemCode: application.itemCode,
    itemName: application.itemName,
    applicant: application.applicant,
    regionCode: application.regionCode,
    underCommitment: true,
    deficiency: null,
    eligibility: { eligible: true, reasons: [] },
    ...over,
  },
});

const refusedWith = (code: string) => (e: DomainRefusal) => e instanceof DomainRefusal && e.code === code;
const notParty = (e: Error) => e instanceof NotPartyRefusal;

describe("licence case: accept application (受理)", () => {
  it("accepts an application under 告知承诺 when the applicant is eligible", () =>
    spec.given([]).when(acceptCmd()).then([{ type: "ApplicationAccepted", data: { ...application, acceptedAt: now.getTime() } }]));

  it("accepts under 容缺受理 with the missing materials and a future supplement deadline", () => {
    const deficiency = { missingMaterials: ["场所平面图"], supplementDeadline: "2026-10-16" };
    spec
      .given([])
      .when(acceptCmd({ underCommitment: false, eligibility: null, deficiency }))
      .then([{ type: "ApplicationAccepted", data: { ...application, acceptedAt: now.getTime(), underCommitment: false, deficiency } }]);
  });

  it("refuses 告知承诺 for a barred applicant, saying why", () =>
    spec
      .given([])
      .when(acceptCmd({ eligibility: { eligible: false, reasons: ["失信记录 CR1: 承诺不实 (2026-09-01)"] } }))
      .thenThrows((e: DomainRefusal) => e.code === "commitment.barred" && e.message.includes("CR1") && e.field === "underCommitment"));

  it("refuses 告知承诺 when the credit standing is unknown", () =>
    spec.given([]).when(acceptCmd({ eligibility: null })).thenThrows(refusedWith("commitment.eligibility-unknown")));

  it("refuses an applicant with neither USCC nor ID number", () =>
    spec.given([]).when(acceptCmd({ applicant: { name: "x", uscc: null, idNumber: null } })).thenThrows(refusedWith("applicant.identifier-missing")));

  it("refuses 容缺受理 without missing materials or with a past deadline", () => {
    spec.given([]).when(acceptCmd({ deficiency: { missingMaterials: [], supplementDeadline: "2026-10-16" } })).thenThrows(refusedWith("deficiency.no-materials"));
    spec.given([]).when(acceptCmd({ deficiency: { missingMaterials: ["a"], supplementDeadline: today } })).thenThrows(refusedWith("deficiency.deadline-past"));
  });

  it("is a no-op for the same application again, and refuses another application on the same case", () => {
    spec.given([accepted]).when(acceptCmd()).then([]);
    spec.given([accepted]).when(acceptCmd({ applicationNumber: "SL-2026-0002" })).thenThrows(refusedWith("case.exists"));
  });
});

describe("licence case: grant and deny (准予/不予许可)", () => {
  it("grants with the e-licence id and the licence record of domain step 1", () =>
    spec.given([accepted]).when({ type: "GrantLicence", ...at, data: grantData }).then([granted]));

  it("refuses a grant by another bureau", () =>
    spec.given([accepted]).when({ type: "GrantLicence", ...at, department: "SPJ-350200", data: grantData }).thenThrows(notParty));

  it("refuses a grant without an accepted application, or twice", () => {
    spec.given([]).when({ type: "GrantLicence", ...at, data: grantData }).thenThrows(refusedWith("case.not-pending"));
    spec.given([accepted, granted]).when({ type: "GrantLicence", ...at, data: grantData }).thenThrows(refusedWith("case.not-pending"));
  });

  it("refuses decision dates in the future or before acceptance, and validity ending before the decision", () => {
    spec.given([accepted]).when({ type: "GrantLicence", ...at, data: { ...grantData, decisionDate: "2026-09-30" } }).thenThrows(refusedWith("decision.date-in-future"));
    spec.given([accepted]).when({ type: "GrantLicence", ...at, data: { ...grantData, decisionDate: "2026-09-27" } }).thenThrows(refusedWith("decision.before-acceptance"));
    spec.given([accepted]).when({ type: "GrantLicence", ...at, data: { ...grantData, validUntil: today } }).thenThrows(refusedWith("licence.validity"));
  });

  it("denies with the reason", () =>
    spec
      .given([accepted])
      .when({ type: "DenyLicence", ...at, data: { decisionNumber: "不予-1", reason: "场所不符合要求", decisionDate: today } })
      .then([
        {
          type: "LicenceDenied",
          data: {
            caseId: "C1",
            decisionNumber: "不予-1",
            itemCode: application.itemCode,
            applicantName: application.applicant.name,
            applicantUscc: application.applicant.uscc,
            reason: "场所不符合要求",
            decisionDate: today,
            issuingAuthority: BUREAU,
            regionCode: "350102",
          },
        },
      ]));

  it("refuses to deny a granted licence", () =>
    spec.given([accepted, granted]).when({ type: "DenyLicence", ...at, data: { decisionNumber: "x", reason: "x", decisionDate: today } }).thenThrows(refusedWith("case.not-pending")));
});

describe("licence case: change, renew, cancel", () => {
  const change = { elicenceId: grantData.elicenceId.replace(".001.", ".002."), decisionNumber: "变更-1", changes: [{ field: "legalRepresentative", from: "林某某", to: "陈某" }], reason: "法定代表人变更", decisionDate: today };

  it("changes a licence in force", () =>
    spec.given([accepted, granted]).when({ type: "ChangeLicence", ...at, data: change }).then([{ type: "LicenceChanged", data: { caseId: "C1", licenceId: licence.licenceId, ...change } }]));

  it("refuses an empty change and a change to a cancelled licence", () => {
    spec.given([accepted, granted]).when({ type: "ChangeLicence", ...at, data: { ...change, changes: [] } }).thenThrows(refusedWith("change.empty"));
    const cancelled: LicenceEvent = { type: "LicenceCancelled", data: { caseId: "C1", licenceId: licence.licenceId, decisionNumber: "注销-1", reason: "申请注销", decisionDate: today } };
    spec.given([accepted, granted, cancelled]).when({ type: "ChangeLicence", ...at, data: change }).thenThrows(refusedWith("licence.not-in-force"));
  });

  it("renews to a later validity, and refuses an earlier one", () => {
    const renew = { elicenceId: change.elicenceId, decisionNumber: "延续-1", validUntil: "2036-09-28", decisionDate: today };
    spec.given([accepted, granted]).when({ type: "RenewLicence", ...at, data: renew }).then([
      { type: "LicenceRenewed", data: { caseId: "C1", licenceId: licence.licenceId, ...renew, previousValidUntil: "2031-09-28" } },
    ]);
    spec.given([accepted, granted]).when({ type: "RenewLicence", ...at, data: { ...renew, validUntil: "2030-01-01" } }).thenThrows(refusedWith("renewal.not-later"));
  });

  it("refuses renewal of an indefinite licence", () =>
    spec
      .given([accepted, { type: "LicenceGranted", data: { ...licence, validUntil: null } }])
      .when({ type: "RenewLicence", ...at, data: { elicenceId: licence.elicenceId, decisionNumber: "x", validUntil: null, decisionDate: today } })
      .thenThrows(refusedWith("renewal.indefinite")));

  it("cancels (注销), and refuses cancelling by another bureau", () => {
    const data = { decisionNumber: "注销-1", reason: "申请注销", decisionDate: today };
    spec.given([accepted, granted]).when({ type: "CancelLicence", ...at, data }).then([{ type: "LicenceCancelled", data: { caseId: "C1", licenceId: licence.licenceId, ...data } }]);
    spec.given([accepted, granted]).when({ type: "CancelLicence", ...at, department: "SPJ-350200", data }).thenThrows(notParty);
  });
});

describe("licence case: revocation (撤销) and regulators' requests", () => {
  const later = { department: BUREAU, now: new Date("2026-10-09T02:00:00Z"), today: "2026-10-09" };

  it("records a regulator's request once, even when redelivered", () => {
    spec.given([accepted, granted]).when({ type: "ReceiveRevocationRequest", ...at, data: request }).then([requested]);
    spec.given([accepted, granted, requested]).when({ type: "ReceiveRevocationRequest", ...at, data: request }).then([]);
  });

  it("refuses a request on a licence not in force", () =>
    spec.given([accepted]).when({ type: "ReceiveRevocationRequest", ...at, data: request }).thenThrows(refusedWith("licence.not-in-force")));

  it("extends the decision once by the given date, not twice", () => {
    const ext = { requestId: "R1", reason: "需进一步调查" };
    // +20 calendar days on the 60-day limit: 11-28 → 12-18.
    const extended: LicenceEvent = { type: "RevocationDecisionExtended", data: { caseId: "C1", licenceId: licence.licenceId, ...ext, decisionDue: "2026-12-18", extendedAt: now.getTime() } };
    spec.given([accepted, granted, requested]).when({ type: "ExtendRevocationDecision", ...at, data: ext }).then([extended]);
    spec.given([accepted, granted, requested, extended]).when({ type: "ExtendRevocationDecision", ...at, data: ext }).thenThrows(refusedWith("revocation.already-extended"));
    spec.given([accepted, granted]).when({ type: "ExtendRevocationDecision", ...at, data: ext }).thenThrows(refusedWith("revocation.no-such-request"));
  });

  it("revokes in answer to a request after the statement period", () => {
    const data = { decisionNumber: "撤销-1", reason: "承诺不实", decisionDate: "2026-10-09", answersRequestId: "R1" };
    spec.given([accepted, granted, requested]).when({ type: "RevokeLicence", ...later, data }).then([{ type: "LicenceRevoked", data: { caseId: "C1", licenceId: licence.licenceId, ...data } }]);
  });

  it("refuses to revoke during the holder's statement period", () =>
    spec
      .given([accepted, granted, requested])
      .when({ type: "RevokeLicence", ...at, data: { decisionNumber: "撤销-1", reason: "x", decisionDate: today, answersRequestId: "R1" } })
      .thenThrows(refusedWith("revocation.statement-period-open")));

  it("revokes on its own initiative without a request, and refuses an unknown request", () => {
    const data = { decisionNumber: "撤销-2", reason: "以欺骗手段取得", decisionDate: today, answersRequestId: null };
    spec.given([accepted, granted]).when({ type: "RevokeLicence", ...at, data }).then([{ type: "LicenceRevoked", data: { caseId: "C1", licenceId: licence.licenceId, ...data } }]);
    spec.given([accepted, granted]).when({ type: "RevokeLicence", ...later, data: { ...data, answersRequestId: "R9" } }).thenThrows(refusedWith("revocation.no-such-request"));
  });

  it("declines a request, closing it", () => {
    const data = { requestId: "R1", decisionNumber: "不予撤销-1", reason: "证据不足", decisionDate: today };
    const declined: LicenceEvent = { type: "RevocationRequestDeclined", data: { caseId: "C1", licenceId: licence.licenceId, ...data } };
    spec.given([accepted, granted, requested]).when({ type: "DeclineRevocationRequest", ...at, data }).then([declined]);
    spec.given([accepted, granted, requested, declined]).when({ type: "DeclineRevocationRequest", ...at, data }).thenThrows(refusedWith("revocation.no-such-request"));
  });

  it("refuses to revoke a revoked licence", () => {
    const revoked: LicenceEvent = { type: "LicenceRevoked", data: { caseId: "C1", licenceId: licence.licenceId, decisionNumber: "撤销-1", reason: "x", decisionDate: today, answersRequestId: null } };
    spec.given([accepted, granted, revoked]).when({ type: "RevokeLicence", ...at, data: { decisionNumber: "撤销-3", reason: "x", decisionDate: today, answersRequestId: null } }).thenThrows(refusedWith("licence.not-in-force"));
  });
});
