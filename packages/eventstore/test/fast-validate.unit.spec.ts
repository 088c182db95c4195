import { catalog, payloadValidators, sampleOf, sampleFormats, type EventName } from "@shenguan/contracts";
import { describe, expect, it } from "vitest";
import { compile, validatePayloadFast } from "../src/relay/fast-validate.js";

const names = Object.keys(catalog) as EventName[];

/** The relay's input domain: what JSON.parse of a jsonb column can give. */
const replacements: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2_147_483_648,
  Number.MAX_SAFE_INTEGER + 1,
  "",
  "x",
  "2026-02-30",
  "2026-9-1",
  "91350100M000100Y44",
  "999999",
  "000105001001",
  [],
  [null],
  ["x"],
  {},
  { extra: 1 },
  ...Object.values(sampleFormats).map((f) => f(3)),
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every value reachable from `v` with one change: a replaced leaf or subtree, a removed key, an extra key, an array grown or emptied. */
function* mutations(v: Json): Generator<unknown> {
  for (const r of replacements) yield r;
  if (Array.isArray(v)) {
    yield [...v, ...v];
    yield [];
    for (let i = 0; i < v.length; i++) for (const m of mutations(v[i]!)) yield v.map((x, j) => (i === j ? m : x));
  } else if (v !== null && typeof v === "object") {
    yield { ...v, unexpected: "x" };
    yield JSON.parse(`{"__proto__": 1, ${JSON.stringify(v).slice(1)}`);
    for (const key of Object.keys(v)) {
      const { [key]: _removed, ...rest } = v;
      yield rest;
      for (const m of mutations(v[key]!)) yield { ...v, [key]: m };
    }
  }
}

function zodAccepts(name: EventName, value: unknown): boolean {
  return schemas[name]!.safeParse(value).success;
}

const schemas = payloadValidators as unknown as Record<string, Parameters<typeof compile>[0]>;
const fastChecks = new Map(names.map((n) => [n, compile(schemas[n]!)]));
const fastAccepts = (name: EventName, value: unknown): boolean => fastChecks.get(name)!(value);

describe("validatePayloadFast", () => {
  it.each(names)("agrees with the generated zod validator on %s, its sampleOf() variants and every single mutation of them", (name) => {
    let accepted = 0;
    let rejected = 0;
    for (const nulls of [false, true]) {
      for (const seed of [0, 1, 2, 7, 30]) {
        const sample = JSON.parse(JSON.stringify(sampleOf(name, { nulls, seed }))) as Json;
        for (const value of [sample, ...mutations(sample)]) {
          const zod = zodAccepts(name, value);
          // The fast path alone (not the zod fallback) must never accept what zod refuses.
          expect({ value, fast: fastAccepts(name, value) }).toEqual({ value, fast: zod });
          if (zod) accepted++;
          else rejected++;
        }
      }
    }
    expect(accepted).toBeGreaterThan(10);
    expect(rejected).toBeGreaterThan(100);
  });

  it("returns the payload itself when valid", () => {
    for (const name of names) {
      const sample = sampleOf(name);
      expect(validatePayloadFast(name, sample)).toBe(sample);
    }
  });

  it("throws zod's ContractViolationError for what it rejects", () => {
    const name = names[0]!;
    expect(() => validatePayloadFast(name, { ...sampleOf(name), unexpected: 1 })).toThrow(/unexpected|unrecognized/i);
  });
});
