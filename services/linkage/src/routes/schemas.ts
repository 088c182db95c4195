import { formats } from "@shenguan/contracts";
import { z } from "zod";
import { DEFAULT_CLAIM_LIMIT, DEFAULT_VERIFICATION_MONTHS } from "../routing/routes.js";

/** A department code as the gateway names departments (the department registry's rule). */
export const departmentCode = z.string().regex(/^[A-Z0-9][A-Z0-9-]{1,39}$/, "a department code: A-Z, 0-9 and '-', 2-40 characters");

export const limitUnit = z.enum(["WORKING_DAYS", "CALENDAR_DAYS", "MONTHS"]);
export const limit = z.strictObject({ amount: z.int().min(1).max(1000), unit: limitUnit });

export const routeBody = z.strictObject({
  itemCode: formats["item-code"],
  regionCode: formats.region,
  regulator: departmentCode,
  claimLimit: limit.default(DEFAULT_CLAIM_LIMIT),
  pushIsClaim: z.boolean().default(false),
  verificationMonths: z.int().min(1).max(120).default(DEFAULT_VERIFICATION_MONTHS),
});

export const route = z.object({
  routeId: z.string(),
  itemCode: z.string(),
  regionCode: z.string(),
  regulator: z.string(),
  claimLimit: z.object({ amount: z.number(), unit: limitUnit }),
  pushIsClaim: z.boolean(),
  verificationMonths: z.number(),
});

export const routeChangeResult = z.object({
  route,
  /** Handoffs that waited and were pushed by this change; those still held for a calendar year. */
  released: z.object({ pushed: z.array(z.string()), held: z.array(z.string()) }),
});

export const routeParams = z.strictObject({ routeId: z.string().min(1).max(64) });
export const routeQuery = z.strictObject({
  itemCode: z.string().max(64).optional(),
  regionCode: z.string().max(12).optional(),
  regulator: z.string().max(40).optional(),
});
export const historyQuery = z.strictObject({
  routeId: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

const page = { limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) };

export const handoffStatus = z.enum(["granted", "unrouted", "held", "pushed", "claimed", "supervising", "fed_back", "closed"]);
export const handoffQuery = z.strictObject({
  regulator: z.string().max(40).optional(),
  status: z
    .string()
    .transform((s) => s.split(","))
    .pipe(z.array(handoffStatus))
    .optional()
    .describe("one status or several, comma-separated"),
  itemCode: z.string().max(64).optional(),
  regionCode: z.string().max(12).optional(),
  licenceId: z.string().max(64).optional(),
  ...page,
});
export const handoffParams = z.strictObject({ handoffId: z.string().min(1).max(80) });

export const deadlineQuery = z.strictObject({
  status: z.enum(["open", "warned", "breached", "met", "cancelled"]).optional(),
  kind: z.enum(["CLAIM", "COMMITMENT_VERIFICATION", "REVOCATION_DECISION", "SUPPLEMENT", "RECTIFICATION"]).optional(),
  department: z.string().max(40).optional(),
  subjectRef: z.string().max(80).optional(),
  licenceId: z.string().max(64).optional(),
  ...page,
});

export const licenceParams = z.strictObject({ licenceId: z.string().min(1).max(64) });
export const subjectParams = z.strictObject({ uscc: formats.uscc });

export const indicatorQuery = z
  .strictObject({
    groupBy: z.enum(["department", "item", "region"]).default("department"),
    from: formats.date.optional(),
    to: formats.date.optional(),
  })
  .refine((q) => !q.from || !q.to || q.from <= q.to, { message: "from must not be after to", path: ["from"] });

export const calendarQuery = z.strictObject({
  replace: z
    .enum(["true", "false"])
    .default("false")
    .transform((v) => v === "true"),
});
export const calendarBody = z
  .looseObject({})
  .describe("one year's holiday notice: { year, source, holidays: [{ name, from, to }], makeUpWorkdays: [{ date, for }] }");

export const dueDateQuery = z.strictObject({
  start: formats.date,
  amount: z.coerce.number().int().min(1).max(1000),
  unit: limitUnit,
});
