import { sampleOf, type EventName, type EventPayloads } from "@shenguan/contracts";
import { ManualClock } from "@shenguan/service-kit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildLinkageApp } from "../src/app.js";
import { consumed, grant, ITEM, openTestDb, OTHER_ITEM, REGULATOR, rows, USCC, type TestDb } from "./support.js";
import { vouchFor } from "@shenguan/service-kit/testing";

const OPS = "350100-OPS";
const REG_B = "350100-WJW";

describe("linkage HTTP API (PGlite)", () => {
  let db: TestDb;
  let clock: ManualClock;
  let app: Awaited<ReturnType<typeof buildLinkageApp>>;
  let key = 0;

  beforeEach(async () => {
    db = await openTestDb("pglite");
    clock = new ManualClock("2026-09-29T02:00:00Z");
    app = await buildLinkageApp({ store: db.store, sql: db.sql, clock, logger: false });
  });
  afterEach(async () => {
    await app?.close();
    await db?.close();
  });

  const send = (method: "POST" | "PUT" | "DELETE", url: string, payload?: unknown, idempotencyKey: string | null = `k-${key++}`) =>
    app.inject({
      method,
      url,
      payload: payload as object,
      headers: { ...vouchFor(OPS), ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}) },
    });
  const get = async (url: string) => {
    const res = await app.inject({ method: "GET", url, headers: vouchFor(OPS) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const deliver = <N extends EventName>(name: N, payload: EventPayloads[N], options: { time?: string } = {}) =>
    db.sql.transaction((tx) => app.linkage.handle(consumed(name, payload, options), tx));
  const route = { itemCode: ITEM, regionCode: "350102", regulator: REGULATOR };

  it("maintains the 审管职责清单 with an insert-only history of who changed what", async () => {
    expect((await send("POST", "/routes", route, null)).statusCode).toBe(400); // Idempotency-Key required
    const bad = await send("POST", "/routes", { ...route, regionCode: "990102" });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().errors[0]).toMatchObject({ path: "body.regionCode" });

    const created = await send("POST", "/routes", route, "create-1");
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body.route).toMatchObject({
      ...route,
      claimLimit: { amount: 5, unit: "WORKING_DAYS" },
      pushIsClaim: false,
      verificationMonths: 3,
    });
    const replay = await send("POST", "/routes", route, "create-1");
    expect(replay.headers["idempotent-replayed"]).toBe("true");
    expect(replay.json()).toEqual(body);
    const duplicate = await send("POST", "/routes", { ...route, regionCode: "350102000000" }); // the same county, 12-digit spelling
    expect(duplicate.statusCode).toBe(409);
    expect(duplicate.json().code).toBe("route.duplicate");

    const id = body.route.routeId as string;
    clock.set("2026-09-30T02:00:00Z");
    const changed = await send("PUT", `/routes/${id}`, {
      ...route,
      regulator: REG_B,
      pushIsClaim: true,
      claimLimit: { amount: 3, unit: "WORKING_DAYS" },
    });
    expect(changed.statusCode).toBe(200);
    expect((await send("PUT", "/routes/nope", route)).statusCode).toBe(404);
    expect(await get("/routes")).toEqual([
      { ...body.route, regulator: REG_B, pushIsClaim: true, claimLimit: { amount: 3, unit: "WORKING_DAYS" } },
    ]);
    expect((await send("DELETE", `/routes/${id}`)).statusCode).toBe(200);
    expect(await get("/routes")).toEqual([]);

    const history = await get("/routes/history");
    expect(history.map((c: { action: string }) => c.action)).toEqual(["delete", "update", "create"]);
    expect(history[1]).toMatchObject({
      routeId: id,
      department: OPS,
      at: "2026-09-30T02:00:00.000Z",
      before: { regulator: REGULATOR },
      after: { regulator: REG_B, pushIsClaim: true },
    });
    expect(history[0]).toMatchObject({ before: { regulator: REG_B }, after: null });
    await expect(db.sql.query(`update linkage_route_history set department = 'X'`)).rejects.toThrow(/insert-only/);
    await expect(db.sql.query(`delete from linkage_route_history`)).rejects.toThrow(/insert-only/);
  });

  it("lists the unrouted queue and pushes from it when a route is added, counting the claim from that push", async () => {
    await deliver("LicenceGranted", grant({ licenceId: "L1" }));
    const queue = await get("/handoffs/unrouted");
    expect(queue).toHaveLength(1);
    expect(queue[0]).toMatchObject({ handoffId: "H-L1", status: "unrouted", waitingReason: expect.stringContaining(ITEM) });

    clock.set("2026-10-08T02:00:00Z");
    const created = await send("POST", "/routes", { ...route, regionCode: "350100" });
    expect(created.json().released).toEqual({ pushed: ["H-L1"], held: [] });
    expect(await get("/handoffs/unrouted")).toEqual([]);
    const handoff = await get("/handoffs/H-L1");
    // Pushed 10-08: 10-09, 10-10 (make-up Saturday), 10-12, 10-13, 10-14.
    expect(handoff).toMatchObject({ status: "pushed", regulator: REGULATOR, pushedAt: "2026-10-08T02:00:00.000Z", claimDue: "2026-10-14" });
    expect(handoff.deadlines).toEqual([
      expect.objectContaining({
        deadlineId: "claim-H-L1",
        startDate: "2026-10-08",
        dueDate: "2026-10-14",
        yellowFrom: "2026-10-13",
        redFrom: "2026-10-15",
        status: "open",
      }),
    ]);
    expect(await get(`/handoffs?regulator=${REGULATOR}&status=pushed,claimed`)).toHaveLength(1);
    expect(await get(`/handoffs?status=closed`)).toEqual([]);
    expect((await app.inject({ method: "GET", url: "/handoffs/H-none", headers: vouchFor(OPS) })).statusCode).toBe(404);
    expect((await app.inject({ method: "GET", url: "/handoffs?status=lost", headers: vouchFor(OPS) })).statusCode).toBe(400);

    // The timer, through the app's runtime.
    clock.set("2026-10-13T01:00:00Z");
    expect((await app.linkage.tick()).warned).toEqual(["claim-H-L1"]);
    expect(await get("/deadlines?status=warned")).toEqual([expect.objectContaining({ deadlineId: "claim-H-L1" })]);
  });

  it("loads calendar years through the validator and refuses dates outside them", async () => {
    expect((await get("/calendar/years")).map((y: { year: number }) => y.year)).toEqual([2026]);
    const invalid = await send("POST", "/calendar/years", {
      year: 2027,
      source: "notice",
      holidays: [{ name: "元旦", from: "2027-13-01", to: "2027-01-03" }],
      makeUpWorkdays: [],
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().errors).toEqual([expect.objectContaining({ path: "holidays[0].from" })]);
    const twice = await send("POST", "/calendar/years", { year: 2026, source: "again", holidays: [], makeUpWorkdays: [] });
    expect(twice.statusCode).toBe(409);

    const due = await app.inject({
      method: "GET",
      url: "/calendar/due-date?start=2026-12-28&amount=5&unit=WORKING_DAYS",
      headers: vouchFor(OPS),
    });
    expect(due.statusCode).toBe(409);
    expect(due.json()).toMatchObject({ code: "calendar.year-not-loaded", detail: expect.stringContaining("2027") });

    const y2027 = {
      year: 2027,
      source: "国务院办公厅关于2027年部分节假日安排的通知 (test)",
      holidays: [{ name: "元旦", from: "2027-01-01", to: "2027-01-03" }],
      makeUpWorkdays: [],
    };
    const loaded = await send("POST", "/calendar/years", y2027);
    expect(loaded.statusCode).toBe(201);
    expect(loaded.json()).toMatchObject({ year: 2027, revision: 1, loadedBy: OPS });
    expect(await get("/calendar/due-date?start=2026-12-28&amount=5&unit=WORKING_DAYS")).toMatchObject({
      due: "2027-01-05",
      redFrom: "2027-01-06",
    });
    expect((await send("POST", "/calendar/years?replace=true", { ...y2027, holidays: [] })).json()).toMatchObject({ revision: 2 });
    expect(await get("/calendar/due-date?start=2026-12-28&amount=5&unit=WORKING_DAYS")).toMatchObject({ due: "2027-01-04" });
  });

  it("answers the approval bureau: feedback on a licence and 告知承诺 eligibility", async () => {
    await send("POST", "/routes", route);
    await deliver("LicenceGranted", grant({ licenceId: "L2", underCommitment: true }));
    await deliver("CommitmentVerified", {
      ...sampleOf("CommitmentVerified"),
      verificationId: "V9",
      licenceId: "L2",
      caseId: "C-L2",
      holderUscc: USCC,
      truthful: false,
      findings: "承诺不实",
    });
    const feedback = await get("/licences/L2/feedback");
    expect(feedback).toEqual([
      expect.objectContaining({ kind: "COMMITMENT_VERIFICATION", result: true, summary: expect.stringContaining("承诺不实 untruthful") }),
    ]);
    const standing = await get(`/subjects/${USCC}/commitment-eligibility`);
    expect(standing).toMatchObject({ eligible: false, records: [{ id: "V9", kind: "COMMITMENT_BREACH" }] });
    expect(standing.reasons[0]).toContain("V9");
    expect(await app.linkage.eligibility({ uscc: USCC, idNumber: null })).toEqual(standing);
    expect(
      (
        await app.inject({
          method: "GET",
          url: "/subjects/91350100M000100Y4X/commitment-eligibility",
          headers: vouchFor(OPS),
        })
      ).statusCode,
    ).toBe(400);
    expect((await app.inject({ method: "GET", url: "/licences/L2/feedback" })).statusCode).toBe(401);
  });

  it("computes the indicators per department, item and region for a scripted period", async () => {
    await send("POST", "/routes", route);
    await send("POST", "/routes", { itemCode: OTHER_ITEM, regionCode: "350100", regulator: REG_B, pushIsClaim: true });
    for (const licenceId of ["L1", "L2", "L3"]) await deliver("LicenceGranted", grant({ licenceId }));
    for (const licenceId of ["L4", "L5"])
      await deliver("LicenceGranted", grant({ licenceId, itemCode: OTHER_ITEM, underCommitment: true }));
    const claim = (licenceId: string, at: string, onTime: boolean) =>
      deliver("HandoffClaimed", {
        handoffId: `H-${licenceId}`,
        licenceId,
        regulator: REGULATOR,
        claimedAt: Date.parse(at),
        claimDue: "2026-10-12",
        onTime,
        automatic: false,
      });
    await claim("L2", "2026-09-30T02:00:00Z", true);
    await deliver("InspectionRecorded", {
      ...sampleOf("InspectionRecorded"),
      inspectionId: "I2",
      licenceId: "L2",
      caseId: "C-L2",
      result: "COMPLIANT",
      rectificationDue: null,
    });
    clock.set("2026-10-13T02:00:00Z");
    await app.linkage.tick(); // L1 and L3 unclaimed past 10-12: red
    await claim("L3", "2026-10-14T02:00:00Z", false);
    await deliver("TransferredToEnforcement", {
      ...sampleOf("TransferredToEnforcement"),
      transferId: "T3",
      licenceId: "L3",
      caseId: "C-L3",
    });
    await deliver("CommitmentVerified", {
      ...sampleOf("CommitmentVerified"),
      verificationId: "V4",
      licenceId: "L4",
      caseId: "C-L4",
      truthful: true,
    });
    clock.set("2027-01-05T02:00:00Z"); // both verifications (due 12-29) are due now
    await app.linkage.tick(); // L5's verification: red

    const result = await get("/indicators?groupBy=department&from=2026-09-01&to=2026-09-30");
    // Ordered by group: 350100-WJW before 350102-SCJGJ.
    expect(result.groups).toEqual([
      {
        group: REG_B,
        pushes: 2,
        claimed: 2,
        claimedOnTime: 2,
        fedBack: 1,
        closedLoop: 1,
        dueForVerification: 2,
        verified: 1,
        claimRate: 1,
        onTimeClaimRate: 1,
        feedbackRate: 0.5,
        verificationRate: 0.5,
        closedLoopRate: 0.5,
        openYellowCards: 0,
        openRedCards: 1,
      },
      {
        group: REGULATOR,
        pushes: 3,
        claimed: 2,
        claimedOnTime: 1,
        fedBack: 2,
        closedLoop: 1,
        dueForVerification: 0,
        verified: 0,
        claimRate: 2 / 3,
        onTimeClaimRate: 1 / 3,
        feedbackRate: 2 / 3,
        verificationRate: null,
        closedLoopRate: 1 / 3,
        openYellowCards: 0,
        openRedCards: 1,
      },
    ]);
    expect(result.total).toMatchObject({
      group: null,
      pushes: 5,
      claimed: 4,
      claimedOnTime: 3,
      claimRate: 0.8,
      onTimeClaimRate: 0.6,
      openRedCards: 2,
    });
    expect((await get("/indicators?groupBy=item")).groups.map((g: { group: string; pushes: number }) => [g.group, g.pushes])).toEqual([
      [ITEM, 3],
      [OTHER_ITEM, 2],
    ]);
    expect((await get("/indicators?groupBy=region")).groups.map((g: { group: string; pushes: number }) => [g.group, g.pushes])).toEqual([
      ["350102", 5],
    ]);
    expect((await get("/indicators?from=2026-10-01")).groups).toEqual([]);
    expect((await app.inject({ method: "GET", url: "/indicators?from=2026-10-02&to=2026-10-01", headers: vouchFor(OPS) })).statusCode).toBe(
      400,
    );
    expect(await rows(db, `select status, count(*)::int as n from linkage_deadlines group by 1 order by 1`)).toEqual([
      { status: "breached", n: 2 },
      { status: "met", n: 5 },
    ]);
  });
});
