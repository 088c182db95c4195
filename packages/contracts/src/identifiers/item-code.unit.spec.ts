import { describe, expect, it } from "vitest";
import {
  InvalidIdentifierError,
  assertImplementationCode,
  assertItemCode,
  createUsccValidator,
  parseImplementationCode,
  parseItemCode,
} from "./index.js";

// The GB 32100-2015 example code stands in for an implementing agency.
const AGENCY = "91350100M000100Y43";

describe("parseItemCode", () => {
  it.each(["000105001000", "XK0010100Y", "4442011001000"])(
    "accepts %s",
    (code) => {
      expect(parseItemCode(code)).toEqual({ ok: true, value: code });
    },
  );

  it("trims and upper-cases", () => {
    expect(parseItemCode(" xk0010100y ")).toEqual({
      ok: true,
      value: "XK0010100Y",
    });
  });

  it("item.length outside 8-20 characters", () => {
    const r = parseItemCode("0001050");
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.errors).toEqual([
        {
          rule: "item.length",
          message: "item base code must be 8-20 characters, found 7",
        },
      ]);
    expect(parseItemCode("1".repeat(21)).ok).toBe(false);
  });

  it("item.alphabet with position (no separators)", () => {
    const r = parseItemCode("0001-05001000");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "item.alphabet",
          message:
            "item base code character at index 4 must be 0-9 or A-Z, found '-'",
          position: 4,
        },
      ]);
    }
  });

  it("assertItemCode throws with the field name", () => {
    expect(() => assertItemCode("0001 05001000", "itemCode")).toThrow(
      expect.objectContaining({ field: "itemCode", rule: "item.alphabet" }),
    );
  });
});

describe("parseImplementationCode", () => {
  it("splits agency USCC and base code", () => {
    expect(parseImplementationCode(`${AGENCY}000105001000`)).toEqual({
      ok: true,
      value: {
        code: `${AGENCY}000105001000`,
        agencyUscc: AGENCY,
        baseCode: "000105001000",
      },
    });
  });

  it("implementation.length when the base part is too short or long", () => {
    const r = parseImplementationCode(`${AGENCY}0001050`);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toEqual([
        {
          rule: "implementation.length",
          message:
            "implementation code must be 26-38 characters (18-char agency USCC + 8-20-char base code), found 25",
        },
      ]);
    }
    expect(parseImplementationCode(AGENCY + "1".repeat(21)).ok).toBe(false);
  });

  it("implementation.alphabet with position", () => {
    const r = parseImplementationCode(`${AGENCY}-000105001000`);
    expect(!r.ok && r.errors.map((e) => [e.rule, e.position])).toEqual([
      ["implementation.alphabet", 18],
    ]);
  });

  it("implementation.agency carries the USCC rule that failed", () => {
    // Example from the design brief: its USCC prefix fails both checks.
    const r = parseImplementationCode("11440300007542664J4442011001000");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => e.rule)).toEqual([
        "implementation.agency",
        "implementation.agency",
      ]);
      expect(r.errors[0].message).toMatch(
        /^implementing agency USCC \(index 0-17\) is invalid \[uscc.org-code-check\]/,
      );
      expect(r.errors[1]?.message).toContain("[uscc.check-char]");
    }
  });

  it("applies an exception-listed agency USCC", () => {
    const uscc = createUsccValidator({ exceptions: ["11440300007542664J"] });
    expect(
      assertImplementationCode(
        "11440300007542664J4442011001000",
        "implementationCode",
        { uscc },
      ),
    ).toEqual({
      code: "11440300007542664J4442011001000",
      agencyUscc: "11440300007542664J",
      baseCode: "4442011001000",
    });
  });

  it("assertImplementationCode throws InvalidIdentifierError", () => {
    expect(() =>
      assertImplementationCode("short", "implementationCode"),
    ).toThrow(InvalidIdentifierError);
  });
});
