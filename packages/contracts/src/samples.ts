import { catalog } from "./generated/catalog.js";
import type { EventName, EventPayloads } from "./generated/types.js";
import { buildElicenceId } from "./identifiers/index.js";

/**
 * Deterministic, valid example payloads for every contract, derived from the
 * schemas (so a new field never leaves them behind). Used by this package's
 * agreement tests, by other packages' tests and by the benchmarks.
 * `nulls: true` leaves every optional field null instead.
 */
export function sampleOf<N extends EventName>(name: N, options: { nulls?: boolean; seed?: number } = {}): EventPayloads[N] {
  return sampleValue(catalog[name].schema, undefined, options.nulls ?? false, options.seed ?? 1) as EventPayloads[N];
}

const SAMPLE_USCC = "91350100M000100Y43"; // GB 32100-2015's own example code

export const sampleFormats: Record<string, (seed: number) => string> = {
  date: (seed) => `2026-09-${String(1 + (seed % 28)).padStart(2, "0")}`,
  uscc: () => SAMPLE_USCC,
  region: () => "350100",
  "item-code": () => "000105001000",
  "elicence-id": (seed) =>
    buildElicenceId({ typeCode: "11100000000000000123", issuerUscc: SAMPLE_USCC, serial: `SN${seed}`, version: "001" }),
};

type AnySchema = string | readonly unknown[] | { readonly type: string; readonly [k: string]: unknown };

function sampleValue(t: unknown, field: { name: string; format?: string } | undefined, nulls: boolean, seed: number): unknown {
  const s = t as AnySchema;
  if (Array.isArray(s)) {
    return nulls ? null : sampleValue(s.find((b) => b !== "null"), field, nulls, seed);
  }
  if (typeof s === "string" || typeof (s as { type: unknown }).type === "string") {
    const typeName = typeof s === "string" ? s : (s as { type: string }).type;
    const o = s as { type: string; logicalType?: string; fields?: { name: string; type: unknown; format?: string }[]; symbols?: string[]; items?: unknown };
    switch (typeName) {
      case "record":
        return Object.fromEntries(o.fields!.map((f) => [f.name, sampleValue(f.type, f, nulls, seed)]));
      case "enum":
        return o.symbols![seed % o.symbols!.length];
      case "array":
        return [sampleValue(o.items, field, nulls, seed)];
      case "string": {
        const fmt = field?.format;
        return fmt ? sampleFormats[fmt]!(seed) : `${field?.name ?? "value"} 示例 ${seed}`;
      }
      case "int":
        return seed;
      case "long":
        return o.logicalType === "timestamp-millis" ? Date.UTC(2026, 8, 29, 1, 30) + seed : 100_000 + seed;
      case "double":
      case "float":
        return seed + 0.5;
      case "boolean":
        return seed % 2 === 1;
      case "null":
        return null;
    }
  }
  throw new Error(`sampleOf: unsupported schema ${JSON.stringify(t)}`);
}
