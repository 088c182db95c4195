import { AccessLog, createServiceApp, NO_GRANTS, type Caller, type ServiceApp } from "@shenguan/service-kit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditPlugin } from "../src/index.js";
import { openFixture, scriptedCase, type Fixture } from "./fixtures.js";

const USCC = "91350100M000100Y43";
const AUDITOR: Caller = { department: "SJJ-350100", grants: { ...NO_GRANTS, audit: true } };
const REGULATOR: Caller = { department: "SCJG-350100", grants: NO_GRANTS };
const PII_AUDITOR: Caller = { department: "SJJ-350000", grants: { ...NO_GRANTS, audit: true, pii: true } };
// An individual business (个体工商户): its operator is a natural person.
const PERSON_USCC = "92350102MA2Y00001P";
const ID = "350102199001011234";

describe("auditPlugin: the auditor API behind the audit grant, every query in the access log (int)", () => {
  let f: Fixture;
  let app: ServiceApp;
  let log: AccessLog;
  beforeAll(async () => {
    f = await openFixture("http", ["SPJ-350100", "SCJG-350100", "LINKAGE"]);
    for (const { stream, events } of scriptedCase("CASE-H", USCC, Date.parse("2026-03-02T02:00:00Z"))) await f.append(stream, events);
    const t = (m: number) => new Date(Date.parse("2026-03-02T03:00:00Z") + m * 60_000);
    const applicant = { name: "张三丰", uscc: null, idNumber: ID };
    await f.append("licence-case-CASE-P", [
      {
        type: "ApplicationAccepted",
        department: "SPJ-350100",
        caseId: "CASE-P",
        subject: PERSON_USCC,
        time: t(0),
        data: { caseId: "CASE-P", applicant, contactPhone: "13812345678", itemName: "食品经营许可" },
      },
      {
        type: "LicenceGranted",
        department: "SPJ-350100",
        caseId: "CASE-P",
        subject: PERSON_USCC,
        time: t(1),
        data: {
          caseId: "CASE-P",
          licenceId: "JY-CASE-P",
          holder: { name: "福州台江示范小吃店", uscc: PERSON_USCC, idNumber: null },
          legalRepresentative: "张三丰",
        },
      },
    ]);
    await f.seal();
    log = new AccessLog(f.opened.executor!);
    await log.migrate();
    app = await createServiceApp({ name: "audit-test", description: "host", logger: false, authentication: "own" });
    // The host's authentication (the gateway's, in production) puts the caller on the request.
    const callers: Record<string, Caller> = { auditor: AUDITOR, regulator: REGULATOR, pii: PII_AUDITOR };
    app.addHook("onRequest", async (request) => {
      const who = request.headers["x-test-caller"];
      if (typeof who === "string" && callers[who]) request.caller = callers[who];
    });
    await app.register(auditPlugin, { store: f.store, keys: f.keys, accessLog: log });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await f?.close();
  });

  const get = (url: string, who?: string) => app.inject({ method: "GET", url, headers: who ? { "x-test-caller": who } : {} });

  it("answers an auditor and refuses others with problem details", async () => {
    const t = await get("/audit/cases/CASE-H/timeline?verify=true", "auditor");
    expect(t.statusCode).toBe(200);
    expect(t.json()).toMatchObject({ caseId: "CASE-H", evidence: { ok: true, seals: 1 } });
    expect(t.json().entries.map((e: { label: string }) => e.label)).toEqual(["受理", "许可准予", "推送", "接收推送", "认领", "检查记录"]);

    const forbidden = await get("/audit/subjects/" + USCC, "regulator");
    expect(forbidden.statusCode).toBe(403);
    expect(forbidden.headers["content-type"]).toContain("application/problem+json");
    expect(forbidden.json()).toMatchObject({ status: 403, code: "access.forbidden" });
    expect((await get("/audit/subjects/" + USCC)).statusCode).toBe(401);

    const bad = await get("/audit/streams/licence-case-CASE-H/as-of?at=yesterday", "auditor");
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors).toEqual([expect.objectContaining({ path: "at", rule: "instant" })]);
    const asOf = await get("/audit/streams/licence-case-CASE-H/as-of?at=2026-03-02", "auditor");
    expect(asOf.json()).toMatchObject({ state: { status: "granted" } });
    expect((await get("/audit/verify?case=CASE-H", "auditor")).json()).toMatchObject({ ok: true });
    expect((await get("/audit/verify?all=true", "auditor")).json()).toMatchObject({ ok: true, seals: 1 });
    expect((await get("/audit/cases/NO-SUCH/timeline", "auditor")).statusCode).toBe(404);
  });

  it("records every query, allowed or refused, in the access log", async () => {
    const rows = await log.list({ action: "audit.query" });
    expect(rows.map((r) => [r.department, r.resource, r.detail.allowed])).toEqual([
      ["SJJ-350100", "/audit/cases/CASE-H/timeline?verify=true", true],
      ["SCJG-350100", `/audit/subjects/${USCC}`, false],
      ["SJJ-350100", "/audit/streams/licence-case-CASE-H/as-of?at=yesterday", true],
      ["SJJ-350100", "/audit/streams/licence-case-CASE-H/as-of?at=2026-03-02", true],
      ["SJJ-350100", "/audit/verify?case=CASE-H", true],
      ["SJJ-350100", "/audit/verify?all=true", true],
      ["SJJ-350100", "/audit/cases/NO-SUCH/timeline", true],
    ]);
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it("masks personal data for an auditor without the pii grant; a pii holder gets it in clear and a pii.read entry", async () => {
    const masked = await get(`/audit/subjects/${PERSON_USCC}`, "auditor");
    expect(masked.statusCode).toBe(200);
    expect(masked.body).not.toContain(ID);
    expect(masked.body).not.toContain("张三丰");
    expect(masked.body).not.toContain("13812345678");
    expect(masked.json().sections.licences[0].data.applicant).toMatchObject({ name: "张**", idNumber: "3501**********1234" });
    expect(masked.json().name).toBe("福州台江示范小吃店");
    const state = await get("/audit/streams/licence-case-CASE-P/as-of?at=2026-03-02T04:00:00Z", "auditor");
    expect(state.json()).toMatchObject({
      state: {
        status: "granted",
        application: { applicant: { name: "张**", idNumber: "3501**********1234" } },
        licence: { legalRepresentative: "张**" },
      },
    });
    expect(await log.list({ action: "pii.read" })).toEqual([]);

    const clear = await get(`/audit/subjects/${PERSON_USCC}`, "pii");
    expect(clear.json().sections.licences[0].data.applicant).toMatchObject({ name: "张三丰", idNumber: ID });
    const clearState = await get("/audit/streams/licence-case-CASE-P/as-of?at=2026-03-02T04:00:00Z", "pii");
    expect(clearState.json()).toMatchObject({ state: { licence: { legalRepresentative: "张三丰" } } });
    const reads = await log.list({ action: "pii.read" });
    expect(reads.map((r) => [r.department, r.resource])).toEqual([
      ["SJJ-350000", `/audit/subjects/${PERSON_USCC}`],
      ["SJJ-350000", "/audit/streams/licence-case-CASE-P/as-of?at=2026-03-02T04:00:00Z"],
    ]);
    expect(reads[0]!.detail.paths).toEqual(
      expect.arrayContaining(["sections.licences.0.data.applicant.idNumber", "sections.licences.0.data.contactPhone"]),
    );
    expect(reads[1]!.detail.paths).toEqual(
      expect.arrayContaining(["state.application.applicant.idNumber", "state.licence.legalRepresentative"]),
    );
    expect(await log.verify()).toMatchObject({ ok: true });
  });
});
