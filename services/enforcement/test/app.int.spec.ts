import type { CommitmentVerified, TransferredToEnforcement } from "@shenguan/contracts";
import { openEventStore, type OpenedEventStore } from "@shenguan/eventstore";
import { ManualClock } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildEnforcementApp, onCommitmentVerified, onPenaltyImposed, onTransferredToEnforcement, type EnforcementApp } from "../src/index.js";
import { creditStream } from "../src/credit/events.js";
import { enforcementCaseStream } from "../src/enforcement/events.js";
import { vouchFor } from "@shenguan/service-kit/testing";

const ZFJ = "ZHZF-350100";
const XYB = "XYB-350100";
const USCC = "91350100M000100Y43";
const BAD_USCC = "91350100M000100Y44"; // wrong check character

let opened: OpenedEventStore;
let app: EnforcementApp;
const clock = new ManualClock("2026-10-12T02:00:00Z");
let keyCounter = 0;

beforeAll(async () => {
  // A real store: embedded PostgreSQL (PGlite) in memory; env {} so DATABASE_URL does not redirect it.
  opened = await openEventStore({ dataDir: "memory://", env: {} });
  app = await buildEnforcementApp({ store: opened.store, sql: opened.executor!, clock, creditDepartment: XYB, logger: false });
});
afterAll(async () => {
  await app?.close();
  await opened?.close();
});

const post = (url: string, payload: unknown, department = ZFJ, key = `k-${++keyCounter}`) =>
  app.inject({ method: "POST", url, payload: payload as object, headers: { ...vouchFor(department), "idempotency-key": key } });
const get = (url: string, department = ZFJ) => app.inject({ method: "GET", url, headers: vouchFor(department) });
const streamLength = async (stream: string) => (await opened.store.readStream(stream)).length;

const openBody = { holder: { name: "福州示范餐饮有限公司", uscc: USCC }, licenceId: "JY13501020012345", caseId: "C1", facts: "群众举报超范围经营" };
const penaltyBody = {
  decisionNumber: "榕综执罚〔2026〕12号",
  kinds: ["WARNING", "FINE"],
  fineFen: 500_000,
  facts: "超范围经营",
  legalBasis: "《食品安全法》第一百二十二条",
  serious: false,
  decisionDate: "2026-10-12",
};

describe("enforcement app", () => {
  it("opens a case, imposes a penalty and concludes it", async () => {
    const open = await post("/enforcement-cases", openBody);
    expect(open.statusCode).toBe(201);
    const id = open.json().enforcementCaseId as string;
    expect(open.json()).toMatchObject({ status: "open", revision: "0", events: ["EnforcementCaseOpened"] });

    const penalty = await post(`/enforcement-cases/${id}/penalties`, penaltyBody);
    expect(penalty.statusCode).toBe(201);
    expect(penalty.json()).toMatchObject({ status: "open", revision: "1", events: ["PenaltyImposed"], penaltyId: expect.any(String) });

    const conclusion = await post(`/enforcement-cases/${id}/conclusion`, { outcome: "PENALISED", summary: "已处罚,罚款已缴纳" });
    expect(conclusion.statusCode).toBe(200);
    expect(conclusion.json()).toMatchObject({ status: "concluded", revision: "2", events: ["EnforcementConcluded"] });

    const state = await get(`/enforcement-cases/${id}`);
    expect(state.statusCode).toBe(200);
    expect(state.json()).toMatchObject({
      status: "concluded",
      penalty: { penaltyId: penalty.json().penaltyId, holderUscc: USCC, caseId: "C1" },
      conclusion: { outcome: "PENALISED", penaltyId: penalty.json().penaltyId },
    });

    const events = await get(`/enforcement-cases/${id}/events`);
    expect(events.json().map((e: { type: string }) => e.type)).toEqual(["EnforcementCaseOpened", "PenaltyImposed", "EnforcementConcluded"]);
    expect(events.json()[1].metadata).toMatchObject({ department: ZFJ, subject: USCC, caseId: "C1" });

    const again = await post(`/enforcement-cases/${id}/conclusion`, { outcome: "PENALISED", summary: "再次" });
    expect(again.statusCode).toBe(409);
    expect(again.json().code).toBe("enforcement.already-concluded");
  });

  it("answers 403 to a department the case does not belong to", async () => {
    const id = (await post("/enforcement-cases", openBody)).json().enforcementCaseId as string;
    const res = await post(`/enforcement-cases/${id}/penalties`, penaltyBody, "ZHZF-350200");
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toContain("application/problem+json");
    expect(res.json()).toMatchObject({ status: 403, code: "enforcement.not-party" });
    expect(await streamLength(enforcementCaseStream(id))).toBe(1);
  });

  it("replays the first response to a retry with the same idempotency key and appends nothing", async () => {
    const id = (await post("/enforcement-cases", openBody)).json().enforcementCaseId as string;
    const first = await post(`/enforcement-cases/${id}/penalties`, penaltyBody, ZFJ, "retry-1");
    const retry = await post(`/enforcement-cases/${id}/penalties`, penaltyBody, ZFJ, "retry-1");
    expect(first.statusCode).toBe(201);
    expect(retry.statusCode).toBe(201);
    expect(retry.json()).toEqual(first.json());
    expect(retry.headers["idempotent-replayed"]).toBe("true");
    expect(await streamLength(enforcementCaseStream(id))).toBe(2);
  });

  it("refuses an invalid USCC with 400 naming the field and the rule", async () => {
    const res = await get(`/credit/${BAD_USCC}`);
    expect(res.statusCode).toBe(400);
    expect(res.json().errors).toEqual([expect.objectContaining({ path: "params.uscc", rule: "uscc.check-char" })]);

    const body = await post("/enforcement-cases", { ...openBody, holder: { name: "x", uscc: BAD_USCC } });
    expect(body.statusCode).toBe(400);
    expect(body.json().errors).toEqual([expect.objectContaining({ path: "body.holder.uscc", rule: "uscc.check-char" })]);

    const record = await post(`/credit/${BAD_USCC}/records`, { holderName: "x", kind: "PENALTY", severity: "GENERAL", summary: "x" }, XYB);
    expect(record.statusCode).toBe(400);
    expect(record.json().errors[0]).toMatchObject({ path: "params.uscc", rule: "uscc.check-char" });
  });
});

