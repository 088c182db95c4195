import { describe, expect, it } from "vitest";
import { calendar2026 } from "./data/2026.js";
import {
  InvalidYearCalendarError,
  parseYearCalendar,
  validateYearCalendar,
} from "./year-calendar.js";

const base = {
  year: 2026,
  source: "test notice",
  holidays: [],
  makeUpWorkdays: [],
};

describe("validateYearCalendar", () => {
  it("given the shipped 2026 calendar, when validated, then it has no issues", () => {
    expect(validateYearCalendar(calendar2026)).toEqual([]);
  });

  it("given a holiday range running backwards, when validated, then the message names the entry and both dates", () => {
    const issues = validateYearCalendar({
      ...base,
      holidays: [{ name: "春节", from: "2026-02-23", to: "2026-02-15" }],
    });
    expect(issues).toEqual([
      "holidays[0]: from 2026-02-23 is after to 2026-02-15",
    ]);
  });

  it("given a date outside the calendar's year, when validated, then the message names the field and the year", () => {
    const issues = validateYearCalendar({
      ...base,
      holidays: [{ name: "元旦", from: "2026-12-31", to: "2027-01-01" }],
    });
    expect(issues).toEqual(["holidays[0].to: 2027-01-01 is outside year 2026"]);
  });

  it("given a make-up workday on a Monday, when validated, then it is rejected as not a weekend", () => {
    const issues = validateYearCalendar({
      ...base,
      makeUpWorkdays: [{ date: "2026-01-05", for: "元旦" }],
    });
    expect(issues).toEqual([
      "makeUpWorkdays[0].date: 2026-01-05 is a Monday, a make-up workday must be a Saturday or Sunday",
    ]);
  });

  it("given overlapping holiday ranges, when validated, then both entries are named", () => {
    const issues = validateYearCalendar({
      ...base,
      holidays: [
        { name: "国庆节", from: "2026-10-01", to: "2026-10-07" },
        { name: "中秋节", from: "2026-09-25", to: "2026-10-01" },
      ],
    });
    expect(issues).toEqual([
      "holidays[0]: 国庆节 2026-10-01..2026-10-07 overlaps holidays[1] 中秋节 2026-09-25..2026-10-01",
    ]);
  });

  it("given a make-up day inside a holiday and a duplicated make-up day, when validated, then each is reported", () => {
    const issues = validateYearCalendar({
      ...base,
      holidays: [{ name: "春节", from: "2026-02-15", to: "2026-02-23" }],
      makeUpWorkdays: [
        { date: "2026-02-21", for: "春节" },
        { date: "2026-02-28", for: "春节" },
        { date: "2026-02-28", for: "春节" },
      ],
    });
    expect(issues).toEqual([
      "makeUpWorkdays[0].date: 2026-02-21 falls inside holidays[0] 春节 2026-02-15..2026-02-23",
      "makeUpWorkdays[2].date: 2026-02-28 is listed twice (also makeUpWorkdays[1])",
    ]);
  });

  it("given wrong types everywhere, when validated, then every field is named", () => {
    const issues = validateYearCalendar({
      year: "2026",
      source: "",
      holidays: [{ name: "", from: "2026-02-30", to: "2026-03-01" }, 7],
      makeUpWorkdays: "none",
    });
    expect(issues).toEqual([
      'year: must be an integer from 1000 to 9999, got "2026"',
      "source: must be a non-empty string (the notice title and date)",
      "holidays[0].name: must be a non-empty string",
      'holidays[0].from: must be a real date in YYYY-MM-DD form, got "2026-02-30"',
      "holidays[1]: must be an object { name, from, to }",
      "makeUpWorkdays: must be an array",
    ]);
    expect(validateYearCalendar(null)).toEqual(["calendar: must be an object"]);
  });
});

describe("parseYearCalendar", () => {
  it("given malformed data, when parsed, then InvalidYearCalendarError carries the issues", () => {
    try {
      parseYearCalendar({ ...base, source: undefined });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidYearCalendarError);
      expect((e as InvalidYearCalendarError).issues).toEqual([
        "source: must be a non-empty string (the notice title and date)",
      ]);
    }
  });

  it("given valid data, when parsed, then the result is a frozen copy unaffected by later edits", () => {
    const input = {
      ...base,
      holidays: [{ name: "元旦", from: "2026-01-01", to: "2026-01-03" }],
    };
    const parsed = parseYearCalendar(input);
    input.holidays[0]!.to = "2026-01-09";
    expect(parsed.holidays[0]!.to).toBe("2026-01-03");
    expect(Object.isFrozen(parsed.holidays[0])).toBe(true);
  });
});
