import { calendar2026, cardDates, CalendarYearNotLoadedError, localDate, WorkingCalendar } from "@shenguan/deadlines";
import { describe, expect, it } from "vitest";
import { calendarDaysUntil, deadlineCards, dueOf, limitOf, monthsBetween } from "./limits.js";

const calendar = new WorkingCalendar([calendar2026]);

describe("deadline card dates", () => {
  it("counts a 5-working-day claim limit from 2026-09-29 across National Day", () => {
    // Working days after the push: 09-30, (10-01..07 off) 10-08, 10-09, 10-10 (make-up Saturday), 10-12.
    expect(dueOf(calendar, "2026-09-29", { amount: 5, unit: "WORKING_DAYS" })).toBe("2026-10-12");
    const cards = deadlineCards(calendar, { start: "2026-09-29", limit: { amount: 5, unit: "WORKING_DAYS" } }, 0.8);
    expect(cards).toEqual({ due: "2026-10-12", yellowFrom: "2026-10-10", redFrom: "2026-10-13" });
    // The same as the deadlines package's own rule.
    expect(cards).toEqual(
      cardDates(calendar, { start: localDate("2026-09-29"), limit: { amount: 5, unit: "working-days" }, yellowShare: 0.8 }),
    );
  });

  it("lets a due date fixed by an event win, with yellow never after it", () => {
    const cards = deadlineCards(calendar, { start: "2026-09-29", limit: { amount: 5, unit: "WORKING_DAYS" }, fixedDue: "2026-10-09" }, 0.8);
    expect(cards).toEqual({ due: "2026-10-09", yellowFrom: "2026-10-09", redFrom: "2026-10-10" });
  });

  it("turns a rectification's or an extended decision's due date into calendar days", () => {
    expect(calendarDaysUntil("2026-03-01", "2026-04-20")).toEqual({ amount: 50, unit: "CALENDAR_DAYS" });
    expect(calendarDaysUntil("2026-03-01", "2026-03-01")).toEqual({ amount: 1, unit: "CALENDAR_DAYS" });
    // 60 calendar days: yellow after 48 (0.8), red the day after the 60th.
    expect(deadlineCards(calendar, { start: "2026-03-01", limit: { amount: 60, unit: "CALENDAR_DAYS" } }, 0.8)).toEqual({
      due: "2026-04-30",
      yellowFrom: "2026-04-18",
      redFrom: "2026-05-01",
    });
  });

  it("maps contract units to the deadlines package's and finds whole months", () => {
    expect(limitOf({ amount: 3, unit: "MONTHS" })).toEqual({ amount: 3, unit: "months" });
    expect(limitOf({ amount: 2, unit: "CALENDAR_DAYS" })).toEqual({ amount: 2, unit: "calendar-days" });
    expect(monthsBetween("2026-09-29", "2026-12-29")).toBe(3);
    expect(monthsBetween("2026-11-30", "2027-02-28")).toBe(3);
    expect(monthsBetween("2026-09-29", "2026-12-30")).toBeUndefined();
  });

  it("refuses to guess working days outside the loaded years; months are plain arithmetic", () => {
    expect(() => dueOf(calendar, "2026-12-29", { amount: 5, unit: "WORKING_DAYS" })).toThrow(CalendarYearNotLoadedError);
    expect(dueOf(calendar, "2026-10-29", { amount: 3, unit: "MONTHS" })).toBe("2027-01-29");
  });
});
