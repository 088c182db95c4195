import type { AppendResult, EventStore, ExpectedRevision, NewEvent } from "../port.js";
import { appendEach, appendManyWithin, appendWithin, type AppendOutcome } from "../postgres/append-within.js";
import type { SqlQueryable } from "../postgres/executor.js";
import { PostgresEventStore, type StreamAppend } from "../postgres/postgres-event-store.js";
import { EvidenceStore } from "./evidence-store.js";

/**
 * Appends inside `tx` when the store keeps its events in that database
 * (PostgreSQL or PGlite, bare or signing through the EvidenceStore), so the
 * events commit with whatever else `tx` writes; on any other store (KurrentDB)
 * through the store at once. Callers keep their appends idempotent for that
 * case (deterministic streams and expected revisions).
 */
export function appendInTransaction(
  store: EventStore,
  tx: SqlQueryable,
  stream: string,
  events: readonly NewEvent[],
  expectedRevision: ExpectedRevision,
): Promise<AppendResult> {
  if (store instanceof EvidenceStore && store.inner instanceof PostgresEventStore)
    return store.appendWithin(tx, stream, events, expectedRevision);
  if (store instanceof PostgresEventStore) return appendWithin(tx, stream, events, expectedRevision);
  return store.append(stream, events, expectedRevision);
}

/**
 * appendInTransaction for several streams: on PostgreSQL/PGlite in one
 * statement when it can (appendManyWithin; through the EvidenceStore, whose
 * signatures for the whole batch are made together), on other stores one
 * append after the other. A stream whose expected revision does not hold is
 * reported as a conflict and the others still go in; outcomes in the order of `batch`.
 */
export async function appendManyInTransaction(
  store: EventStore,
  tx: SqlQueryable,
  batch: readonly StreamAppend[],
): Promise<AppendOutcome[]> {
  if (store instanceof EvidenceStore && store.inner instanceof PostgresEventStore) return store.appendManyWithin(tx, batch);
  if (store instanceof PostgresEventStore) return appendManyWithin(tx, batch);
  return appendEach(batch, (b) => store.append(b.stream, b.events, b.expectedRevision));
}
