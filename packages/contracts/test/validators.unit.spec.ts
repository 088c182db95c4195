import avro from "avsc";
import { describe, expect, it } from "vitest";
import { catalog, ContractViolationError, payloadValidators, sampleOf, validatePayload, type EventName } from "../src/index.js";

const names = Object.keys(catalog) as EventName[];
const avroType = (name: EventName) => avro.Type.forSchema(catalog[name].schema as unknown as avro.Schema);
const avroAccepts = (name: EventName, v: unknown) => avroType(name).isValid(v, { noUndeclaredFields: true });
const zodAccepts = (name: EventName, v: unknown) => payloadValidators[name].safeParse(v).success;

/** Breaks a payload structurally in ways both Avro and zod must notice. */
function structuralBreaks(name: EventName, sample: Record<string, unknown>): Array<[string, unknown]> {
  const fields = catalog[name].schema.fields as ReadonlyArray<{ name: string; type: unknown }>;
  const first = fields[0]!.name;
  const out: Array<[string, unknown]> = [
    [`missing ${first}`, Object.fromEntries(Object.entries(sample).filter(([k]) => k !== first))],
    [`undeclared field`, { ...sample, surprise: 1 }],
    ["not an object", "LicenceGranted"],
  ];
  for (const f of fields) {
    const v = sample[f.name];
    const wrong = typeof v === "string" ? 12 : typeof v === "number" ? "12" : typeof v === "boolean" ? "yes" : Array.isArray(v) ? "[]" : v === null ? undefined : 12;
    out.push([`${f.name} of the wrong type`, { ...sample, [f.name]: wrong }]);
  }
  return out;
}

describe("zod validators agree with the Avro schemas", () => {
  it.each(names)("%s: samples valid in one are valid in the other", (name) => {
    for (const nulls of [false, true]) {
      for (const seed of [1, 2, 3]) {
        const s = sampleOf(name, { nulls, seed });
        expect(avroAccepts(name, s)).toBe(true);
        expect(zodAccepts(name, s)).toBe(true);
      }
    }
  });

  it.each(names)("%s: structurally invalid payloads are rejected by both", (name) => {
    for (const [why, broken] of structuralBreaks(name, sampleOf(name) as unknown as Record<string, unknown>)) {
      expect(avroAccepts(name, broken), `avro: ${why}`).toBe(false);
      expect(zodAccepts(name, broken), `zod: ${why}`).toBe(false);
    }
  });

  it("int fields outside Avro's 32-bit range are rejected by both", () => {
    const s = { ...sampleOf("RectificationOrdered"), round: 2 ** 31 };
    expect(avroAccepts("RectificationOrdered", s)).toBe(false);
    expect(zodAccepts("RectificationOrdered", s)).toBe(false);
  });

  it("zod is stricter on identifier formats than Avro can be, naming field and rule", () => {
    const s = { ...sampleOf("LicenceGranted"), holder: { name: "某公司", uscc: "91350100M000100Y44", idNumber: null }, decisionDate: "2026-02-30" };
    expect(avroAccepts("LicenceGranted", s)).toBe(true);
    try {
      validatePayload("LicenceGranted", s);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ContractViolationError);
      const issues = (err as ContractViolationError).issues;
      expect(issues.find((i) => i.path === "holder.uscc")?.rule).toMatch(/^uscc\./);
      expect(issues.find((i) => i.path === "decisionDate")?.message).toMatch(/YYYY-MM-DD/);
    }
  });
});
