import { describe, expect, it } from "vitest";
import {
  CalendarYearAlreadyLoadedError,
  CalendarYearNotLoadedError,
  WorkingCalendar,
} from "./calendar.js";
import { calendar2026 } from "./data/2026.js";
import { localDate as d } from "./local-date.js";
import { InvalidYearCalendarError } from "./year-calendar.js";

const cal2026 = () => new WorkingCalendar([calendar2026]);

/** A made-up 2027 (the real notice is not out yet) with only 元旦 on Fri 2027-01-01. */
const fictional2027 = {
  year: 2027,
  source: "test fixture, not the real 2027 notice",
  holidays: [{ name: "元旦", from: "2027-01-01", to: "2027-01-01" }],
  makeUpWorkdays: [],
};

describe("WorkingCalendar.isWorkingDay with the 2026 notice", () => {
  const cal = cal2026();

  it("given make-up days 1-04 (Sun), 2-14 (Sat), 2-28 (Sat), 5-09 (Sat), 9-20 (Sun), 10-10 (Sat), then each is a working day", () => {
    for (const day of [
      "2026-01-04",
      "2026-02-14",
      "2026-02-28",
      "2026-05-09",
      "2026-09-20",
      "2026-10-10",
    ]) {
      expect(cal.isWorkingDay(d(day)), day).toBe(true);
    }
  });

  it("given the Spring Festival 2-15..2-23, then no day of it is a working day, Monday 2-23 included", () => {
    for (let day = 15; day <= 23; day++)
      expect(cal.isWorkingDay(d(`2026-02-${day}`)), `02-${day}`).toBe(false);
    expect(cal.isWorkingDay(d("2026-02-24"))).toBe(true);
  });

  it("given weekday holidays 1-01 (Thu), 4-06 (Mon), 6-19 (Fri), 9-25 (Fri), 10-07 (Wed), then none is a working day", () => {
    for (const day of [
      "2026-01-01",
      "2026-01-02",
      "2026-04-06",
      "2026-05-05",
      "2026-06-19",
      "2026-09-25",
      "2026-10-07",
    ]) {
      expect(cal.isWorkingDay(d(day)), day).toBe(false);
    }
  });

  it("given an ordinary Saturday 2026-03-07 and Tuesday 2026-03-10, then only the Tuesday works", () => {
    expect(cal.isWorkingDay(d("2026-03-07"))).toBe(false);
    expect(cal.isWorkingDay(d("2026-03-10"))).toBe(true);
  });

  it("given the whole of 2026, when counted, then there are 248 working days (261 weekdays - 19 weekday holidays + 6 make-up days)", () => {
    expect(cal.workingDaysBetween(d("2026-01-01"), d("2026-12-31"))).toBe(248);
  });
});

describe("WorkingCalendar.addWorkingDays", () => {
  const cal = cal2026();

  it("given a grant on Tue 2026-09-29 and a 5-working-day limit, then it ends Mon 2026-10-12 (9-30, 10-08, 10-09, 10-10 make-up, 10-12)", () => {
    expect(cal.addWorkingDays(d("2026-09-29"), 1)).toBe("2026-09-30");
    expect(cal.addWorkingDays(d("2026-09-29"), 2)).toBe("2026-10-08");
    expect(cal.addWorkingDays(d("2026-09-29"), 3)).toBe("2026-10-09");
    expect(cal.addWorkingDays(d("2026-09-29"), 4)).toBe("2026-10-10");
    expect(cal.addWorkingDays(d("2026-09-29"), 5)).toBe("2026-10-12");
  });

  it("given Thu 2026-02-12 and 3 working days, then 2-13, make-up Sat 2-14, and after the festival Tue 2-24", () => {
    expect(cal.addWorkingDays(d("2026-02-12"), 3)).toBe("2026-02-24");
  });

  it("given Thu 2026-02-26 and 2 or 3 working days, then make-up Sat 2-28 counts and Sun 3-01 does not", () => {
    expect(cal.addWorkingDays(d("2026-02-26"), 2)).toBe("2026-02-28");
    expect(cal.addWorkingDays(d("2026-02-26"), 3)).toBe("2026-03-02");
  });

  it("given a start on holiday 2026-01-01, then make-up Sun 1-04 is the first working day and Mon 1-05 the second", () => {
    expect(cal.addWorkingDays(d("2026-01-01"), 1)).toBe("2026-01-04");
    expect(cal.addWorkingDays(d("2026-01-01"), 2)).toBe("2026-01-05");
  });

  it("given a start on make-up Sat 2026-02-14, then the start day is not counted and the next working day is 2-24", () => {
    expect(cal.addWorkingDays(d("2026-02-14"), 1)).toBe("2026-02-24");
  });

  it("given n = 0, then the start is returned; given a negative or fractional n, then it throws", () => {
    expect(cal.addWorkingDays(d("2026-10-03"), 0)).toBe("2026-10-03");
    expect(() => cal.addWorkingDays(d("2026-10-03"), -1)).toThrow(RangeError);
    expect(() => cal.addWorkingDays(d("2026-10-03"), 1.5)).toThrow(RangeError);
  });

  it("given any n up to 30 from 2026-09-29, then workingDaysBetween inverts addWorkingDays", () => {
    for (let n = 0; n <= 30; n++) {
      expect(
        cal.workingDaysBetween(
          d("2026-09-29"),
          cal.addWorkingDays(d("2026-09-29"), n),
        ),
      ).toBe(n);
    }
  });
});

