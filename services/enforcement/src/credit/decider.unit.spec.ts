import type { CreditRecordPublished, CreditRepaired } from "@shenguan/contracts";
import { validatePayload } from "@shenguan/contracts";
import { DomainRefusal, NotPartyRefusal, deciderSpec } from "@shenguan/eventstore";
import { describe, expect, it } from "vitest";
import type { CreditCommand, PublishCreditRecord } from "./commands.js";
import { creditDecider, withinProbation } from "./decider.js";
import type { CreditEvent } from "./events.js";
import { standingOf } from "./standing.js";

const spec = deciderSpec(creditDecider);
const XYB = "XYB-350100"; // the credit platform
const SCJG = "SCJG-350100"; // a regulator publishing 双公示 records
const USCC = "91350100M000100Y43";
const now = new Date("2026-10-12T02:00:00Z");
const today = "2026-10-12";

const publishData: PublishCreditRecord["data"] = {
  recordId: "R1",
  holderName: "福州示范餐饮有限公司",
  holderUscc: USCC,
  kind: "PENALTY",
  severity: "GENERAL",
  barsCommitment: false,
  sourceRef: "P1",
  summary: "行政处罚 榕综执罚〔2026〕12号",
  publicUntil: "2027-10-12",
};
const record = (over: Partial<CreditRecordPublished> = {}, at = now): CreditRecordPublished => ({
  recordId: "R1",
  holderName: publishData.holderName,
  holderUscc: USCC,
  kind: "PENALTY",
  severity: "GENERAL",
  barsCommitment: false,
  sourceRef: "P1",
  publishingDepartment: SCJG,
  summary: publishData.summary,
  publishedAt: at.getTime(),
  publicUntil: "2027-10-12",
  ...over,
});
const published = (over: Partial<CreditRecordPublished> = {}, at = now): CreditEvent => ({ type: "CreditRecordPublished", data: record(over, at) });
const repaired = (recordId: string, at: Date, over: Partial<CreditRepaired> = {}): CreditEvent => ({
  type: "CreditRepaired",
  data: { recordId, holderUscc: USCC, repairingDepartment: XYB, basis: "已履行处罚并完成整改", repairedAt: at.getTime(), ...over },
});

const publish = (over: Partial<PublishCreditRecord["data"]> = {}, when = { now, today }, department = SCJG): CreditCommand => ({
  type: "PublishCreditRecord",
  department,
  ...when,
  data: { ...publishData, ...over },
});
const repair = (recordId = "R1", department = XYB): CreditCommand => ({
  type: "RepairCredit",
  department,
  now,
  today,
  data: { recordId, holderUscc: USCC, basis: "已履行处罚并完成整改", platformDepartment: XYB },
});

const refusedWith = (code: string, field?: string) => (e: DomainRefusal) => e instanceof DomainRefusal && !(e instanceof NotPartyRefusal) && e.code === code && (field === undefined || e.field === field);

/** `days` local days after 2026-01-10, at 10:00 in Fuzhou. */
const daysAfterRepair = (days: number) => {
  const t = new Date(Date.UTC(2026, 0, 10, 2) + days * 86_400_000);
  return { now: t, today: t.toISOString().slice(0, 10) };
};
const repairTime = new Date("2026-01-10T02:00:00Z");
const earlier = new Date("2025-06-01T02:00:00Z");
const breach = published({ recordId: "R0", kind: "COMMITMENT_BREACH", severity: "SERIOUS", barsCommitment: true, sourceRef: "V0" }, earlier);

describe("credit: publish a record", () => {
  it("publishes a general penalty record that does not bar 告知承诺", () => spec.given([]).when(publish()).then([published()]));

  it("emits exactly the CreditRecordPublished contract payload", () => {
    const [event] = creditDecider.decide(publish(), creditDecider.initialState());
    expect(() => validatePayload("CreditRecordPublished", event!.data)).not.toThrow();
  });

  it("lets the publisher bar with a general record", () => spec.given([]).when(publish({ barsCommitment: true })).then([published({ barsCommitment: true })]));

  it("always bars COMMITMENT_BREACH and SERIOUS_DISHONESTY records, and any SERIOUS record", () => {
    spec.given([]).when(publish({ kind: "COMMITMENT_BREACH" })).then([published({ kind: "COMMITMENT_BREACH", barsCommitment: true })]);
    spec.given([]).when(publish({ kind: "SERIOUS_DISHONESTY", severity: "MINOR" })).then([published({ kind: "SERIOUS_DISHONESTY", severity: "MINOR", barsCommitment: true })]);
    spec.given([]).when(publish({ severity: "SERIOUS" })).then([published({ severity: "SERIOUS", barsCommitment: true })]);
  });

  it("is a no-op for a second record from the same source", () => spec.given([published()]).when(publish({ recordId: "R2" })).then([]));

  it("refuses a record id already published", () => spec.given([published()]).when(publish({ sourceRef: "P2" })).thenThrows(refusedWith("credit.record-exists", "recordId")));

  it("refuses a LICENCE record that bars or is SERIOUS", () => {
    spec.given([]).when(publish({ kind: "LICENCE", barsCommitment: true })).thenThrows(refusedWith("credit.licence-cannot-bar", "barsCommitment"));
    spec.given([]).when(publish({ kind: "LICENCE", severity: "SERIOUS" })).thenThrows(refusedWith("credit.licence-cannot-bar", "severity"));
    spec.given([]).when(publish({ kind: "LICENCE", severity: "MINOR" })).then([published({ kind: "LICENCE", severity: "MINOR" })]);
  });

  it("refuses a public period that has already ended", () => {
    spec.given([]).when(publish({ publicUntil: today })).thenThrows(refusedWith("credit.public-until-past", "publicUntil"));
    spec.given([]).when(publish({ publicUntil: null })).then([published({ publicUntil: null })]);
  });
});

