/**
 * The closed loop of a false commitment (domain steps 1–8): a licence granted
 * under 告知承诺 is pushed to its regulator, claimed, found untruthful on
 * verification, revoked on the regulator's request after the statement
 * period, recorded in credit, and the credit record then bars the same
 * licensee from 告知承诺. Every hop between services goes through Kafka.
 */
import { demoUscc } from "@shenguan/bus";
import { verifyStore } from "@shenguan/eventstore";
import { KeyRing } from "@shenguan/evidence";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoute, DEMO, grantLicence, REGION, startE2e, SUPERVISOR, waitFor, type Body, type E2e } from "./support.js";

describe("告知承诺 breach: verification → revocation → credit record → 告知承诺 refused (e2e)", () => {
  let e: E2e;
  beforeAll(async () => {
    e = await startE2e({ name: "breach", start: "2026-03-02T10:00:00+08:00" }); // a Monday
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("closes the loop from a false commitment to a refused 告知承诺 application", async () => {
    const uscc = demoUscc(101);
    const holderName = "福州台江承诺示范食品有限公司";
    const caseId = "E2E-BREACH-1";
    const licenceId = "JY13501020302001";
    const handoffId = `H-${licenceId}`;

    // 1–2. Grant under 告知承诺; the route sends food items to the market regulator with 5 working days to claim.
    await addRoute(e.linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
    expect((await e.linkage.get(`/subjects/${uscc}/commitment-eligibility`, DEMO.bureau)).body).toEqual({ eligible: true, reasons: [], records: [] });
    await grantLicence(e, { caseId, licenceId, item: DEMO.items.food, holder: { name: holderName, uscc }, underCommitment: true }, "2026-03-02");

    const inboxItem = await waitFor("the push in the market regulator's inbox", async () =>
      (await e.supervision.get("/handoffs", DEMO.market)).body.items.find((i: Body) => i.handoffId === handoffId),
    );
    expect(inboxItem).toMatchObject({
      caseId,
      licenceId,
      holderUscc: uscc,
      regulator: DEMO.market,
      approvalAuthority: DEMO.bureau,
      status: "pushed",
      claimDue: "2026-03-09", // 5 working days after Monday 03-02
      underCommitment: true,
      verificationDue: "2026-06-02", // 3 months after the decision
    });
    // Another regulator neither sees it nor may claim it.
    expect((await e.supervision.get("/handoffs", DEMO.health)).body).toMatchObject({ items: [], total: 0 });
    expect((await e.supervision.get(`/handoffs?regulator=${DEMO.market}`, DEMO.health)).status).toBe(403);
    await waitFor("the regulator's handoff", async () => (await e.supervision.get(`/handoffs/${handoffId}`, DEMO.market)).status === 200);
    const foreign = await e.supervision.post(`/handoffs/${handoffId}/claim`, DEMO.health);
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({ code: "handoff.not-regulator" });

    // 3. Claimed the next day.
    e.at("2026-03-03");
    expect(await e.supervision.post(`/handoffs/${handoffId}/claim`, DEMO.market)).toMatchObject({
      status: 200,
      body: { status: "claimed", events: ["HandoffClaimed"] },
    });

    // 6. Verification finds the commitment false; 7. the regulator asks for revocation.
    e.at("2026-03-04");
    const verified = await e.supervision.post(`/handoffs/${handoffId}/commitment-verification`, DEMO.market, {
      truthful: false,
      findings: "承诺的经营场所与实际不符,冷库未建",
    });
    expect(verified).toMatchObject({ status: 201, body: { events: ["CommitmentVerified"] } });
    const verificationId: string = verified.body.recordId;
    // The credit platform reacts to it (through Kafka) on the day: let it, before the clock moves on.
    await waitFor("the credit platform's record", async () => (await e.enforcement.get(`/credit/${uscc}`, DEMO.credit)).body.records?.length > 0);
    const requested = await e.supervision.post(`/handoffs/${handoffId}/revocation-requests`, DEMO.market, {
      grounds: "以虚假承诺取得许可,依《行政许可法》第六十九条申请撤销",
    });
    expect(requested).toMatchObject({ status: 201, body: { events: ["RevocationRequested"] } });
    const requestId: string = requested.body.recordId;

    // The approval case holds the open request: statement period to +5 calendar days, decision due +60.
    const request = await waitFor("the request on the approval case", async () => {
      const c = await e.approval.get(`/cases/${caseId}`, DEMO.bureau);
      return c.body.requests?.[requestId];
    });
    expect(request).toMatchObject({
      requestId,
      regulator: DEMO.market,
      requestedAt: Date.parse("2026-03-04T02:00:00Z"),
      statementPeriodEnds: "2026-03-09",
      decisionDue: "2026-05-03",
      extended: false,
    });
    const decisionDeadline = await waitFor("the decision deadline in linkage", async () =>
      (await e.linkage.get(`/deadlines?kind=REVOCATION_DECISION&subjectRef=${requestId}`, SUPERVISOR)).body[0],
    );
    expect(decisionDeadline).toMatchObject({ responsibleDepartment: DEMO.bureau, startDate: "2026-03-04", dueDate: "2026-05-03", status: "open" });

    // Revoking on the last day of the statement period is refused, naming the rule.
    e.at("2026-03-09");
    const revoke = (decisionDate: string) =>
      e.approval.post(`/cases/${caseId}/revoke`, DEMO.bureau, {
        decisionNumber: "榕审批撤〔2026〕1号",
        reason: "以虚假承诺取得行政许可",
        decisionDate,
        answersRequestId: requestId,
      });
    const early = await revoke("2026-03-09");
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ status: 409, code: "revocation.statement-period-open" });
    expect(early.body.detail).toContain("statement period runs until 2026-03-09");
    expect((await e.approval.get(`/cases/${caseId}`, DEMO.bureau)).body.status).toBe("granted");

    // The day after, the revocation answering the request goes through.
    e.at("2026-03-10");
    expect(await revoke("2026-03-10")).toMatchObject({ status: 200, body: { status: "revoked", events: ["LicenceRevoked"] } });
    expect((await e.approval.get(`/cases/${caseId}`, DEMO.bureau)).body).toMatchObject({ status: "revoked", licence: { licenceId } });

    // The regulator's handoff closes, with the request answered.
    const closed = await waitFor("the supervision handoff closed", async () => {
      const h = (await e.supervision.get(`/handoffs/${handoffId}`, DEMO.market)).body;
      return h.status === "closed" ? h : undefined;
    });
    expect(closed).toMatchObject({
      closure: { ended: "revoked", decisionNumber: "榕审批撤〔2026〕1号", decisionDate: "2026-03-10" },
      verification: { verificationId, truthful: false },
      revocationRequests: [{ requestId, answer: { outcome: "revoked", decisionDate: "2026-03-10" } }],
    });
    const inboxClosed = await waitFor("the inbox closed", async () => {
      const i = (await e.supervision.get("/handoffs", DEMO.market)).body.items.find((x: Body) => x.handoffId === handoffId);
      return i?.status === "closed" ? i : undefined;
    });
    expect(inboxClosed).toMatchObject({ ended: "revoked", commitmentTruthful: false, revocationRequests: 1 });
    // …and so does linkage's, with every deadline of the licence settled.
    const linkageHandoff = await waitFor("the linkage handoff closed", async () => {
      const h = (await e.linkage.get(`/handoffs/${handoffId}`, SUPERVISOR)).body;
      return h.status === "closed" && h.deadlines.some((d: Body) => d.kind === "REVOCATION_DECISION" && d.status === "met") ? h : undefined;
    });
    expect(linkageHandoff).toMatchObject({ closedBy: "LicenceRevoked", claimedAt: "2026-03-03T02:00:00.000Z", onTime: true, verifiedAt: "2026-03-04T02:00:00.000Z" });
    const byKind = Object.fromEntries(linkageHandoff.deadlines.map((d: Body) => [d.kind, d]));
    expect(byKind).toMatchObject({
      CLAIM: { status: "met", dueDate: "2026-03-09" },
      COMMITMENT_VERIFICATION: { status: "met", dueDate: "2026-06-02" },
      REVOCATION_DECISION: { status: "met", metBy: "LicenceRevoked", dueDate: "2026-05-03" },
    });

    // 8. The credit platform publishes a barring COMMITMENT_BREACH record.
    const standing = await waitFor("the credit record", async () => {
      const s = (await e.enforcement.get(`/credit/${uscc}`, DEMO.credit)).body;
      return s.records?.length > 0 ? s : undefined;
    });
    expect(standing).toMatchObject({ uscc, holderName, barred: true });
    expect(standing.records).toEqual([
      expect.objectContaining({
        kind: "COMMITMENT_BREACH",
        severity: "SERIOUS",
        barsCommitment: true,
        sourceRef: verificationId,
        publishingDepartment: DEMO.credit,
        publishedAt: Date.parse("2026-03-04T02:00:00Z"),
        repaired: false,
      }),
    ]);
    const recordId: string = standing.records[0].recordId;
    expect(standing.reasons).toEqual([expect.stringContaining(`COMMITMENT_BREACH ${recordId}`)]);

    // Linkage's credit standing takes the record over from the verification…
    const eligibility = await waitFor("the credit record in linkage", async () => {
      const r = (await e.linkage.get(`/subjects/${uscc}/commitment-eligibility`, DEMO.bureau)).body;
      return r.records.some((x: Body) => x.source === "CREDIT_RECORD") ? r : undefined;
    });
    expect(eligibility).toMatchObject({
      eligible: false,
      records: [{ source: "CREDIT_RECORD", kind: "COMMITMENT_BREACH", id: recordId, department: DEMO.credit }],
    });
    // …so a new 告知承诺 application by the same licensee is refused, naming the record.
    e.at("2026-03-11");
    const application = {
      applicationNumber: "SL-E2E-BREACH-2",
      itemCode: DEMO.items.food.code,
      itemName: DEMO.items.food.name,
      applicant: { name: holderName, uscc },
      regionCode: REGION,
    };
    const barred = await e.approval.post("/cases", DEMO.bureau, { ...application, caseId: "E2E-BREACH-2", underCommitment: true });
    expect(barred.status).toBe(409);
    expect(barred.body).toMatchObject({ status: 409, code: "commitment.barred" });
    expect(barred.body.detail).toContain(`credit record ${recordId} (COMMITMENT_BREACH, 2026-03-04, ${DEMO.credit})`);
    expect((await e.approval.get("/cases/E2E-BREACH-2", DEMO.bureau)).status).toBe(404);
    // The bar is on 告知承诺 only: the ordinary procedure stays open.
    const ordinary = await e.approval.post("/cases", DEMO.bureau, { ...application, caseId: "E2E-BREACH-3", applicationNumber: "SL-E2E-BREACH-3", underCommitment: false });
    expect(ordinary).toMatchObject({ status: 201, body: { status: "accepted" } });

    // 5. Feedback: the licence lists the verification and the revocation request (and the credit record stemming from it).
    const feedback = await waitFor("the feedback of the licence", async () => {
      const f = (await e.linkage.get(`/licences/${licenceId}/feedback`, DEMO.bureau)).body as Body[];
      return f.length >= 3 ? f : undefined;
    });
    expect(feedback.map((f) => [f.kind, f.ref])).toEqual(
      expect.arrayContaining([
        ["COMMITMENT_VERIFICATION", verificationId],
        ["REVOCATION_REQUEST", requestId],
        ["CREDIT_RECORD", recordId],
      ]),
    );
    expect(feedback).toHaveLength(3);
    const verification = feedback.find((f) => f.kind === "COMMITMENT_VERIFICATION");
    expect(verification).toMatchObject({ eventType: "CommitmentVerified", department: DEMO.market, caseId, at: "2026-03-04T02:00:00.000Z" });
    expect(verification.summary).toContain("虚假承诺");
    expect(feedback.find((f) => f.kind === "REVOCATION_REQUEST")).toMatchObject({ eventType: "RevocationRequested", department: DEMO.market, caseId });
  });

  it("leaves a log whose every event is signed by its department, chained and sealed", async () => {
    await e.bus.sealer.flush();
    const keys = new KeyRing([...e.bus.registry.keyRing(), ...(await e.bus.keys.publicKeys())]);
    const verified = await verifyStore(e.bus.store, { keys, signatures: "all", workers: 0 });
    expect(verified.failure, JSON.stringify(verified.failure)).toBeUndefined();
    expect(verified).toMatchObject({ ok: true });
    // Every department that acted in the loop signed its own events.
    const departments = new Set((await e.bus.store.readByCorrelationKey(demoUscc(101))).map((event) => event.metadata.department));
    expect([...departments]).toEqual(expect.arrayContaining([DEMO.bureau, DEMO.market, DEMO.credit, "SHENGUAN-LINKAGE"]));
  });
});
