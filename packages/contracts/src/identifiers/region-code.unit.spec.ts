import { describe, expect, it } from "vitest";
import {
  InvalidIdentifierError,
  assertRegionCode,
  provinceOf,
  toSixDigit,
  validateRegionCode,
} from "./index.js";

const rules = (input: string): string[] => {
  const r = validateRegionCode(input);
  return r.ok ? [] : r.errors.map((e) => e.rule);
};

describe("validateRegionCode", () => {
  it.each([
    ["110000", "Beijing"],
    ["440305", "Shenzhen Nanshan"],
    ["310115", "Shanghai Pudong"],
    ["710000", "Taiwan"],
    ["810000", "Hong Kong"],
    ["820000", "Macao"],
    ["440305001000", "12-digit township form"],
  ])("accepts %s (%s)", (code) => {
    expect(validateRegionCode(code)).toEqual({ ok: true, value: code });
  });

  it("trims surrounding whitespace", () => {
    expect(validateRegionCode(" 440305\n")).toEqual({
      ok: true,
      value: "440305",
    });
  });

  it("region.length for anything but 6 or 12 digits", () => {
    const r = validateRegionCode("4403");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "region.length",
          message:
            "region code must be 6 or 12 digits (GB/T 2260), found 4 characters",
        },
      ]);
    }
    expect(rules("4403050010")).toEqual(["region.length"]);
  });

  it("region.digits with the position of the offending character", () => {
    const r = validateRegionCode("44030A");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "region.digits",
          message:
            "region code must contain digits only (GB/T 2260), found 'A' at index 5",
          position: 5,
        },
      ]);
    }
  });

  it.each(["000000", "100000", "160000", "990000", "700000"])(
    "region.province rejects %s",
    (code) => {
      expect(rules(code)).toEqual(["region.province"]);
    },
  );

  it("region.province message names the expected set and what was found", () => {
    const r = validateRegionCode("990000");
    expect(!r.ok && r.errors[0].message).toContain("found '99'");
  });
});

describe("helpers", () => {
  it("provinceOf gives the 6-digit province-level code", () => {
    expect(provinceOf("440305")).toBe("440000");
    expect(provinceOf("440305001000")).toBe("440000");
    expect(provinceOf("110000")).toBe("110000");
  });

  it("toSixDigit drops the township/village part", () => {
    expect(toSixDigit("440305001000")).toBe("440305");
    expect(toSixDigit("440305")).toBe("440305");
  });

  it("helpers and assertRegionCode throw InvalidIdentifierError with the field name", () => {
    expect(() => provinceOf("99")).toThrow(InvalidIdentifierError);
    expect(() => toSixDigit("990000", "site.region")).toThrow(
      expect.objectContaining({
        field: "site.region",
        rule: "region.province",
      }),
    );
    expect(() => assertRegionCode("4403", "regionCode")).toThrow(
      expect.objectContaining({ rule: "region.length" }),
    );
  });
});