describe("credit: barred once more if penalised again within a year of repair", () => {
  const history = [breach, repaired("R0", repairTime)];
  const again = (days: number) => {
    const when = daysAfterRepair(days);
    return { when, event: (bars: boolean) => published({ barsCommitment: bars, publicUntil: "2028-01-01" }, when.now) };
  };

  it("bars a general penalty 364 days after the repair", () => {
    const { when, event } = again(364);
    expect(when.today).toBe("2027-01-09");
    spec.given(history).when(publish({ publicUntil: "2028-01-01" }, when)).then([event(true)]);
  });

  it("bars on the 365th day, the last day of the year", () => {
    const { when, event } = again(365);
    spec.given(history).when(publish({ publicUntil: "2028-01-01" }, when)).then([event(true)]);
  });

  it("does not bar a general penalty 366 days after the repair", () => {
    const { when, event } = again(366);
    expect(when.today).toBe("2027-01-11");
    spec.given(history).when(publish({ publicUntil: "2028-01-01" }, when)).then([event(false)]);
  });

  it("counts by the local (Beijing) date of the repair, not the UTC one", () => {
    // Repaired 2026-01-10 01:30 in Fuzhou (2026-01-09 in UTC): 2027-01-10 is day 365 locally, 366 in UTC.
    const lateNight = [breach, repaired("R0", new Date("2026-01-09T17:30:00Z"))];
    const when = { now: new Date("2027-01-10T02:00:00Z"), today: "2027-01-10" };
    spec.given(lateNight).when(publish({ publicUntil: "2028-01-01" }, when)).then([published({ barsCommitment: true, publicUntil: "2028-01-01" }, when.now)]);
  });

  it("applies to PENALTY records only, and not to a subject that was never repaired", () => {
    const when = daysAfterRepair(30);
    spec.given(history).when(publish({ kind: "LICENCE", severity: "MINOR", publicUntil: null }, when)).then([published({ kind: "LICENCE", severity: "MINOR", publicUntil: null }, when.now)]);
    spec.given([breach]).when(publish({ publicUntil: "2028-01-01" }, when)).then([published({ publicUntil: "2028-01-01" }, when.now)]);
  });

  it("withinProbation is inclusive of day 365 and false before the repair", () => {
    expect(withinProbation("2026-01-10", "2027-01-10")).toBe(true);
    expect(withinProbation("2026-01-10", "2027-01-11")).toBe(false);
    expect(withinProbation("2026-01-10", "2026-01-09")).toBe(false);
    expect(withinProbation(null, "2026-01-10")).toBe(false);
  });
});

describe("credit: repair (信用修复)", () => {
  const barring = published({ severity: "SERIOUS", barsCommitment: true });

  it("repairs a published record", () => spec.given([barring]).when(repair()).then([repaired("R1", now)]));

  it("emits exactly the CreditRepaired contract payload", () => {
    const [event] = creditDecider.decide(repair(), [barring].reduce(creditDecider.evolve, creditDecider.initialState()));
    expect(() => validatePayload("CreditRepaired", event!.data)).not.toThrow();
  });

  it("lets the record's publisher repair it too", () => spec.given([barring]).when(repair("R1", SCJG)).then([repaired("R1", now, { repairingDepartment: SCJG })]));

  it("refuses a department that is neither the platform nor the publisher", () =>
    spec.given([barring]).when(repair("R1", "ZHZF-350100")).thenThrows((e: Error) => e instanceof NotPartyRefusal));

  it("refuses an unknown record", () => {
    spec.given([]).when(repair()).thenThrows(refusedWith("credit.no-such-record", "recordId"));
    spec.given([barring]).when(repair("R9")).thenThrows(refusedWith("credit.no-such-record", "recordId"));
  });

  it("refuses a record repaired already", () => spec.given([barring, repaired("R1", now)]).when(repair()).thenThrows(refusedWith("credit.already-repaired", "recordId")));

  it("refuses to repair a LICENCE record", () =>
    spec.given([published({ kind: "LICENCE", severity: "MINOR" })]).when(repair()).thenThrows(refusedWith("credit.not-repairable", "recordId")));
});

describe("credit: standing", () => {
  const fold = (events: CreditEvent[]) => standingOf(USCC, events.reduce(creditDecider.evolve, creditDecider.initialState()));

  it("is barred, with a reason, while a barring record is unrepaired", () => {
    const s = fold([published(), breach]);
    expect(s.barred).toBe(true);
    expect(s.reasons).toHaveLength(1);
    expect(s.reasons[0]).toContain("COMMITMENT_BREACH R0");
    expect(s.records.map((r) => [r.recordId, r.repaired])).toEqual([["R1", false], ["R0", false]]);
  });

  it("is not barred after the repair, and an unknown subject is clean", () => {
    const s = fold([breach, repaired("R0", repairTime)]);
    expect(s).toMatchObject({ barred: false, reasons: [], records: [{ recordId: "R0", repaired: true }] });
    expect(fold([])).toEqual({ uscc: USCC, holderName: null, records: [], barred: false, reasons: [] });
  });
});