describe("WorkingCalendar.workingDaysBetween", () => {
  const cal = cal2026();

  it("given 9-29 to 10-07, then only 9-30 counts; given 9-29 to 10-12, then 5", () => {
    expect(cal.workingDaysBetween(d("2026-09-29"), d("2026-10-07"))).toBe(1);
    expect(cal.workingDaysBetween(d("2026-09-29"), d("2026-10-12"))).toBe(5);
  });

  it("given the Spring Festival span 2-13 to 2-24, then 2 (make-up 2-14 and 2-24); reversed, then -2", () => {
    expect(cal.workingDaysBetween(d("2026-02-13"), d("2026-02-24"))).toBe(2);
    expect(cal.workingDaysBetween(d("2026-02-24"), d("2026-02-13"))).toBe(-2);
  });

  it("given the same day twice, then 0", () => {
    expect(cal.workingDaysBetween(d("2026-06-01"), d("2026-06-01"))).toBe(0);
  });
});

describe("WorkingCalendar.addCalendarDays and addMonths", () => {
  const cal = cal2026();

  it("given 2026-03-02, then 60 days is Fri 2026-05-01 and 80 days is Thu 2026-05-21", () => {
    expect(cal.addCalendarDays(d("2026-03-02"), 60)).toBe("2026-05-01");
    expect(cal.addCalendarDays(d("2026-03-02"), 80)).toBe("2026-05-21");
  });

  it("given 2026-08-01, then 60 days is 2026-09-30 and 80 days is 2026-10-20", () => {
    expect(cal.addCalendarDays(d("2026-08-01"), 60)).toBe("2026-09-30");
    expect(cal.addCalendarDays(d("2026-08-01"), 80)).toBe("2026-10-20");
  });

  it("given a 60-day period ending on holiday 5-01 and rollToWorkingDay, then it ends Wed 2026-05-06", () => {
    expect(
      cal.addCalendarDays(d("2026-03-02"), 60, { rollToWorkingDay: true }),
    ).toBe("2026-05-06");
  });

  it("given a 5-day statement period from Mon 2026-09-28, then it ends Sat 10-03, or Thu 10-08 when rolled", () => {
    expect(cal.addCalendarDays(d("2026-09-28"), 5)).toBe("2026-10-03");
    expect(
      cal.addCalendarDays(d("2026-09-28"), 5, { rollToWorkingDay: true }),
    ).toBe("2026-10-08");
  });

  it("given a roll landing on weekend before make-up Sun 9-20, then it stops on the make-up day", () => {
    // 2026-09-19 is a Saturday; the next day is a make-up working Sunday.
    expect(
      cal.addCalendarDays(d("2026-09-09"), 10, { rollToWorkingDay: true }),
    ).toBe("2026-09-20");
  });

  it("given month-end starts, then months clamp: 1-31 + 1 = 2-28, 7-31 + 2 = 9-30, 3-31 + 3 = 6-30", () => {
    expect(cal.addMonths(d("2026-01-31"), 1)).toBe("2026-02-28");
    expect(cal.addMonths(d("2026-07-31"), 2)).toBe("2026-09-30");
    expect(cal.addMonths(d("2026-03-31"), 3)).toBe("2026-06-30");
  });

  it("given a 3-month limit from 2026-07-01 ending on 国庆 10-01, then it stays 10-01, or rolls to Thu 10-08", () => {
    expect(cal.addMonths(d("2026-07-01"), 3)).toBe("2026-10-01");
    expect(cal.addMonths(d("2026-07-01"), 3, { rollToWorkingDay: true })).toBe(
      "2026-10-08",
    );
  });

  it("given a 3-month limit from 2026-04-04 ending Sat 7-04 and rollToWorkingDay, then it ends Mon 7-06", () => {
    expect(cal.addMonths(d("2026-04-04"), 3, { rollToWorkingDay: true })).toBe(
      "2026-07-06",
    );
  });
});

