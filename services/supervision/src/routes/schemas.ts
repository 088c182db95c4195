import { formats, InspectionMethodSchema, InspectionResultSchema } from "@shenguan/contracts";
import { z } from "zod";
import { inboxStatuses } from "../inbox/projection.js";

// Request bodies: dates and enums come from the contracts, so a malformed
// value is refused here with the field it broke, before any decider runs.
const text = (max = 500) => z.string().trim().min(1).max(max);
const departmentCode = z.string().regex(/^[A-Z0-9][A-Z0-9-]{1,39}$/, "a department code (A-Z, 0-9, '-', 2-40 chars)");

export const handoffParams = z.strictObject({ handoffId: z.string().min(1).max(64) });
export const roundParams = handoffParams.extend({ round: z.coerce.number().int().min(1) });

export const inspectionBody = z.strictObject({
  inspectionDate: formats.date,
  method: InspectionMethodSchema,
  result: InspectionResultSchema,
  findings: text(4000),
  handling: text(2000),
  rectificationDue: formats.date.nullable().default(null),
});

export const rectificationBody = z.strictObject({ requirements: text(4000), dueDate: formats.date });
export const completeRectificationBody = z.strictObject({ passed: z.boolean(), findings: text(4000) });
export const verificationBody = z.strictObject({ truthful: z.boolean(), findings: text(4000) });
export const transferBody = z.strictObject({ enforcementDepartment: departmentCode, reason: text(2000) });
export const revocationRequestBody = z.strictObject({ grounds: text(4000) });

export const inboxQuery = z.strictObject({
  /** Defaults to the calling department. */
  regulator: departmentCode.optional(),
  status: z.enum(inboxStatuses).optional(),
  /** Claims due strictly before this date. */
  claimDueBefore: formats.date.optional(),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(200).default(50),
});

export const commandResult = z.object({
  handoffId: z.string(),
  status: z.string(),
  revision: z.string(),
  events: z.array(z.string()),
  /** The id of what the command created (inspection, rectification, verification, transfer or request), if anything. */
  recordId: z.string().nullable(),
});
