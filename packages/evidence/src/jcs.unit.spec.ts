import { describe, expect, it } from "vitest";
import { CanonicalFormError } from "./errors.js";
import { canonicalize } from "./jcs.js";

function fromBits(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe("RFC 8785 JSON Canonicalization Scheme", () => {
  it("canonicalizes the RFC's §3.2.2 example", () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    expect(canonicalize(JSON.parse(input))).toBe(
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it("sorts members by UTF-16 code units (the RFC's §3.2.3 example)", () => {
    const input = String.raw`{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}`;
    expect(canonicalize(JSON.parse(input))).toBe(
      `{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}`,
    );
  });

  it.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["41b3de4355555553", "333333333.3333332"],
  ])("serialises the IEEE 754 value %s as %s (RFC 8785 Appendix B)", (bits, text) => {
    expect(canonicalize(fromBits(bits))).toBe(text);
  });

  it("rejects NaN, infinities, lone surrogates and cycles instead of altering them", () => {
    expect(() => canonicalize(fromBits("7fffffffffffffff"))).toThrow(CanonicalFormError);
    expect(() => canonicalize({ x: Infinity })).toThrow(/\$\.x/);
    expect(() => canonicalize({ name: "\ud800x" })).toThrow(/lone surrogate/);
    expect(() => canonicalize({ ["\udc00"]: 1 })).toThrow(/lone surrogate/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalize(cyclic)).toThrow(/cyclic/);
    expect(() => canonicalize(undefined)).toThrow(CanonicalFormError);
  });

  it("reads values as JSON.stringify does, so the form survives a JSON round trip; bigints become decimal strings", () => {
    const value = {
      b: undefined,
      a: [undefined, () => 1, 1],
      when: new Date(Date.UTC(2026, 0, 4)),
      n: -0,
      big: 12345678901234567890n,
      nested: { z: 1, y: [] },
    };
    expect(canonicalize(value)).toBe(
      `{"a":[null,null,1],"big":"12345678901234567890","n":0,"nested":{"y":[],"z":1},"when":"2026-01-04T00:00:00.000Z"}`,
    );
    const { big: _big, ...plain } = value;
    expect(canonicalize(JSON.parse(JSON.stringify(plain)))).toBe(canonicalize(plain));
  });

  it("writes values nested deeper than the fast writer goes, and names the path of an error deep inside", () => {
    let deep: unknown = { leaf: "ü\n" };
    for (let i = 0; i < 300; i++) deep = i % 2 === 0 ? [deep] : { k: deep };
    expect(canonicalize(deep)).toBe(JSON.stringify(deep));
    expect(() => canonicalize({ a: [{ b: 1 }, { c: NaN }] })).toThrow(/\$\.a\[1\]\.c: NaN/);
  });

  it("keeps shared (non-cyclic) references", () => {
    const shared = { k: 1 };
    expect(canonicalize({ a: shared, b: shared })).toBe(`{"a":{"k":1},"b":{"k":1}}`);
  });
});
