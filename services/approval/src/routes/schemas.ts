import { formats } from "@shenguan/contracts";
import { z } from "zod";

// Request bodies: the identifier formats come from the contracts, so a bad
// USCC is refused here with the rule it broke, before any decider runs.
const text = (max = 500) => z.string().trim().min(1).max(max);

export const acceptBody = z.strictObject({
  caseId: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "1-64 letters, digits or '-'").optional(),
  applicationNumber: text(64),
  itemCode: formats["item-code"],
  itemName: text(200),
  applicant: z.strictObject({
    name: text(200),
    uscc: formats.uscc.nullable().default(null),
    idNumber: z.string().regex(/^\d{17}[\dX]$/, "an 18-character resident ID number").nullable().default(null),
  }),
  regionCode: formats.region,
  underCommitment: z.boolean(),
  deficiency: z.strictObject({ missingMaterials: z.array(text(200)).max(100), supplementDeadline: formats.date }).nullable().default(null),
});

export const grantBody = z.strictObject({
  licenceId: text(64),
  elicenceId: formats["elicence-id"],
  decisionNumber: text(100),
  licenceContent: text(4000),
  legalRepresentative: text(100),
  decisionDate: formats.date,
  validUntil: formats.date.nullable(),
  issuingAuthorityName: text(200),
});

export const denyBody = z.strictObject({ decisionNumber: text(100), reason: text(2000), decisionDate: formats.date });
export const cancelBody = denyBody;

export const changeBody = z.strictObject({
  elicenceId: formats["elicence-id"],
  decisionNumber: text(100),
  // At most 20 changes of up to 8,000 characters: the event stays well under the ~1 MB one Kafka message may hold
  // (the relay parks a bigger one rather than publish it).
  changes: z.array(z.strictObject({ field: text(100), from: z.string().max(4000), to: z.string().max(4000) })).min(1).max(20),
  reason: text(2000),
  decisionDate: formats.date,
});

export const renewBody = z.strictObject({
  elicenceId: formats["elicence-id"],
  decisionNumber: text(100),
  validUntil: formats.date.nullable(),
  decisionDate: formats.date,
});

export const revokeBody = z.strictObject({
  decisionNumber: text(100),
  reason: text(2000),
  decisionDate: formats.date,
  answersRequestId: z.string().min(1).nullable().default(null),
});

export const extendBody = z.strictObject({ reason: text(2000) });
export const declineBody = z.strictObject({ decisionNumber: text(100), reason: text(2000), decisionDate: formats.date });

export const caseParams = z.strictObject({ caseId: z.string().min(1).max(64) });
export const requestParams = caseParams.extend({ requestId: z.string().min(1).max(64) });

export const commandResult = z.object({
  caseId: z.string(),
  status: z.string(),
  revision: z.string(),
  events: z.array(z.string()),
});
