import { describe, expect, it } from "vitest";
import { WorkingCalendar } from "./calendar.js";
import { cardDates, cardStatus } from "./cards.js";
import { calendar2026 } from "./data/2026.js";
import { localDate as d } from "./local-date.js";

const cal = new WorkingCalendar([calendar2026]);

describe("cards for a 5-working-day claim limit granted Tue 2026-09-29 (yellow at 0.8)", () => {
  const input = {
    start: d("2026-09-29"),
    limit: { amount: 5, unit: "working-days" },
    yellowShare: 0.8,
  } as const;

  it("given the grant, when card dates are computed, then yellow from make-up Sat 10-10 (4th working day), due 10-12, red from 10-13", () => {
    expect(cardDates(cal, input)).toEqual({
      due: "2026-10-12",
      yellowFrom: "2026-10-10",
      redFrom: "2026-10-13",
    });
  });

  it("given successive todays, then green through 10-09, yellow 10-10..10-12 (Sunday 10-11 included), red from 10-13", () => {
    const at = (today: string) =>
      cardStatus(cal, { ...input, today: d(today) }).status;
    expect(at("2026-09-29")).toBe("green");
    expect(at("2026-10-07")).toBe("green");
    expect(at("2026-10-09")).toBe("green");
    expect(at("2026-10-10")).toBe("yellow");
    expect(at("2026-10-11")).toBe("yellow");
    expect(at("2026-10-12")).toBe("yellow");
    expect(at("2026-10-13")).toBe("red");
  });

  it("given a status request, then the dates come with it", () => {
    expect(cardStatus(cal, { ...input, today: d("2026-10-13") })).toEqual({
      status: "red",
      due: "2026-10-12",
      yellowFrom: "2026-10-10",
      redFrom: "2026-10-13",
    });
  });
});

describe("card thresholds", () => {
  it("given 10 working days at 0.7 from 2026-09-29, then yellow from the 7th working day 10-14 (not 8th by float rounding), due Mon 10-19", () => {
    expect(
      cardDates(cal, {
        start: d("2026-09-29"),
        limit: { amount: 10, unit: "working-days" },
        yellowShare: 0.7,
      }),
    ).toEqual({
      due: "2026-10-19",
      yellowFrom: "2026-10-14",
      redFrom: "2026-10-20",
    });
  });

  it("given yellowShare 1, then yellow only on the due date itself", () => {
    const dates = cardDates(cal, {
      start: d("2026-09-29"),
      limit: { amount: 5, unit: "working-days" },
      yellowShare: 1,
    });
    expect(dates.yellowFrom).toBe("2026-10-12");
  });

  it("given 60 calendar days from 2026-03-02 at 0.8, then yellow from day 48 (4-19), due 5-01, red from 5-02", () => {
    expect(
      cardDates(cal, {
        start: d("2026-03-02"),
        limit: { amount: 60, unit: "calendar-days" },
        yellowShare: 0.8,
      }),
    ).toEqual({
      due: "2026-05-01",
      yellowFrom: "2026-04-19",
      redFrom: "2026-05-02",
    });
  });

  it("given the same with rollToWorkingDay, then due moves to 5-06 and red to 5-07 but yellow stays 4-19", () => {
    expect(
      cardDates(cal, {
        start: d("2026-03-02"),
        limit: { amount: 60, unit: "calendar-days" },
        yellowShare: 0.8,
        rollToWorkingDay: true,
      }),
    ).toEqual({
      due: "2026-05-06",
      yellowFrom: "2026-04-19",
      redFrom: "2026-05-07",
    });
  });

  it("given 3 months from 2026-06-15 at 0.8, then the 92-day span yields yellow from day 74 (8-28), due 9-15, red 9-16", () => {
    expect(
      cardDates(cal, {
        start: d("2026-06-15"),
        limit: { amount: 3, unit: "months" },
        yellowShare: 0.8,
      }),
    ).toEqual({
      due: "2026-09-15",
      yellowFrom: "2026-08-28",
      redFrom: "2026-09-16",
    });
  });

  it("given yellowShare 0 or above 1, then it throws", () => {
    const base = {
      start: d("2026-06-15"),
      limit: { amount: 3, unit: "months" },
    } as const;
    expect(() => cardDates(cal, { ...base, yellowShare: 0 })).toThrow(
      /yellowShare/,
    );
    expect(() => cardDates(cal, { ...base, yellowShare: 1.2 })).toThrow(
      /yellowShare/,
    );
  });
});