describe("incoming handlers", () => {
  const subject = "91350100MA0000007A"; // another valid code, so the subject starts clean
  const verification: CommitmentVerified = {
    verificationId: "V-1",
    licenceId: "JY13501020099999",
    caseId: "C9",
    holderUscc: subject,
    regulator: "SCJG-350100",
    verifiedAt: new Date("2026-10-12T01:00:00Z").getTime(),
    truthful: false,
    findings: "承诺的经营场所不存在",
    holderName: "福州示例贸易有限公司",
  };

  it("publishes one barring COMMITMENT_BREACH record for a false commitment, even when called twice", async () => {
    const first = await onCommitmentVerified(app.credit, verification, { eventId: "ce-1" });
    const second = await onCommitmentVerified(app.credit, verification, { eventId: "ce-1" });
    expect(first?.events).toEqual(["CreditRecordPublished"]);
    expect(second?.events).toEqual([]);
    const stored = await opened.store.readStream(creditStream(subject));
    expect(stored).toHaveLength(1);
    expect(stored[0]!.metadata).toMatchObject({ department: XYB, subject, causationId: "ce-1", caseId: "C9" });
    expect(stored[0]!.data).toMatchObject({ kind: "COMMITMENT_BREACH", severity: "SERIOUS", barsCommitment: true, sourceRef: "V-1", publishingDepartment: XYB });

    const standing = (await get(`/credit/${subject}`, "SPJ-350100")).json();
    expect(standing.barred).toBe(true);
    expect(standing.reasons[0]).toContain("承诺的经营场所不存在");

    expect(await onCommitmentVerified(app.credit, { ...verification, verificationId: "V-2", truthful: true }, { eventId: "ce-2" })).toBeNull();
  });

  it("lifts the bar on repair, and bars again on a penalty within a year", async () => {
    const recordId = (await opened.store.readStream(creditStream(subject)))[0]!.data as { recordId: string };
    const repaired = await post(`/credit/${subject}/records/${recordId.recordId}/repair`, { basis: "已整改并作出信用承诺" }, XYB);
    expect(repaired.statusCode).toBe(200);
    expect((await get(`/credit/${subject}`)).json()).toMatchObject({ barred: false, records: [{ repaired: true }] });

    const twice = await post(`/credit/${subject}/records/${recordId.recordId}/repair`, { basis: "again" }, XYB);
    expect(twice.json().code).toBe("credit.already-repaired");

    clock.set("2027-03-01T02:00:00Z");
    const penalty = {
      penaltyId: "P-9",
      decisionNumber: "榕综执罚〔2027〕3号",
      transferId: null,
      licenceId: null,
      caseId: null,
      holderName: "福州某某商贸有限公司",
      holderUscc: subject,
      enforcementDepartment: ZFJ,
      decisionDate: "2027-03-01",
      kinds: ["WARNING" as const],
      fineFen: null,
      facts: "未按规定公示",
      legalBasis: "某条",
      serious: false,
    };
    expect((await onPenaltyImposed(app.credit, penalty, { eventId: "ce-3" }))?.events).toEqual(["CreditRecordPublished"]);
    expect((await onPenaltyImposed(app.credit, penalty, { eventId: "ce-3" }))?.events).toEqual([]);
    const standing = (await get(`/credit/${subject}`)).json();
    expect(standing.barred).toBe(true);
    expect(standing.records).toHaveLength(2);
    expect(standing.records[1]).toMatchObject({ kind: "PENALTY", severity: "GENERAL", barsCommitment: true, sourceRef: "P-9" });

    // A penalty so old that its one-year public period is over publishes nothing, rather than dead-lettering.
    const stale = { ...penalty, penaltyId: "P-OLD", decisionDate: "2025-06-01" };
    expect(await onPenaltyImposed(app.credit, stale, { eventId: "ce-5" })).toBeNull();
  });

  it("opens one enforcement case per transfer, however often it is delivered", async () => {
    const transfer: TransferredToEnforcement = {
      transferId: "T-77",
      licenceId: "JY13501020012345",
      caseId: "C1",
      holderUscc: USCC,
      regulator: "SCJG-350100",
      enforcementDepartment: ZFJ,
      reason: "整改逾期",
      transferredAt: clock.now().getTime(),
      holderName: null,
    };
    expect((await onTransferredToEnforcement(app.enforcement, transfer, { eventId: "ce-4" })).events).toEqual(["EnforcementCaseOpened"]);
    expect((await onTransferredToEnforcement(app.enforcement, transfer, { eventId: "ce-4" })).events).toEqual([]);
    const state = (await get("/enforcement-cases/T-77")).json();
    expect(state).toMatchObject({ status: "open", opened: { origin: "TRANSFER", transferId: "T-77", holderName: null } });
    // A transfer does not carry the holder's name: the penalty supplies it.
    const res = await post("/enforcement-cases/T-77/penalties", { ...penaltyBody, decisionDate: "2027-03-01", holderName: "福州示范餐饮有限公司" });
    expect(res.statusCode).toBe(201);
  });
});
