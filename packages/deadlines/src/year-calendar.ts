/**
 * One year's holiday arrangement, as an operator loads it from the State
 * Council General Office notice (国务院办公厅关于YYYY年部分节假日安排的通知,
 * published each November). Plain JSON so it can live in a file or a config
 * store; validated by hand so this package has no runtime dependency.
 */
import {
  isLocalDate,
  isWeekend,
  dayOfWeek,
  yearOf,
  type LocalDate,
} from "./local-date.js";

export interface HolidayRange {
  /** e.g. "春节" */
  readonly name: string;
  /** First day off, inclusive. */
  readonly from: string;
  /** Last day off, inclusive. */
  readonly to: string;
}

export interface MakeUpWorkday {
  /** A Saturday or Sunday that is worked (调休上班). */
  readonly date: string;
  /** The holiday it pays for, e.g. "国庆节"; a label, not checked against `holidays`. */
  readonly for: string;
}

export interface YearCalendar {
  readonly year: number;
  /** Title and date of the notice the data was copied from. */
  readonly source: string;
  readonly holidays: readonly HolidayRange[];
  readonly makeUpWorkdays: readonly MakeUpWorkday[];
}

export class InvalidYearCalendarError extends Error {
  override readonly name = "InvalidYearCalendarError";
  constructor(readonly issues: readonly string[]) {
    super(`invalid year calendar:\n  - ${issues.join("\n  - ")}`);
  }
}

const WEEKDAY_NAMES = [
  "Sunday",
  "Monday",
  "Tuesday",
  "Wednesday",
  "Thursday",
  "Friday",
  "Saturday",
];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === "string" && v.trim() !== "";
}

/**
 * Every rule broken, one message each, naming the field path and the rule,
 * so an operator can fix a hand-typed file in one pass. Ranges that cross
 * New Year (e.g. 2018-12-30..2019-01-01) must be split: each part goes in
 * the calendar of the year it falls in, because a calendar vouches only for
 * its own year.
 */
export function validateYearCalendar(input: unknown): readonly string[] {
  if (!isRecord(input)) return ["calendar: must be an object"];
  const issues: string[] = [];
  const year = input["year"];
  const yearOk =
    typeof year === "number" &&
    Number.isInteger(year) &&
    year >= 1000 &&
    year <= 9999;
  if (!yearOk)
    issues.push(
      `year: must be an integer from 1000 to 9999, got ${JSON.stringify(year)}`,
    );
  if (!nonEmptyString(input["source"]))
    issues.push(
      "source: must be a non-empty string (the notice title and date)",
    );

  // Checks a date field; returns it when usable for the cross-field rules below.
  const dateField = (path: string, v: unknown): LocalDate | undefined => {
    if (!isLocalDate(v)) {
      issues.push(
        `${path}: must be a real date in YYYY-MM-DD form, got ${JSON.stringify(v)}`,
      );
      return undefined;
    }
    if (yearOk && yearOf(v) !== year) {
      issues.push(`${path}: ${v} is outside year ${String(year)}`);
      return undefined;
    }
    return v;
  };

  const ranges: {
    path: string;
    name: string;
    from: LocalDate;
    to: LocalDate;
  }[] = [];
  const holidays = input["holidays"];
  if (!Array.isArray(holidays)) {
    issues.push("holidays: must be an array");
  } else {
    holidays.forEach((h: unknown, i) => {
      const path = `holidays[${i}]`;
      if (!isRecord(h)) {
        issues.push(`${path}: must be an object { name, from, to }`);
        return;
      }
      if (!nonEmptyString(h["name"]))
        issues.push(`${path}.name: must be a non-empty string`);
      const from = dateField(`${path}.from`, h["from"]);
      const to = dateField(`${path}.to`, h["to"]);
      if (from === undefined || to === undefined) return;
      if (from > to) {
        issues.push(`${path}: from ${from} is after to ${to}`);
        return;
      }
      ranges.push({ path, name: String(h["name"]), from, to });
    });
  }
  // ISO date strings sort chronologically, so string comparison is date comparison.
  const sorted = [...ranges].sort((a, b) =>
    a.from < b.from ? -1 : a.from > b.from ? 1 : 0,
  );
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.from <= prev.to) {
      issues.push(
        `${cur.path}: ${cur.name} ${cur.from}..${cur.to} overlaps ${prev.path} ${prev.name} ${prev.from}..${prev.to}`,
      );
    }
  }

  const makeUps = input["makeUpWorkdays"];
  if (!Array.isArray(makeUps)) {
    issues.push("makeUpWorkdays: must be an array");
  } else {
    const seen = new Map<string, string>();
    makeUps.forEach((w: unknown, i) => {
      const path = `makeUpWorkdays[${i}]`;
      if (!isRecord(w)) {
        issues.push(`${path}: must be an object { date, for }`);
        return;
      }
      if (!nonEmptyString(w["for"]))
        issues.push(
          `${path}.for: must be a non-empty string (the holiday it makes up for)`,
        );
      const date = dateField(`${path}.date`, w["date"]);
      if (date === undefined) return;
      // A weekday is a working day already; listing one is a typo in the data.
      if (!isWeekend(date)) {
        issues.push(
          `${path}.date: ${date} is a ${WEEKDAY_NAMES[dayOfWeek(date)]}, a make-up workday must be a Saturday or Sunday`,
        );
      }
      const inside = ranges.find((r) => r.from <= date && date <= r.to);
      if (inside)
        issues.push(
          `${path}.date: ${date} falls inside ${inside.path} ${inside.name} ${inside.from}..${inside.to}`,
        );
      const dup = seen.get(date);
      if (dup !== undefined)
        issues.push(`${path}.date: ${date} is listed twice (also ${dup})`);
      else seen.set(date, path);
    });
  }
  return issues;
}

/** Validates and returns a frozen deep copy, so later edits to the input cannot change a loaded calendar. */
export function parseYearCalendar(input: unknown): YearCalendar {
  const issues = validateYearCalendar(input);
  if (issues.length > 0) throw new InvalidYearCalendarError(issues);
  const c = input as YearCalendar;
  return Object.freeze({
    year: c.year,
    source: c.source,
    holidays: Object.freeze(
      c.holidays.map((h) =>
        Object.freeze({ name: h.name, from: h.from, to: h.to }),
      ),
    ),
    makeUpWorkdays: Object.freeze(
      c.makeUpWorkdays.map((w) => Object.freeze({ date: w.date, for: w.for })),
    ),
  });
}
