import { describe, expect, it } from "vitest";
import { catalog, NOT_PERSONAL, piiCatalog, type EventName } from "../src/index.js";

interface Leaf {
  readonly path: string;
  readonly name: string;
  readonly types: readonly string[];
  readonly pii?: string;
  readonly siblings: readonly string[];
}

/** Every field of a schema as a dotted path (`[]` for array items), with its primitive types and siblings. */
function leaves(schema: unknown, prefix = ""): Leaf[] {
  const out: Leaf[] = [];
  const record = schema as { fields?: Array<{ name: string; type: unknown; pii?: string }> };
  const siblings = (record.fields ?? []).map((f) => f.name);
  for (const f of record.fields ?? []) {
    const path = prefix ? `${prefix}.${f.name}` : f.name;
    const branches = Array.isArray(f.type) ? f.type : [f.type];
    const types: string[] = [];
    for (const b of branches) {
      const t = b as { type?: string; items?: unknown };
      if (typeof b === "string") types.push(b);
      else if (t.type === "record") out.push(...leaves(b, path));
      else if (t.type === "array") out.push(...leaves(t.items, `${path}[]`));
      else if (typeof t.type === "string") types.push(t.type);
    }
    out.push({ path, name: f.name, types, siblings, ...(f.pii ? { pii: f.pii } : {}) });
  }
  return out;
}

const names = Object.keys(catalog) as EventName[];
const LOOKS_PERSONAL = /(^n|N)ame$|idNumber|idCard|phone|mobile|legalRepresentative|contact|person/;

describe("PII catalog", () => {
  it("every catalogued path is a string field of its schema, and its conditions name real siblings", () => {
    for (const [name, fields] of Object.entries(piiCatalog) as Array<[EventName, NonNullable<(typeof piiCatalog)[EventName]>]>) {
      const byPath = new Map(leaves(catalog[name].schema).map((l) => [l.path, l]));
      for (const f of fields) {
        const leaf = byPath.get(f.path);
        expect(leaf, `${name}.${f.path} exists`).toBeDefined();
        expect(leaf!.types, `${name}.${f.path} is a string`).toContain("string");
        if (f.unlessPresent) expect(leaf!.siblings, `${name}.${f.path} unlessPresent`).toContain(f.unlessPresent);
        if (f.whenSibling) expect(leaf!.siblings, `${name}.${f.path} whenSibling`).toContain(f.whenSibling.field);
      }
    }
  });

  it("every field marked \"pii\" in a schema, and every field whose name looks personal, is catalogued or explained", () => {
    const missing: string[] = [];
    for (const name of names) {
      const catalogued = new Map((piiCatalog[name] ?? []).map((f) => [f.path, f.kind]));
      for (const leaf of leaves(catalog[name].schema)) {
        const key = `${name}.${leaf.path}`;
        if (leaf.pii !== undefined) expect(catalogued.get(leaf.path), `${key} is marked pii`).toBe(leaf.pii);
        if (LOOKS_PERSONAL.test(leaf.name) && !catalogued.has(leaf.path) && !(key in NOT_PERSONAL)) missing.push(key);
      }
    }
    expect(missing).toEqual([]);
  });

  it("NOT_PERSONAL names only fields that exist", () => {
    for (const key of Object.keys(NOT_PERSONAL)) {
      const [name, ...path] = key.split(".");
      expect(leaves(catalog[name as EventName].schema).map((l) => l.path), key).toContain(path.join("."));
    }
  });
});
