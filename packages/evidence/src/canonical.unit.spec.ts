import { describe, expect, it } from "vitest";
import { canonicalEvent, canonicalEventJson, canonicalEventObject, type EvidenceEvent } from "./canonical.js";
import { CanonicalFormError } from "./errors.js";
import { canonicalize } from "./jcs.js";

/** What canonicalEvent is defined as: string id, type and stream, then the RFC 8785 text of canonicalEventObject; or the error. */
function reference(event: EvidenceEvent): { text: string } | { error: string } {
  try {
    for (const field of ["id", "type", "stream"] as const) {
      if (typeof event[field] !== "string") throw new CanonicalFormError(`event ${field} is not a string`);
    }
    return { text: canonicalize(canonicalEventObject(event)) };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

function actual(event: EvidenceEvent): { text: string } | { error: string } {
  try {
    return { text: canonicalEventJson(event) };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

const base: EvidenceEvent = {
  id: "0190a6f2-0001-7000-8000-000000000001",
  type: "LicenceGranted",
  stream: "licence-SP-350100-2026-000001",
  revision: 3n,
  time: new Date(Date.UTC(2026, 2, 2, 9, 0, 0, 7)),
  data: { seq: 1, caseId: "c", holder: { name: "福州市鼓楼区示范餐饮管理有限公司", uscc: "91350100M000100Y43" }, fee: 12.5 },
  metadata: { correlationId: "corr-1", causationId: null, department: "SPJ-350100", evidence: { chain: { prev: "0", hash: "1" } } },
};

class Stamped {
  constructor(readonly at: string) {}
  toJSON(): string {
    return `stamped ${this.at}`;
  }
}

// Each a way the fast writer could part from the general one: members it must skip or keep, values
// that have no canonical form (the error must be the same, naming the same path), revision and time forms.
const variants: [string, Partial<EvidenceEvent> & Record<string, unknown>][] = [
  ["plain", {}],
  ["revision as text", { revision: "12" }],
  ["revision as number", { revision: 12 }],
  ["time as text", { time: "2026-03-02T09:00:00.007+08:00" }],
  ["malformed revision", { revision: "012" }],
  ["negative revision", { revision: -1n }],
  ["invalid time", { time: "not a time" }],
  ["invalid revision and time: the revision is named first", { revision: "x", time: "y" }],
  ["data absent", { data: undefined }],
  ["data null", { data: null }],
  ["data an array", { data: [1, "two", { b: 1, a: undefined }, undefined] }],
  ["data a string with escapes", { data: 'line\nquote"back\\slash\u0001' }],
  ["data with a lone surrogate", { data: { deep: { text: "a\ud800b" } } }],
  ["data with NaN", { data: { n: NaN } }],
  ["data with a bigint", { data: { big: 12n } }],
  ["data with a Date and a toJSON", { data: { at: new Date(0), s: new Stamped("x") } }],
  ["data with keys needing escapes and sorting by UTF-16", { data: { "\r": 1, "€": 2, "😀": 3, "\ufb33": 4, "1": 5, 10: 6, 9: 7 } }],
  ["metadata without evidence", { metadata: { z: 1, a: 2 } }],
  ["metadata only evidence", { metadata: { evidence: 1 } }],
  ["metadata with an own toJSON member that is not a function", { metadata: { toJSON: "kept", a: 1 } }],
  ["metadata with an own toJSON function", { metadata: { toJSON: () => ({ replaced: true }), a: 1 } }],
  ["metadata a Date (its own members only)", { metadata: new Date(0) }],
  ["metadata a class instance", { metadata: new Stamped("m") }],
  ["metadata null", { metadata: null as unknown as object }],
  ["metadata an array", { metadata: [1, 2] }],
  ["metadata with __proto__ as a member", { metadata: JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as object }],
  ["metadata with undefined and function members", { metadata: { a: undefined, f: () => 1, b: 2 } }],
  ["metadata with a lone surrogate in a key", { metadata: { "k\udc00": 1 } }],
  ["id not a string", { id: 7 as unknown as string }],
  ["stream with a quote", { stream: 'a"b' }],
  ["type with a lone surrogate", { type: "\ud83d" }],
];

describe("canonicalEventJson", () => {
  it.each(variants)("writes what canonicalize(canonicalEventObject(event)) writes, or fails the same way: %s", (_name, change) => {
    const event = { ...base, ...change } as EvidenceEvent;
    expect(actual(event)).toEqual(reference(event));
  });

  it("goes the general way past the fast writer's depth, with the same text", () => {
    let deep: unknown = "leaf";
    for (let i = 0; i < 300; i++) deep = { [`k${i % 3}`]: deep, n: i };
    const event = { ...base, data: deep };
    expect(actual(event)).toEqual(reference(event));
  });

  it("names a cycle as the general path does", () => {
    const data: Record<string, unknown> = { a: 1 };
    data.self = data;
    const event = { ...base, data };
    expect(actual(event)).toEqual(reference(event));
    expect(actual(event)).toMatchObject({ error: expect.stringContaining("cyclic") });
  });

  it("is what canonicalEvent encodes as UTF-8", () => {
    expect(canonicalEvent(base).toString("utf8")).toBe(canonicalEventJson(base));
  });
});
