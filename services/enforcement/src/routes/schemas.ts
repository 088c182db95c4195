import { formats } from "@shenguan/contracts";
import { z } from "zod";

// Identifiers and dates use the contracts' formats, so a bad USCC is refused
// here with the rule it broke (uscc.check-char …), before any decider runs.
const text = (max = 500) => z.string().trim().min(1).max(max);
const id = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "1-64 letters, digits or '-'");

const penaltyKind = z.enum(["WARNING", "FINE", "CONFISCATION", "SUSPENSION", "LICENCE_REVOCATION", "DETENTION_REFERRAL", "OTHER"]);

export const openCaseBody = z.strictObject({
  enforcementCaseId: id.optional(),
  holder: z.strictObject({ name: text(200), uscc: formats.uscc.nullable().default(null) }),
  licenceId: z.string().min(1).max(64).nullable().default(null),
  caseId: z.string().min(1).max(64).nullable().default(null),
  facts: text(4000),
});

export const penaltyBody = z.strictObject({
  penaltyId: id.optional(),
  decisionNumber: text(100),
  kinds: z.array(penaltyKind).max(7),
  fineFen: z.int().nullable().default(null),
  facts: text(4000),
  legalBasis: text(2000),
  serious: z.boolean(),
  decisionDate: formats.date,
  holderName: text(200).nullable().default(null),
});

export const conclusionBody = z.strictObject({
  outcome: z.enum(["PENALISED", "NO_VIOLATION", "DISMISSED", "REFERRED"]),
  summary: text(4000),
});

export const caseParams = z.strictObject({ id: z.string().min(1).max(64) });

export const caseResult = z.object({
  enforcementCaseId: z.string(),
  status: z.string(),
  revision: z.string(),
  events: z.array(z.string()),
  penaltyId: z.string().optional(),
});

export const recordBody = z.strictObject({
  recordId: id.optional(),
  holderName: text(200),
  kind: z.enum(["LICENCE", "PENALTY", "COMMITMENT_BREACH", "SERIOUS_DISHONESTY"]),
  severity: z.enum(["MINOR", "GENERAL", "SERIOUS"]),
  barsCommitment: z.boolean().default(false),
  sourceRef: z.string().min(1).max(64).nullable().default(null),
  summary: text(4000),
  publicUntil: formats.date.nullable().default(null),
});

export const repairBody = z.strictObject({ basis: text(2000) });

export const usccParams = z.strictObject({ uscc: formats.uscc });
export const recordParams = usccParams.extend({ recordId: z.string().min(1).max(64) });

export const creditResult = z.object({
  uscc: z.string(),
  status: z.string(),
  revision: z.string(),
  events: z.array(z.string()),
  recordId: z.string().optional(),
});
