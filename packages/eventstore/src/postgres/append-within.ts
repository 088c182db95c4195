import type { AppendResult, ExpectedRevision, NewEvent } from "../port.js";
import type { SqlExecutor, SqlQueryable } from "./executor.js";
import { PostgresEventStore } from "./postgres-event-store.js";

const noConnection = (): never => {
  throw new Error("appendWithin runs SQL only through the caller's transaction");
};

// The store's own appendWith: the same shenguan_append call, the same
// parameters, the same SG001 → ConcurrencyError translation. It runs on the
// queryable it is given, so an instance owning no connection is enough.
const appender = new PostgresEventStore({
  kind: "postgres",
  query: noConnection,
  transaction: noConnection,
  listen: noConnection,
  close: noConnection,
} satisfies SqlExecutor);

/**
 * Appends to the event store inside the caller's open transaction (same
 * PostgreSQL or PGlite database as the store), so a read model, the events a
 * process manager emits and a consumer's offset commit or roll back together.
 *
 * The append runs under a savepoint: when it fails (a ConcurrencyError, say
 * "no_stream" for a stream that exists) the caller's transaction is still
 * usable, so "already done" can be handled and the transaction committed.
 * Keep the transaction short: readers of the global log wait for it.
 *
 * @example
 *   await db.transaction(async (tx) => {
 *     await tx.query("update handoffs set …");
 *     await appendWithin(tx, `handoff-${id}`, [{ type: "HandoffPushed", data, metadata }], "no_stream");
 *   });
 */
export async function appendWithin(
  tx: SqlQueryable,
  stream: string,
  events: readonly NewEvent[],
  expectedRevision: ExpectedRevision,
): Promise<AppendResult> {
  await tx.query("savepoint shenguan_append_within");
  try {
    const result = await appender.appendWith(tx, stream, events, expectedRevision);
    await tx.query("release savepoint shenguan_append_within");
    return result;
  } catch (err) {
    // If even the rollback fails the connection is gone and the commit will fail too: report the append's error.
    await tx.query("rollback to savepoint shenguan_append_within").catch(() => undefined);
    throw err;
  }
}
