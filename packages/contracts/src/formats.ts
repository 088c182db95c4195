import { z } from "zod";
import { parseElicenceId, parseItemCode, validateRegionCode, validateUscc } from "./identifiers/index.js";
import type { IdentifierResult } from "./identifiers/index.js";

// What the generated zod validators use for Avro primitives and for the
// `format` attribute a schema puts on a string field. Avro only knows
// "string"; the zod side adds the rules of the identifiers' standards, so a
// value that encodes may still be refused here (by design: structure agrees,
// zod is stricter on content).

export const avroInt = z.int().min(-2_147_483_648).max(2_147_483_647);
/** avsc reads Avro longs as JS numbers, so a long must be a safe integer. */
export const avroLong = z.int();

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date 'YYYY-MM-DD' that exists (no 2026-02-30). */
export const isoDate = z.string().refine(
  (s) => {
    const m = ISO_DATE.exec(s);
    if (!m) return false;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.toISOString().startsWith(s);
  },
  { message: "must be a calendar date YYYY-MM-DD" },
);

function identifier(check: (s: string) => IdentifierResult<unknown>) {
  return z.string().superRefine((s, ctx) => {
    const r = check(s);
    if (!r.ok) {
      for (const e of r.errors) ctx.addIssue({ code: "custom", message: e.message, params: { rule: e.rule } });
    }
  });
}

export const formats = {
  date: isoDate,
  uscc: identifier(validateUscc),
  region: identifier(validateRegionCode),
  "item-code": identifier(parseItemCode),
  "elicence-id": identifier(parseElicenceId),
} as const;
