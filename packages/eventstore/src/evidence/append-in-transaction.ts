import type { AppendResult, EventStore, ExpectedRevision, NewEvent } from "../port.js";
import { appendWithin } from "../postgres/append-within.js";
import type { SqlQueryable } from "../postgres/executor.js";
import { PostgresEventStore } from "../postgres/postgres-event-store.js";
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
  if (store instanceof EvidenceStore && store.inner instanceof PostgresEventStore) return store.appendWithin(tx, stream, events, expectedRevision);
  if (store instanceof PostgresEventStore) return appendWithin(tx, stream, events, expectedRevision);
  return store.append(stream, events, expectedRevision);
}