describe("unloaded years", () => {
  it("given only 2026 loaded, when asked about 2027-01-04 or 2025-12-31, then CalendarYearNotLoadedError names the year", () => {
    const cal = cal2026();
    expect(() => cal.isWorkingDay(d("2027-01-04"))).toThrow(
      CalendarYearNotLoadedError,
    );
    expect(() => cal.isWorkingDay(d("2027-01-04"))).toThrow(/2027/);
    try {
      cal.isWorkingDay(d("2025-12-31"));
      expect.unreachable();
    } catch (e) {
      expect((e as CalendarYearNotLoadedError).year).toBe(2025);
    }
  });

  it("given only 2026 loaded, when 5 working days from Mon 2026-12-28 walk into 2027, then it throws naming 2027", () => {
    expect(() => cal2026().addWorkingDays(d("2026-12-28"), 5)).toThrow(/2027/);
  });

  it("given only 2026 loaded, when 60 calendar days or 3 months end in 2027, then plain date arithmetic answers, and only rolling to a working day needs 2027", () => {
    expect(cal2026().addCalendarDays(d("2026-12-01"), 60)).toBe("2027-01-30");
    expect(cal2026().addMonths(d("2026-11-30"), 3)).toBe("2027-02-28");
    expect(() => cal2026().addCalendarDays(d("2026-12-01"), 60, { rollToWorkingDay: true })).toThrow(CalendarYearNotLoadedError);
    expect(() => cal2026().addMonths(d("2026-11-30"), 3, { rollToWorkingDay: true })).toThrow(/2027/);
  });

  it("given 2027 loaded too, when 5 working days from 2026-12-28, then 12-29, 12-30, 12-31, Mon 2027-01-04, 2027-01-05", () => {
    const cal = new WorkingCalendar([calendar2026, fictional2027]);
    expect(cal.addWorkingDays(d("2026-12-28"), 5)).toBe("2027-01-05");
    expect(cal.addMonths(d("2026-11-30"), 3)).toBe("2027-02-28");
    expect(cal.years).toEqual([2026, 2027]);
  });
});

describe("WorkingCalendar.load", () => {
  it("given 2026 already loaded, when it is loaded again, then it is refused unless replace is set", () => {
    const cal = cal2026();
    expect(() => cal.load(calendar2026)).toThrow(
      CalendarYearAlreadyLoadedError,
    );
    const amended = {
      ...calendar2026,
      holidays: [
        ...calendar2026.holidays,
        { name: "元旦", from: "2026-12-31", to: "2026-12-31" },
      ],
    };
    expect(cal.isWorkingDay(d("2026-12-31"))).toBe(true);
    cal.load(amended, { replace: true });
    expect(cal.isWorkingDay(d("2026-12-31"))).toBe(false);
  });

  it("given malformed data, when an operator loads it, then InvalidYearCalendarError names the field and nothing is loaded", () => {
    const cal = new WorkingCalendar();
    const bad = {
      ...calendar2026,
      makeUpWorkdays: [{ date: "2026-10-09", for: "国庆节" }],
    };
    expect(() => cal.load(bad)).toThrow(InvalidYearCalendarError);
    expect(() => cal.load(bad)).toThrow(
      /makeUpWorkdays\[0\]\.date: 2026-10-09 is a Friday/,
    );
    expect(cal.years).toEqual([]);
  });
});
