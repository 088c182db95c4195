import { openEventStore } from "@shenguan/eventstore";
import { ManualClock } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildApprovalApp } from "../src/app.js";
import type { CommitmentEligibility } from "../src/licence/commands.js";
import { vouchFor } from "@shenguan/service-kit/testing";

// The approval API on a real store (embedded PostgreSQL in memory): routes,
// problem details, idempotency keys and the 告知承诺 credit gate.
const BUREAU = "SPJ-350100";
const clock = new ManualClock("2026-09-29T02:00:00Z");
const barred = new Map<string, CommitmentEligibility>();
let opened: Awaited<ReturnType<typeof openEventStore>>;
let app: Awaited<ReturnType<typeof buildApprovalApp>>;
let n = 0;

beforeAll(async () => {
  opened = await openEventStore({ dataDir: "memory://", env: {} });
  if (!opened.executor) throw new Error("expected an embedded PostgreSQL store");
  app = await buildApprovalApp({
    store: opened.store,
    sql: opened.executor,
    clock,
    logger: false,
    eligibility: async ({ uscc }) => barred.get(uscc ?? "") ?? { eligible: true, reasons: [] },
  });
});
afterAll(async () => {
  await app?.close();
  await opened?.close();
});

const post = (url: string, payload: object, { department = BUREAU, key = `k-${++n}` } = {}) =>
  app.inject({ method: "POST", url, headers: { ...vouchFor(department), "idempotency-key": key }, payload });

const application = (over: object = {}) => ({
  applicationNumber: `SL-${++n}`,
  itemCode: "000105001000",
  itemName: "食品经营许可",
  applicant: { name: "福州示范餐饮有限公司", uscc: "91350100M000100Y43" },
  regionCode: "350102",
  underCommitment: true,
  ...over,
});
const grant = {
  licenceId: "JY13501020012345",
  elicenceId: "1.2.156.3005.2.11100000000000000123.91350100M000100Y43.SN1.001.7",
  decisionNumber: "榕审批食许〔2026〕1号",
  licenceContent: "热食类食品制售",
  legalRepresentative: "林某某",
  decisionDate: "2026-09-29",
  validUntil: "2031-09-28",
  issuingAuthorityName: "福州市行政审批局",
};

describe("approval API", () => {
  it("accepts, then grants, appending contract events with metadata", async () => {
    const accepted = await post("/cases", application());
    expect(accepted.statusCode).toBe(201);
    const { caseId } = accepted.json();
    const elicenceId = (await import("@shenguan/contracts")).buildElicenceId({
      typeCode: "11100000000000000123",
      issuerUscc: "91350100M000100Y43",
      serial: "SN1",
      version: "001",
    });
    const granted = await post(`/cases/${caseId}/grant`, { ...grant, elicenceId });
    expect(granted.statusCode, granted.body).toBe(200);
    expect(granted.json()).toMatchObject({ caseId, status: "granted", events: ["LicenceGranted"] });
    const events = (await app.inject({ url: `/cases/${caseId}/events`, headers: vouchFor(BUREAU) })).json();
    expect(events.map((e: { type: string }) => e.type)).toEqual(["ApplicationAccepted", "LicenceGranted"]);
    expect(events[1].metadata).toMatchObject({ department: BUREAU, caseId, subject: "91350100M000100Y43" });
  });

  it("replays the first response for a retried POST and appends nothing new", async () => {
    const body = application();
    const first = await post("/cases", body, { key: "retry-1" });
    const again = await post("/cases", body, { key: "retry-1" });
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(again.headers["idempotent-replayed"]).toBe("true");
    const events = await opened.store.readStream(`licence-case-${first.json().caseId}`);
    expect(events).toHaveLength(1);
    const reused = await post("/cases", application(), { key: "retry-1" });
    expect(reused.statusCode).toBe(422);
    expect(reused.json().code).toBe("idempotency.key-reused");
  });

  it("answers 409 while the first request with a key runs, and takes over a key whose first attempt died", async () => {
    const body = application({ caseId: "takeover-1" });
    expect((await post("/cases", body, { key: "takeover" })).statusCode).toBe(201);
    // Make the key look claimed but unanswered: first as if still running, then as if its process died two minutes ago.
    await opened.executor!.query(`update idempotency_keys set status = null, body = null where key = 'takeover'`);
    const running = await post("/cases", body, { key: "takeover" });
    expect(running.statusCode).toBe(409);
    expect(running.json().code).toBe("idempotency.in-progress");
    await opened.executor!.query(`update idempotency_keys set created_at = now() - interval '2 minutes' where key = 'takeover'`);
    const retried = await post("/cases", body, { key: "takeover" });
    expect(retried.statusCode, retried.body).toBe(201); // the decider makes the repeated acceptance a no-op
    expect(retried.headers["idempotent-replayed"]).toBeUndefined();
    expect(await opened.store.readStream("licence-case-takeover-1")).toHaveLength(1);
    expect((await post("/cases", body, { key: "takeover" })).headers["idempotent-replayed"]).toBe("true");
  });

  it("refuses a bad USCC with a 400 problem naming the field and the rule", async () => {
    const res = await post("/cases", application({ applicant: { name: "x", uscc: "91350100M000100Y44" } }));
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toMatch(/application\/problem\+json/);
    const problem = res.json();
    expect(problem).toMatchObject({ status: 400, code: "request.invalid" });
    expect(problem.errors[0].path).toBe("body.applicant.uscc");
    expect(problem.errors[0].message).toMatch(/check character/);
  });

  it("refuses more material than one event may carry with a 400 naming the field and the limit, and records nothing", async () => {
    const deficiency = { missingMaterials: Array.from({ length: 101 }, (_, i) => `材料${i}`), supplementDeadline: "2026-10-30" };
    const res = await post("/cases", application({ caseId: "many-1", deficiency }));
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0]).toMatchObject({ path: "body.deficiency.missingMaterials", message: expect.stringMatching(/100/) });
    expect(await opened.store.readStream("licence-case-many-1")).toEqual([]);
  });

  it("refuses 告知承诺 for a barred applicant with the reason, and records nothing", async () => {
    barred.set("9144030071526726XG", { eligible: false, reasons: ["失信记录 CR-9: 承诺不实"] });
    const res = await post("/cases", application({ caseId: "barred-1", applicant: { name: "腾讯", uscc: "9144030071526726XG" } }));
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: "commitment.barred", errors: [{ path: "underCommitment" }] });
    expect(res.json().detail).toContain("CR-9");
    expect(await opened.store.readStream("licence-case-barred-1")).toEqual([]);
  });

  it("answers 401 without a department, 403 for another bureau, 404 for an unknown case", async () => {
    const noDept = await app.inject({ method: "POST", url: "/cases", headers: { "idempotency-key": "x" }, payload: application() });
    expect(noDept.statusCode).toBe(401);
    const { caseId } = (await post("/cases", application())).json();
    const other = await post(`/cases/${caseId}/deny`, { decisionNumber: "x", reason: "x", decisionDate: "2026-09-29" }, { department: "SPJ-350200" });
    expect(other.statusCode).toBe(403);
    expect(other.json().code).toBe("case.not-party");
    const missing = await app.inject({ url: "/cases/nope", headers: vouchFor(BUREAU) });
    expect(missing.statusCode).toBe(404);
  });

  it("serves an OpenAPI document built from the route schemas", async () => {
    const doc = (await app.inject({ url: "/openapi.json" })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toContain("/cases/{caseId}/grant");
  });
});
