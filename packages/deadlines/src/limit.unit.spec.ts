import { describe, expect, it } from "vitest";
import { WorkingCalendar } from "./calendar.js";
import { calendar2026 } from "./data/2026.js";
import { dueDate, type Limit } from "./limit.js";
import { localDate as d } from "./local-date.js";

const cal = new WorkingCalendar([calendar2026]);

describe("dueDate", () => {
  it("given a 5-working-day claim limit from Tue 2026-09-29, then it is due Mon 2026-10-12", () => {
    expect(
      dueDate(cal, d("2026-09-29"), { amount: 5, unit: "working-days" }),
    ).toBe("2026-10-12");
  });

  it("given the 60-day and 60+20-day revocation limits from 2026-08-01, then 2026-09-30 and 2026-10-20", () => {
    expect(
      dueDate(cal, d("2026-08-01"), { amount: 60, unit: "calendar-days" }),
    ).toBe("2026-09-30");
    expect(
      dueDate(cal, d("2026-08-01"), { amount: 80, unit: "calendar-days" }),
    ).toBe("2026-10-20");
  });

  it("given a 3-month verification limit from 2026-06-15, then 2026-09-15; from 2026-01-31 with 1 month, then 2026-02-28", () => {
    expect(dueDate(cal, d("2026-06-15"), { amount: 3, unit: "months" })).toBe(
      "2026-09-15",
    );
    expect(dueDate(cal, d("2026-01-31"), { amount: 1, unit: "months" })).toBe(
      "2026-02-28",
    );
  });

  it("given rollToWorkingDay on a working-day limit, then it changes nothing", () => {
    expect(
      dueDate(
        cal,
        d("2026-09-29"),
        { amount: 5, unit: "working-days" },
        { rollToWorkingDay: true },
      ),
    ).toBe("2026-10-12");
  });

  it("given a zero, fractional or unknown-unit limit, then it throws naming the field", () => {
    expect(() =>
      dueDate(cal, d("2026-09-29"), { amount: 0, unit: "working-days" }),
    ).toThrow(/limit\.amount/);
    expect(() =>
      dueDate(cal, d("2026-09-29"), { amount: 2.5, unit: "months" }),
    ).toThrow(/limit\.amount/);
    expect(() =>
      dueDate(cal, d("2026-09-29"), {
        amount: 5,
        unit: "weeks",
      } as unknown as Limit),
    ).toThrow(/limit\.unit/);
  });
});
