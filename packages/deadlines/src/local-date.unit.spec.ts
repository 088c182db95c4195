import { describe, expect, it } from "vitest";
import {
  addMonthsClamped,
  dayOfWeek,
  fromDayNumber,
  localDate,
  localDateOf,
  toDayNumber,
} from "./local-date.js";

describe("localDate", () => {
  it("given a real date, when branded, then it is returned unchanged", () => {
    expect(localDate("2026-01-01")).toBe("2026-01-01");
  });

  it("given 2026-02-29 (2026 is not a leap year) or a malformed string, when branded, then it throws naming the value", () => {
    expect(() => localDate("2026-02-29")).toThrow(/"2026-02-29"/);
    expect(() => localDate("2026-9-29")).toThrow(RangeError);
  });

  it("given 2026-01-01, when its weekday is read, then it is a Thursday (4)", () => {
    expect(dayOfWeek(localDate("2026-01-01"))).toBe(4);
  });
});

describe("localDateOf", () => {
  it("given 16:00 UTC on 2026-09-28, when read in Asia/Shanghai, then it is already 2026-09-29", () => {
    expect(localDateOf(new Date("2026-09-28T16:00:00Z"))).toBe("2026-09-29");
    expect(localDateOf(new Date("2026-09-28T15:59:59Z"))).toBe("2026-09-28");
  });

  it("given an explicit zone, when read, then that zone's date is used", () => {
    expect(localDateOf(new Date("2026-09-28T16:00:00Z"), "UTC")).toBe(
      "2026-09-28",
    );
  });

  it("given an invalid Date, when read, then it throws", () => {
    expect(() => localDateOf(new Date("nope"))).toThrow(RangeError);
  });

  it("given instants either side of local midnight within one minute, when read in turn, then each gets its own date (the per-second memo)", () => {
    const zone = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit", day: "2-digit" });
    for (const iso of ["2026-09-28T15:59:59.999Z", "2026-09-28T16:00:00.000Z", "2026-09-28T15:59:59.000Z", "2026-09-28T16:00:00.500Z"]) {
      expect(localDateOf(new Date(iso))).toBe(zone.format(new Date(iso)));
    }
    // One second, two zones: the memo is per zone.
    expect(localDateOf(new Date("2026-09-28T16:00:00Z"), "UTC")).toBe("2026-09-28");
    expect(localDateOf(new Date("2026-09-28T16:00:00Z"))).toBe("2026-09-29");
  });
});

describe("day numbers", () => {
  // The Date-based definitions these replace, as the reference.
  const viaDate = {
    toDayNumber(date: string): number {
      const [y, m, d] = date.split("-").map(Number) as [number, number, number];
      const t = new Date(0);
      t.setUTCFullYear(y, m - 1, d);
      return Math.round(t.getTime() / 86_400_000);
    },
    fromDayNumber(day: number): string {
      const t = new Date(day * 86_400_000);
      return `${String(t.getUTCFullYear()).padStart(4, "0")}-${String(t.getUTCMonth() + 1).padStart(2, "0")}-${String(t.getUTCDate()).padStart(2, "0")}`;
    },
  };

  it("given every day from 1600 to 2400 and a sample of years 0000–9999, when converted both ways, then the arithmetic matches Date's", () => {
    const first = viaDate.toDayNumber("1600-01-01");
    const last = viaDate.toDayNumber("2400-12-31");
    const days = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    for (let y = 0; y <= 9999; y += 37) days.push(viaDate.toDayNumber(`${String(y).padStart(4, "0")}-02-28`) + (y % 3));
    days.push(viaDate.toDayNumber("0000-01-01"), viaDate.toDayNumber("9999-12-31"));
    // Mismatches collected and asserted once: 300,000 expect() calls took longer than the test's time limit on 2 cores.
    const mismatches: string[] = [];
    for (const day of days) {
      const text = viaDate.fromDayNumber(day);
      if (fromDayNumber(day) !== text) mismatches.push(`fromDayNumber(${day}) = ${fromDayNumber(day)}, Date says ${text}`);
      if (toDayNumber(localDate(text)) !== day) mismatches.push(`toDayNumber(${text}) = ${toDayNumber(localDate(text))}, Date says ${day}`);
    }
    expect(days.length).toBeGreaterThan(290_000);
    expect(mismatches).toEqual([]);
  });

  it("given a day number past 9999-12-31 or before 0000-01-01, when converted, then it is refused", () => {
    expect(() => fromDayNumber(viaDate.toDayNumber("9999-12-31") + 1)).toThrow(RangeError);
    expect(() => fromDayNumber(viaDate.toDayNumber("0000-01-01") - 1)).toThrow(RangeError);
  });
});

describe("addMonthsClamped", () => {
  it("given month-end starts, when months are added, then the day clamps to the shorter month's end", () => {
    expect(addMonthsClamped(localDate("2026-01-31"), 1)).toBe("2026-02-28");
    expect(addMonthsClamped(localDate("2028-01-31"), 1)).toBe("2028-02-29");
    expect(addMonthsClamped(localDate("2026-07-31"), 2)).toBe("2026-09-30");
    expect(addMonthsClamped(localDate("2026-11-30"), 3)).toBe("2027-02-28");
  });
});
