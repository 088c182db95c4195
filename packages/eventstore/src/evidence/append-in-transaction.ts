import type { AppendResult, EventStore, ExpectedRevision, NewEvent } from "../port.js";
import {
  appendEach,
  appendManyWithin,
  appendWithin,
  prepareManyWithin,
  type AppendOutcome,
  type PreparedAppends,
} from "../postgres/append-within.js";
import { runAlongside } from "../postgres/alongside.js";
import type { SqlQueryable } from "../postgres/executor.js";
import { PostgresEventStore, type StreamAppend } from "../postgres/postgres-event-store.js";
import { EvidenceStore, type KnownHeads } from "./evidence-store.js";

/** Whether prepareManyInTransaction takes heads the caller read in its transaction (headColumnsSql): the EvidenceStore over PostgreSQL/PGlite. */
export function headsReadableIn(store: EventStore): store is EvidenceStore & { readonly inner: PostgresEventStore } {
  return store instanceof EvidenceStore && store.inner instanceof PostgresEventStore;
}

/** Whether appendInTransaction and its kin append inside the caller's transaction (PostgreSQL or PGlite, bare or through the EvidenceStore): a rollback then takes the events back too. */
export function appendsInTransaction(store: EventStore): boolean {
  return store instanceof PostgresEventStore || headsReadableIn(store);
}

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

/**
 * appendManyInTransaction in two steps (see prepareManyWithin): the
 * conflicts known, and on the EvidenceStore the signatures made, before
 * anything is written, so the caller can write its read model first and
 * append last. On PostgreSQL/PGlite the heads are read in `tx`; on other
 * stores (KurrentDB, which appends at once anyway) nothing is predicted and
 * a conflict shows only in append()'s outcomes.
 */
export async function prepareManyInTransaction(
  store: EventStore,
  tx: SqlQueryable,
  batch: readonly StreamAppend[],
  /** Heads read in `tx` already (headColumnsSql), where headsReadableIn(store); ignored elsewhere. */
  known?: KnownHeads,
): Promise<PreparedAppends> {
  if (headsReadableIn(store)) return store.prepareManyWithin(tx, batch, known);
  if (store instanceof PostgresEventStore) return prepareManyWithin(tx, batch);
  return {
    conflicts: batch.map(() => undefined),
    append: async (alongside) => {
      // The store appends elsewhere (KurrentDB): the caller's writes go in `tx` just before.
      if (alongside) await runAlongside(tx, alongside);
      return appendManyInTransaction(store, tx, batch);
    },
  };
}
