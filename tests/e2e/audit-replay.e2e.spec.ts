/**
 * The scripted 告知承诺 breach case through the whole bus (tests/e2e): at each
 * step, the auditor's timeline and as-of (rebuilt from events) must say what
 * the services' HTTP APIs said at that step.
 */
import { demoUscc } from "@shenguan/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoute, DEMO, grantLicence, startE2e, waitFor, type Body, type E2e } from "./support.js";
import { asOf, caseTimeline, subjectFile } from "@shenguan/audit";

describe("auditor on the commitment-breach case (e2e)", () => {
  let e: E2e;
  beforeAll(async () => {
    e = await startE2e({ name: "audit", start: "2026-03-02T10:00:00+08:00" });
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("timeline and as-of match what the services reported at each step", async () => {
    const uscc = demoUscc(102);
    const caseId = "E2E-AUDIT-1";
    const licenceId = "JY13501020302002";
    const handoffId = `H-${licenceId}`;
    const licenceStream = `licence-case-${caseId}`;
    const handoffStream = `supervision-${handoffId}`;
    /** The time of a stream's last event: the moment "as it stood after this step". */
    const lastTime = async (stream: string) => (await e.store.readStream(stream)).at(-1)!.time;
    const types = async () => (await caseTimeline(e.store, caseId)).entries.map((x) => x.type);

    await addRoute(e.linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
    await grantLicence(e, { caseId, licenceId, item: DEMO.items.food, holder: { name: "福州审计示范食品有限公司", uscc }, underCommitment: true }, "2026-03-02");
    const granted = (await e.approval.get(`/cases/${caseId}`, DEMO.bureau)).body;
    const afterGrant = await asOf(e.store, licenceStream, await lastTime(licenceStream));
    expect(afterGrant.state).toMatchObject({ status: granted.status, licence: { licenceId, decisionDate: "2026-03-02" } });

    // Pushed: the regulator's inbox has it; the regulator's own stream begins only when the regulator first acts;
    // the timeline shows the push caused by the grant.
    const pushed: Body = await waitFor("the handoff at the regulator", async () => {
      const r = await e.supervision.get(`/handoffs/${handoffId}`, DEMO.market);
      return r.status === 200 ? r.body : undefined;
    });
    expect(pushed.status).toBe("pushed");
    expect(await e.store.readStream(handoffStream)).toEqual([]);
    const t1 = await waitFor("the push on the timeline", async () => {
      const t = await caseTimeline(e.store, caseId);
      return t.entries.some((x) => x.type === "HandoffPushed") ? t : undefined;
    });
    const grant = t1.entries.find((x) => x.type === "LicenceGranted")!;
    const push = t1.entries.find((x) => x.type === "HandoffPushed")!;
    expect(push).toMatchObject({ label: "推送", causedBy: grant.id, department: expect.any(String) });
    expect(push.depth).toBeGreaterThan(grant.depth);
    expect(push.deadlines.find((d) => d.kind === "CLAIM")).toMatchObject({ status: "open", dueDate: pushed.handoff?.claimDue ?? "2026-03-09" });
    expect(push.deadlines.find((d) => d.kind === "COMMITMENT_VERIFICATION")).toMatchObject({ status: "open", dueDate: "2026-06-02" });

    // Claimed.
    e.at("2026-03-03");
    const claimed = await e.supervision.post(`/handoffs/${handoffId}/claim`, DEMO.market);
    expect(claimed.body).toMatchObject({ status: "claimed" });
    const afterClaim = await asOf(e.store, handoffStream, await lastTime(handoffStream));
    expect((afterClaim.state as Body).status).toBe(claimed.body.status);
    // …and the stream began with the claim, from the push it claimed: its receipt is caused by linkage's push.
    expect((await e.store.readStream(handoffStream)).map((x) => [x.type, x.metadata.causationId])).toEqual([
      ["HandoffReceived", push.id],
      ["HandoffClaimed", null],
    ]);
    expect((await caseTimeline(e.store, caseId)).entries.find((x) => x.type === "HandoffReceived")).toMatchObject({ causedBy: push.id });

    // Verified untruthful, then a revocation request; revoked after the statement period.
    e.at("2026-03-04");
    const verified = await e.supervision.post(`/handoffs/${handoffId}/commitment-verification`, DEMO.market, { truthful: false, findings: "承诺的经营场所与实际不符" });
    expect(verified.status).toBe(201);
    const requested = await e.supervision.post(`/handoffs/${handoffId}/revocation-requests`, DEMO.market, { grounds: "以虚假承诺取得许可" });
    expect(requested.status).toBe(201);
    const requestId: string = requested.body.recordId;
    const withRequest = await waitFor("the request on the approval case", async () => {
      const c = (await e.approval.get(`/cases/${caseId}`, DEMO.bureau)).body;
      return c.requests?.[requestId] ? c : undefined;
    });
    const rebuiltRequest = await asOf(e.store, licenceStream, await lastTime(licenceStream));
    expect((rebuiltRequest.state as Body).requests[requestId]).toMatchObject({
      statementPeriodEnds: withRequest.requests[requestId].statementPeriodEnds,
      decisionDue: withRequest.requests[requestId].decisionDue,
    });

    e.at("2026-03-10");
    const revoked = await e.approval.post(`/cases/${caseId}/revoke`, DEMO.bureau, {
      decisionNumber: "榕审批撤〔2026〕9号",
      reason: "以虚假承诺取得行政许可",
      decisionDate: "2026-03-10",
      answersRequestId: requestId,
    });
    expect(revoked.body).toMatchObject({ status: "revoked" });
    expect((await asOf(e.store, licenceStream, await lastTime(licenceStream))).state).toMatchObject({ status: revoked.body.status });
    // As of the day before, the licence was still granted: rebuilt from events, not from the read model.
    expect((await asOf(e.store, licenceStream, new Date("2026-03-09T23:59:59+08:00"))).state).toMatchObject({ status: "granted" });

    // The closed supervision handoff, and the timeline's deadlines settled as linkage reports them.
    const closed = await waitFor("the supervision handoff closed", async () => {
      const h = (await e.supervision.get(`/handoffs/${handoffId}`, DEMO.market)).body;
      return h.status === "closed" ? h : undefined;
    });
    expect((await asOf(e.store, handoffStream, await lastTime(handoffStream))).state).toMatchObject({ status: closed.status, closure: { ended: "revoked" } });
    const t2 = await caseTimeline(e.store, caseId);
    const last = t2.entries.at(-1)!;
    const byKind = Object.fromEntries(last.deadlines.map((d) => [d.kind, d.status]));
    expect(byKind).toMatchObject({ CLAIM: "met", COMMITMENT_VERIFICATION: "met", REVOCATION_DECISION: "met" });
    expect(await types()).toEqual(expect.arrayContaining(["ApplicationAccepted", "LicenceGranted", "HandoffPushed", "HandoffClaimed", "CommitmentVerified", "RevocationRequested", "LicenceRevoked"]));
    const positions = t2.entries.map((x) => x.position.split("/").map(BigInt));
    for (let i = 1; i < positions.length; i++) {
      const [a, b] = [positions[i - 1]!, positions[i]!];
      expect(a[0]! < b[0]! || (a[0] === b[0] && a[1]! < b[1]!)).toBe(true);
    }

    // The subject file holds the licence, the handoff, the verification and the credit record.
    const file = await waitFor("the credit record in the subject file", async () => {
      const f = await subjectFile(e.store, uscc);
      return f.sections.credit.length > 0 ? f : undefined;
    });
    expect(file.sections.licences.map((x) => x.type)).toEqual(expect.arrayContaining(["LicenceGranted", "LicenceRevoked"]));
    expect(file.sections.commitments.map((x) => x.type)).toEqual(expect.arrayContaining(["CommitmentVerified", "RevocationRequested"]));
    expect(file.sections.credit[0]).toMatchObject({ type: "CreditRecordPublished", label: "信用记录公示" });
  });
});
