import { describe, expect, it } from "vitest";
import {
  addMonthsClamped,
  dayOfWeek,
  localDate,
  localDateOf,
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
});

describe("addMonthsClamped", () => {
  it("given month-end starts, when months are added, then the day clamps to the shorter month's end", () => {
    expect(addMonthsClamped(localDate("2026-01-31"), 1)).toBe("2026-02-28");
    expect(addMonthsClamped(localDate("2028-01-31"), 1)).toBe("2028-02-29");
    expect(addMonthsClamped(localDate("2026-07-31"), 2)).toBe("2026-09-30");
    expect(addMonthsClamped(localDate("2026-11-30"), 3)).toBe("2027-02-28");
  });
});
