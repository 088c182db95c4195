import type { CloudEventAttributes, LicenceCancelled, LicenceRevoked, RevocationRequestDeclined } from "@shenguan/contracts";
import { ConcurrencyError } from "@shenguan/eventstore";
import type { LicenceEnd, LicenceEndEvent } from "./events.js";
import { licenceEndStream } from "./events.js";
import type { SupervisionService } from "./service.js";

/**
 * Kafka handlers: plain typed functions the bus runner calls with the decoded
 * payload and the CloudEvents attributes (`event.ce`). Each is idempotent: a
 * redelivered event decides nothing, so at-least-once delivery is enough.
 * Pushes have none: the regulators' inbox takes them in, and a handoff's
 * stream begins from there when its regulator first acts (SupervisionService).
 */
export type IncomingEvent = Pick<CloudEventAttributes, "id" | "source"> & { readonly traceparent?: string };

const fromKafka = (ce: IncomingEvent, department: string) => ({
  department,
  correlationId: ce.id,
  causationId: ce.id,
  ...(ce.traceparent ? { traceparent: ce.traceparent } : {}),
});

/** LicenceCancelled (approval topic): every handoff of the licence is closed. */
export function onLicenceCancelled(service: SupervisionService, cancelled: LicenceCancelled, ce: IncomingEvent): Promise<void> {
  const { caseId, licenceId, decisionNumber, decisionDate, reason } = cancelled;
  return licenceEnded(service, caseId, licenceId, { ended: "cancelled", decisionNumber, decisionDate, reason }, null, ce);
}

/** LicenceRevoked (approval topic): records the answer to the request it answers, and closes every handoff of the licence. */
export function onLicenceRevoked(service: SupervisionService, revoked: LicenceRevoked, ce: IncomingEvent): Promise<void> {
  const { caseId, licenceId, decisionNumber, decisionDate, reason, answersRequestId } = revoked;
  return licenceEnded(service, caseId, licenceId, { ended: "revoked", decisionNumber, decisionDate, reason }, answersRequestId, ce);
}

/** RevocationRequestDeclined (approval topic): the request is answered; the handoff stays open. */
export async function onRevocationDeclined(
  service: SupervisionService,
  declined: RevocationRequestDeclined,
  ce: IncomingEvent,
): Promise<void> {
  const { requestId, decisionNumber, decisionDate, reason } = declined;
  for (const h of await service.handoffsOfLicence(declined.caseId, declined.licenceId)) {
    await service.execute(
      h.handoffId,
      "NoteRevocationDeclined",
      { requestId, decisionNumber, decisionDate, reason },
      fromKafka(ce, h.regulator),
    );
  }
}

async function licenceEnded(
  service: SupervisionService,
  caseId: string,
  licenceId: string,
  end: LicenceEnd,
  answersRequestId: string | null,
  ce: IncomingEvent,
): Promise<void> {
  await noteEnd(service, caseId, licenceId, end, ce);
  for (const h of await service.handoffsOfLicence(caseId, licenceId)) {
    await service.execute(h.handoffId, "NoteLicenceEnded", { ...end, answersRequestId }, fromKafka(ce, h.regulator));
  }
}

/** Remembers the end once per licence, for handoffs that arrive after it. */
async function noteEnd(service: SupervisionService, caseId: string, licenceId: string, end: LicenceEnd, ce: IncomingEvent): Promise<void> {
  const stream = licenceEndStream(licenceId);
  if ((await service.store.readStream(stream)).length > 0) return; // one event at most: a whole-stream read, grouped
  const event: LicenceEndEvent = { type: "LicenceEndNoted", data: { licenceId, caseId, ...end } };
  try {
    await service.store.append(stream, [{ ...event, metadata: { ...fromKafka(ce, departmentOfSource(ce.source)), caseId } }], "no_stream");
  } catch (err) {
    if (!(err instanceof ConcurrencyError)) throw err; // noted concurrently: the first end stands
  }
}

/** `/departments/<code>` → `<code>` (the publishing bureau). */
function departmentOfSource(source: string): string {
  return source.slice(source.lastIndexOf("/") + 1) || source;
}
