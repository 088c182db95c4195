import { ContractViolationError, validatePayload, type EventName } from "@shenguan/contracts";
import { MAX_SIGNATURE_BATCH } from "@shenguan/evidence";
import { formatPosition, type EventStore, type ExpectedRevision, type NewEvent } from "@shenguan/eventstore";
import { callerOf, type ServiceApp } from "@shenguan/service-kit";
import { z } from "zod";
import { requirePublish } from "../access/acl.js";

/**
 * Where a department's published events go: `published-<DEPT>-<subject>`.
 * A stream owned by its publisher means no department can append to, or
 * break the hash chain of, a stream another department writes; and one
 * stream per subject keeps the chain short and the order per Kafka key.
 */
export const publishedStream = (department: string, subject: string) => `published-${department}-${subject}`;

const signature = z.strictObject({
  alg: z.enum(["SM2-SM3", "Ed25519"]),
  keyId: z.string().regex(/^[0-9a-f]{32}$/, "32 lowercase hex digits"),
  sig: z.base64("base64 of the signature"),
  /** A batch signature's inclusion proof: `sig` signs the batch statement of the Merkle root (see @shenguan/evidence batch.ts). */
  batch: z
    .strictObject({
      index: z.number().int().min(0),
      size: z.number().int().min(2).max(MAX_SIGNATURE_BATCH),
      path: z.array(z.string().regex(/^[0-9a-f]{64}$/, "64 lowercase hex digits (an SM3 hash)")).max(12),
    })
    .refine((b) => b.index < b.size, { message: "index must be below size", path: ["index"] })
    .optional(),
});

export const publishBody = z.strictObject({
  type: z.string().min(1),
  /** The Kafka key and CloudEvents subject: a USCC or a case id. */
  subject: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "a USCC or case id: letters, digits, '.', '_', ':', '-', at most 128"),
  caseId: z.string().min(1).max(128).optional(),
  data: z.unknown(),
  id: z.uuid().optional(),
  time: z.iso.datetime({ offset: true }).optional(),
  /** For an event the department signed itself: the stream revision it signed for (its canonical bytes hold it). */
  revision: z.string().regex(/^\d+$/).optional(),
  signature: signature.optional(),
});

export interface PublishDeps {
  readonly store: EventStore;
}

/**
 * POST /v1/events: a department publishes a contract event. Validated against
 * the contract (errors name the field under `data.`), checked against the
 * publish ACL, then appended through the store, which signs it with the
 * department's custody key or, when `signature` is given, verifies the
 * department's own signature over the canonical bytes (id, stream, revision,
 * time, data, metadata: so those come with a pre-signed event).
 */
export function publishRoutes(app: ServiceApp, deps: PublishDeps): void {
  app.post("/v1/events", { schema: { tags: ["publish"], summary: "Publish a contract event", body: publishBody } }, async (req, reply) => {
    const caller = callerOf(req);
    const body = req.body;
    try {
      // Stored as sent: a department's own signature covers its bytes, not a normalised copy.
      validatePayload(body.type as EventName, body.data);
    } catch (err) {
      if (!(err instanceof ContractViolationError)) throw err;
      throw new ContractViolationError(
        body.type,
        err.issues.map((i) => ({ ...i, path: i.rule === "unknown-event" ? "type" : i.path ? `data.${i.path}` : "data" })),
      );
    }
    requirePublish(caller, body.type);
    if (body.signature && (!body.id || !body.time || body.revision === undefined)) {
      throw new ContractViolationError("publish", [
        {
          path: "signature",
          rule: "presigned-needs-id-time-revision",
          message: "a pre-signed event must also carry the id, time and revision it was signed with",
        },
      ]);
    }
    const stream = publishedStream(caller.department, body.subject);
    const event = {
      ...(body.id ? { id: body.id } : {}),
      type: body.type,
      data: body.data,
      ...(body.time ? { time: new Date(body.time) } : {}),
      metadata: {
        // A pre-signed event's metadata is part of what was signed, so it must follow from the event alone.
        correlationId: body.signature ? body.id! : req.id,
        causationId: null,
        department: caller.department,
        subject: body.subject,
        ...(body.caseId ? { caseId: body.caseId } : {}),
        ...(body.signature ? { evidence: { signature: body.signature } } : {}),
      },
    } as NewEvent;
    const expected: ExpectedRevision =
      body.revision === undefined ? "any" : body.revision === "0" ? "no_stream" : BigInt(body.revision) - 1n;
    const appended = await deps.store.append(stream, [event], expected);
    return reply.code(201).send({ stream, revision: String(appended.nextExpectedRevision), position: formatPosition(appended.position) });
  });
}
