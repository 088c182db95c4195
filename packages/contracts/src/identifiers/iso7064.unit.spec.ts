import { describe, expect, it } from "vitest";
import { isValidMod37_36, mod37_36CheckChar } from "./index.js";

describe("ISO 7064 MOD 37,36", () => {
  // A1-2425G-ABC1234002-M is the published GRid (Global Release Identifier)
  // example, which uses MOD 37,36; the rest are independent-implementation vectors.
  it.each([
    ["A12425GABC1234002", "M"],
    ["9", "J"],
    ["TBR", "1"],
    ["RABD", "A"],
    ["X0H", "X"],
  ])("check for %s is %s", (input, check) => {
    expect(mod37_36CheckChar(input)).toBe(check);
    expect(isValidMod37_36(input + check)).toBe(true);
  });

  it("rejects a wrong check and a transposition", () => {
    expect(isValidMod37_36("A12425GABC1234002N")).toBe(false);
    expect(isValidMod37_36("A12425GABC1234020M")).toBe(false);
    expect(isValidMod37_36("")).toBe(false);
  });

  it("throws on characters outside 0-9A-Z", () => {
    expect(() => mod37_36CheckChar("a1")).toThrow(RangeError);
    expect(() => mod37_36CheckChar("1.2")).toThrow(RangeError);
  });
});
