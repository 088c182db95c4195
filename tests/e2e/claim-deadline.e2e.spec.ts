/**
 * A claim not made in time turns yellow, then red, counted in working days
 * across the 2026 National Day holiday (国庆 10-01..10-07 off, Saturday 10-10
 * a make-up working day). The deadline timer runs only when the test ticks at
 * the ManualClock's time: no test waits for a deadline.
 */
import { demoUscc } from "@shenguan/bus";
import { calendar2026, cardDates, localDate, WorkingCalendar } from "@shenguan/deadlines";
import { deadlineStream, type LinkageTickOutcome } from "@shenguan/linkage";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addRoute, DEMO, grantLicence, startE2e, SUPERVISOR, waitFor, waitQuiet, type E2e } from "./support.js";

describe("claim deadline across the National Day holiday: yellow, then red (e2e)", () => {
  let e: E2e;
  beforeAll(async () => {
    e = await startE2e({ name: "claim", start: "2026-09-29T10:00:00+08:00" }); // a Tuesday
  });
  afterAll(async () => {
    await e?.stop();
  });

  it("warns once on the yellow date, not before, and breaches on 10-13, the day after the due date", async () => {
    const licenceId = "JY13501020929001";
    const handoffId = `H-${licenceId}`;
    const deadlineId = `claim-${handoffId}`;
    const stream = deadlineStream(deadlineId);
    await addRoute(e.linkage, { itemCode: DEMO.items.food.code, regulator: DEMO.market, claimDays: 5 });
    await grantLicence(
      e,
      {
        caseId: "E2E-CLAIM-1",
        licenceId,
        item: DEMO.items.food,
        holder: { name: "福州鼓楼国庆示范餐饮店", uscc: demoUscc(201) },
        underCommitment: false,
      },
      "2026-09-29",
    );

    // Pushed on the decision day; 5 working days: 09-30, 10-08, 10-09, 10-10 (make-up Saturday), 10-12.
    const handoff = await waitFor("the push", async () => {
      const r = await e.linkage.get(`/handoffs/${handoffId}`, SUPERVISOR);
      return r.status === 200 && r.body.status === "pushed" ? r.body : undefined;
    });
    expect(handoff).toMatchObject({ regulator: DEMO.market, pushedAt: "2026-09-29T02:00:00.000Z", claimDue: "2026-10-12" });
    const expected = cardDates(new WorkingCalendar([calendar2026]), {
      start: localDate("2026-09-29"),
      limit: { amount: 5, unit: "working-days" },
      yellowShare: 0.8,
    });
    expect(expected).toEqual({ due: "2026-10-12", yellowFrom: "2026-10-10", redFrom: "2026-10-13" });
    expect(handoff.deadlines).toEqual([
      expect.objectContaining({
        deadlineId,
        kind: "CLAIM",
        responsibleDepartment: DEMO.market,
        startDate: "2026-09-29",
        limit: { amount: 5, unit: "WORKING_DAYS" },
        dueDate: expected.due,
        yellowFrom: expected.yellowFrom,
        redFrom: "2026-10-13",
        status: "open",
      }),
    ]);
    // The regulator sees the same due date in its inbox.
    const inboxItem = await waitFor("the push in the regulator's inbox", async () =>
      (await e.supervision.get("/handoffs", DEMO.market)).body.items.find((i: { handoffId: string }) => i.handoffId === handoffId),
    );
    expect(inboxItem).toMatchObject({ status: "pushed", claimDue: "2026-10-12" });

    const tick = async (date: string, time = "10:00:00"): Promise<LinkageTickOutcome> => {
      e.at(date, time);
      return (await e.bus.tick()) as LinkageTickOutcome;
    };
    const claimDeadline = async () =>
      (await e.linkage.get(`/deadlines?kind=CLAIM&subjectRef=${handoffId}`, SUPERVISOR)).body as Array<Record<string, unknown>>;
    const cards = async () => (await e.readStream(stream)).map((ev) => ev.type);

    // The day before yellow (a Friday after the holiday): nothing.
    let outcome = await tick("2026-10-09");
    expect(outcome).toMatchObject({ today: "2026-10-09", warned: [], breached: [] });
    expect(await cards()).toEqual([]);
    expect((await claimDeadline())[0]).toMatchObject({ status: "open", warnedAt: null });

    // The yellow date (the make-up Saturday): exactly one DeadlineWarned.
    outcome = await tick(expected.yellowFrom);
    expect(outcome).toMatchObject({ today: "2026-10-10", warned: [deadlineId], breached: [] });
    const [warned, ...more] = await e.readStream(stream);
    expect(more).toEqual([]);
    expect(warned).toMatchObject({
      type: "DeadlineWarned",
      data: {
        deadlineId,
        kind: "CLAIM",
        subjectRef: handoffId,
        responsibleDepartment: DEMO.market,
        startDate: "2026-09-29",
        dueDate: "2026-10-12",
        limit: { amount: 5, unit: "WORKING_DAYS" },
        warnedAt: Date.parse("2026-10-10T02:00:00Z"),
      },
    });
    expect((await claimDeadline())[0]).toMatchObject({ status: "warned", warnedAt: "2026-10-10T02:00:00.000Z" });
    // Through Kafka: the card's echo reached the linkage consumer, which knew it (it emitted the card) and passed
    // it over unread; the read model still holds one card.
    await waitQuiet(e);
    const { rows: echoInbox } = await e.bus.sql.query(`select 1 from consumer_inbox where consumer = 'linkage' and ce_id = $1`, [warned!.id]);
    expect(echoInbox).toEqual([]);
    const cardRows = async () =>
      (
        await e.bus.sql.query<{ event_id: string; card: string }>(
          `select event_id, card from linkage_deadline_cards where deadline_id = $1 order by at`,
          [deadlineId],
        )
      ).rows;
    expect(await cardRows()).toEqual([{ event_id: warned!.id, card: "WARNED" }]);

    // Ticking again the same day changes nothing.
    outcome = await tick("2026-10-10", "16:30:00");
    expect(outcome).toMatchObject({ warned: [], breached: [], skipped: [] });
    expect(await cards()).toEqual(["DeadlineWarned"]);

    // The due date itself is still within the limit: no red.
    outcome = await tick("2026-10-12");
    expect(outcome).toMatchObject({ warned: [], breached: [] });
    expect(await cards()).toEqual(["DeadlineWarned"]);

    // The day after: red.
    outcome = await tick("2026-10-13");
    expect(outcome).toMatchObject({ today: "2026-10-13", warned: [], breached: [deadlineId] });
    const events = await e.readStream(stream);
    expect(events.map((ev) => ev.type)).toEqual(["DeadlineWarned", "DeadlineBreached"]);
    expect(events[1]).toMatchObject({ data: { deadlineId, dueDate: "2026-10-12", breachedAt: Date.parse("2026-10-13T02:00:00Z") } });
    expect((await claimDeadline())[0]).toMatchObject({ status: "breached", breachedAt: "2026-10-13T02:00:00.000Z" });
    await waitQuiet(e); // the red card's echo through Kafka, passed over as the yellow one's was
    expect(await cardRows()).toEqual([
      { event_id: warned!.id, card: "WARNED" },
      { event_id: events[1]!.id, card: "BREACHED" },
    ]);

    // 效能监测: one open red card for the market regulator, none yellow, the push unclaimed.
    const indicators = await e.linkage.get("/indicators?groupBy=department", SUPERVISOR);
    expect(indicators.status).toBe(200);
    expect(indicators.body.asOf).toBe("2026-10-13");
    expect(indicators.body.groups).toEqual([
      expect.objectContaining({ group: DEMO.market, pushes: 1, claimed: 0, claimRate: 0, openYellowCards: 0, openRedCards: 1 }),
    ]);
  });
});
