/**
 * A grant whose item has no route in the 审管职责清单 must not vanish: it
 * waits in the supervisor's unrouted queue until an operator adds the route,
 * and is pushed then, its claim limit counted from that push, not from the
 * grant.
 */
import { demoUscc } from "@shenguan/bus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoute, DEMO, grantLicence, startE2e, SUPERVISOR, waitFor, type E2e } from "./support.js";

/** 福州市城乡建设局: the regulator of 建筑业企业资质, which has no route yet. */
const CONSTRUCTION_REGULATOR = "ZJJ-350100";

describe("an unrouted grant waits, then is pushed when its route is added (e2e)", () => {
  let e: E2e;
  beforeAll(async () => {
    e = await startE2e({ name: "unrouted", start: "2026-06-10T10:00:00+08:00" }); // a Wednesday
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("counts the claim limit from the push date across 端午 (06-19 off), not from the grant", async () => {
    const licenceId = "JZ13501020610001";
    const handoffId = `H-${licenceId}`;
    const item = DEMO.items.construction;
    // A route for another item exists; none covers construction anywhere above 350102.
    await addRoute(e.linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
    await grantLicence(
      e,
      {
        caseId: "E2E-UNROUTED-1",
        licenceId,
        item,
        holder: { name: "福州马尾示范建筑工程有限公司", uscc: demoUscc(301) },
        underCommitment: false,
      },
      "2026-06-10",
    );

    const queued = await waitFor("the grant in the unrouted queue", async () =>
      (await e.linkage.get("/handoffs/unrouted", SUPERVISOR)).body.find((h: { handoffId: string }) => h.handoffId === handoffId),
    );
    expect(queued).toMatchObject({
      status: "unrouted",
      licenceId,
      itemCode: item.code,
      regionCode: "350102",
      decisionDate: "2026-06-10",
      regulator: null,
      pushedAt: null,
      claimDue: null,
      unroutedAt: "2026-06-10T02:00:00.000Z",
      waitingReason: `no route in the 审管职责清单 for item ${item.code} in region 350102 or the regions above it`,
    });
    expect(await e.readStream(`handoff-${handoffId}`)).toEqual([expect.objectContaining({ type: "HandoffUnrouted" })]);
    // No regulator has it; the timer cannot push it either.
    expect((await e.supervision.get(`/handoffs/${handoffId}`, CONSTRUCTION_REGULATOR)).status).toBe(404);
    expect((await e.supervision.get("/handoffs", CONSTRUCTION_REGULATOR)).body).toMatchObject({ items: [], total: 0 });
    expect(await e.bus.tick()).toMatchObject({ released: [] });

    // A week later (a Wednesday) the operator adds the route: 3 working days to claim.
    e.at("2026-06-17", "09:30:00");
    const added = await addRoute(e.linkage, { itemCode: item.code, regulator: CONSTRUCTION_REGULATOR, claimDays: 3 });
    expect(added.released).toEqual({ pushed: [handoffId], held: [] });
    expect(await e.bus.tick()).toMatchObject({ released: [] }); // pushed once, by the route change

    // 06-18 (Thu), 06-22 (Mon), 06-23 (Tue): 端午 06-19..06-21 is off. From the grant it would have been 06-15.
    const pushed = (await e.linkage.get(`/handoffs/${handoffId}`, SUPERVISOR)).body;
    expect(pushed).toMatchObject({
      status: "pushed",
      regulator: CONSTRUCTION_REGULATOR,
      decisionDate: "2026-06-10",
      pushedAt: "2026-06-17T01:30:00.000Z",
      claimLimit: { amount: 3, unit: "WORKING_DAYS" },
      claimDue: "2026-06-23",
      unroutedAt: "2026-06-10T02:00:00.000Z",
      waitingReason: null,
    });
    expect(pushed.deadlines).toEqual([
      expect.objectContaining({
        kind: "CLAIM",
        startDate: "2026-06-17",
        dueDate: "2026-06-23",
        yellowFrom: "2026-06-23",
        redFrom: "2026-06-24",
        status: "open",
      }),
    ]);
    expect((await e.linkage.get("/handoffs/unrouted", SUPERVISOR)).body).toEqual([]);
    expect((await e.readStream(`handoff-${handoffId}`)).map((ev) => ev.type)).toEqual(["HandoffUnrouted", "HandoffPushed"]);

    // Through Kafka the regulator's inbox shows it, due 06-23, and the regulator claims it in time.
    const inboxItem = await waitFor("the push in the regulator's inbox", async () =>
      (await e.supervision.get("/handoffs", CONSTRUCTION_REGULATOR)).body.items.find((i: { handoffId: string }) => i.handoffId === handoffId),
    );
    expect(inboxItem).toMatchObject({
      licenceId,
      regulator: CONSTRUCTION_REGULATOR,
      status: "pushed",
      pushedAt: Date.parse("2026-06-17T01:30:00Z"),
      claimDue: "2026-06-23",
    });
    await waitFor("the regulator's handoff", async () => (await e.supervision.get(`/handoffs/${handoffId}`, CONSTRUCTION_REGULATOR)).status === 200);
    e.at("2026-06-22");
    const claim = await e.supervision.post(`/handoffs/${handoffId}/claim`, CONSTRUCTION_REGULATOR);
    expect(claim).toMatchObject({ status: 200, body: { status: "claimed", events: ["HandoffClaimed"] } });
    const claimed = await waitFor("the claim back in linkage", async () => {
      const h = (await e.linkage.get(`/handoffs/${handoffId}`, SUPERVISOR)).body;
      return h.status === "claimed" ? h : undefined;
    });
    expect(claimed).toMatchObject({ claimedAt: "2026-06-22T02:00:00.000Z", onTime: true });
    expect(claimed.deadlines[0]).toMatchObject({ kind: "CLAIM", status: "met" });
  });
});
